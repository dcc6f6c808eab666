"""A language model end to end: train() on a text file, perplexity per epoch and from
perplexity()/evaluate() alike, seeded sampling with the cache, resume, and bad options."""

import json
import random

import keras
import numpy as np
import pytest

import reskeras as rk
from reskeras.decoding.causal import LanguageModel, load_language_model, sampling_loop
from reskeras.errors import DataError

WORDS = "the cat sat on a mat and dog ran to big red house".split()


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(300)]
    root = tmp_path_factory.mktemp("lm")
    (root / "text.txt").write_text("\n".join(lines) + "\n")
    result = rk.train(
        "language_model",
        "lm_transformer1",
        data=str(root / "text.txt"),
        out=str(root / "run"),
        epochs=2,
        batch_size=8,
        sequence_length=16,
        model_kwargs={"width": 16, "num_heads": 2},
        verbose=0,
        jit_compile=False,
    )
    return result, lines, root


def test_training_reports_perplexity_and_scoring_agrees(lm_run):
    result, lines, root = lm_run
    last = result.history[-1]
    assert {"perplexity", "val_perplexity", "accuracy", "val_accuracy"} <= set(last)
    assert last["val_perplexity"] < 16  # below uniform over the 13 words, <eos> and <unk>
    held_out = lines[-30:]  # the validation text: the last 0.1 of the lines
    assert rk.perplexity(result.run_dir, held_out) == pytest.approx(
        last["val_perplexity"], rel=1e-5
    )
    assert result.test_perplexity == pytest.approx(last["val_perplexity"], rel=1e-5)
    report = rk.evaluate(result.run_dir, report_dir=root / "report")
    assert report["tokens"] == sum(len(line.split()) + 1 for line in held_out)  # every token
    assert report["perplexity"] == pytest.approx(last["val_perplexity"], rel=1e-5)
    assert report["checkpoint"] == {"file": "model.keras", "epoch": 2}
    samples = json.loads((root / "report" / "report.json").read_text())["samples"]
    assert len(samples) == 3 and "<img" in (root / "report" / "report.html").read_text()


def test_sampling_is_seeded_cached_and_stays_in_the_vocabulary(lm_run):
    result, _, _ = lm_run
    lm = load_language_model(result.run_dir)
    first = rk.generate(lm, "the cat", max_length=8, seed=3)
    assert first == rk.generate(lm, "the cat", max_length=8, seed=3)
    assert set(first.split()) <= set(WORDS) | {"<unk>"}
    # Greedy decoding with the cache picks what the whole-sequence model ranks first.
    ids = [lm.vocabulary.eos_id, *lm.vocabulary.encode(["the cat"])[:-1]]
    expected = []
    for _ in range(4):
        logits = keras.ops.convert_to_numpy(lm.model(np.array([ids + expected])))
        expected.append(int(logits[0, -1].argmax()))
    greedy = rk.generate(lm, ["the cat"], max_length=4, temperature=0)[0]
    eos = lm.vocabulary.eos_id
    want = expected[: expected.index(eos)] if eos in expected else expected
    assert greedy == lm.vocabulary.decode(want).strip()
    assert isinstance(rk.generate(lm, "a", max_length=3, top_k=3, seed=0), str)
    assert isinstance(rk.generate(lm, "a", max_length=3, top_p=0.9, seed=0), str)
    # One loop per model and sampler kind, traced once: other seeds, temperatures, top-k
    # and lengths are inputs (the second shape generalizes the first).
    for seed, temperature, top_k, prompt in [(4, 0.5, 0, "the"), (5, 2.0, 2, "a red dog")]:
        rk.generate(lm, prompt, max_length=5, temperature=temperature, top_k=top_k, seed=seed)
    loop, _ = sampling_loop(lm.model, False, None, lm.vocabulary.eos_id)
    assert 1 <= loop.tracing_count() <= 2
    assert rk.generate(lm, "the cat", max_length=8, seed=3) == first


def test_bad_options_get_one_line(lm_run):
    result, _, _ = lm_run
    lm = load_language_model(result.run_dir)
    with pytest.raises(DataError, match="reads at most 16"):
        rk.generate(lm, "the cat", max_length=20)
    with pytest.raises(DataError, match="temperature=-1.0"):
        rk.generate(lm, "the", temperature=-1.0)
    with pytest.raises(DataError, match="top_p=1.5"):
        rk.generate(lm, "the", top_p=1.5)
    with pytest.raises(DataError, match="need vocabulary="):
        rk.generate(lm.model, "the")
    assert isinstance(LanguageModel(lm.model, lm.vocabulary, 16).max_length, int)


def test_resuming_keeps_the_vocabulary_and_trains_on(lm_run):
    result, _, root = lm_run
    resumed = rk.train(resume=str(result.run_dir), epochs=3, verbose=0)
    assert len(resumed.history) == 3
    assert json.loads((result.run_dir / "labels.json").read_text())[:3] == [
        "<pad>",
        "<unk>",
        "<eos>",
    ]
