"""Scoring finished language-model runs: perplexity over a whole text, and a report with the
validation perplexity curve and samples at three temperatures."""

from __future__ import annotations

import csv
import html
import json
import math
import os
from pathlib import Path

from reskeras import data as data_lib
from reskeras.data.corpus import Vocabulary, read_lines
from reskeras.decoding.causal import LanguageModel, generate, token_log_likelihoods
from reskeras.evaluation.report import REPORT_HTML, REPORT_JSON, _img, _png
from reskeras.training.recipes import resolve
from reskeras.training.rundir import RunDir, atomic_write

__all__ = ["SAMPLE_TEMPERATURES", "evaluate_language_model"]

#: The temperatures the report samples at (one seed each), and what it samples.
SAMPLE_TEMPERATURES = (0.5, 1.0, 1.5)
_SAMPLE_PROMPT, _SAMPLE_TOKENS, _SAMPLE_SEED = "The", 40, 0


def evaluate_language_model(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    report_dir: str | os.PathLike | None = None,
) -> dict:
    """Perplexity of a language-model run on a text: ``exp`` of the mean negative
    log-likelihood per token over every token (each line's ``<eos>`` included).

    Args:
        run_dir: the run directory.
        data: a text file (``.gz`` too) or folder to score whole; ``None``: the run's test
            text.
        report_dir: where to write ``report.html`` (the validation perplexity curve and
            samples at :data:`SAMPLE_TEMPERATURES`) and ``report.json``; ``None``: nothing.

    Returns:
        ``{"perplexity", "tokens", "lines", "source", "checkpoint"}``.

    Raises:
        RunError: the run directory is missing or incomplete.
        DataError: the text cannot be read or is empty.
    """
    run = RunDir.open(run_dir)
    record = run.read_config()
    cfg = resolve(record.train).config
    lm = LanguageModel(
        run.load_model(),
        Vocabulary(tuple(run.read_labels())),
        int(cfg.sequence_length),
    )
    if data is None:
        task = data_lib.load_task(cfg.task, cfg.data, seed=cfg.seed)
        lines = [line.decode("utf-8") for line in task.test.as_numpy_iterator()]
        source = task.source
    else:
        lines, source = read_lines(data), str(data)
    log_likelihood, tokens = token_log_likelihoods(lm, lines)
    if not tokens:
        raise data_lib.DataError(f"nothing to score: {source} has no tokens")
    report = {
        "perplexity": math.exp(-log_likelihood / tokens),
        "tokens": tokens,
        "lines": len(lines),
        "source": source,
        "checkpoint": {"file": run.model_path.name, "epoch": record.epochs_done},
    }
    if report_dir is not None:
        _write_report(run, lm, report, Path(report_dir))
    return report


def _curve_png(run: RunDir) -> bytes | None:
    if not run.metrics_path.is_file():
        return None
    with open(run.metrics_path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_perplexity")]
    if not rows:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    for key, label in (("perplexity", "training"), ("val_perplexity", "validation")):
        ax.plot([int(r["epoch"]) + 1 for r in rows], [float(r[key]) for r in rows], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def _write_report(run: RunDir, lm: LanguageModel, report: dict, out: Path) -> None:
    tokens = _SAMPLE_TOKENS
    if lm.max_length is not None:  # the prompt, its leading <eos> and the sample fit the model
        tokens = min(tokens, lm.max_length - len(_SAMPLE_PROMPT.split()) - 1)
    samples = {
        t: generate(lm, _SAMPLE_PROMPT, max_length=tokens, temperature=t, seed=_SAMPLE_SEED)
        for t in SAMPLE_TEMPERATURES
    }
    out.mkdir(parents=True, exist_ok=True)
    curve = _curve_png(run)
    rows = "".join(
        f"<tr><td>{t:g}</td><td>{html.escape(_SAMPLE_PROMPT)} {html.escape(text)}</td></tr>"
        for t, text in samples.items()
    )
    title = f"{run.path.name}: perplexity {report['perplexity']:.2f}"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:4px 8px}</style></head>"
        f"<body><h2>{html.escape(title)}</h2>"
        f"<p>{report['tokens']} tokens of {html.escape(report['source'])}</p>"
        + (_img(curve, "curve", "perplexity by epoch") if curve else "")
        + f"<h4>Samples (seed {_SAMPLE_SEED})</h4><table><tr><th>temperature</th><th>text</th>"
        f"</tr>{rows}</table></body></html>"
    )
    atomic_write(out / REPORT_JSON, json.dumps({**report, "samples": samples}, indent=1))
    atomic_write(out / REPORT_HTML, page)
