"""keras-hub presets (``hub:<preset>``): registry, training, evaluation, resume, export, app.

Nothing downloads: the preset is a tiny BERT (2 layers, hidden 32) with a made-up WordPiece
vocabulary, built with keras-hub's own classes and written with ``save_to_preset``.
"""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import SST2_DIR, run_fresh

from reskeras.cli import main
from reskeras.evaluation.scores import evaluate
from reskeras.models.keras_hub import HUB_FAMILY, text_classifier_presets
from reskeras.models.registry import FAMILIES, build_model, resolve_model
from reskeras.serve.export import export_for_serving
from reskeras.serve.keras_hub import TF_SERVING_TEXT_OPS, is_stock_op
from reskeras.training.loop import train
from reskeras.training.recipes import RECIPES
from reskeras.training.rundir import RunDir

keras_hub = pytest.importorskip("keras_hub")
pytestmark = pytest.mark.usefixtures("real_sst2")  # skipped without SST-2, an error under CI

WORDS = (
    "the a an and of to is it this that was film movie story good great bad awful best worst "
    "fun funny dull boring not no very too more most love hate work works acting plot "
    "characters performance , . ' s"
).split()
LETTERS = "abcdefghijklmnopqrstuvwxyz"
PIECES = [f"##{c}" for c in LETTERS] + [c for c in LETTERS if c not in WORDS]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *PIECES]
TEXTS = ["a great film , very funny", "the worst movie ever", ""]


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> str:
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=24)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64,
    )  # fmt: skip
    model = keras_hub.models.BertTextClassifier(backbone, 2, preprocessor=preprocessor)
    path = tmp_path_factory.mktemp("presets") / "tiny_bert"
    model.save_to_preset(str(path))
    return str(path)


@pytest.fixture(scope="module")
def hub_run(preset, tmp_path_factory):
    """One epoch on 256 SST-2 sentences (the recipe's learning rate would need more steps
    to move a random model; 1e-3 lets this one learn a little)."""
    out = tmp_path_factory.mktemp("runs") / "bert"
    result = train(
        "sst2", f"hub:{preset}", data=str(SST2_DIR), epochs=1, limit_train=256,
        limit_test=64, jit_compile=False, lr=1e-3, out=out, verbose=0, report=lambda _: None,
    )  # fmt: skip
    return result


def test_registry_and_list(preset, capsys):
    family, depth, kwargs = resolve_model(f"hub:{preset}")
    assert (family.name, depth, kwargs) == (HUB_FAMILY, 0, {"preset": preset})
    assert FAMILIES[HUB_FAMILY].kind == "text"
    presets = text_classifier_presets()
    assert "bert_base_en_uncased" in presets and "roberta_base_en" in presets
    assert not [p for p in presets if p.startswith("esm")]  # protein classifiers left out
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "keras_hub" in listing and "bert_tiny_en_uncased" in listing

    model = build_model(f"hub:{preset}", num_classes=3, sequence_length=12)
    assert isinstance(model, keras_hub.models.BertTextClassifier)
    assert model.preprocessor.sequence_length == 12
    logits = model(model.preprocessor(tf.constant(TEXTS)))
    assert tuple(logits.shape) == (3, 3)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("hub:", {}, "`hub:` needs a keras-hub preset name or directory"),
        ("hub:no_such_preset", {}, "Unknown keras-hub text-classifier preset 'no_such_preset'"),
        ("hub:./missing/dir", {}, r"Preset directory './missing/dir' does not exist"),
        ("hub:bert_tiny_en_uncased", {"depth": 12}, "a pretrained model's depth is its preset's"),
    ],
)
def test_bad_names_are_one_line_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        build_model(name, num_classes=2, **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_train_evaluate_resume(hub_run, preset, capsys):
    run = hub_run.run_dir
    config = json.loads((run / "config.json").read_text())
    train_cfg = config["train"]
    assert train_cfg["model"] == f"hub:{preset}" and config["kind"] == "text"
    assert train_cfg["sequence_length"] == 24  # the preset's
    pretrained = RECIPES[HUB_FAMILY]
    assert (train_cfg["optimizer"], train_cfg["batch_size"]) == ("adamw", pretrained.batch_size)
    assert train_cfg["warmup_epochs"] == pretrained.warmup_epochs
    assert not (run / "preprocessor.keras").exists()  # the model holds its own tokenizer
    assert isinstance(RunDir(run).load_model(), keras_hub.models.BertTextClassifier)

    report = evaluate(run)
    assert report["num_examples"] == 64
    assert report["accuracy"] == pytest.approx(hub_run.test_accuracy, abs=1e-6)

    steps = config["steps_per_epoch"]
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["epochs_done"] == 2
    history = json.loads(RunDir(run).state_path.read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    # The optimizer state came back with the checkpoint: its step count went on from epoch 1.
    resumed = train(resume=run, epochs=2, verbose=0)  # nothing left to do: reloads only
    assert int(resumed.model.optimizer.iterations) == 2 * steps


def test_embeddings_do_not_apply(preset, tmp_path):
    vec = tmp_path / "v.txt"
    vec.write_text("film 1 2\n")
    with pytest.raises(ValueError, match="has none to initialize"):
        train("sst2", f"hub:{preset}", data=str(SST2_DIR), embeddings=str(vec), out=tmp_path / "r")


def _keras_probs(model, texts) -> np.ndarray:
    x = model.preprocessor(tf.constant(texts))
    return tf.nn.softmax(model(x, training=False)).numpy(), {k: v.numpy() for k, v in x.items()}


@pytest.mark.slow
def test_export_both_signatures_match_in_plain_tensorflow(hub_run, tmp_path):
    """serving_default (raw strings, TF Text ops as TF Serving has them) and serve_token_ids
    (stock ops) give Keras' outputs in a fresh TensorFlow process; with raw_text=False the
    SavedModel loads in TensorFlow without tensorflow-text."""
    base = tmp_path / "saved_models"
    with pytest.warns(UserWarning, match="ops outside stock TensorFlow"):
        full = export_for_serving(hub_run.run_dir, "bert", base)
    assert list(full.signatures) == ["serving_default", "serve_token_ids"]
    assert full.signatures["serving_default"]["inputs"] == {"text": "string[None]"}
    assert set(full.signatures["serve_token_ids"]["inputs"]) == {
        "token_ids", "padding_mask", "segment_ids",
    }  # fmt: skip
    assert full.nonstock_ops and set(full.nonstock_ops) <= TF_SERVING_TEXT_OPS
    listed = (full.path / "assets.extra" / "ops.txt").read_text().splitlines()
    names = [line.split()[0] for line in listed if not line.startswith("#")]
    assert names == list(full.ops) and "FastWordpieceTokenizeWithOffsets" in names
    assert "FastWordpieceTokenizeWithOffsets  # not in stock TensorFlow" in listed
    assert all(is_stock_op(op) for op in full.ops if op not in full.nonstock_ops)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stock ops only: nothing to warn about
        ids_only = export_for_serving(hub_run.run_dir, "bert_ids", base, raw_text=False)
    assert list(ids_only.signatures) == ["serving_default", "serve_token_ids"]
    assert ids_only.signatures["serving_default"] == full.signatures["serve_token_ids"]
    assert ids_only.nonstock_ops == ()

    model = RunDir(hub_run.run_dir).load_model()
    ref, packed = _keras_probs(model, TEXTS)
    texts = np.array([t.encode() for t in TEXTS], dtype=object)
    arrays = {"txt": texts} | {f"ids.{k}": v.astype("int32") for k, v in packed.items()}
    arrays |= {f"stock.{k}": v.astype("int32") for k, v in packed.items()}
    np.savez(tmp_path / "in.npz", **arrays)
    keys = sorted(packed)
    spec = {"inputs": str(tmp_path / "in.npz"), "out": str(tmp_path / "out.npz"),
            "imports": ["tensorflow_text"],  # TF Serving links TF Text's ops in
            "calls": {"txt": [str(full.path), "serving_default", "text"],
                      "ids": [str(full.path), "serve_token_ids", keys]}}  # fmt: skip
    report, out = run_fresh(spec, tmp_path)
    assert report["forbidden"] == []  # no reskeras, no keras-hub
    assert np.abs(out["txt"] - ref).max() <= 1e-5
    assert np.abs(out["ids"] - ref).max() <= 1e-5

    spec = {"inputs": str(tmp_path / "in.npz"), "out": str(tmp_path / "out2.npz"),
            "calls": {"stock": [str(ids_only.path), "serving_default", keys]}}  # fmt: skip
    report, out = run_fresh(spec, tmp_path)
    assert report["forbidden"] == []  # not even tensorflow-text
    assert np.abs(out["stock"] - ref).max() <= 1e-5


@pytest.mark.slow  # a whole training run
def test_cli_export_warns_in_one_line(hub_run, tmp_path, capsys):
    base = tmp_path / "sm"
    assert main(["export", "--run", str(hub_run.run_dir), "--name", "b", "--base", str(base),
                 "--no-raw-text"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["signatures"]) == {"serving_default", "serve_token_ids"}
    assert main(["export", "--run", str(hub_run.run_dir), "--name", "b", "--base", str(base)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reskeras: warning: the graph needs ops outside")


def test_app_offers_pretrained_presets():
    from reskeras.ui import TrainerApp

    app = TrainerApp(task="sst2", build=False)
    assert HUB_FAMILY in app.family.options
    text_lr = app.lr.value
    app.set(family=HUB_FAMILY)
    assert "hub:bert_tiny_en_uncased" in [value for _, value in app.preset.options]
    assert app.preset.value == "hub:bert_tiny_en_uncased"
    assert app.depth.layout.display == "none"  # the preset's depth
    pretrained = RECIPES[HUB_FAMILY]
    assert (app.lr.value, app.batch_size.value) == (pretrained.lr, pretrained.batch_size)
    app.set(preset="hub:bert_small_en_uncased", epochs=1)
    config = app.train_config()
    assert (config["model"], config["depth"]) == ("hub:bert_small_en_uncased", None)
    assert config["lr"] == pretrained.lr and config["out"].split("/")[-1].startswith(
        "sst2-hub-bert_small_en_uncased-"
    )
    app.set(family="transformer")  # back to our own models: the text recipe again
    assert app.lr.value == text_lr and app.depth.layout.display is None
