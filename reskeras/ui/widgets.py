"""The app's widget pieces: a widget per training option, the app's layout
(:func:`build_widgets`), and the training callback that moves the progress bar and redraws
the curves."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import keras

from reskeras import data as rdata
from reskeras.training.config import Option
from reskeras.ui import settings as s
from reskeras.ui.render import history_svg

if TYPE_CHECKING:
    from reskeras.ui.app import TrainerApp

__all__ = ["STYLE", "WIDE", "AppProgress", "build_widgets", "is_number", "training_widget"]

STYLE = {"description_width": "110px"}
WIDE = widgets.Layout(width="340px")
_ZERO_HELP = {
    "epochs": "0: the recipe's epochs, each long enough for small data",
    "limit_train": "0: all training examples",
    "limit_test": "0: all test examples",
    "sequence_length": "0: from the data (1.5 x the 99th percentile of the texts' lengths)",
    "input_size": "0: the data's own size",
}


def training_widget(setting: str, field: str, option: Option, value: Any) -> widgets.Widget:
    """The widget of one training option, by its type (a few get a friendlier control)."""
    kind = s.option_type(field)
    common = {"description": option.label, "style": STYLE}
    if setting == "lr":
        widget = widgets.FloatLogSlider(
            value=value, base=10, min=-5, max=0, step=0.1, readout_format=".1e",
            continuous_update=False, layout=WIDE, **common,
        )  # fmt: skip
    elif setting == "weights":  # the app offers what exists for the model; paths are typed
        widget = widgets.Combobox(
            options=[], value=value or "", ensure_option=False, layout=WIDE,
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
    """Moves the app's progress bar per batch and redraws its curves: within an epoch a
    smoothed per-batch training loss (at most every ``redraw_s`` seconds), and per epoch the
    epoch metrics, with the epoch's time and examples/s in the status line."""

    def __init__(
        self,
        app: TrainerApp,
        epochs: int,
        global_batch: int = 0,
        unit: str = "examples",
        min_interval: float = 0.1,
        redraw_s: float = 2.0,
        smoothing: float = 0.9,
    ):
        super().__init__()
        self.app = app
        self.epochs = epochs
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
        self.app.progress.max = int(steps) if steps else 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._mean = epoch, 0.0
        self._start = self._train_end = time.monotonic()
        self.app.progress.value = 0
        self.app.progress.description = f"epoch {epoch + 1}/{self.epochs}"

    def on_train_batch_end(self, batch, logs=None):
        now = self._train_end = time.monotonic()
        progress = self.app.progress
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
                self.app.plot.value = history_svg(self.app.history, self.batch_losses)
        if self.app._stop_event.is_set():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.app.progress.value = self.app.progress.max
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items() if is_number(v)})
        seconds = time.monotonic() - self._start
        train_s = max(self._train_end - self._start, 1e-9)
        row["seconds"] = seconds
        self.app.history.append(row)
        self.app.plot.value = history_svg(self.app.history, self.batch_losses)
        self._last_plot = time.monotonic()
        parts = [f"{k} {row[k]:.4f}" for k in ("loss", "accuracy", "val_accuracy") if k in row]
        speed = f"{seconds:.1f} s/epoch"
        if self.global_batch:
            rate = self.app.progress.max * self.global_batch / train_s
            speed += f", {rate:,.0f} {self.unit}/s"
        self.app._set_status(
            f"Epoch {epoch + 1}/{self.epochs}: " + ", ".join(parts) + f" ({speed})", "info"
        )


def is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def build_widgets(app: TrainerApp, spec: rdata.TaskSpec, export_dir: str) -> None:
    """Creates the app's widgets as attributes of ``app`` and lays them out in ``app.widget``:
    one widget per training option (from ``TrainConfig``), the model controls, the buttons,
    and the status, summary, curves, results and export areas."""
    options = s.app_options()
    defaults = s.kind_defaults(spec.kind)
    app.task = widgets.Dropdown(
        options=[(f"{n} ({rdata.get_task(n).kind})", n) for n in rdata.list_tasks()],
        value=spec.name, description=options["task"][1].label, style=STYLE, layout=WIDE,
    )  # fmt: skip
    app.data = widgets.Text(
        value="", description=options["data"][1].label, style=STYLE,
        layout=widgets.Layout(width="520px"),
    )  # fmt: skip
    app.family = widgets.Dropdown(options=[], description="model family", style=STYLE)
    app.family.layout = WIDE
    app.preset = widgets.Dropdown(options=[], description="preset", style=STYLE)
    app.preset.tooltip = "a named model of the family (its builder arguments), or none"
    app.depth = widgets.SelectionSlider(
        options=[0],
        description="depth",
        continuous_update=False,
        style=STYLE,
        layout=widgets.Layout(width=WIDE.width),  # its own: it is hidden for presets
    )
    app.width = widgets.BoundedFloatText(
        value=1, min=0.125, max=4096, step=1, description="width", style=STYLE
    )
    app.residual = widgets.Checkbox(value=True, description="residual connections")
    app.drop_path_rate = widgets.FloatSlider(
        value=0.0, min=0.0, max=0.5, step=0.05, description="drop-path rate",
        continuous_update=False, style=STYLE, layout=WIDE,
    )  # fmt: skip
    app._training = []  # the TrainConfig-derived widgets, in declaration order
    for setting, (field, option) in options.items():
        if setting in ("task", "data"):
            continue
        widget = training_widget(setting, field, option, defaults[setting])
        setattr(app, setting, widget)
        app._training.append(setting)

    app.build_button = widgets.Button(description="Build", icon="cubes")
    app.train_button = widgets.Button(description="Train", icon="play", button_style="primary")
    app.stop_button = widgets.Button(
        description="Stop", icon="stop", button_style="warning", disabled=True
    )
    app.export_button = widgets.Button(description="Export", icon="upload", disabled=True)
    app.export_name = widgets.Text(value=spec.name, description="export name", style=STYLE)
    app.export_base = widgets.Text(
        value=export_dir, description="export base", style=STYLE, layout=WIDE
    )
    app.summary = widgets.HTML(value="<i>Press Build to see the model.</i>")
    app.status = widgets.HTML(value="")
    app.progress = widgets.IntProgress(value=0, min=0, max=1, description="epoch -")
    app.progress.style = STYLE
    app.plot = widgets.HTML(value=history_svg([]))
    app.results_view = widgets.HTML(
        value="<i>After training: the confusion matrix and "
        "the most confidently wrong test examples.</i>"
    )
    app.export_info = widgets.HTML(value="")

    def section(title: str) -> widgets.HTML:
        return widgets.HTML(f"<b>{title}</b>")

    def rows(names: list[str], per_row: int = 3) -> list[widgets.HBox]:
        items = [getattr(app, n) for n in names]
        return [widgets.HBox(items[i : i + per_row]) for i in range(0, len(items), per_row)]

    text_only = [n for n in app._training if options[n][1].kind == "text"]
    general = [n for n in app._training if n not in text_only]
    app._text_box = widgets.HBox([getattr(app, n) for n in text_only])
    app.widget = widgets.VBox(
        [
            widgets.HTML("<h3 style='margin:0'>reskeras trainer</h3>"),
            section("Data"),
            widgets.HBox([app.task, app.data]),
            section("Model"),
            widgets.HBox([app.family, app.preset, app.depth]),
            widgets.HBox([app.width, app.residual, app.drop_path_rate]),
            app._text_box,
            section("Training"),
            *rows(general),
            widgets.HBox([app.build_button, app.train_button, app.stop_button, app.export_button]),
            app.status,
            app.summary,
            app.progress,
            app.plot,
            section("Results on the test set"),
            app.results_view,
            section("Export"),
            widgets.HBox([app.export_name, app.export_base]),
            app.export_info,
        ],
        layout=widgets.Layout(border="1px solid #ddd", padding="8px"),
    )
    app.widget.add_class("reskeras-app")
