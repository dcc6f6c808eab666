"""Translation end to end: train() on parallel files, rk.translate greedy and beam, BLEU and
chrF from evaluate() and the CLI, the report, resume, and bad input in one line."""

import json
import shutil

import numpy as np
import pytest
from synthetic import shared_translation_run

import reskeras as rk
from reskeras.cli import main
from reskeras.errors import DataError

pytestmark = pytest.mark.slow  # a training run


@pytest.fixture(scope="module")
def mt_run(tmp_path_factory):
    run_dir, held_out = shared_translation_run(tmp_path_factory)
    return run_dir, held_out, tmp_path_factory.mktemp("mt")


def test_training_learns_and_records_the_vocabulary(mt_run):
    run_dir, _, _ = mt_run
    history = json.loads((run_dir / "checkpoints" / "state.json").read_text())["history"]
    assert history[-1]["val_perplexity"] < history[0]["val_perplexity"] / 2
    # The collapse guard translated validation sources after each epoch: no collapse.
    assert [h["collapsed"] for h in history] == [0.0] * len(history)
    assert json.loads((run_dir / "config.json").read_text())["collapse"] is None
    assert (run_dir / "subwords.model").is_file()
    assert json.loads((run_dir / "labels.json").read_text())[:3] == [
        "<pad>", "<unk>", "</s>",
    ]  # fmt: skip


def test_translate_greedy_and_beam(mt_run):
    run_dir, held_out, _ = mt_run
    sources = [s for s, _ in held_out[:20]]
    greedy = rk.translate(run_dir, sources, beam_width=1)
    beam = rk.translate(run_dir, sources, beam_width=3)
    assert len(greedy) == len(beam) == 20 and all(isinstance(t, str) for t in greedy)
    right = sum(g == t for g, (_, t) in zip(greedy, held_out[:20], strict=True))
    assert right >= 10, list(zip(greedy, held_out[:20], strict=True))
    assert rk.translate(run_dir, sources[0], beam_width=1) == greedy[0]
    for bad, match in (
        ({"beam_width": 0}, "beam_width=0"),
        ({"length_penalty": -1}, "0 or more"),
        ({"max_length": 0}, "max_length=0 must be a positive"),
    ):
        with pytest.raises(DataError, match=match):
            rk.translate(run_dir, sources, **bad)
    with pytest.raises(DataError, match="is a translation run, not a language model"):
        rk.generate(run_dir, "ein hund")


def test_evaluate_scores_every_sentence_with_sacrebleu(mt_run, capsys):
    run_dir, held_out, root = mt_run
    report = rk.evaluate(run_dir, report_dir=root / "report")
    assert report["sentences"] == len(held_out)
    assert report["bleu"] > 30 and report["chrf"] > 50
    assert report["bleu_signature"].startswith("nrefs:1|case:mixed")
    assert "tok:13a" in report["bleu_signature"] and "chrf_signature" in report
    page = (root / "report" / "report.html").read_text()
    assert "Best by sentence BLEU" in page and "Worst by sentence BLEU" in page
    assert "<h4>Attention</h4>" in page and page.count("class='heat'") == 3
    maps = json.loads((root / "report" / "report.json").read_text())["attention"]
    best = maps[0]
    assert best["source"][-1] == best["translation"][-1] == "</s>"
    assert np.allclose(np.sum(best["weights"], axis=1), 1.0, atol=1e-3)
    (root / "src.txt").write_text("\n".join(s for s, _ in held_out[:30]) + "\n")
    (root / "ref.txt").write_text("\n".join(t for _, t in held_out[:30]) + "\n")
    args = ["evaluate", "--run", str(run_dir), "--data", str(root / "src.txt")]
    assert main([*args, "--reference", str(root / "ref.txt")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["sentences"] == 30 and line["bleu"] > 30
    (root / "short.txt").write_text("one line\n")
    assert main([*args, "--reference", str(root / "short.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reskeras: error:") and "has 30 lines but" in err
    assert "\n" not in err
    assert main(args) == 2  # no references
    assert "give both data=SOURCE_FILE and reference=TARGET_FILE" in capsys.readouterr().err


def test_resuming_keeps_the_subwords(mt_run, tmp_path):
    run_dir = shutil.copytree(mt_run[0], tmp_path / "run")  # the shared run stays as it is
    before = (run_dir / "subwords.model").read_bytes()
    resumed = rk.train(resume=str(run_dir), epochs=16, verbose=0)
    assert len(resumed.history) == 16
    assert (run_dir / "subwords.model").read_bytes() == before
