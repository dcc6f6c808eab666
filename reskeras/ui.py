"""JupyterLab front end: :class:`TrainerApp`, a widget app to build, train and export models.

Notebooks only import and show it::

    from reskeras.ui import TrainerApp
    app = TrainerApp(task="fashion_mnist")
    app

The app's logic lives in small pure functions (:func:`families_for_kind`, :func:`valid_depths`,
:func:`family_options`, :func:`train_config`, :func:`summary_html`, :func:`history_svg`,
:func:`export_html`) so it can be tested without a browser. Widgets are public attributes
(``app.depth``, ``app.build_button`` ...) so tests and notebooks can drive the app by setting
values and calling ``button.click()``.

Training runs ``reskeras.training.train`` in a background thread: a Keras callback moves the
progress bar and redraws the loss/accuracy plot (an inline SVG, so it renders headless and in
the browser alike), **Stop** sets the ``threading.Event`` handed to ``train(stop_event=...)``,
and any exception ends up as a one-line message in the status area.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import html
import inspect
import math
import re
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import keras

from reskeras import data as rdata
from reskeras.models import FAMILIES, assemble, build_model, describe_model
from reskeras.training import OPTIMIZERS, PRECISIONS, default_lr, train

__all__ = [
    "BATCH_SIZES",
    "OPTIMIZERS",
    "PRECISIONS",
    "TrainerApp",
    "build_preview",
    "default_depth",
    "default_lr",
    "export_html",
    "families_for_kind",
    "family_options",
    "format_count",
    "format_flops",
    "history_svg",
    "model_kwargs",
    "preview_spec",
    "summary_html",
    "train_config",
    "valid_depths",
]

USER_TASKS = ("image_folder", "text_file")

BATCH_SIZES = (16, 32, 64, 128, 256, 512)
#: What Build assumes for image_folder before the data has been pointed at.
PREVIEW_IMAGE_SHAPE = (32, 32, 3)
PREVIEW_NUM_CLASSES = 2
DEFAULT_SEQUENCE_LENGTH = 128
DEFAULT_VOCABULARY_SIZE = 20_000
_PREFERRED_DEPTHS = (20, 18, 16)
_TRAIN_KEYS = (
    "task",
    "data",
    "family",
    "depth",
    "width",
    "residual",
    "drop_path_rate",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "precision",
    "xla",
    "seed",
    "limit_train",
    "limit_test",
    "sequence_length",
    "vocabulary_size",
)


# -- pure helpers ------------------------------------------------------------------------------


def _check_kind(kind: str) -> str:
    if kind not in ("image", "text"):
        raise ValueError(f"Unknown kind {kind!r}; expected one of ['image', 'text'].")
    return kind


def families_for_kind(kind: str) -> list[str]:
    """Registered model families whose inputs are of ``kind`` ("image" or "text"), sorted."""
    _check_kind(kind)
    return sorted(name for name, fam in FAMILIES.items() if fam.kind == kind)


def _family(name: str):
    if name not in FAMILIES:
        raise ValueError(f"Unknown model family {name!r}; expected one of {sorted(FAMILIES)}.")
    return FAMILIES[name]


def valid_depths(family: str) -> tuple[int, ...]:
    """The depths offered for ``family`` (all of them valid for its builder)."""
    return tuple(_family(family).depths)


def default_depth(family: str, current: int | None = None) -> int:
    """``current`` if it is valid for ``family``, else 20/18/16 when offered, else the smallest."""
    depths = valid_depths(family)
    if not depths:
        raise ValueError(f"Model family {family!r} offers no depths.")
    for depth in (current, *_PREFERRED_DEPTHS):
        if depth in depths:
            return depth
    return min(depths)


_ASSEMBLE_PARAMS = frozenset(inspect.signature(assemble).parameters)


def family_options(family: str) -> dict[str, Any]:
    """Which optional knobs ``family``'s builder takes.

    Returns ``{"width": the builder's default width (int or float) or None, "residual": bool,
    "drop_path": bool}``. A
    keyword the builder names explicitly counts; so does ``drop_path_rate`` for image builders
    that pass ``**kwargs`` on to :func:`reskeras.models.assemble`.
    """
    fam = _family(family)
    params = inspect.signature(fam.builder).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def takes(name: str) -> bool:
        return name in params or (var_kw and fam.kind == "image" and name in _ASSEMBLE_PARAMS)

    width = None
    if "width" in params:
        default = params["width"].default
        ok = isinstance(default, int | float) and not isinstance(default, bool)
        width = default if ok else 1
    return {"width": width, "residual": takes("residual"), "drop_path": takes("drop_path_rate")}


def model_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Builder overrides (``residual``, ``drop_path_rate``, ``width``) that the family takes."""
    opts = family_options(values["family"])
    out: dict[str, Any] = {}
    if opts["width"] is not None and values.get("width") is not None:
        # Wide ResNet's width is a whole multiplier, text_resnet's a float.
        as_int = isinstance(opts["width"], int)
        out["width"] = int(round(values["width"])) if as_int else float(values["width"])
    if opts["residual"] and values.get("residual") is not None:
        out["residual"] = bool(values["residual"])
    if opts["drop_path"] and values.get("drop_path_rate"):
        out["drop_path_rate"] = float(values["drop_path_rate"])
    return out


def train_config(values: Mapping[str, Any], out: str | Path | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`reskeras.training.train` from the app's widget values.

    ``values`` holds ``task, data, family, depth, width, residual, drop_path_rate, epochs,
    batch_size, lr, optimizer, precision, xla, seed, limit_train, limit_test, sequence_length,
    vocabulary_size`` (see :meth:`TrainerApp.values`). Empty ``data`` means "search local
    copies"; ``limit_train``/``limit_test`` 0 mean all examples.
    """
    missing = [k for k in ("task", "family", "depth") if values.get(k) in (None, "")]
    if missing:
        raise ValueError(f"Missing settings {missing}; the app needs a task, a family and a depth.")
    task = rdata.get_task(values["task"])
    family = _family(values["family"])
    if family.kind != task.kind:
        raise ValueError(
            f"Model family {family.name!r} takes {family.kind} inputs but task {task.name!r} is "
            f"{task.kind}; choose one of {families_for_kind(task.kind)}."
        )
    depth = int(values["depth"])
    if depth not in family.depths:
        raise ValueError(
            f"Invalid depth {depth} for {family.name}; expected one of {list(family.depths)}."
        )
    optimizer = values.get("optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; expected one of {list(OPTIMIZERS)}.")
    precision = values.get("precision", "float32")
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; expected one of {list(PRECISIONS)}.")
    data_path = str(values.get("data") or "").strip()
    limit = int(values.get("limit_train") or 0)
    limit_test = int(values.get("limit_test") or 0)
    config: dict[str, Any] = {
        "task": task.name,
        "model": family.name,
        "depth": depth,
        "data": data_path or None,
        "epochs": int(values.get("epochs", 10)),
        "batch_size": int(values.get("batch_size", 128)),
        "lr": float(values["lr"]) if values.get("lr") else None,
        "optimizer": optimizer,
        "precision": precision,
        "jit_compile": bool(values.get("xla", True)),
        "seed": int(values.get("seed", 0)),
        "limit_train": limit if limit > 0 else None,
        "limit_test": limit_test if limit_test > 0 else None,
        "model_kwargs": model_kwargs(values) or None,
        "out": str(out) if out is not None else None,
    }
    if task.kind == "text":
        config["sequence_length"] = int(values.get("sequence_length") or DEFAULT_SEQUENCE_LENGTH)
        config["vocabulary_size"] = int(values.get("vocabulary_size") or DEFAULT_VOCABULARY_SIZE)
    return config


def preview_spec(
    task: str, data: str | None = None, cache: dict | None = None
) -> tuple[rdata.TaskSpec, str]:
    """The task spec Build uses, and a note saying what it had to assume.

    Built-in tasks use their registered spec. User data (``image_folder``/``text_file``) is
    loaded from ``data`` to learn its classes and input shape (cached per path in ``cache``);
    without a path the preview assumes 32x32x3 images / 2 classes and says so.
    """
    spec = rdata.get_task(task)
    if spec.class_names is not None and spec.input_shape is not None:
        return spec, ""
    data = str(data or "").strip()
    if not data:
        assumed = f"{PREVIEW_NUM_CLASSES} classes"
        if spec.kind == "image":
            assumed = "x".join(map(str, PREVIEW_IMAGE_SHAPE)) + f" images and {assumed}"
        shape = PREVIEW_IMAGE_SHAPE if spec.kind == "image" else ()
        stats = (0.5,) * shape[-1] if shape else None
        spec = dataclasses.replace(
            spec,
            class_names=tuple(str(i) for i in range(PREVIEW_NUM_CLASSES)),
            input_shape=shape,
            input_mean=stats,
            input_std=stats,
        )
        return spec, f"Preview assumes {assumed} until you give a data path."
    key = (spec.name, data)
    if cache is not None and key in cache:
        return cache[key], ""
    loaded = rdata.load_task(spec.name, data).spec
    if cache is not None:
        cache[key] = loaded
    return loaded, ""


def build_preview(
    values: Mapping[str, Any], cache: dict | None = None
) -> tuple[keras.Model, dict, str]:
    """Builds (never calls) the model the settings describe; returns (model, description, note)."""
    spec, note = preview_spec(values["task"], values.get("data"), cache)
    family = _family(values["family"])
    if family.kind != spec.kind:
        raise ValueError(
            f"Model family {family.name!r} takes {family.kind} inputs but task {spec.name!r} is "
            f"{spec.kind}; choose one of {families_for_kind(spec.kind)}."
        )
    kwargs = model_kwargs(values)
    if spec.kind == "image":
        kwargs["input_shape"] = tuple(spec.input_shape)
        if spec.input_mean is not None:
            kwargs["input_mean"] = tuple(spec.input_mean)
            kwargs["input_std"] = tuple(spec.input_std)
    else:
        kwargs["sequence_length"] = int(values.get("sequence_length") or DEFAULT_SEQUENCE_LENGTH)
        kwargs["vocabulary_size"] = int(values.get("vocabulary_size") or DEFAULT_VOCABULARY_SIZE)
    model = build_model(
        family.name, depth=int(values["depth"]), num_classes=len(spec.class_names), **kwargs
    )
    return model, describe_model(model), note


def format_count(n: int) -> str:
    """``269722`` -> ``"269,722"``."""
    return f"{int(n):,}"


def format_flops(n: float) -> str:
    """``81102080`` -> ``"81.1 M"`` (multiply-adds count as two FLOPs)."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f}"


def summary_html(description: Mapping[str, Any], note: str = "") -> str:
    """An HTML summary of :func:`reskeras.models.describe_model`'s output: totals + stage table."""
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
        f"<b class='reskeras-flops'>{format_flops(description['flops'])}</b>FLOPs per example",
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


def _polyline(points: Sequence[tuple[float, float]], color: str, dash: str = "") -> str:
    if not points:
        return ""
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
    marks = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5' fill='{color}'/>" for x, y in points
    )
    return (
        f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='2'{dash_attr}/>"
        + marks
    )


def history_svg(history: Sequence[Mapping[str, Any]], width: int = 640, height: int = 220) -> str:
    """Two small line charts (loss; accuracy) of per-epoch history as an inline SVG string.

    ``history`` is a list of dicts with ``epoch`` and any of ``loss``, ``val_loss``,
    ``accuracy``, ``val_accuracy`` (as in ``TrainResult.history``). Pure Python: no
    matplotlib, no threads, renders the same in a browser and headless.
    """
    panels = (("loss", ("loss", "val_loss")), ("accuracy", ("accuracy", "val_accuracy")))
    colors = {"loss": "#1f77b4", "accuracy": "#1f77b4", "val_loss": "#ff7f0e"}
    colors["val_accuracy"] = "#ff7f0e"
    pw, left, top, bottom = width / 2, 48, 22, 28
    out = [
        f"<svg class='reskeras-plot' xmlns='http://www.w3.org/2000/svg' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' font-family='sans-serif' "
        "font-size='11'>"
    ]
    epochs = [int(h.get("epoch", i + 1)) for i, h in enumerate(history)]
    x_max = max(epochs + [1])
    for p, (title, keys) in enumerate(panels):
        x0, x1 = p * pw + left, (p + 1) * pw - 10
        y0, y1 = top, height - bottom
        values = [float(h[k]) for h in history for k in keys if isinstance(h.get(k), int | float)]
        values = [v for v in values if math.isfinite(v)]
        if title == "accuracy":
            lo, hi = 0.0, 1.0
        else:
            lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
            lo = min(lo, 0.0)
            hi = hi if hi > lo else lo + 1.0

        def sx(e: float, x0=x0, x1=x1) -> float:
            return x0 + (x1 - x0) * (e / x_max if x_max else 0.0)

        def sy(v: float, y0=y0, y1=y1, lo=lo, hi=hi) -> float:
            return y1 - (y1 - y0) * (v - lo) / (hi - lo)

        out.append(
            f"<rect x='{x0}' y='{y0}' width='{x1 - x0}' height='{y1 - y0}' fill='white' "
            "stroke='#bbb'/>"
        )
        out.append(f"<text x='{x0}' y='{top - 7}' font-weight='bold'>{title}</text>")
        for frac in (0.0, 0.5, 1.0):
            v = lo + (hi - lo) * frac
            out.append(f"<text x='{x0 - 4}' y='{sy(v) + 4:.1f}' text-anchor='end'>{v:.2g}</text>")
        out.append(
            f"<text x='{(x0 + x1) / 2:.1f}' y='{height - 6}' text-anchor='middle'>epoch "
            f"(0..{x_max})</text>"
        )
        for k in keys:
            pts = [
                (sx(e), sy(float(h[k])))
                for e, h in zip(epochs, history, strict=True)
                if isinstance(h.get(k), int | float) and math.isfinite(float(h[k]))
            ]
            out.append(_polyline(pts, colors[k], "4 3" if k.startswith("val_") else ""))
        lx = x1 - 90
        for i, k in enumerate(keys):
            y = y0 + 14 + 14 * i
            dash = " stroke-dasharray='4 3'" if k.startswith("val_") else ""
            out.append(
                f"<line x1='{lx}' y1='{y - 4}' x2='{lx + 16}' y2='{y - 4}' stroke='{colors[k]}' "
                f"stroke-width='2'{dash}/><text x='{lx + 20}' y='{y}'>{k}</text>"
            )
    if not history:
        out.append(
            f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' fill='#888'>"
            "press Train: one point per epoch</text>"
        )
    out.append("</svg>")
    return "".join(out)


def export_html(result: Any) -> str:
    """HTML for an :class:`reskeras.export.ExportResult`: path, version and signatures."""
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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# -- the app ---------------------------------------------------------------------------------


class _AppCallback(keras.callbacks.Callback):
    """Moves the app's progress bar per batch and redraws its plot per epoch."""

    def __init__(self, app: TrainerApp, epochs: int, min_interval: float = 0.1):
        super().__init__()
        self.app = app
        self.epochs = epochs
        self.min_interval = min_interval
        self._last = 0.0

    def on_train_begin(self, logs=None):
        steps = (self.params or {}).get("steps")
        self.app.progress.max = int(steps) if steps else 1

    def on_epoch_begin(self, epoch, logs=None):
        self.app.progress.value = 0
        self.app.progress.description = f"epoch {epoch + 1}/{self.epochs}"

    def on_train_batch_end(self, batch, logs=None):
        progress = self.app.progress
        if batch + 1 > progress.max:
            progress.max = batch + 1
        now = time.monotonic()
        if now - self._last >= self.min_interval or batch + 1 == progress.max:
            self._last = now
            progress.value = batch + 1
        if self.app._stop_event.is_set():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.app.progress.value = self.app.progress.max
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items() if _is_number(v)})
        self.app.history.append(row)
        self.app.plot.value = history_svg(self.app.history)
        parts = [f"{k} {row[k]:.4f}" for k in ("loss", "accuracy", "val_accuracy") if k in row]
        self.app._set_status(f"Epoch {epoch + 1}/{self.epochs}: " + ", ".join(parts), "info")


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


_STATUS_COLORS = {"info": "#1f4e79", "ok": "#1b6e20", "error": "#b00020"}


class TrainerApp:
    """Build, train and export a residual network from JupyterLab widgets.

    Args:
        task: initial task (any of :func:`reskeras.data.list_tasks`).
        family: initial model family (default: the first of the task's kind, cifar_resnet for
            images).
        depth: initial depth (default 20/18/16 when the family offers it).
        data: a data path (required for image_folder / text_file, optional otherwise).
        runs_dir: where training runs go (``runs_dir/<task>-<family><depth>-<time>``).
        export_dir: base directory of exports (``export_dir/<name>/<version>``).
        debounce_s: seconds of quiet after a slider move before the summary is rebuilt (0:
            rebuild at once, synchronously).
        build: build the summary on construction.
        **settings: initial widget values by name, e.g. ``epochs=1, limit_train=256,
            xla=False`` (see :meth:`values` for the names).
    """

    def __init__(
        self,
        task: str = "fashion_mnist",
        family: str | None = None,
        depth: int | None = None,
        *,
        data: str | Path | None = None,
        runs_dir: str | Path = "runs",
        export_dir: str | Path = "saved_models",
        debounce_s: float = 0.4,
        build: bool = True,
        **settings: Any,
    ):
        spec = rdata.get_task(task)
        self.runs_dir = Path(runs_dir)
        self.debounce_s = float(debounce_s)
        self.model: keras.Model | None = None
        self.description: dict | None = None
        self.history: list[dict] = []
        self.result: Any = None
        self.run_dir: Path | None = None
        self.export_result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._build_lock = threading.Lock()
        self._timer_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._syncing = False
        self._spec_cache: dict = {}
        self._build_widgets(spec.name, str(export_dir))

        with self._quiet():
            if data is not None:
                self.data.value = str(data)
            self._on_task()
            if family is not None:
                if family not in self.family.options:
                    raise ValueError(
                        f"Model family {family!r} does not fit task {spec.name!r} "
                        f"({spec.kind}); expected one of {list(self.family.options)}."
                    )
                self.family.value = family
                self._on_family()
            if depth is not None:
                if depth not in self.depth.options:
                    raise ValueError(
                        f"Invalid depth {depth!r} for {self.family.value}; expected one of "
                        f"{list(self.depth.options)}."
                    )
                self.depth.value = depth
            self.set(**settings)
            if "lr" not in settings:  # train()'s default for the chosen optimizer and batch
                self.lr.value = default_lr(self.optimizer.value, self.batch_size.value)
        self._connect()
        self._update_visibility()
        if build:
            self.build()

    # -- widgets ---------------------------------------------------------------------------

    def _build_widgets(self, task: str, export_dir: str) -> None:
        style = {"description_width": "110px"}
        wide = widgets.Layout(width="340px")

        def labelled(opts):
            return [(f"{name} ({rdata.get_task(name).kind})", name) for name in opts]

        self.task = widgets.Dropdown(
            options=labelled(rdata.list_tasks()),
            value=task,
            description="task",
            style=style,
            layout=wide,
        )
        self.data = widgets.Text(
            value="",
            description="data path",
            placeholder="folder with one sub-folder per class",
            style=style,
            layout=widgets.Layout(width="520px"),
        )
        self.family = widgets.Dropdown(options=[], description="model family", style=style)
        self.family.layout = wide
        self.depth = widgets.SelectionSlider(
            options=[0], description="depth", continuous_update=False, style=style, layout=wide
        )
        self.width = widgets.BoundedFloatText(
            value=1, min=0.125, max=4096, step=1, description="width", style=style
        )
        self.residual = widgets.Checkbox(value=True, description="residual connections")
        self.drop_path_rate = widgets.FloatSlider(
            value=0.0,
            min=0.0,
            max=0.5,
            step=0.05,
            description="drop-path rate",
            continuous_update=False,
            style=style,
            layout=wide,
        )
        self.sequence_length = widgets.BoundedIntText(
            value=DEFAULT_SEQUENCE_LENGTH, min=4, max=4096, description="sequence length"
        )
        self.sequence_length.style = style
        self.vocabulary_size = widgets.BoundedIntText(
            value=DEFAULT_VOCABULARY_SIZE, min=100, max=1_000_000, description="vocabulary"
        )
        self.vocabulary_size.style = style
        self.epochs = widgets.BoundedIntText(
            value=10, min=1, max=10_000, description="epochs", style=style
        )
        self.batch_size = widgets.Dropdown(
            options=list(BATCH_SIZES), value=128, description="batch size", style=style
        )
        self.lr = widgets.FloatLogSlider(
            value=default_lr("sgd", 128),
            base=10,
            min=-5,
            max=0,
            step=0.1,
            description="learning rate",
            readout_format=".1e",
            continuous_update=False,
            style=style,
            layout=wide,
        )
        self.optimizer = widgets.Dropdown(
            options=list(OPTIMIZERS), value="sgd", description="optimizer", style=style
        )
        self.precision = widgets.Dropdown(
            options=list(PRECISIONS), value="float32", description="precision", style=style
        )
        self.xla = widgets.Checkbox(value=True, description="XLA (jit_compile)")
        self.seed = widgets.IntText(value=0, description="seed", style=style)
        self.limit_train = widgets.BoundedIntText(
            value=0, min=0, max=10_000_000, description="limit train", style=style
        )
        self.limit_train.tooltip = "use only this many training examples (0: all)"
        self.limit_test = widgets.BoundedIntText(
            value=0, min=0, max=10_000_000, description="limit test", style=style
        )
        self.limit_test.tooltip = "evaluate on only this many test examples (0: all)"

        self.build_button = widgets.Button(description="Build", icon="cubes")
        self.train_button = widgets.Button(description="Train", icon="play", button_style="primary")
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", button_style="warning", disabled=True
        )
        self.export_button = widgets.Button(description="Export", icon="upload", disabled=True)
        self.export_name = widgets.Text(value=task, description="export name", style=style)
        self.export_base = widgets.Text(
            value=export_dir, description="export base", style=style, layout=wide
        )

        self.summary = widgets.HTML(value="<i>Press Build to see the model.</i>")
        self.status = widgets.HTML(value="")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="epoch -")
        self.progress.style = style
        self.plot = widgets.HTML(value=history_svg([]))
        self.export_info = widgets.HTML(value="")

        def section(title: str) -> widgets.HTML:
            return widgets.HTML(f"<b>{title}</b>")

        self._width_box = self.width
        self._text_box = widgets.HBox([self.sequence_length, self.vocabulary_size])
        self.widget = widgets.VBox(
            [
                widgets.HTML("<h3 style='margin:0'>reskeras trainer</h3>"),
                section("Data"),
                widgets.HBox([self.task, self.data]),
                section("Model"),
                widgets.HBox([self.family, self.depth]),
                widgets.HBox([self.width, self.residual, self.drop_path_rate]),
                self._text_box,
                section("Training"),
                widgets.HBox([self.epochs, self.batch_size, self.optimizer]),
                widgets.HBox([self.lr, self.precision, self.xla]),
                widgets.HBox([self.seed, self.limit_train, self.limit_test]),
                widgets.HBox(
                    [self.build_button, self.train_button, self.stop_button, self.export_button]
                ),
                self.status,
                self.summary,
                self.progress,
                self.plot,
                section("Export"),
                widgets.HBox([self.export_name, self.export_base]),
                self.export_info,
            ],
            layout=widgets.Layout(border="1px solid #ddd", padding="8px"),
        )
        self.widget.add_class("reskeras-app")

    def _connect(self) -> None:
        self.task.observe(self._task_changed, names="value")
        self.family.observe(self._family_changed, names="value")
        self.optimizer.observe(self._optimizer_changed, names="value")
        self.batch_size.observe(self._batch_size_changed, names="value")
        for w in (
            self.data,
            self.depth,
            self.width,
            self.residual,
            self.drop_path_rate,
            self.sequence_length,
            self.vocabulary_size,
        ):
            w.observe(self._schedule_build, names="value")
        self.build_button.on_click(lambda _: self.build())
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.export_button.on_click(lambda _: self.export())

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Programmatic widget updates inside this block schedule no rebuilds."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    # -- reactions -------------------------------------------------------------------------

    def _on_task(self) -> None:
        spec = rdata.get_task(self.task.value)
        families = families_for_kind(spec.kind)
        current = self.family.value
        self.family.options = families
        if families:
            self.family.value = current if current in families else self._default_family(families)
        self._on_family()
        if spec.name in USER_TASKS:
            self.data.placeholder = (
                "folder with one sub-folder per class"
                if spec.kind == "image"
                else "CSV/TSV file (text, label) or a folder with train/dev files"
            )
        else:
            self.data.placeholder = "optional: a local copy (searched automatically)"
        if self.export_name.value in rdata.list_tasks():
            self.export_name.value = spec.name

    @staticmethod
    def _default_family(families: Sequence[str]) -> str:
        for preferred in ("cifar_resnet", "text_resnet"):
            if preferred in families:
                return preferred
        return families[0]

    def _on_family(self) -> None:
        family = self.family.value
        if not family:
            self.depth.options = [0]
            return
        current = self.depth.value
        depths = list(valid_depths(family))
        self.depth.options = depths
        self.depth.value = default_depth(family, current)
        opts = family_options(family)
        if opts["width"] is not None:
            self.width.value = opts["width"]
            self.width.step = 1 if isinstance(opts["width"], int) else 0.25

    def _update_visibility(self) -> None:
        spec = rdata.get_task(self.task.value)
        opts = family_options(self.family.value) if self.family.value else {}

        def show(widget: widgets.Widget, visible: bool) -> None:
            widget.layout.display = None if visible else "none"

        show(self.data, spec.name in USER_TASKS or bool(self.data.value.strip()))
        show(self.width, opts.get("width") is not None)
        show(self.residual, bool(opts.get("residual")))
        show(self.drop_path_rate, bool(opts.get("drop_path")))
        show(self._text_box, spec.kind == "text")

    def _task_changed(self, change=None) -> None:
        if self._syncing:
            return
        with self._quiet():
            self._on_task()
        self._update_visibility()
        if not self.family.options:
            kind = rdata.get_task(self.task.value).kind
            self._set_status(f"No {kind} model families are registered.", "error")
            return
        self._schedule_build()

    def _family_changed(self, change=None) -> None:
        if self._syncing:
            return
        with self._quiet():
            self._on_family()
        self._update_visibility()
        self._schedule_build()

    def _optimizer_changed(self, change) -> None:
        self.lr.value = default_lr(change["new"], self.batch_size.value)

    def _batch_size_changed(self, change) -> None:
        # Follow the linear scaling rule unless the learning rate was set by hand.
        if math.isclose(self.lr.value, default_lr(self.optimizer.value, change["old"])):
            self.lr.value = default_lr(self.optimizer.value, change["new"])

    def _schedule_build(self, change=None) -> None:
        """Rebuilds the summary after ``debounce_s`` seconds without further changes."""
        if self._syncing:
            return
        if self.data.value.strip():
            self.data.layout.display = None
        if self.debounce_s <= 0:
            self.build()
            return
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self.build)
            self._timer.daemon = True
            self._timer.start()

    def wait_for_build(self, timeout: float = 30.0) -> bool:
        """Waits for a pending debounced rebuild; True when none is left pending."""
        with self._timer_lock:
            timer = self._timer
        if timer is not None:
            timer.join(timeout)
            if timer.is_alive():
                return False
        acquired = self._build_lock.acquire(timeout=timeout)
        if acquired:
            self._build_lock.release()
        return acquired

    # -- public API ------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def values(self) -> dict[str, Any]:
        """The current settings, by name (the keys :func:`train_config` reads)."""
        return {
            "task": self.task.value,
            "data": self.data.value.strip() or None,
            "family": self.family.value,
            "depth": self.depth.value,
            "width": self.width.value,
            "residual": self.residual.value,
            "drop_path_rate": self.drop_path_rate.value,
            "epochs": self.epochs.value,
            "batch_size": self.batch_size.value,
            "lr": self.lr.value,
            "optimizer": self.optimizer.value,
            "precision": self.precision.value,
            "xla": self.xla.value,
            "seed": self.seed.value,
            "limit_train": self.limit_train.value,
            "limit_test": self.limit_test.value,
            "sequence_length": self.sequence_length.value,
            "vocabulary_size": self.vocabulary_size.value,
        }

    def set(self, **settings: Any) -> TrainerApp:
        """Sets widget values by name (``app.set(depth=56, epochs=1)``); returns the app.

        ``task`` and ``family`` are applied first so that the depth options fit.
        """
        unknown = sorted(set(settings) - set(_TRAIN_KEYS))
        if unknown:
            raise ValueError(f"Unknown settings {unknown}; expected some of {list(_TRAIN_KEYS)}.")
        order = ["task", "family"] + [k for k in settings if k not in ("task", "family")]
        for key in order:
            if key not in settings:
                continue
            value = settings[key]
            if key == "data":
                value = "" if value is None else str(value)
            if key == "batch_size" and value not in self.batch_size.options:
                self.batch_size.options = sorted({*self.batch_size.options, int(value)})
            widget = getattr(self, key)
            if key == "depth" and value not in self.depth.options:
                raise ValueError(
                    f"Invalid depth {value!r} for {self.family.value}; expected one of "
                    f"{list(self.depth.options)}."
                )
            widget.value = value
        return self

    def train_config(self) -> dict[str, Any]:
        """The keyword arguments the Train button hands to :func:`reskeras.training.train`."""
        values = self.values()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{values['task']}-{values['family']}{values['depth']}-{stamp}"
        out = self.runs_dir / base
        n = 1
        while out.exists():
            n += 1
            out = self.runs_dir / f"{base}-{n}"
        return train_config(values, out=out)

    def build(self) -> dict | None:
        """Builds the model (no forward pass) and shows its summary; returns the description."""
        with self._build_lock:
            try:
                model, desc, note = build_preview(self.values(), self._spec_cache)
            except Exception as err:  # shown to the user, never raised into the widget loop
                self._show_error("Build failed", err)
                return None
            self.model, self.description = model, desc
            self.summary.value = summary_html(desc, note)
            if not self.is_training:
                self._set_status(
                    f"Built {desc['name']}: {format_count(desc['trainable_params'])} trainable "
                    f"parameters, {format_flops(desc['flops'])}FLOPs per example.",
                    "ok",
                )
            return desc

    @property
    def is_training(self) -> bool:
        """Whether a training thread is running."""
        return self.thread is not None and self.thread.is_alive()

    def train(self) -> threading.Thread | None:
        """Starts training in a background thread (returns it); the kernel stays responsive."""
        if self.is_training:
            self._set_status("Already training; press Stop first.", "error")
            return None
        try:
            config = self.train_config()
        except Exception as err:
            self._show_error("Cannot train", err)
            return None
        self.error = None
        self.result = None
        self.history = []
        self.plot.value = history_svg([])
        self.progress.value = 0
        self._stop_event = threading.Event()
        self.train_button.disabled = True
        self.stop_button.disabled = False
        self._set_status(
            f"Training {config['model']}-{config['depth']} on {config['task']} "
            f"for {config['epochs']} epoch(s)...",
            "info",
        )
        self.thread = threading.Thread(
            target=self._train_worker, args=(config,), name="reskeras-train", daemon=True
        )
        self.thread.start()
        return self.thread

    def _train_worker(self, config: dict[str, Any]) -> None:
        try:
            callback = _AppCallback(self, epochs=config["epochs"])
            result = train(**config, callbacks=[callback], stop_event=self._stop_event, verbose=0)
            self.result = result
            self.run_dir = Path(result.run_dir)
            if result.history:
                self.history = [dict(h) for h in result.history]
                self.plot.value = history_svg(self.history)
            acc = getattr(result, "test_accuracy", None)
            acc_text = f" test accuracy {acc:.4f};" if _is_number(acc) else ""
            how = "Stopped early" if getattr(result, "stopped_early", False) else "Finished"
            self._set_status(f"{how}:{acc_text} run saved to {self.run_dir}", "ok")
            self.export_button.disabled = False
        except BaseException as err:  # noqa: BLE001 - every failure must reach the status area
            self.error = err
            self._show_error("Training failed", err)
        finally:
            self.train_button.disabled = False
            self.stop_button.disabled = True

    def stop(self) -> None:
        """Asks training to stop at the next batch (the checkpoint is kept)."""
        self._stop_event.set()
        if self.is_training:
            self._set_status("Stopping after the current batch...", "info")

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the training thread; True when it has finished."""
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def export(self) -> Any:
        """Exports the last run for TF Serving; returns the ExportResult (or None on error)."""
        if self.run_dir is None:
            self._set_status("Nothing to export yet: train a model first.", "error")
            return None
        try:
            from reskeras.export import export_for_serving

            self._set_status(f"Exporting {self.run_dir}...", "info")
            result = export_for_serving(
                self.run_dir, self.export_name.value.strip(), base_dir=self.export_base.value
            )
        except Exception as err:
            self._show_error("Export failed", err)
            return None
        self.export_result = result
        self.export_info.value = export_html(result)
        self._set_status(f"Exported version {result.version} to {result.path}", "ok")
        return result

    # -- status ----------------------------------------------------------------------------

    def _set_status(self, message: str, level: str = "info") -> None:
        color = _STATUS_COLORS.get(level, _STATUS_COLORS["info"])
        self.status.value = (
            f"<div class='reskeras-status reskeras-{level}' style='color:{color}'>"
            f"{html.escape(message)}</div>"
        )

    def _show_error(self, what: str, err: BaseException) -> None:
        tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        self.status.value = (
            f"<div class='reskeras-status reskeras-error' style='color:{_STATUS_COLORS['error']}'>"
            f"<b>{html.escape(what)}</b>: {html.escape(_one_line(err))}"
            "<details><summary>details</summary>"
            f"<pre style='font-size:11px;max-height:240px;overflow:auto'>{html.escape(tb)}</pre>"
            "</details></div>"
        )

    @property
    def status_text(self) -> str:
        """The status line without markup or traceback (handy in tests and scripts)."""
        text = re.sub(r"<details>.*?</details>", "", self.status.value, flags=re.S)
        return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
