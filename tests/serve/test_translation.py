"""A translation model's TF Serving export: a string in, its translation out, the decode loop
in the graph; a plain TensorFlow process (with tensorflow-text, as TF Serving links its ops)
translates as rk.translate does, greedy and beam."""

import numpy as np
import pytest
import tensorflow as tf
from support import run_fresh
from synthetic import make_parallel_dir, shared_translation_run

import reskeras as rk
from reskeras.decoding.seq2seq import load_translator
from reskeras.errors import ExportError
from reskeras.serve.keys import LABELS_FILE, OPS_FILE
from reskeras.serve.warmup import read_warmup_requests

pytestmark = pytest.mark.slow  # a training run and a fresh process


@pytest.fixture(scope="module")
def mt_export(tmp_path_factory):
    run_dir, held_out = shared_translation_run(tmp_path_factory)
    saved = tmp_path_factory.mktemp("mt_export") / "saved"
    with pytest.warns(UserWarning, match="SentencepieceOp"):
        exported = rk.export_for_serving(run_dir, "mt", base_dir=str(saved))
    return run_dir, exported, held_out


def test_the_export_translates_strings_in_the_graph(mt_export):
    run_dir, exported, held_out = mt_export
    assert exported.kind == "translation"
    assert set(exported.signatures) == {"serving_default", "greedy", "serve_token_ids"}
    assert exported.signatures["serving_default"]["inputs"] == {"text": "string[None]"}
    assert exported.signatures["serving_default"]["outputs"] == {"translation": "string[None]"}
    assert exported.signatures["serve_token_ids"]["outputs"] == {"token_ids": "int32[None, None]"}
    assert set(exported.nonstock_ops) <= {"SentencepieceOp", "SentencepieceTokenizeOp",
                                          "SentencepieceDetokenizeOp"}  # fmt: skip
    translator = load_translator(run_dir)  # the run's model and vocabulary, loaded once
    pieces = (exported.path / "assets" / LABELS_FILE).read_text().split("\n")[:-1]
    assert pieces == translator.vocabulary.pieces
    assert "While" in (exported.path / "assets.extra" / OPS_FILE).read_text()  # the loop
    assert len(read_warmup_requests(exported.path)) == 2
    loaded = tf.saved_model.load(str(exported.path))
    sources = [s for s, _ in held_out[:8]]
    served = loaded.signatures["serving_default"](text=tf.constant(sources))["translation"]
    want = rk.translate(translator, sources)
    assert [t.decode() for t in served.numpy()] == want
    vocab = translator.vocabulary
    ids = vocab.encode(sources)
    padded = np.zeros((len(ids), max(map(len, ids))), np.int32)
    for row, i in enumerate(ids):
        padded[row, : len(i)] = i
    out = loaded.signatures["serve_token_ids"](token_ids=tf.constant(padded))["token_ids"]
    assert [vocab.decode(row) for row in out.numpy()] == want
    with pytest.raises(ExportError, match="class_names="):
        rk.export_for_serving(run_dir, "mt", base_dir=str(exported.path.parent.parent),
                              class_names=["a"])  # fmt: skip


def test_a_plain_tensorflow_process_translates_as_reskeras(mt_export, tmp_path):
    run_dir, exported, held_out = mt_export
    sources = np.array([s for s, _ in held_out[:50]] + ["", "zebra hund"], dtype=object)
    np.savez(tmp_path / "in.npz", beam=sources, greedy=sources)
    calls = {
        "beam": [str(exported.path), "serving_default", "text"],
        "greedy": [str(exported.path), "greedy", "text"],
    }
    spec = {
        "inputs": str(tmp_path / "in.npz"),
        "out": str(tmp_path / "out.npz"),
        "calls": calls,
        "imports": ["tensorflow_text"],
    }
    report, out = run_fresh(spec, tmp_path)
    assert report["forbidden"] == []
    translator = load_translator(run_dir)
    assert list(out["beam.translation"]) == rk.translate(translator, list(sources))
    greedy = rk.translate(translator, list(sources), beam_width=1)
    assert list(out["greedy.translation"]) == greedy
    right = sum(g == t for g, (_, t) in zip(greedy, held_out[:50], strict=False))
    assert right >= 25  # and the model did learn the pairs


def test_a_gnmt_model_exports_and_translates_as_reskeras(tmp_path):
    data, held_out = make_parallel_dir(tmp_path / "data", n_train=300, n_val=20)
    result = rk.train(
        "translation", "gnmt2", data=str(data), languages="xx-yy", out=str(tmp_path / "run"),
        epochs=3, min_steps=0, batch_size=32, lr=3e-3, vocabulary_size=64, sequence_length=16,
        model_kwargs={"units": 32}, verbose=0, jit_compile=False,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="SentencepieceOp"):
        exported = rk.export_for_serving(result.run_dir, "gnmt", base_dir=str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(exported.path))
    sources = [s for s, _ in held_out]
    translator = load_translator(result.run_dir)
    for signature, beams in (("serving_default", 4), ("greedy", 1)):
        out = loaded.signatures[signature](text=tf.constant(sources))["translation"]
        want = rk.translate(translator, sources, beam_width=beams)
        assert [t.decode() for t in out.numpy()] == want, signature
