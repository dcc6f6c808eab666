"""Results you can look at: a confusion matrix, per-class precision/recall/F1 and a gallery of
the most confidently wrong test examples.

:func:`reskeras.evaluation.scores.score_run` produces a :class:`Results`; this module draws it with
matplotlib (its object-oriented ``Figure``: no pyplot state, safe from the app's training
thread) as PNGs, and writes it as ``report.html`` (PNGs embedded, so the file travels alone) and
``report.json``. The app shows the same HTML after training.
"""

from __future__ import annotations

import base64
import heapq
import html
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Mistake",
    "MistakeCollector",
    "Results",
    "classification_report",
    "confusion_png",
    "gallery_png",
]

#: Wrong examples kept for the gallery (the most confident first).
GALLERY_SIZE = 16
REPORT_HTML = "report.html"
REPORT_JSON = "report.json"


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1, the confusion matrix and per-class precision/recall/F1/support.

    Args:
        y_true: the true class ids.
        y_pred: the predicted class ids.
        class_names: the classes (ids index them).

    Returns:
        A JSON-ready dict: ``accuracy``, ``per_class_recall``, ``macro_f1`` (over the classes
            present), ``num_examples``, ``per_class`` and ``confusion`` (rows: true class).
    """
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(1), confusion.sum(0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    names = [str(n) for n in class_names]
    return {
        "accuracy": float(tp.sum() / max(confusion.sum(), 1)),
        "per_class_recall": {n: round(float(r), 6) for n, r in zip(names, recall, strict=True)},
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "num_examples": int(confusion.sum()),
        "per_class": {
            n: {
                "precision": round(float(precision[i]), 6),
                "recall": round(float(recall[i]), 6),
                "f1": round(float(f1[i]), 6),
                "support": int(support[i]),
            }
            for i, n in enumerate(names)
        },
        "confusion": confusion.tolist(),
    }


@dataclass(frozen=True)
class Mistake:
    """A wrongly classified test example: its position in the test set, labels and input.

    Args:
        index: its position in the test set.
        true: its true class id.
        predicted: the predicted class id.
        confidence: the probability the model gave its (wrong) prediction.
        example: the input: uint8 pixels ``(H, W, C)`` or the text.
    """

    index: int
    true: int
    predicted: int
    confidence: float  # the probability the model gave its (wrong) prediction
    example: Any  # uint8 pixels (H, W, C) or the text

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready row (class names, not ids; the text for a text example).

        Args:
            class_names: the classes the ids index.
        """
        row = {
            "index": self.index,
            "true": str(class_names[self.true]),
            "predicted": str(class_names[self.predicted]),
            "confidence": round(self.confidence, 6),
        }
        if isinstance(self.example, str):
            row["text"] = self.example
        return row


class MistakeCollector:
    """Keeps the ``size`` most confidently wrong examples seen over a stream of batches.

    Args:
        size: how many to keep.
    """

    def __init__(self, size: int = GALLERY_SIZE):
        self.size = size
        self._heap: list[tuple[float, int, Mistake]] = []
        self._seen = 0

    def add(self, inputs: np.ndarray, y_true: np.ndarray, probs: np.ndarray) -> None:
        """Adds one batch's wrong examples (numbered by their position in the stream).

        Args:
            inputs: the raw inputs (bytes are decoded as UTF-8 text).
            y_true: their integer labels.
            probs: class probabilities ``[batch, classes]``.
        """
        y_pred = probs.argmax(1)
        for i in np.flatnonzero(y_pred != y_true):
            confidence = float(probs[i, y_pred[i]])
            if len(self._heap) == self.size and confidence <= self._heap[0][0]:
                continue
            example = inputs[i]
            if isinstance(example, bytes | np.bytes_):
                example = example.decode("utf-8", errors="replace")
            item = (confidence, -(self._seen + i), Mistake(
                int(self._seen + i), int(y_true[i]), int(y_pred[i]), confidence, example
            ))  # fmt: skip
            if len(self._heap) < self.size:
                heapq.heappush(self._heap, item)
            else:
                heapq.heapreplace(self._heap, item)
        self._seen += len(y_true)

    @property
    def mistakes(self) -> list[Mistake]:
        """The kept mistakes, most confident first."""
        return [m for _, _, m in sorted(self._heap, reverse=True)]


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return out.getvalue()


def confusion_png(confusion: Sequence[Sequence[int]], class_names: Sequence[str]) -> bytes:
    """Two heat maps side by side: counts, and rows normalized to 1 (recall on the diagonal).

    Args:
        confusion: the confusion matrix (rows: true class); cells are annotated up to 20
            classes.
        class_names: the classes, for the axes.

    Returns:
        The PNG image.
    """
    from matplotlib.figure import Figure

    counts = np.asarray(confusion, dtype=np.int64)
    k = len(class_names)
    totals = counts.sum(1, keepdims=True)
    normalized = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    side = max(3.0, 0.45 * k + 1.6)
    fig = Figure(figsize=(2 * side + 0.8, side), layout="constrained")
    annotate = k <= 20
    for ax, values, title, fmt in zip(
        fig.subplots(1, 2),
        (counts, normalized),
        ("counts", "normalized by true class"),
        ("{:d}", "{:.2f}"),
        strict=True,
    ):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("predicted", fontsize=9)
        ax.set_ylabel("true", fontsize=9)
        ax.set_xticks(range(k), [str(n) for n in class_names], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(k), [str(n) for n in class_names], fontsize=8)
        if annotate:
            high = values.max() or 1
            for (r, c), v in np.ndenumerate(values):
                color = "white" if v > 0.6 * high else "black"
                text = fmt.format(int(v)) if fmt == "{:d}" else fmt.format(float(v))
                ax.text(c, r, text, ha="center", va="center", fontsize=7, color=color)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return _png(fig)


def gallery_png(mistakes: Sequence[Mistake], class_names: Sequence[str], columns: int = 4) -> bytes:
    """Images of ``mistakes`` in a grid, each titled ``true -> predicted (confidence)``.

    Args:
        mistakes: image mistakes (``example`` holds the pixels).
        class_names: the classes the ids index.
        columns: images per row.

    Returns:
        The PNG image.
    """
    from matplotlib.figure import Figure

    rows = max(1, -(-len(mistakes) // columns))
    fig = Figure(figsize=(2.2 * columns, 2.4 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, m in zip(axes, mistakes, strict=False):
        image = np.asarray(m.example)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(
            f"#{m.index}: {class_names[m.true]}\n-> {class_names[m.predicted]} "
            f"({m.confidence:.0%})",
            fontsize=8,
        )
    return _png(fig)


def _img(png: bytes, css_class: str, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f"<img class='{css_class}' alt='{html.escape(alt)}' style='max-width:100%' "
        f"src='data:image/png;base64,{data}'>"
    )


@dataclass
class Results:
    """A scored test set: the report (metrics, confusion, per-class table) and the mistakes.

    Args:
        report: the metrics (:func:`classification_report`, plus ``loss`` and
            ``collapsed`` when known).
        class_names: the classes.
        kind: ``"image"`` (the gallery is drawn) or ``"text"`` (a table of texts).
        mistakes: the most confidently wrong examples, most confident first.
        title: the title of the written report.
    """

    report: dict[str, Any]
    class_names: list[str]
    kind: str
    mistakes: list[Mistake] = field(default_factory=list)
    title: str = "reskeras evaluation"

    def to_json(self) -> dict[str, Any]:
        """What ``report.json`` holds: the report plus the most confidently wrong examples."""
        return {
            "title": self.title,
            "classes": self.class_names,
            **self.report,
            "most_confident_mistakes": [m.to_dict(self.class_names) for m in self.mistakes],
        }

    def html(self) -> str:
        """An HTML fragment: headline, confusion matrix, per-class table and the gallery."""
        esc = html.escape
        r = self.report
        head = (
            f"<div class='reskeras-headline'>accuracy <b>{r['accuracy']:.4f}</b> on "
            f"<b>{r['num_examples']:,}</b> test examples, macro-F1 {r['macro_f1']:.4f}"
            + (f", loss {r['loss']:.4f}" if "loss" in r else "")
            + "</div>"
        )
        if "collapsed" in r:
            from reskeras.evaluation.collapse import collapse_message

            message = collapse_message(r["collapsed"], "evaluation")
            head += f"<div class='reskeras-collapsed' style='color:#b00'>{esc(message)}</div>"
        rows = "".join(
            f"<tr><td>{esc(name)}</td><td>{v['precision']:.3f}</td><td>{v['recall']:.3f}</td>"
            f"<td>{v['f1']:.3f}</td><td>{v['support']:,}</td></tr>"
            for name, v in r["per_class"].items()
        )
        table = (
            "<table class='reskeras-per-class' style='border-collapse:collapse'>"
            "<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
            f"<th>support</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        matrix = confusion_png(r["confusion"], self.class_names)
        confusion = _img(matrix, "reskeras-confusion", "confusion matrix")
        if not self.mistakes:
            gallery = "<div class='reskeras-gallery'><i>No wrong predictions.</i></div>"
        elif self.kind == "image":
            gallery = _img(
                gallery_png(self.mistakes, self.class_names), "reskeras-gallery", "mistakes"
            )
        else:
            items = "".join(
                f"<tr><td>#{m.index}</td><td>{esc(self.class_names[m.true])}</td>"
                f"<td>{esc(self.class_names[m.predicted])}</td><td>{m.confidence:.0%}</td>"
                f"<td>{esc(str(m.example))}</td></tr>"
                for m in self.mistakes
            )
            gallery = (
                "<table class='reskeras-gallery' style='border-collapse:collapse'><thead><tr>"
                "<th>#</th><th>true</th><th>predicted</th><th>confidence</th><th>text</th>"
                f"</tr></thead><tbody>{items}</tbody></table>"
            )
        return (
            "<div class='reskeras-results'><style>.reskeras-results td,.reskeras-results th"
            "{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}</style>"
            f"{head}<h4>Confusion matrix</h4>{confusion}"
            f"<h4>Per class</h4>{table}"
            f"<h4>Most confidently wrong</h4>{gallery}</div>"
        )

    def write(self, directory: str | os.PathLike) -> Path:
        """Writes ``report.html`` and ``report.json`` into ``directory``; returns the HTML path.

        Args:
            directory: the directory, created if missing.
        """
        from reskeras.training.rundir import atomic_write

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}</style></head>"
            f"<body><h2>{html.escape(self.title)}</h2>{self.html()}</body></html>"
        )
        atomic_write(out / REPORT_JSON, json.dumps(self.to_json(), indent=1))
        atomic_write(out / REPORT_HTML, page)
        return out / REPORT_HTML
