"""A language model's TF Serving export: text in, text out, sampled in the graph; a plain
TensorFlow process reproduces rk.generate at a fixed seed and rk.perplexity per sentence."""

import json
import random

import numpy as np
import pytest
import tensorflow as tf
from support import run_fresh

import reskeras as rk
from reskeras.decoding.causal import load_language_model
from reskeras.errors import DataError, ExportError
from reskeras.serve import client as serving
from reskeras.serve.keys import LABELS_FILE, OPS_FILE
from reskeras.serve.language import SERVING_DEFAULTS
from reskeras.serve.warmup import read_warmup_requests

WORDS = "the cat sat on a mat and dog ran to big red house".split()


MODELS = ("lm_transformer1", "lm_lstm1")


@pytest.fixture(scope="module")
def lm_exports(tmp_path_factory) -> dict:
    """Each of MODELS trained for an epoch on made-up lines and exported: the run, the export
    and the lines, by model."""
    rng = random.Random(1)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))) for _ in range(200)]
    exports = {}
    for name in MODELS:
        root = tmp_path_factory.mktemp("lm_export")
        (root / "text.txt").write_text("\n".join(lines) + "\n")
        wide = {"width": 16, "num_heads": 2} if "transformer" in name else {"units": 16}
        result = rk.train(
            "language_model",
            name,
            data=str(root / "text.txt"),
            out=str(root / "run"),
            epochs=1,
            batch_size=8,
            sequence_length=16,
            model_kwargs=wide,
            verbose=0,
            jit_compile=False,
        )
        exported = rk.export_for_serving(result.run_dir, "lm", base_dir=str(root / "saved"))
        exports[name] = (result.run_dir, exported, lines)
    return exports


@pytest.fixture(params=MODELS)
def lm_export(request, lm_exports):
    return lm_exports[request.param]


def test_the_export_serves_text_on_stock_ops(lm_export):
    run_dir, exported, _ = lm_export
    assert exported.kind == "language_model" and exported.nonstock_ops == ()
    assert set(exported.signatures) == {"serving_default", "generate", "score"}
    assert exported.signatures["generate"]["inputs"] == {
        "prompt": "string[None]",
        "max_length": "int32[]",
        "temperature": "float32[]",
        "top_k": "int32[]",
        "seed": "int32[]",
    }
    assert exported.signatures["score"]["outputs"] == {
        "log_likelihood": "float32[None]",
        "perplexity": "float32[None]",
        "tokens": "int32[None]",
    }
    vocabulary = (exported.path / "assets" / LABELS_FILE).read_text().split("\n")[:-1]
    assert vocabulary[:3] == ["<pad>", "<unk>", "<eos>"] and len(vocabulary) == 16
    assert "While" in (exported.path / "assets.extra" / OPS_FILE).read_text()  # the loop
    assert len(read_warmup_requests(exported.path)) == 2  # serving_default and score
    loaded = tf.saved_model.load(str(exported.path))
    served = loaded.signatures["serving_default"](prompt=tf.constant(["the cat"]))
    longest = load_language_model(run_dir).max_length  # a transformer's positions: 16
    room = SERVING_DEFAULTS["max_length"]
    if longest is not None:
        room = min(room, longest - 3)  # <eos> the cat
    want = rk.generate(run_dir, "the cat", seed=SERVING_DEFAULTS["seed"], max_length=room)
    assert served["text"].numpy()[0].decode() == want
    if longest is not None:
        with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds 16 tokens"):
            loaded.signatures["generate"](
                prompt=tf.constant(["a"]),
                max_length=tf.constant(40),
                temperature=tf.constant(1.0),
                top_k=tf.constant(0),
                seed=tf.constant(0),
            )
    with pytest.raises(ExportError, match="class_names="):
        rk.export_for_serving(run_dir, "lm", base_dir=str(exported.path.parent.parent),
                              class_names=["a"])  # fmt: skip


@pytest.mark.slow
def test_a_plain_tensorflow_process_samples_and_scores_as_reskeras(lm_exports, tmp_path):
    # Both models' exports in one fresh process.
    _, _, lines = lm_exports[MODELS[0]]
    prompts = np.array(lines[:20] + ["", "zebra the"], dtype=object)  # empty, unknown word
    settings = {"greedy": (0.0, 0, 0), "sampled": (1.0, 0, 5), "top_k": (0.7, 3, 11)}
    inputs, calls = {}, {}
    for name, (_, exported, _) in lm_exports.items():
        inputs[f"{name}-score.text"] = prompts
        calls[f"{name}-score"] = [str(exported.path), "score", ["text"]]
        for key, (temperature, top_k, seed) in settings.items():
            inputs |= {
                f"{name}-{key}.prompt": prompts,
                f"{name}-{key}.max_length": np.int32(6),
                f"{name}-{key}.temperature": np.float32(temperature),
                f"{name}-{key}.top_k": np.int32(top_k),
                f"{name}-{key}.seed": np.int32(seed),
            }
            calls[f"{name}-{key}"] = [
                str(exported.path),
                "generate",
                ["prompt", "max_length", "temperature", "top_k", "seed"],
            ]
    np.savez(tmp_path / "in.npz", **inputs)
    spec = {"inputs": str(tmp_path / "in.npz"), "out": str(tmp_path / "out.npz"), "calls": calls}
    report, out = run_fresh(spec, tmp_path)
    assert report["forbidden"] == []
    for name, (run_dir, _, _) in lm_exports.items():
        model = load_language_model(run_dir)  # the run's model and vocabulary, loaded once
        for key, (temperature, top_k, seed) in settings.items():
            want = rk.generate(
                model,
                list(prompts),
                max_length=6,
                temperature=temperature,
                top_k=top_k or None,
                seed=seed,
            )
            assert list(out[f"{name}-{key}.text"]) == want, (name, key)
            assert all(len(text.split()) <= 6 for text in want)  # each row its own max_length
        want = [rk.perplexity(model, [p]) for p in prompts]
        np.testing.assert_allclose(out[f"{name}-score.perplexity"], want, rtol=1e-4)
        assert list(out[f"{name}-score.tokens"]) == [len(p.split()) + 1 for p in prompts]
        np.testing.assert_allclose(
            out[f"{name}-score.log_likelihood"],
            -np.log(want) * out[f"{name}-score.tokens"],
            rtol=1e-4,
        )


def _tf_serving_rest(loaded, body: dict) -> dict:
    """Answers a REST predict body as TF Serving does: row format (``instances``) in,
    ``predictions`` out; columnar (``inputs``) in, ``outputs`` out; a one-output signature
    answers with bare values."""
    body = json.loads(json.dumps(body))  # must survive the wire
    sig = loaded.signatures[body.get("signature_name", "serving_default")]
    _, specs = sig.structured_input_signature
    if "instances" in body:
        columns = {k: [row[k] for row in body["instances"]] for k in body["instances"][0]}
    else:
        columns = body["inputs"]
    tensors = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in columns.items()}
    out = {k: v.numpy() for k, v in sig(**tensors).items()}
    out = {k: v.astype(str).tolist() if v.dtype == object else v.tolist() for k, v in out.items()}
    if "instances" in body:
        rows = [dict(zip(out, values, strict=True)) for values in zip(*out.values(), strict=True)]
        return {"predictions": [next(iter(r.values())) if len(r) == 1 else r for r in rows]}
    return {"outputs": next(iter(out.values())) if len(out) == 1 else out}


def test_the_client_asks_and_reads_a_language_model(lm_export):
    run_dir, exported, _ = lm_export
    loaded = tf.saved_model.load(str(exported.path))
    prompts = ["the cat", "a big"]
    body = serving.prompt_request(prompts, max_length=4, temperature=0.9, top_k=5, seed=2)
    assert body["signature_name"] == "generate"
    texts = [row["text"] for row in serving.parse_rest_response(_tf_serving_rest(loaded, body))]
    assert texts == rk.generate(run_dir, prompts, max_length=4, temperature=0.9, top_k=5, seed=2)
    default = serving.parse_rest_response(_tf_serving_rest(loaded, serving.prompt_request("a")))
    assert isinstance(default[0]["text"], str)
    with pytest.raises(DataError, match="is a language_model run, not a translation model"):
        rk.translate(run_dir, "the cat")
    scores = serving.parse_rest_response(_tf_serving_rest(loaded, serving.score_request(prompts)))
    assert [s["tokens"] for s in scores] == [3, 3]
    assert scores[0]["perplexity"] == pytest.approx(rk.perplexity(run_dir, ["the cat"]), rel=1e-4)
    with pytest.raises(ValueError, match=r"missing \['temperature', 'top_k', 'seed'\]"):
        serving.prompt_request("a", max_length=3)
