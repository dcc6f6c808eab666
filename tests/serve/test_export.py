"""Export to TF Serving SavedModels: layout, versions, atomicity, signatures, warmup, no XLA."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import REPO, run_fresh
from tensorflow_serving.apis import prediction_log_pb2

from reskeras.models.registry import build_model
from reskeras.serve.export import (
    ExportError,
    export_for_serving,
    find_xla_functions,
    list_versions,
    validate_model_name,
)
from reskeras.serve.warmup import read_warmup_requests

BIN = Path(sys.executable).parent
CLASSES = ["cat", "dog", "bird"]
TEXT_CLASSES = ["negative", "positive", "neutral"]
SHAPE = (16, 16, 1)
#: mixed_float16 computes the convolutions in float16 (10-bit mantissa, eps ~1e-3): the SavedModel
#: and Keras run the same float16 kernels, but op order may differ between eager Keras and the
#: graph, so probabilities are compared to 1e-2 (~10 float16 ulps at 1.0) instead of 1e-5.
MIXED_TOL = 1e-2


def _images(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *SHAPE)).astype(np.uint8)


def _keras_probs(model: keras.Model, x) -> np.ndarray:
    return tf.nn.softmax(tf.cast(model(x, training=False), tf.float32)).numpy()


def _tree_snapshot(path: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(path)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _numeric_dirs(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def image_model() -> keras.Model:
    """A trained-for-one-step reskeras model compiled with jit_compile=True (XLA)."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    model = build_model("cifar_resnet", depth=8, num_classes=3, input_shape=SHAPE)
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    model.train_on_batch(_images(8).astype("float32"), np.arange(8) % 3)
    return model


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, keras.Model, keras.Model]:
    """A text run directory: TextVectorization preprocessor + Embedding/GAP/Dense model."""
    keras.utils.set_random_seed(0)
    run = tmp_path_factory.mktemp("runs") / "sst"
    run.mkdir()
    vec = keras.layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    vec.adapt(["a great movie", "a terrible movie", "not great at all", "fine I guess"])
    text_in = keras.Input(shape=(), dtype="string")
    pre = keras.Model(text_in, vec(text_in), name="preprocessor")
    ids = keras.Input(shape=(6,), dtype="int32")
    x = keras.layers.Embedding(40, 8)(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(ids, keras.layers.Dense(3)(x), name="tiny_text")
    model.save(run / "model.keras")
    pre.save(run / "preprocessor.keras")
    (run / "labels.json").write_text(json.dumps(TEXT_CLASSES))
    (run / "config.json").write_text(json.dumps({"kind": "text", "model": "tiny_text"}))
    return run, model, pre


@pytest.fixture(scope="module")
def mixed_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_model("cifar_resnet", depth=8, num_classes=3, input_shape=SHAPE)
    finally:
        keras.config.set_dtype_policy("float32")
    return model


@pytest.fixture(scope="module")
def exports(tmp_path_factory, image_model, text_run, mixed_model):
    base = tmp_path_factory.mktemp("saved_models")
    img = export_for_serving(
        image_model, "img", base, class_names=CLASSES, warmup_examples=_images(3, seed=7)
    )
    txt = export_for_serving(text_run[0], "txt", base)
    mixed = export_for_serving(mixed_model, "mixed", base, class_names=CLASSES)
    return base, img, txt, mixed


@pytest.mark.slow  # a whole training run
def test_layout_signatures_and_models_config(exports):
    base, img, txt, mixed = exports
    assert img.path == base / "img" / "1" and img.version == 1 and img.name == "img"
    for r in (img, txt, mixed):
        assert (r.path / "saved_model.pb").is_file()
        assert (r.path / "variables" / "variables.index").is_file()
        assert (r.path / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert (img.path / "assets" / "labels.txt").read_text().split() == CLASSES
    assert (txt.path / "assets" / "labels.txt").read_text().split() == TEXT_CLASSES
    assert not [p for p in (base / "img").iterdir() if p.name.startswith(".tmp-")]

    outputs = {
        "probabilities": "float32[None, 3]",
        "class_id": "int64[None]",
        "class_name": "string[None]",
    }
    assert img.signatures == {
        "serving_default": {"inputs": {"images": "uint8[None, 16, 16, 1]"}, "outputs": outputs},
        "serve_bytes": {"inputs": {"image_bytes": "string[None]"}, "outputs": outputs},
    }
    assert txt.kind == "text"
    assert txt.signatures == {
        "serving_default": {"inputs": {"text": "string[None]"}, "outputs": outputs}
    }

    config = (base / "models.config").read_text()
    assert config.startswith("model_config_list {")
    for name in ("img", "txt", "mixed"):
        assert f"name: '{name}'" in config
        assert f"base_path: '{(base / name).resolve()}'" in config
    assert config.count("model_platform: 'tensorflow'") == 3
    assert "base_path: '/models/img'" in (base / "models.docker.config").read_text()


def test_no_xla_in_export_of_jit_compiled_model(exports, image_model, tmp_path):
    assert image_model.jit_compile  # trained under XLA ...
    for r in exports[1:]:
        assert find_xla_functions(r.path) == []  # ... exported without it

    # The scanner does detect XLA functions when they are there.
    module = tf.Module()
    module.v = tf.Variable(2.0)
    module.f = tf.function(
        lambda x: x * module.v, jit_compile=True, input_signature=[tf.TensorSpec([None])]
    )
    tf.saved_model.save(module, str(tmp_path / "xla"))
    assert find_xla_functions(tmp_path / "xla")


def test_export_fails_loudly_on_xla_and_leaves_nothing(image_model, tmp_path, monkeypatch):
    xla = ["__inference_f_1"]
    monkeypatch.setattr("reskeras.serve.export.find_xla_functions", lambda path: xla)
    with pytest.raises(ExportError, match="XLA"):
        export_for_serving(image_model, "m", tmp_path, class_names=CLASSES)
    assert list((tmp_path / "m").iterdir()) == []


def test_in_process_outputs_match_keras(exports, image_model, text_run):
    _, img, txt, _ = exports
    x = _images(5, seed=3)
    loaded = tf.saved_model.load(str(img.path))
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    ref = _keras_probs(image_model, x.astype("float32"))
    np.testing.assert_allclose(out["probabilities"].numpy(), ref, atol=1e-5)
    ids = out["class_id"].numpy()
    np.testing.assert_array_equal(ids, ref.argmax(-1))
    assert [n.decode() for n in out["class_name"].numpy()] == [CLASSES[i] for i in ids]

    png = tf.stack([tf.io.encode_png(im) for im in x])
    out_b = loaded.signatures["serve_bytes"](image_bytes=png)
    np.testing.assert_allclose(out_b["probabilities"].numpy(), ref, atol=1e-5)
    # A bigger RGB JPEG is decoded to 1 channel and resized to 16x16 in the graph.
    big = tf.io.encode_png(tf.fill([40, 24, 1], tf.constant(90, tf.uint8)))
    rgb = tf.io.encode_jpeg(tf.fill([40, 24, 3], tf.constant(90, tf.uint8)))
    for data in (big, rgb):
        o = loaded.signatures["serve_bytes"](image_bytes=tf.stack([data]))
        grey = _keras_probs(image_model, np.full((1, *SHAPE), 90, np.float32))
        np.testing.assert_allclose(o["probabilities"].numpy(), grey, atol=1e-3)

    run, model, pre = text_run
    texts = ["a great movie", "not great", "unknown words here"]
    loaded_t = tf.saved_model.load(str(txt.path))
    out_t = loaded_t.signatures["serving_default"](text=tf.constant(texts))
    ref_t = _keras_probs(model, pre(tf.constant(texts)))
    np.testing.assert_allclose(out_t["probabilities"].numpy(), ref_t, atol=1e-5)
    names = [n.decode() for n in out_t["class_name"].numpy()]
    assert names == [TEXT_CLASSES[i] for i in ref_t.argmax(-1)]


@pytest.mark.slow
def test_fresh_tensorflow_only_process(exports, image_model, text_run, mixed_model, tmp_path):
    """Stand-in for TF Serving: load with plain tensorflow in a new process, no reskeras."""
    _, img, txt, mixed = exports
    x = _images(4, seed=11)
    png = np.array([tf.io.encode_png(im).numpy() for im in x], dtype=object)
    texts = np.array([b"a great movie", b"terrible", b""], dtype=object)
    np.savez(tmp_path / "in.npz", img=x, png=png, txt=texts, mixed=x)
    spec = {
        "inputs": str(tmp_path / "in.npz"),
        "out": str(tmp_path / "out.npz"),
        "calls": {
            "img": [str(img.path), "serving_default", "images"],
            "png": [str(img.path), "serve_bytes", "image_bytes"],
            "txt": [str(txt.path), "serving_default", "text"],
            "mixed": [str(mixed.path), "serving_default", "images"],
        },
    }
    report, out = run_fresh(spec, tmp_path)
    # `import tensorflow` may pull in parts of keras through tf.keras' lazy loader, so we can
    # only assert that none of our code, keras-hub or tensorflow-text was needed.
    assert report["forbidden"] == []

    ref = _keras_probs(image_model, x.astype("float32"))
    assert np.abs(out["img"] - ref).max() <= 1e-5
    assert np.abs(out["png"] - ref).max() <= 1e-5
    run, model, pre = text_run
    ref_t = _keras_probs(model, pre(tf.constant(texts.astype(str))))
    assert np.abs(out["txt"] - ref_t).max() <= 1e-5
    ref_m = _keras_probs(mixed_model, x.astype("float32"))
    assert out["mixed"].dtype == np.float32
    assert np.abs(out["mixed"] - ref_m).max() <= MIXED_TOL
    assert list(out["mixed_vardtypes"]) == ["float32"]  # variables stay float32 under mixed
    assert list(out["img_vardtypes"]) == ["float32"]


@pytest.mark.slow
def test_saved_model_cli_show_all(exports):
    _, img, _, _ = exports
    cli = BIN / "saved_model_cli"
    if not cli.exists():
        pytest.skip(f"{cli} not installed")
    proc = subprocess.run(
        [str(cli), "show", "--all", "--dir", str(img.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for needle in (
        "signature_def['serving_default']",
        "signature_def['serve_bytes']",
        "inputs['images'] tensor_info:",
        "dtype: DT_UINT8",
        "shape: (-1, 16, 16, 1)",
        "inputs['image_bytes'] tensor_info:",
        "outputs['probabilities'] tensor_info:",
        "outputs['class_id'] tensor_info:",
        "outputs['class_name'] tensor_info:",
    ):
        assert needle in out, out[:3000]


def test_warmup_records_parse_and_run(exports):
    _, img, txt, _ = exports
    for r, expected in (
        (img, {("serving_default", "images"), ("serve_bytes", "image_bytes")}),
        (txt, {("serving_default", "text")}),
    ):
        loaded = tf.saved_model.load(str(r.path))
        seen = set()
        records = list(
            tf.data.TFRecordDataset(str(r.path / "assets.extra" / "tf_serving_warmup_requests"))
        )
        assert records
        for raw in records:
            log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            assert log.WhichOneof("log_type") == "predict_log"
            req = log.predict_log.request
            assert req.model_spec.name == r.name
            (key,) = req.inputs
            seen.add((req.model_spec.signature_name, key))
            arr = tf.make_ndarray(req.inputs[key])
            out = loaded.signatures[req.model_spec.signature_name](**{key: tf.constant(arr)})
            assert out["probabilities"].shape[0] == arr.shape[0] > 0
        assert seen == expected
    # The given warmup examples are the ones written.
    log = prediction_log_pb2.PredictionLog.FromString(read_warmup_requests(img.path)[0])
    np.testing.assert_array_equal(
        tf.make_ndarray(log.predict_log.request.inputs["images"]), _images(3, seed=7)
    )


@pytest.mark.slow  # a whole training run
def test_versions_never_overwritten(image_model, tmp_path):
    first = export_for_serving(image_model, "m", tmp_path, class_names=CLASSES)
    second = export_for_serving(image_model, "m", tmp_path, class_names=CLASSES)
    assert (first.version, second.version) == (1, 2)
    assert list_versions(tmp_path, "m") == [1, 2]
    before = _tree_snapshot(first.path)
    with pytest.raises(ExportError, match=r"version 1 of model 'm' already exists"):
        export_for_serving(image_model, "m", tmp_path, version=1, class_names=CLASSES)
    assert _tree_snapshot(first.path) == before
    explicit = export_for_serving(image_model, "m", tmp_path, version=7, class_names=CLASSES)
    assert explicit.path == tmp_path / "m" / "7"
    assert _numeric_dirs(tmp_path / "m") == ["1", "2", "7"]
    with pytest.raises(ExportError, match="positive integer"):
        export_for_serving(image_model, "m", tmp_path, version=0)


@pytest.mark.parametrize(
    "name", ["", "a/b", "..", "../x", ".hidden", "a..b", "a b", "x\\y", "modèle", "/abs", None]
)
def test_bad_names_rejected(name, tmp_path):
    with pytest.raises(ValueError) as err:
        validate_model_name(name)
    msg = str(err.value)
    assert repr(name) in msg and "[A-Za-z0-9_][A-Za-z0-9_.-]*" in msg
    with pytest.raises(ValueError):
        export_for_serving(object(), name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_give_clear_errors(image_model, tmp_path):
    with pytest.raises(ExportError, match=r"3 output classes but 2 class names"):
        export_for_serving(image_model, "m", tmp_path, class_names=["a", "b"])
    with pytest.raises(ExportError, match=r"warmup_examples must be uint8 images shaped"):
        export_for_serving(image_model, "m", tmp_path, warmup_examples=np.zeros((2, 8, 8, 1)))
    with pytest.raises(ExportError, match="has no model.keras"):
        export_for_serving(tmp_path, "m", tmp_path / "out")
    with pytest.raises(ExportError, match="keras.Model or a run directory"):
        export_for_serving(42, "m", tmp_path)
    assert not (tmp_path / "m").exists() or _numeric_dirs(tmp_path / "m") == []


CRASH = textwrap.dedent(
    """
    import sys, time
    import keras
    import reskeras.serve.export as E

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255, name="preprocess")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(2, dtype="float32")(x))
    real = E.write_warmup

    def slow(*args, **kwargs):  # saved_model.pb and variables are written: die half-way
        real(*args, **kwargs)
        print("MID-EXPORT", flush=True)
        time.sleep(300)

    E.write_warmup = slow
    E.export_for_serving(model, "crash", sys.argv[1])
    """
)


@pytest.mark.slow
def test_sigkill_mid_export_leaves_no_version(tmp_path):
    base = tmp_path / "saved_models"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH, str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "MID-EXPORT"
        tmp_dirs = list((base / "crash").glob(".tmp-*"))
        assert len(tmp_dirs) == 1 and (tmp_dirs[0] / "saved_model.pb").is_file()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert _numeric_dirs(base / "crash") == []
    assert not (base / "models.config").exists()

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255, name="preprocess")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(2, dtype="float32")(x))
    result = export_for_serving(model, "crash", base)
    assert result.version == 1
    assert sorted(p.name for p in (base / "crash").iterdir()) == ["1"]  # stale tmp cleaned
    assert "name: 'crash'" in (base / "models.config").read_text()


def test_token_id_model_without_preprocessor_is_rejected(text_run, tmp_path):
    _, model, _ = text_run
    with pytest.raises(ExportError, match="text models need a preprocessor"):
        export_for_serving(model, "t", tmp_path, class_names=TEXT_CLASSES)
