"""The JupyterLab app: :class:`TrainerApp`, widgets to build, train and export a model.

Notebooks only import and show it::

    from reskeras.ui import TrainerApp
    app = TrainerApp(task="fashion_mnist")
    app

Its training widgets are made from :class:`reskeras.training.config.TrainConfig` (one per option with
an app label, named like the CLI flag) and start at the recipe of the task's kind, so the
app trains exactly what ``reskeras train`` would. Widgets are public attributes
(``app.depth``, ``app.build_button`` ...): tests and notebooks drive the app by setting
values and calling ``button.click()``. Training runs in a background thread; **Stop** sets the
``threading.Event`` given to ``train(stop_event=...)``, and any exception ends up as a
one-line message in the status area.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import math
import re
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import keras

from reskeras import data as rdata
from reskeras.errors import one_line
from reskeras.evaluation.report import Results
from reskeras.evaluation.scores import score_run
from reskeras.models.keras_hub import HUB_FAMILY
from reskeras.models.registry import MODELS, resolve_model
from reskeras.training.config import RECIPES, Recipe, default_lr, recipe_key
from reskeras.training.loop import train
from reskeras.ui import settings as s
from reskeras.ui.render import (
    export_html,
    format_count,
    format_flops,
    history_svg,
    summary_html,
)
from reskeras.ui.widgets import AppProgress, build_widgets, is_number

__all__ = ["TrainerApp"]

_STATUS_COLORS = {"info": "#1f4e79", "ok": "#1b6e20", "error": "#b00020"}
_RECIPE_FIELDS = frozenset(Recipe.__dataclass_fields__)


class TrainerApp:
    """Build, train and export a residual network from JupyterLab widgets.

    Args:
        task: initial task (any of :func:`reskeras.data.list_tasks`).
        family: initial model family (default: the family of the recipe's model, with the
            recipe's model as the preset); an explicit family starts without a preset.
        depth: initial depth (default: the preset's, else 20/18/16 when the family offers it).
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
        self.results: Results | None = None  # the last run's scored test set (confusion, ...)
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
        self._kind = spec.kind
        self._recipe = spec.kind  # the recipe the training settings start from
        build_widgets(self, spec, str(export_dir))

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
                self._on_family(keep_depth=False)
            if depth is not None:
                self._set_depth(depth)
            self.set(**settings)
            self._refresh_weights()
            if "lr" not in settings:  # train()'s default for the chosen optimizer and batch
                self.lr.value = self._default_lr()
        self._connect()
        self._update_visibility()
        if build:
            self.build()

    # -- widgets ---------------------------------------------------------------------------

    def _connect(self) -> None:
        self.task.observe(self._task_changed, names="value")
        self.family.observe(self._family_changed, names="value")
        self.preset.observe(self._preset_changed, names="value")
        self.optimizer.observe(self._optimizer_changed, names="value")
        self.batch_size.observe(self._batch_size_changed, names="value")
        self.depth.observe(self._depth_changed, names="value")
        self.weights.observe(self._weights_changed, names="value")
        rebuild = [self.data, self.depth, self.width, self.residual, self.drop_path_rate]
        rebuild.append(self.input_size)
        rebuild += [getattr(self, n) for n in ("sequence_length", "vocabulary_size")]
        for w in rebuild:
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

    def _weights_value(self) -> str | None:
        return self.weights.value.strip() or None

    def _default_lr(self, batch_size: int | None = None) -> float:
        return default_lr(self._recipe, self.optimizer.value, batch_size or self.batch_size.value)

    def _apply_recipe(self, key: str) -> None:
        """Training settings from the recipe ``key`` (a task kind, ``"pretrained"`` or
        ``"finetune"``), with the chosen weights."""
        kind = rdata.get_task(self.task.value).kind
        defaults = s.kind_defaults(key, weights=self._weights_value())
        for setting in self._training:
            field, option = s.app_options()[setting]
            if field in _RECIPE_FIELDS and option.kind in (None, kind):
                getattr(self, setting).value = defaults[setting]
        self._recipe = key
        self.lr.value = self._default_lr()

    def _refresh_weights(self) -> None:
        """Offers the pretrained weights that exist for the chosen family, preset and depth."""
        self.weights.options = s.weights_choices(
            self.family.value, self.preset.value or s.NO_PRESET, self.depth.value or None
        )

    def _on_task(self) -> None:
        spec = rdata.get_task(self.task.value)
        recipe = RECIPES[spec.kind]
        if spec.kind != self._kind or not self.family.options:
            # A new kind starts from its recipe: its model, and its training settings.
            if spec.kind != "image":
                self.weights.value = ""
            self._apply_recipe(spec.kind)
            self._kind = spec.kind
            self.family.options = s.families_for_kind(spec.kind)
            family, _, _ = resolve_model(recipe.model)
            self.family.value = family.name
            self._on_family()
            self.preset.value = recipe.model
            self._on_preset()
        self.data.placeholder = (
            "optional: a local copy (searched automatically)"
            if not spec.user_data
            else "folder with one sub-folder per class"
            if spec.kind == "image"
            else "CSV/TSV file (text, label) or a folder with train/dev files"
        )
        if self.export_name.value in rdata.list_tasks():
            self.export_name.value = spec.name

    def _on_family(self, keep_depth: bool = True) -> None:
        family = self.family.value
        if not family:
            self.depth.options = [0]
            return
        current = self.depth.value if keep_depth else None
        defaults = [] if family == HUB_FAMILY else [("family defaults", s.NO_PRESET)]
        self.preset.options = defaults + [(name, name) for name in s.presets(family)]
        self.preset.value = s.default_preset(family)
        # A pretrained preset is fine-tuned with its own recipe; leaving it, the task's.
        key = recipe_key(self._kind, self.preset.value or None, self._weights_value())
        if key != self._recipe:
            self._apply_recipe(key)
        self.depth.options = list(s.valid_depths(family))
        self.depth.value = s.default_depth(family, current)
        opts = s.family_options(family)
        if opts["width"] is not None:
            self.width.value = opts["width"]
            self.width.step = 1 if isinstance(opts["width"], int) else 0.25
        self.residual.value = True
        self._refresh_weights()

    def _on_preset(self) -> None:
        preset = self.preset.value
        if not preset or preset not in MODELS:  # none, or a keras-hub preset
            return
        entry = MODELS[preset]
        self.depth.value = entry.depth
        opts = s.family_options(entry.family, preset)
        if opts["width"] is not None:
            self.width.value = opts["width"]
        self.residual.value = bool(entry.kwargs.get("residual", True))
        self._refresh_weights()

    def _update_visibility(self) -> None:
        spec = rdata.get_task(self.task.value)
        opts = s.family_options(self.family.value) if self.family.value else {}

        def show(widget: widgets.Widget, visible: bool) -> None:
            widget.layout.display = None if visible else "none"

        show(self.data, spec.user_data or bool(self.data.value.strip()))
        show(self.depth, self.family.value != HUB_FAMILY)
        show(self.width, opts.get("width") is not None)
        show(self.residual, bool(opts.get("residual")))
        show(self.drop_path_rate, bool(opts.get("drop_path")))
        show(self._text_box, spec.kind == "text")
        for setting in self._training:
            if s.app_options()[setting][1].kind == "image":
                show(getattr(self, setting), spec.kind == "image")

    def _task_changed(self, change=None) -> None:
        if self._syncing:
            return
        with self._quiet():
            self._on_task()
        self._update_visibility()
        self._schedule_build()

    def _family_changed(self, change=None) -> None:
        if self._syncing:
            return
        with self._quiet():
            self._on_family()
        self._update_visibility()
        self._schedule_build()

    def _preset_changed(self, change=None) -> None:
        if self._syncing:
            return
        with self._quiet():
            self._on_preset()
        self._schedule_build()

    def _optimizer_changed(self, change) -> None:
        self.lr.value = self._default_lr()

    def _depth_changed(self, change) -> None:
        self._refresh_weights()

    def _weights_changed(self, change) -> None:
        # Pretrained weights switch to the fine-tuning recipe (and back).
        kind = rdata.get_task(self.task.value).kind
        preset = self.preset.value or None
        old = recipe_key(kind, preset, str(change["old"] or "").strip() or None)
        key = recipe_key(kind, preset, self._weights_value())
        if old != key:
            with self._quiet():
                self._apply_recipe(key)

    def _batch_size_changed(self, change) -> None:
        # Follow the linear scaling rule unless the learning rate was set by hand.
        if math.isclose(self.lr.value, self._default_lr(change["old"])):
            self.lr.value = self._default_lr(change["new"])

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
        """The current settings, by name (the keys :func:`reskeras.ui.train_config` reads)."""
        values = {name: getattr(self, name).value for name in s.setting_names()}
        values["data"] = self.data.value.strip() or None
        return values

    def _set_depth(self, depth: Any) -> None:
        if depth not in self.depth.options:
            raise ValueError(
                f"Invalid depth {depth!r} for {self.family.value}; expected one of "
                f"{list(self.depth.options)}."
            )
        self.depth.value = depth

    def set(self, **settings: Any) -> TrainerApp:
        """Sets widget values by name (``app.set(depth=56, epochs=1)``); returns the app.

        ``task``, ``family`` and ``preset`` are applied first so that the depth options fit;
        a family given without a preset starts from the family's defaults.
        """
        unknown = sorted(set(settings) - set(s.setting_names()))
        if unknown:
            raise ValueError(
                f"Unknown settings {unknown}; expected some of {list(s.setting_names())}."
            )
        if "family" in settings and "preset" not in settings:
            settings["preset"] = s.default_preset(settings["family"])
        first = ["task", "family", "preset"]
        for key in first + [k for k in settings if k not in first]:
            if key not in settings:
                continue
            value = settings[key]
            if key in s.PATH_SETTINGS:
                value = "" if value is None else str(value)
            if key == "batch_size" and value not in self.batch_size.options:
                self.batch_size.options = sorted({*self.batch_size.options, int(value)})
            if key == "depth":
                self._set_depth(value)
                continue
            getattr(self, key).value = value
        return self

    def train_config(self) -> dict[str, Any]:
        """The keyword arguments the Train button hands to :func:`reskeras.training.loop.train`."""
        values = self.values()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        model = values["preset"] if values["family"] == HUB_FAMILY else None
        what = (
            model.split("/")[-1].replace(":", "-")
            if model
            else f"{values['family']}{values['depth']}"
        )
        base = f"{values['task']}-{what}-{stamp}"
        out = self.runs_dir / base
        n = 1
        while out.exists():
            n += 1
            out = self.runs_dir / f"{base}-{n}"
        return s.train_config(values, out=out)

    def build(self) -> dict | None:
        """Builds the model (no forward pass) and shows its summary; returns the description."""
        with self._build_lock:
            try:
                model, desc, note = s.build_preview(self.values(), self._spec_cache)
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
        self.results = None
        self.history = []
        self.plot.value = history_svg([])
        self.progress.value = 0
        self._stop_event = threading.Event()
        self.train_button.disabled = True
        self.stop_button.disabled = False
        kind = rdata.get_task(config["task"]).kind
        recipe = RECIPES[recipe_key(kind, config["model"], config.get("weights"))]
        epochs = config["epochs"] or recipe.epochs
        self._set_status(
            f"Training {config['model']} (depth {config['depth']}) on {config['task']} "
            f"for {epochs} epoch(s)...",
            "info",
        )
        self.thread = threading.Thread(
            target=self._train_worker, args=(config, epochs), name="reskeras-train", daemon=True
        )
        self.thread.start()
        return self.thread

    def _train_worker(self, config: dict[str, Any], epochs: int) -> None:
        try:
            kind = rdata.get_task(config["task"]).kind
            callback = AppProgress(
                self,
                epochs=epochs,
                global_batch=config.get("batch_size")
                or RECIPES[recipe_key(kind, config["model"], config.get("weights"))].batch_size,
                unit="images" if kind == "image" else "examples",
            )
            result = train(
                **config,
                callbacks=[callback],
                stop_event=self._stop_event,
                verbose=0,
                report=lambda line: self._set_status(line, "error"),
            )
            self.result = result
            self.run_dir = Path(result.run_dir)
            if result.history:
                self.history = [dict(h) for h in result.history]
                self.plot.value = history_svg(self.history, callback.batch_losses)
            acc = getattr(result, "test_accuracy", None)
            acc_text = f" test accuracy {acc:.4f};" if is_number(acc) else ""
            how = "Stopped early" if getattr(result, "stopped_early", False) else "Finished"
            level = "ok"
            if result.collapses and result.collapses[-1]["epoch"] == len(result.history):
                how, level = f"{how}, but the model predicts one class", "error"
            self._set_status(f"{how}:{acc_text} run saved to {self.run_dir}", level)
            self.export_button.disabled = False
            self.results = score_run(self.run_dir)
            self.results_view.value = self.results.html()
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
            from reskeras.serve.export import export_for_serving

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
            f"<b>{html.escape(what)}</b>: {html.escape(one_line(err))}"
            "<details><summary>details</summary>"
            f"<pre style='font-size:11px;max-height:240px;overflow:auto'>{html.escape(tb)}</pre>"
            "</details></div>"
        )

    @property
    def status_text(self) -> str:
        """The status line without markup or traceback (handy in tests and scripts)."""
        text = re.sub(r"<details>.*?</details>", "", self.status.value, flags=re.S)
        return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
