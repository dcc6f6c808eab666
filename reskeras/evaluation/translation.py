"""Scoring translation runs: corpus BLEU and chrF by sacrebleu on detokenized text, the
collapse check (one translation for nearly every source) after each epoch and at the end,
and a report with the best and worst translations by sentence BLEU and attention heat maps."""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reskeras import data as data_lib
from reskeras.data.corpus import read_lines
from reskeras.decoding.seq2seq import (
    BEAM_WIDTH,
    LENGTH_PENALTY,
    Translator,
    cross_attention,
    load_translator,
    padded,
    searcher,
    source_ids,
    strip_ids,
    translate,
)
from reskeras.evaluation.collapse import CollapseGuard, find_collapse
from reskeras.evaluation.report import REPORT_HTML, REPORT_JSON
from reskeras.training.recipes import resolve
from reskeras.training.rundir import RunDir, atomic_write

__all__ = [
    "COLLAPSE_SAMPLE",
    "HEAT_MAPS",
    "REPORT_EXAMPLES",
    "TranslationCollapseGuard",
    "evaluate_translation",
    "find_translation_collapse",
]

#: The best and the worst translations (by sentence BLEU) the report shows, each.
REPORT_EXAMPLES = 10
#: Attention heat maps in the report: of the best translations, the first this many.
HEAT_MAPS = 3
#: Validation pairs the collapse check translates (greedily) after each epoch.
COLLAPSE_SAMPLE = 64


def _pairs(run: RunDir, data, reference) -> tuple[list[str], list[str], str, str]:
    if (data is None) != (reference is None):
        raise data_lib.DataError(
            "a translation is scored against its references: give both data=SOURCE_FILE and "
            "reference=TARGET_FILE, or neither (the run's test pairs)"
        )
    if data is None:
        cfg = resolve(run.read_config().train).config
        task = data_lib.load_task(cfg.task, cfg.data, seed=cfg.seed, languages=cfg.languages)
        pairs = [(s.decode(), t.decode()) for s, t in task.test.as_numpy_iterator()]
        sources, references = [p[0] for p in pairs], [p[1] for p in pairs]
        return sources, references, task.source, task.source
    sources, references = read_lines(data), read_lines(reference)
    if len(sources) != len(references):
        raise data_lib.DataError(
            f"{data} has {len(sources):,} lines but {reference} has {len(references):,}: "
            "line i of the references translates line i of the sources"
        )
    return sources, references, str(data), str(reference)


def find_translation_collapse(hypotheses: list[str], references: list[str]) -> dict | None:
    """The classifiers' collapse check (:func:`~reskeras.evaluation.collapse.find_collapse`)
    with each distinct translation as a class: a model that gives one translation to nearly
    every source, which is not nearly every reference, has collapsed.

    Args:
        hypotheses: the translations.
        references: their references.

    Returns:
        ``find_collapse``'s dict (its ``class`` is the translation), or ``None``.
    """
    counts, wanted = Counter(hypotheses), Counter(references)
    names = list(counts)
    matched = sum(wanted[n] for n in names)
    found = find_collapse(
        [counts[n] for n in names] + [0],
        [wanted[n] for n in names] + [len(references) - matched],
        [*names, "<any other translation>"],
    )
    return None if found is None else {**found, "unit": "translation"}


class TranslationCollapseGuard(CollapseGuard):
    """The collapse guard of a translation run: after each epoch's validation it translates
    the first :data:`COLLAPSE_SAMPLE` validation sources greedily (one compiled search, traced
    once) and runs :func:`find_translation_collapse` on them; ``collapsed`` goes into the
    epoch's logs, a collapse into one line (``report``).

    Args:
        pairs: validation ``(source, reference)`` sentence pairs (the first
            :data:`COLLAPSE_SAMPLE` are used).
        vocabulary: the run's :class:`~reskeras.data.subword.SubwordVocabulary`.
        sequence_length: the longest source, in tokens.
        report: receives the one-line warning (default: printed to stderr).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        vocabulary: Any,
        sequence_length: int,
        report: Callable[[str], None] | None = None,
    ):
        super().__init__([], report)
        self.pairs = list(pairs)[:COLLAPSE_SAMPLE]
        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)
        self._search = self._sources = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None):
        """Translates the sample and checks it; a no-op for epochs without validation.

        Args:
            epoch: the epoch's index (from 0).
            logs: the epoch's logs; ``collapsed`` is added to them.
        """
        if logs is None or "val_loss" not in logs or not self.pairs:
            return
        vocab = self.vocabulary
        if self._search is None:
            translator = Translator(self.model, vocab, self.sequence_length)
            sources = translator.encode([s for s, _ in self.pairs])
            rows, limit = source_ids(self.model, sources, vocab.eos_id)
            self._sources = padded(rows)
            self._search = searcher(self.model, vocab.eos_id, limit)
        hypotheses = [
            vocab.decode(ids) for ids in strip_ids(self._search(self._sources), vocab.eos_id)
        ]
        collapse = find_translation_collapse(hypotheses, [t for _, t in self.pairs])
        self.record(epoch, logs, collapse)


def evaluate_translation(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    reference: str | os.PathLike | None = None,
    *,
    beam_width: int = BEAM_WIDTH,
    length_penalty: float = LENGTH_PENALTY,
    report_dir: str | os.PathLike | None = None,
) -> dict:
    """Translates every source sentence and scores the translations against the references
    with sacrebleu's corpus BLEU and chrF (on detokenized text, sacrebleu's own 13a
    tokenization), with their signature strings.

    Args:
        run_dir: the run directory.
        data: the source sentences, a line each (``.gz`` too); ``None``: the run's test
            pairs (its validation pairs where the task has no test split).
        reference: the reference translations, line for line.
        beam_width: beams (1: greedy decoding).
        length_penalty: GNMT's alpha.
        report_dir: where to write ``report.html`` (the best and worst translations by
            sentence BLEU) and ``report.json``; ``None``: nothing.

    Returns:
        ``{"bleu", "chrf", "bleu_signature", "chrf_signature", "sentences", "source",
        "reference", "beam_width", "length_penalty", "checkpoint"}``, and ``"collapsed"``
        when one translation is given to nearly every source
        (:func:`find_translation_collapse`).

    Raises:
        RunError: the run directory is missing or incomplete.
        DataError: the files cannot be read, are empty, or differ in length.
    """
    import sacrebleu

    run = RunDir.open(run_dir)
    sources, references, source, reference_name = _pairs(run, data, reference)
    translator = load_translator(run.path)
    hypotheses = translate(
        translator, sources, beam_width=beam_width, length_penalty=length_penalty
    )
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    report = {
        "bleu": bleu.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hypotheses),
        "source": source,
        "reference": reference_name,
        "beam_width": beam_width,
        "length_penalty": length_penalty,
        "checkpoint": {"file": run.model_path.name, "epoch": run.read_config().epochs_done},
    }
    collapse = find_translation_collapse(hypotheses, references)
    if collapse is not None:
        report["collapsed"] = collapse
    if report_dir is not None:
        _write_report(translator, run, report, sources, references, hypotheses, Path(report_dir))
    return report


def _heat_map(source: list[str], target: list[str], weights) -> str:
    """An HTML table: a row per translation piece, a column per source piece, each cell as
    dark as the attention weight."""
    head = "".join(f"<th class='src'>{html.escape(p)}</th>" for p in source)
    rows = "".join(
        f"<tr><th>{html.escape(piece)}</th>"
        + "".join(
            f"<td title='{w:.2f}' style='background:rgba(31,119,180,{w:.2f})'></td>" for w in row
        )
        + "</tr>"
        for piece, row in zip(target, weights, strict=True)
    )
    return f"<table class='heat'><tr><th></th>{head}</tr>{rows}</table>"


def _write_report(translator, run, report, sources, references, hypotheses, out: Path) -> None:
    import sacrebleu

    scored = sorted(
        (sacrebleu.sentence_bleu(h, [r]).score, s, r, h)
        for s, r, h in zip(sources, references, hypotheses, strict=True)
    )
    n = min(REPORT_EXAMPLES, len(scored) // 2 or len(scored))
    sections = {"Best": scored[::-1][:n], "Worst": scored[:n]}

    def table(rows) -> str:
        cells = "".join(
            f"<tr><td>{b:.1f}</td><td>{html.escape(s)}</td><td>{html.escape(r)}</td>"
            f"<td>{html.escape(h)}</td></tr>"
            for b, s, r, h in rows
        )
        return (
            "<table><tr><th>BLEU</th><th>source</th><th>reference</th><th>translation</th>"
            f"</tr>{cells}</table>"
        )

    maps = []
    for _, source, _, hypothesis in sections["Best"]:
        if len(maps) == HEAT_MAPS:
            break
        if hypothesis:
            pieces, target, weights = cross_attention(translator, source, hypothesis)
            maps.append({"source": pieces, "translation": target,
                         "weights": weights.round(3).tolist()})  # fmt: skip
    attention = "".join(_heat_map(m["source"], m["translation"], m["weights"]) for m in maps)
    title = f"{run.path.name}: BLEU {report['bleu']:.2f}, chrF {report['chrf']:.2f}"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:4px 8px;vertical-align:top}"
        ".heat{border-collapse:collapse;margin:1em 0}.heat td{width:18px;height:18px;"
        "padding:0;border:1px solid #eee}.heat th{font-weight:normal;font-size:12px;"
        "text-align:right;padding:0 4px}.heat th.src{writing-mode:vertical-rl;"
        "text-align:left}</style></head>"
        f"<body><h2>{html.escape(title)}</h2>"
        f"<p>{report['sentences']} sentences of {html.escape(report['source'])}; "
        f"{html.escape(report['bleu_signature'])}</p>"
        + "".join(f"<h4>{k} by sentence BLEU</h4>{table(v)}" for k, v in sections.items())
        + (
            "<h4>Attention</h4><p>Where the model looks in the source (columns) as it writes "
            "each piece of its translation (rows), for the best translations above.</p>" + attention
            if attention
            else ""
        )
        + "</body></html>"
    )
    out.mkdir(parents=True, exist_ok=True)
    examples = {k: [dict(zip(("bleu", "source", "reference", "translation"), row, strict=True))
                    for row in v] for k, v in sections.items()}  # fmt: skip
    atomic_write(
        out / REPORT_JSON,
        json.dumps({**report, "examples": examples, "attention": maps}, indent=1),
    )
    atomic_write(out / REPORT_HTML, page)
