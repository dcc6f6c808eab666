"""The app's widget pieces: a widget per training option, the app's widgets and layout
(:func:`build_widgets`, returning :class:`AppWidgets`; a language model's "try the model"
area among them), and the training callback that moves the progress bar and redraws the
curves (:class:`AppProgress`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import ipywidgets as widgets
import keras

from reskeras import data as rdata
from reskeras.training.config import Option
from reskeras.ui import settings as s
from reskeras.ui.render import history_svg
from reskeras.ui.sampling import SAMPLE_TOKENS

__all__ = [
    "STYLE",
    "wide",
    "AppProgress",
    "AppWidgets",
    "build_widgets",
    "is_number",
    "training_widget",
]

STYLE = {"description_width": "110px"}


def wide() -> widgets.Layout:
    """A 340-pixel-wide layout; each widget gets its own, as hiding a widget sets its
    layout's ``display`` (a shared layout would hide them all)."""
    return widgets.Layout(width="340px")


_ZERO_HELP = {
    "epochs": "0: the recipe's epochs, each long enough for small data",
    "limit_train": "0: all training examples",
    "limit_test": "0: all test examples",
    "sequence_length": "0: from the data (1.5 x the 99th percentile of the texts' lengths)",
    "input_size": "0: the data's own size",
}


def training_widget(setting: str, field: str, option: Option, value: Any) -> widgets.Widget:
    """The widget of one training option, by its type (a few get a friendlier control).

    Args:
        setting: the app's name of the option (:func:`reskeras.ui.settings.app_options`).
        field: its :class:`~reskeras.training.config.TrainConfig` field.
        option: its :class:`~reskeras.training.config.Option` (label, help, choices, bounds).
        value: the value the widget starts at.
    """
    kind = s.option_type(field)
    common = {"description": option.label, "style": STYLE}
    if setting == "lr":
        widget = widgets.FloatLogSlider(
            value=value, base=10, min=-5, max=0, step=0.1, readout_format=".1e",
            continuous_update=False, layout=wide(), **common,
        )  # fmt: skip
    elif setting == "weights":  # the app offers what exists for the model; paths are typed
        widget = widgets.Combobox(
            options=[], value=value or "", ensure_option=False, layout=wide(),
            placeholder="none: from scratch (or a preset dir, a .weights.h5 file)", **common,
        )  # fmt: skip
    elif setting == "batch_size":
        widget = widgets.Dropdown(options=list(s.BATCH_SIZES), value=value, **common)
    elif option.choices:
        labels = {True: "on", False: "off"}
        choices = [(labels.get(c, str(c)) if isinstance(c, bool) else c, c) for c in option.choices]
        widget = widgets.Dropdown(options=choices, value=value, **common)
    elif kind is bool:
        widget = widgets.Checkbox(value=value, description=option.label)
    elif kind is int and setting in s.ZERO_IS_UNSET:
        widget = widgets.BoundedIntText(value=value, min=0, max=10_000_000, **common)
    elif kind is int and option.low is not None:
        widget = widgets.BoundedIntText(value=value, min=int(option.low), max=10_000_000, **common)
    elif kind is int:
        widget = widgets.IntText(value=value, **common)
    else:
        widget = widgets.Text(value=value or "", **common)
    widget.tooltip = _ZERO_HELP.get(setting, option.help)
    return widget


class AppProgress(keras.callbacks.Callback):
    """Moves a progress bar per batch and redraws the curves: within an epoch a smoothed
    per-batch training loss (at most every ``redraw_s`` seconds), and per epoch the epoch
    metrics, with the epoch's time and examples/s reported to ``status``.

    Args:
        progress: the progress bar (its ``max`` is the epoch's steps).
        plot: the HTML widget the curves are drawn into.
        stop_event: when set, training stops at the end of the current batch.
        status: called with a one-line message and a level (``"info"``) after each epoch.
        epochs: the epochs the run takes (for "epoch 2/5").
        history: the list the epoch rows are appended to (default: a new one; see
            :attr:`history`).
        global_batch: examples per step over all replicas (0: no examples/s).
        unit: what an example is called in the status line (``"images"``).
        min_interval: seconds between two moves of the progress bar.
        redraw_s: seconds between two redraws of the curves within an epoch.
        smoothing: the exponential smoothing of the per-batch loss (0: none).
        metric: the curves' second panel and the status line's metric: ``"accuracy"``, or
            ``"perplexity"`` for a language model
            (:func:`reskeras.ui.settings.curve_metric`).

    Attributes:
        history: one dict per finished epoch (its metrics, ``epoch`` and ``seconds``).
        batch_losses: (epoch fraction, smoothed training loss) after each batch.
    """

    def __init__(
        self,
        progress: widgets.IntProgress,
        plot: widgets.HTML,
        stop_event: threading.Event,
        status: Callable[[str, str], None],
        epochs: int,
        *,
        history: list[dict] | None = None,
        global_batch: int = 0,
        unit: str = "examples",
        min_interval: float = 0.1,
        redraw_s: float = 2.0,
        smoothing: float = 0.9,
        metric: str = "accuracy",
    ):
        super().__init__()
        self.metric = metric
        self.progress = progress
        self.plot = plot
        self.stop_event = stop_event
        self.status = status
        self.epochs = epochs
        self.history: list[dict] = [] if history is None else history
        self.global_batch = global_batch
        self.unit = unit
        self.min_interval = min_interval
        self.redraw_s = redraw_s
        self.smoothing = smoothing
        self.batch_losses: list[tuple[float, float]] = []  # (epoch fraction, smoothed loss)
        self._last = self._last_plot = 0.0
        self._epoch = 0
        self._mean = 0.0  # Keras' running mean of the epoch's loss after the previous batch
        self._smooth: float | None = None
        self._start = self._train_end = time.monotonic()

    def on_train_begin(self, logs=None):
        steps = (self.params or {}).get("steps")
        self.progress.max = int(steps) if steps else 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._mean = epoch, 0.0
        self._start = self._train_end = time.monotonic()
        self.progress.value = 0
        self.progress.description = f"epoch {epoch + 1}/{self.epochs}"

    def on_train_batch_end(self, batch, logs=None):
        now = self._train_end = time.monotonic()
        progress = self.progress
        if batch + 1 > progress.max:
            progress.max = batch + 1
        if now - self._last >= self.min_interval or batch + 1 == progress.max:
            self._last = now
            progress.value = batch + 1
        mean = (logs or {}).get("loss")
        if is_number(mean):
            # Keras logs the running mean over the epoch; the batch's own loss is the
            # difference of two running sums (batches are equally weighted).
            loss = (batch + 1) * float(mean) - batch * self._mean
            self._mean = float(mean)
            a = self.smoothing
            self._smooth = loss if self._smooth is None else a * self._smooth + (1 - a) * loss
            self.batch_losses.append((self._epoch + (batch + 1) / progress.max, self._smooth))
            if now - self._last_plot >= self.redraw_s:
                self._last_plot = now
                self.plot.value = self._svg()
        if self.stop_event.is_set():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.progress.value = self.progress.max
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items() if is_number(v)})
        seconds = time.monotonic() - self._start
        train_s = max(self._train_end - self._start, 1e-9)
        row["seconds"] = seconds
        self.history.append(row)
        self.plot.value = self._svg()
        self._last_plot = time.monotonic()
        keys = ("loss", self.metric, f"val_{self.metric}")
        parts = [f"{k} {row[k]:{'.2f' if 'perplexity' in k else '.4f'}}" for k in keys if k in row]
        speed = f"{seconds:.1f} s/epoch"
        if self.global_batch:
            rate = self.progress.max * self.global_batch / train_s
            speed += f", {rate:,.0f} {self.unit}/s"
        self.status(f"Epoch {epoch + 1}/{self.epochs}: " + ", ".join(parts) + f" ({speed})", "info")

    def _svg(self) -> str:
        return history_svg(self.history, self.batch_losses, metric=self.metric)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite number (or converts to one: a NumPy scalar, a tensor).

    Args:
        value: anything.
    """
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass
class AppWidgets:
    """Every widget of the app, and the laid-out container (:func:`build_widgets`).

    Attributes:
        task, data: the data controls.
        family, preset, depth, width, residual, drop_path_rate: the model controls.
        training: one widget per training option, by setting name
            (:func:`reskeras.ui.settings.app_options`, ``task`` and ``data`` aside), in
            declaration order.
        build_button, train_button, stop_button, export_button: the buttons.
        export_name, export_base: the export's model name and base directory.
        status, summary, progress, plot, results_view, export_info: what the app shows.
        text_box: the row of the text-only training options (hidden for image tasks).
        prompt, temperature, sample_length, sample_button, sample_output: a language model's
            "try the model" area: the prompt, the sampling temperature, the most tokens to
            add, the button that samples a continuation, and where it is shown.
        sample_box: that area (shown for language-model tasks only).
        container: all of it laid out (what the app displays).
    """

    task: widgets.Dropdown
    data: widgets.Text
    family: widgets.Dropdown
    preset: widgets.Dropdown
    depth: widgets.SelectionSlider
    width: widgets.BoundedFloatText
    residual: widgets.Checkbox
    drop_path_rate: widgets.FloatSlider
    training: dict[str, widgets.Widget]
    build_button: widgets.Button
    train_button: widgets.Button
    stop_button: widgets.Button
    export_button: widgets.Button
    export_name: widgets.Text
    export_base: widgets.Text
    status: widgets.HTML
    summary: widgets.HTML
    progress: widgets.IntProgress
    plot: widgets.HTML
    results_view: widgets.HTML
    export_info: widgets.HTML
    text_box: widgets.HBox
    prompt: widgets.Text
    temperature: widgets.FloatSlider
    sample_length: widgets.BoundedIntText
    sample_button: widgets.Button
    sample_output: widgets.HTML
    sample_box: widgets.VBox
    container: widgets.VBox

    def by_name(self) -> dict[str, widgets.Widget]:
        """Every widget by the name the app gives it: the fields above (the container as
        ``widget``), and each training option's by its setting name."""
        named = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "training"}
        named["widget"] = named.pop("container")
        return {**named, **self.training}


#: What the results area will show once a run of each task kind ends.
_RESULTS = {
    "language_model": "the test perplexity",
    "translation": "BLEU and chrF on the test pairs",
}


def results_placeholder(kind: str) -> str:
    """The results area's text before a run of a ``kind`` task ends.

    Args:
        kind: the task kind.
    """
    shown = _RESULTS.get(kind, "the confusion matrix and the most confidently wrong test examples")
    return f"<i>After training: {shown}.</i>"


def build_widgets(spec: rdata.TaskSpec, export_dir: str, defaults: Mapping[str, Any]) -> AppWidgets:
    """Creates the app's widgets and lays them out: one widget per training option (from
    ``TrainConfig``), the model controls, the buttons, and the status, summary, curves,
    results and export areas.

    Args:
        spec: the task the app starts with (selected in the task dropdown; the export's
            default name).
        export_dir: the export base directory shown.
        defaults: the training widgets' starting values by setting name
            (:func:`reskeras.ui.settings.kind_defaults`).

    Returns:
        The :class:`AppWidgets`; the model controls start empty (the app fills them for the
        task).
    """
    options = s.app_options()
    task = widgets.Dropdown(
        options=[(f"{n} ({rdata.get_task(n).kind})", n) for n in rdata.list_tasks()],
        value=spec.name, description=options["task"][1].label, style=STYLE, layout=wide(),
    )  # fmt: skip
    data = widgets.Text(
        value="", description=options["data"][1].label, style=STYLE,
        layout=widgets.Layout(width="520px"),
    )  # fmt: skip
    family = widgets.Dropdown(options=[], description="model family", style=STYLE)
    family.layout = wide()
    preset = widgets.Dropdown(options=[], description="preset", style=STYLE)
    preset.tooltip = "a named model of the family (its builder arguments), or none"
    depth = widgets.SelectionSlider(
        options=[0],
        description="depth",
        continuous_update=False,
        style=STYLE,
        layout=wide(),
    )
    width = widgets.BoundedFloatText(
        value=1, min=0.125, max=4096, step=1, description="width", style=STYLE
    )
    residual = widgets.Checkbox(value=True, description="residual connections")
    drop_path_rate = widgets.FloatSlider(
        value=0.0, min=0.0, max=0.5, step=0.05, description="drop-path rate",
        continuous_update=False, style=STYLE, layout=wide(),
    )  # fmt: skip
    training = {  # the TrainConfig-derived widgets, in declaration order
        setting: training_widget(setting, field, option, defaults[setting])
        for setting, (field, option) in options.items()
        if setting not in ("task", "data")
    }

    build_button = widgets.Button(description="Build", icon="cubes")
    train_button = widgets.Button(description="Train", icon="play", button_style="primary")
    stop_button = widgets.Button(
        description="Stop", icon="stop", button_style="warning", disabled=True
    )
    export_button = widgets.Button(description="Export", icon="upload", disabled=True)
    export_name = widgets.Text(value=spec.name, description="export name", style=STYLE)
    export_base = widgets.Text(
        value=export_dir, description="export base", style=STYLE, layout=wide()
    )
    summary = widgets.HTML(value="<i>Press Build to see the model.</i>")
    status = widgets.HTML(value="")
    progress = widgets.IntProgress(value=0, min=0, max=1, description="epoch -")
    progress.style = STYLE
    plot = widgets.HTML(value=history_svg([]))
    results_view = widgets.HTML(value=results_placeholder(spec.kind))
    export_info = widgets.HTML(value="")
    prompt = widgets.Text(
        value="the", description="prompt", style=STYLE, layout=widgets.Layout(width="520px"),
        placeholder="words to continue (empty: the start of a line)",
    )  # fmt: skip
    temperature = widgets.FloatSlider(
        value=1.0, min=0.0, max=2.0, step=0.05, description="temperature",
        continuous_update=False, style=STYLE, layout=wide(),
    )  # fmt: skip
    temperature.tooltip = "0: always the most likely word; higher: more surprising text"
    sample_length = widgets.BoundedIntText(
        value=SAMPLE_TOKENS, min=1, max=1000, description="tokens", style=STYLE
    )
    sample_button = widgets.Button(description="Sample", icon="pencil", disabled=True)
    sample_button.tooltip = "continue the prompt with the model as it is now (during training too)"
    sample_output = widgets.HTML(
        value="<i>Press Train, then Sample: the model continues the prompt.</i>"
    )

    def section(title: str) -> widgets.HTML:
        return widgets.HTML(f"<b>{title}</b>")

    def rows(names: list[str], per_row: int = 3) -> list[widgets.HBox]:
        items = [training[n] for n in names]
        return [widgets.HBox(items[i : i + per_row]) for i in range(0, len(items), per_row)]

    text_only = [n for n in training if options[n][1].kind == "text"]
    general = [n for n in training if n not in text_only]
    text_box = widgets.HBox([training[n] for n in text_only])
    sample_box = widgets.VBox(
        [
            section("Try the model"),
            widgets.HBox([prompt, sample_button]),
            widgets.HBox([temperature, sample_length]),
            sample_output,
        ]
    )
    container = widgets.VBox(
        [
            widgets.HTML("<h3 style='margin:0'>reskeras trainer</h3>"),
            section("Data"),
            widgets.HBox([task, data]),
            section("Model"),
            widgets.HBox([family, preset, depth]),
            widgets.HBox([width, residual, drop_path_rate]),
            text_box,
            section("Training"),
            *rows(general),
            widgets.HBox([build_button, train_button, stop_button, export_button]),
            status,
            summary,
            progress,
            plot,
            sample_box,
            section("Results on the test set"),
            results_view,
            section("Export"),
            widgets.HBox([export_name, export_base]),
            export_info,
        ],
        layout=widgets.Layout(border="1px solid #ddd", padding="8px"),
    )
    container.add_class("reskeras-app")
    return AppWidgets(
        task=task,
        data=data,
        family=family,
        preset=preset,
        depth=depth,
        width=width,
        residual=residual,
        drop_path_rate=drop_path_rate,
        training=training,
        build_button=build_button,
        train_button=train_button,
        stop_button=stop_button,
        export_button=export_button,
        export_name=export_name,
        export_base=export_base,
        status=status,
        summary=summary,
        progress=progress,
        plot=plot,
        results_view=results_view,
        export_info=export_info,
        text_box=text_box,
        prompt=prompt,
        temperature=temperature,
        sample_length=sample_length,
        sample_button=sample_button,
        sample_output=sample_output,
        sample_box=sample_box,
        container=container,
    )
