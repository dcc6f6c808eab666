"""What the app draws: model summaries, training curves and export details, as HTML.

Curves are drawn with matplotlib (its object-oriented ``Figure``: no pyplot state, safe from
the training thread) and embedded as inline SVG, so they render the same headless and in the
browser. Each data curve carries an id (``curve-<name>``).
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "export_html",
    "format_count",
    "format_flops",
    "history_svg",
    "perplexity_html",
    "translation_html",
    "summary_html",
]

_CURVES = {  # key: (panel, color, style)
    "loss": ("loss", "#1f77b4", "-"),
    "val_loss": ("loss", "#ff7f0e", "--"),
    "accuracy": ("accuracy", "#1f77b4", "-"),
    "val_accuracy": ("accuracy", "#ff7f0e", "--"),
    "perplexity": ("perplexity", "#1f77b4", "-"),
    "val_perplexity": ("perplexity", "#ff7f0e", "--"),
}


def format_count(n: int) -> str:
    """``269722`` -> ``"269,722"``.

    Args:
        n: the count (converted with ``int``).

    Returns:
        The count with thousands separators.
    """
    return f"{int(n):,}"


def format_flops(n: float) -> str:
    """``81102080`` -> ``"81.1 M"`` (multiply-adds count as two FLOPs).

    Args:
        n: the FLOP count.

    Returns:
        The count with one decimal and a ``G``/``M``/``K`` unit; under 1000 a whole number.
    """
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f}"


def summary_html(description: Mapping[str, Any], note: str = "") -> str:
    """HTML of :func:`reskeras.models.describe.describe_model`'s output: totals and stage table.

    Args:
        description: the description (``name``, ``depth``, ``params``, ``trainable_params``,
            ``flops`` and optionally ``stages``, and ``per``, what the FLOPs are counted per:
            ``"example"`` unless given, a language model's ``"token"``).
        note: a line shown in italics under the summary; empty: none.

    Returns:
        The HTML fragment.
    """
    esc = html.escape
    cell = "<td style='padding:1px 10px;text-align:{}'>{}</td>"
    rows = "".join(
        "<tr>"
        + cell.format("left", esc(str(s["name"])))
        + cell.format("right", s["blocks"])
        + cell.format("right", format_count(s["params"]))
        + cell.format("right", format_flops(s["flops"]))
        + cell.format("left", esc(" x ".join(str(d) for d in s["output_shape"] or ())))
        + "</tr>"
        for s in description.get("stages", ())
    )
    head = "".join(
        f"<th style='padding:1px 10px;text-align:{align}'>{name}</th>"
        for name, align in (
            ("stage", "left"),
            ("blocks", "right"),
            ("params", "right"),
            ("FLOPs", "right"),
            ("output", "left"),
        )
    )
    params = format_count(description["params"])
    trainable = format_count(description["trainable_params"])
    parts = [
        "<div class='reskeras-summary'>",
        f"<b class='reskeras-name'>{esc(str(description['name']))}</b> &mdash; "
        f"depth <b class='reskeras-depth'>{description['depth']}</b>, "
        f"<b class='reskeras-params'>{trainable}</b> trainable parameters "
        f"({params} in all), "
        f"<b class='reskeras-flops'>{format_flops(description['flops'])}</b>FLOPs per "
        f"{esc(str(description.get('per', 'example')))}",
    ]
    if rows:
        parts.append(
            "<table class='reskeras-stages' style='border-collapse:collapse;margin-top:4px'>"
            f"<thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if note:
        parts.append(f"<div class='reskeras-note'><i>{esc(note)}</i></div>")
    parts.append("</div>")
    return "".join(parts)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def history_svg(
    history: Sequence[Mapping[str, Any]],
    batch_losses: Sequence[tuple[float, float]] = (),
    width: int = 640,
    height: int = 220,
    metric: str = "accuracy",
) -> str:
    """Loss and accuracy (or perplexity) per epoch (and, within epochs, a smoothed training
    loss per batch) as an inline SVG string.

    Args:
        history: dicts with ``epoch`` and any of ``loss``, ``val_loss``, ``accuracy``,
            ``val_accuracy`` (``perplexity``, ``val_perplexity``), as in
            ``TrainResult.history``; non-finite values are skipped.
        batch_losses: ``(epoch fraction, smoothed loss)`` points, e.g. ``(0.5, 1.7)``
            halfway through the first epoch.
        width: the image's width in pixels.
        height: the image's height in pixels.
        metric: the second panel: ``"accuracy"`` (from 0 to 1) or ``"perplexity"`` (a
            language model's, on a log scale).

    Returns:
        The ``<svg>`` element's markup.
    """
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100, layout="constrained")
    if metric not in ("accuracy", "perplexity"):
        raise ValueError(f"Unknown metric {metric!r}; expected 'accuracy' or 'perplexity'.")
    panels = dict(zip(("loss", metric), fig.subplots(1, 2), strict=True))
    for key, (panel, color, style) in _CURVES.items():
        if panel not in panels:
            continue
        points = [(h["epoch"], float(h[key])) for h in history if _finite(h.get(key))]
        if points:
            x, y = zip(*points, strict=True)
            panels[panel].plot(
                x, y, style, color=color, marker="o", ms=3, label=key, gid=f"curve-{key}"
            )
    if batch_losses:
        x, y = zip(*batch_losses, strict=True)
        panels["loss"].plot(
            x, y, color="#1f77b4", alpha=0.35, lw=1, label="loss (batches)", gid="curve-batch_loss"
        )
    epochs = max([h.get("epoch", 0) for h in history] + [x for x, _ in batch_losses] + [1])
    for title, ax in panels.items():
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlim(0, epochs)
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="best")
    if metric == "accuracy":
        panels["accuracy"].set_ylim(0, 1)
    elif panels["perplexity"].lines:  # from 1 (certainty) to the vocabulary: a log scale
        panels["perplexity"].set_yscale("log")
    if not history and not batch_losses:
        fig.text(0.5, 0.5, "press Train: curves appear here", ha="center", color="#888")
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: small, crisp
        fig.savefig(out, format="svg")
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def perplexity_html(result: Any) -> str:
    """HTML of a language model's test scores: perplexity and next-token accuracy.

    Args:
        result: the run's :class:`~reskeras.training.loop.TrainResult` (``test_perplexity``,
            ``test_accuracy``, ``run_dir``).

    Returns:
        The HTML fragment.
    """
    ppl, acc = getattr(result, "test_perplexity", None), getattr(result, "test_accuracy", None)
    parts = []
    if _finite(ppl):
        parts.append(f"perplexity <b class='reskeras-perplexity'>{float(ppl):,.1f}</b>")
    if _finite(acc):
        parts.append(f"next-token accuracy <b>{float(acc):.3f}</b>")
    run = html.escape(str(getattr(result, "run_dir", "")))
    return (
        "<div class='reskeras-lm-results'>Test text: "
        + (", ".join(parts) or "no scores")
        + f". <code>reskeras evaluate --run {run} --report DIR</code> writes the curves "
        "and samples at three temperatures.</div>"
    )


def export_html(result: Any) -> str:
    """HTML for an :class:`reskeras.serve.export.ExportResult`: path, version and signatures.

    Args:
        result: the export's result (``name``, ``version``, ``path`` and ``signatures``).

    Returns:
        The HTML fragment.
    """
    esc = html.escape
    rows = []
    for sig, spec in result.signatures.items():
        ins = ", ".join(f"{k}: {v}" for k, v in spec.get("inputs", {}).items())
        outs = ", ".join(f"{k}: {v}" for k, v in spec.get("outputs", {}).items())
        rows.append(
            f"<tr><td><code>{esc(sig)}</code></td><td><code>{esc(ins)}</code></td>"
            f"<td><code>{esc(outs)}</code></td></tr>"
        )
    return (
        "<div class='reskeras-export'>"
        f"Exported <b>{esc(str(result.name))}</b> version "
        f"<b class='reskeras-version'>{result.version}</b> to "
        f"<code class='reskeras-path'>{esc(str(result.path))}</code>"
        "<table style='border-collapse:collapse;margin-top:4px'><thead><tr><th>signature</th>"
        "<th>inputs</th><th>outputs</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        "</div>"
    )


def translation_html(result: Any, scores: dict) -> str:
    """HTML of a translation run's test scores: perplexity, BLEU and chrF.

    Args:
        result: the run's :class:`~reskeras.training.loop.TrainResult` (``test_perplexity``,
            ``run_dir``).
        scores: :func:`reskeras.evaluate`'s dict of the run: ``bleu``, ``chrf``,
            ``sentences``, ``source``, ``bleu_signature``.

    Returns:
        The HTML fragment.
    """
    ppl = getattr(result, "test_perplexity", None)
    perplexity = f"perplexity <b>{float(ppl):,.2f}</b>, " if _finite(ppl) else ""
    run = html.escape(str(getattr(result, "run_dir", "")))
    return (
        f"<div class='reskeras-mt-results'>Test pairs: {perplexity}"
        f"BLEU <b class='reskeras-bleu'>{scores['bleu']:.2f}</b>, "
        f"chrF <b>{scores['chrf']:.2f}</b> on {scores['sentences']:,} sentences of "
        f"{html.escape(str(scores['source']))} "
        f"<span style='color:#888'>({html.escape(scores['bleu_signature'])})</span>. "
        f"<code>reskeras evaluate --run {run} --report DIR</code> shows the best and worst "
        "translations.</div>"
    )
