"""The JupyterLab app: :class:`TrainerApp`, widgets to build, train and export a model.

Notebooks only import and show it::

    from reskeras.ui import TrainerApp
    app = TrainerApp(task="fashion_mnist")
    app

Its training widgets are made from :class:`reskeras.training.config.TrainConfig` (one per
option with an app label, named like the CLI flag) and start at what
:func:`reskeras.training.recipes.resolve` decides for the task, so the app trains exactly what
``reskeras train`` would. :func:`~reskeras.ui.widgets.build_widgets` makes the widgets
(``app.controls``); each is also a public attribute (``app.depth``, ``app.build_button`` ...):
tests and notebooks drive the app by setting values and calling ``button.click()``. Training
runs in a background thread; **Stop** sets the ``threading.Event`` given to
``train(stop_event=...)``, and any exception ends up as a one-line message in the status area.
For a language-model task the curves plot perplexity, and **Sample** continues a prompt with
the model as it trains (:mod:`reskeras.ui.sampling`); for a translation task **Translate**
translates what you type with the model as it trains, and BLEU on the validation pairs ends
the run.
"""

from __future__ import annotations

import contextlib
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
from reskeras.data.spec import SEQUENCE_KINDS
from reskeras.errors import one_line
from reskeras.evaluation.report import Results
from reskeras.evaluation.scores import score_run
from reskeras.evaluation.translation import evaluate_translation
from reskeras.models.keras_hub import HUB_FAMILY
from reskeras.models.registry import MODELS
from reskeras.training.loop import train
from reskeras.training.recipes import RunSettings
from reskeras.ui import settings as s
from reskeras.ui.render import (
    export_html,
    format_count,
    format_flops,
    history_svg,
    perplexity_html,
    summary_html,
    translation_html,
)
from reskeras.ui.sampling import (
    live_language_model,
    live_translator,
    sample_continuation,
    translate_text,
)
from reskeras.ui.widgets import (
    AppProgress,
    AppWidgets,
    build_widgets,
    is_number,
    results_placeholder,
)

__all__ = ["TrainerApp"]

_STATUS_COLORS = {"info": "#1f4e79", "ok": "#1b6e20", "error": "#b00020"}


class TrainerApp:
    """Build, train and export a residual network from JupyterLab widgets.

    Args:
        task: initial task (any of :func:`reskeras.data.list_tasks`).
        family: initial model family (default: the family of the recipe's model, with the
            recipe's model as the preset); an explicit family starts without a preset.
        depth: initial depth (default: the preset's, else 20/18/16 when the family offers it).
        data: a data path (required for image_folder / text_file, optional otherwise).
        runs_dir: where training runs go (``runs_dir/<task>-<model>-<time>``, the run name
            :func:`~reskeras.training.recipes.resolve` gives; ``-2``, ``-3`` ... if taken).
        export_dir: base directory of exports (``export_dir/<name>/<version>``).
        debounce_s: seconds of quiet after a slider move before the summary is rebuilt (0:
            rebuild at once, synchronously).
        build: build the summary on construction.
        **settings: initial widget values by name, e.g. ``epochs=1, limit_train=256,
            xla=False`` (see :meth:`values` for the names).

    Attributes:
        controls: the app's widgets and their layout (:class:`~reskeras.ui.widgets.AppWidgets`);
            each widget is an attribute of the app too, by name (``app.lr``, ``app.status``,
            ``app.widget`` the whole layout).
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
        self.sample_text: str | None = None  # the last continuation Sample showed
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
        self._recipe: str | None = None  # the recipe the training settings were last set from
        self._progress: AppProgress | None = None  # the running (or last) run's callback
        self._sample_run: Path | None = None  # the running (or last) sequence model's run
        self._sample_kind: str | None = None  # its task kind
        self._sequence_length = 0  # and its windows
        self.controls: AppWidgets = build_widgets(spec, str(export_dir), s.kind_defaults(spec.name))
        for name, widget in self.controls.by_name().items():
            setattr(self, name, widget)

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
        self.sample_button.on_click(lambda _: self.sample())

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

    def _defaults(self, **choices: Any) -> RunSettings:
        """What resolve() decides for the chosen task, preset and weights (and ``choices``:
        an ``optimizer``, a ``batch_size``); the preset's recipe, the recipe's model else."""
        return s.default_settings(
            self.task.value,
            model=self.preset.value or None,
            weights=self._weights_value(),
            **choices,
        )

    def _default_lr(self, batch_size: int | None = None) -> float:
        """The learning rate train() takes for the chosen optimizer and batch size."""
        batch_size = batch_size or self.batch_size.value
        return self._defaults(optimizer=self.optimizer.value, batch_size=batch_size).config.lr

    def _apply_defaults(self) -> None:
        """The training settings a recipe decides start over at resolve()'s values for the
        chosen task, preset and weights (the recipe's optimizer and batch size included)."""
        kind = rdata.get_task(self.task.value).kind
        model, weights = self.preset.value or None, self._weights_value()
        defaults = s.kind_defaults(self.task.value, model=model, weights=weights)
        with self._quiet():
            for setting, widget in self.controls.training.items():
                field, option = s.app_options()[setting]
                # None: this recipe leaves the option unset (keras-hub's own vocabulary).
                if field in s.RECIPE_FIELDS and s.option_applies(field, option, kind):
                    if defaults[setting] is not None:
                        widget.value = defaults[setting]
        self._recipe = self._defaults().recipe

    def _refresh_weights(self) -> None:
        """Offers the pretrained weights that exist for the chosen family, preset and depth."""
        self.weights.options = s.weights_choices(
            self.family.value, self.preset.value or s.NO_PRESET, self.depth.value or None
        )

    def _on_task(self) -> None:
        spec = rdata.get_task(self.task.value)
        if spec.kind != self._kind or not self.family.options:
            # A new kind starts from its recipe: its model, and its training settings.
            if spec.kind != "image":
                self.weights.value = ""
            self._kind = spec.kind
            family, preset, depth = s.recipe_model(spec.name)
            self.family.options = s.families_for_kind(spec.kind)
            self.family.value = family
            self._on_family()
            self.preset.value = preset
            self._on_preset()
            if not preset and depth is not None:  # a family at a depth (lm_lstm2)
                self._set_depth(depth)
            self._apply_defaults()
        self.data.placeholder = (
            "optional: a local copy (searched automatically)"
            if not spec.user_data
            else "folder with one sub-folder per class"
            if spec.kind == "image"
            else "a text file (.txt or .gz) or a folder of .txt files (or train/valid files)"
            if spec.kind == "language_model"
            else "a folder of train.SRC/train.TGT files, a source file beside its target, or a TSV"
            if spec.kind == "translation"
            else "CSV/TSV file (text, label) or a folder with train/dev files"
        )
        if self.export_name.value in rdata.list_tasks():
            self.export_name.value = spec.name
        if not self.is_training and not self.history:  # the empty panels of the task's kind
            self.plot.value = history_svg([], metric=s.curve_metric(spec.kind))

    def _on_family(self, keep_depth: bool = True) -> None:
        family = self.family.value
        if not family:
            self.depth.options = [0]
            return
        current = self.depth.value if keep_depth else None
        defaults = [] if family == HUB_FAMILY else [("family defaults", s.NO_PRESET)]
        self.preset.options = defaults + [(name, name) for name in s.presets(family)]
        self.preset.value = s.default_preset(family)
        # A keras-hub preset is fine-tuned with its own recipe; leaving it, the task's.
        if self._defaults().recipe != self._recipe:
            self._apply_defaults()
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
        for setting, widget in self.controls.training.items():
            field, option = s.app_options()[setting]
            if option.kind is not None:  # image-only, text-only (some language models take)
                show(widget, s.option_applies(field, option, spec.kind))
        text = self.controls.text_box.children
        show(self.controls.text_box, any(w.layout.display != "none" for w in text))
        show(self.controls.sample_box, spec.kind in SEQUENCE_KINDS)
        show(self.temperature, spec.kind == "language_model")  # translating is greedy
        self.sample_button.description = "Translate" if spec.kind == "translation" else "Sample"
        if self.result is None:  # nothing trained yet: say what the results area will show
            self.results_view.value = results_placeholder(spec.kind)

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
        if self._syncing:  # a recipe being applied sets the learning rate itself
            return
        self.lr.value = self._default_lr()

    def _depth_changed(self, change) -> None:
        self._refresh_weights()

    def _weights_changed(self, change) -> None:
        # Pretrained weights switch to the fine-tuning recipe (and back).
        if self._syncing:  # a new task applies its recipe once its model is chosen
            return
        if self._defaults().recipe != self._recipe:
            self._apply_defaults()

    def _batch_size_changed(self, change) -> None:
        # Follow the linear scaling rule unless the learning rate was set by hand.
        if self._syncing:
            return
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
        """Waits for a pending debounced rebuild; True when none is left pending.

        Args:
            timeout: the most seconds to wait for the timer, and again for a running build.

        Returns:
            True when no rebuild is pending or running any more.
        """
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

        Args:
            **settings: widget values by name (the keys of :meth:`values`); a path setting
                given as None clears it.

        Returns:
            The app itself, so that calls can be chained.

        Raises:
            ValueError: if a name is not a setting, or the depth does not fit the family.
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
            if key in s.BLANK_IS_UNSET:
                value = "" if value is None else str(value)
            if key == "batch_size" and value not in self.batch_size.options:
                self.batch_size.options = sorted({*self.batch_size.options, int(value)})
            if key == "depth":
                self._set_depth(value)
                continue
            getattr(self, key).value = value
        return self

    def train_config(self) -> dict[str, Any]:
        """The keyword arguments the Train button hands to :func:`reskeras.training.loop.train`
        (``out``: a new directory under ``runs_dir``, named as resolve() names the run)."""
        return self._train_call()[0]

    def _train_call(self) -> tuple[dict[str, Any], RunSettings]:
        """train()'s keyword arguments, and what resolve() decides for them."""
        config = s.train_config(self.values())
        settings = s.run_settings(config)
        out = self.runs_dir / settings.run_name
        n = 1
        while out.exists():
            n += 1
            out = self.runs_dir / f"{settings.run_name}-{n}"
        config["out"] = str(out)
        return config, settings

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
                flops, per = format_flops(desc["flops"]), desc.get("per", "example")
                self.show_status(
                    f"Built {desc['name']}: {format_count(desc['trainable_params'])} trainable "
                    f"parameters, {flops}FLOPs per {per}.",
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
            self.show_status("Already training; press Stop first.", "error")
            return None
        try:
            config, settings = self._train_call()
        except Exception as err:
            self._show_error("Cannot train", err)
            return None
        self.error = None
        self.result = None
        self.results = None
        self.history = []
        self.plot.value = history_svg([], metric=s.curve_metric(settings.task.kind))
        self.progress.value = 0
        self._stop_event = threading.Event()
        sequence = settings.task.kind in SEQUENCE_KINDS
        self._sample_run = Path(config["out"]) if sequence else None
        self._sample_kind = settings.task.kind
        self._sequence_length = settings.config.sequence_length or 0
        self.sample_button.disabled = not sequence
        self.train_button.disabled = True
        self.stop_button.disabled = False
        model = config["model"]
        if config["depth"] is not None:
            model += f" (depth {config['depth']})"
        self.show_status(
            f"Training {model} on {config['task']} for {settings.config.epochs} epoch(s)...",
            "info",
        )
        self.thread = threading.Thread(
            target=self._train_worker, args=(config, settings), name="reskeras-train", daemon=True
        )
        self.thread.start()
        return self.thread

    def _train_worker(self, config: dict[str, Any], settings: RunSettings) -> None:
        kind = settings.task.kind
        try:
            self._progress = callback = AppProgress(
                self.progress,
                self.plot,
                self._stop_event,
                self.show_status,
                epochs=settings.config.epochs,
                history=self.history,
                global_batch=settings.global_batch,
                unit={"image": "images", "language_model": "windows", "translation": "pairs"}.get(
                    kind, "examples"
                ),
                metric=s.curve_metric(kind),
            )
            result = train(
                **config,
                callbacks=[callback],
                stop_event=self._stop_event,
                verbose=0,
                report=lambda line: self.show_status(line, "error"),
            )
            self.result = result
            self.run_dir = Path(result.run_dir)
            if result.history:
                self.history = [dict(h) for h in result.history]
                self.plot.value = history_svg(
                    self.history, callback.batch_losses, metric=callback.metric
                )
            if kind in SEQUENCE_KINDS:
                ppl = getattr(result, "test_perplexity", None)
                acc_text = f" test perplexity {ppl:.2f};" if is_number(ppl) else ""
            else:
                acc = getattr(result, "test_accuracy", None)
                acc_text = f" test accuracy {acc:.4f};" if is_number(acc) else ""
            how = "Stopped early" if getattr(result, "stopped_early", False) else "Finished"
            level = "ok"
            if result.collapses and result.collapses[-1]["epoch"] == len(result.history):
                how, level = f"{how}, but the model predicts one class", "error"
            self.show_status(f"{how}:{acc_text} run saved to {self.run_dir}", level)
            self.export_button.disabled = False
            if kind == "language_model":
                self.results_view.value = perplexity_html(result)
            elif kind == "translation":  # BLEU on the run's test (Multi30k: validation) pairs
                self.show_status(f"{how}; translating the test pairs for BLEU...", "info")
                scores = evaluate_translation(self.run_dir)
                self.results_view.value = translation_html(result, scores)
                if "collapsed" in scores:
                    how, level = f"{how}, but nearly every source gets one translation", "error"
                self.show_status(
                    f"{how}:{acc_text} BLEU {scores['bleu']:.2f}; run saved to {self.run_dir}",
                    level,
                )
            else:
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
            self.show_status("Stopping after the current batch...", "info")

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the training thread; True when it has finished.

        Args:
            timeout: the most seconds to wait; None: until training ends.

        Returns:
            True when no training thread is running (or none was started).
        """
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def sample(self) -> str | None:
        """Continues the prompt with the language model as it is now (during training: the
        model being trained) at the chosen temperature, or translates it with the
        translation model (greedily), and shows it under the prompt.

        Returns:
            The continuation or translation (also :attr:`sample_text`), or ``None`` when
            there is no model yet or sampling failed (said under the prompt).
        """
        prompt = " ".join(self.prompt.value.split())
        kind = self._sample_kind or rdata.get_task(self.task.value).kind
        when = f"after {len(self.history)} epoch(s)" if self.is_training else "trained"
        try:
            live = self.is_training or self.result is None
            model = getattr(self._progress, "model", None) if live else self.result.model
            if kind == "translation":
                translator = live_translator(model, self._sample_run, self._sequence_length)
                text = translate_text(translator, prompt, max_length=self.sample_length.value)
            else:
                lm = live_language_model(model, self._sample_run, self._sequence_length)
                text = sample_continuation(
                    lm, prompt, max_length=self.sample_length.value,
                    temperature=self.temperature.value,
                )  # fmt: skip
        except Exception as err:
            self.sample_output.value = (
                f"<div class='reskeras-error' style='color:{_STATUS_COLORS['error']}'>"
                f"{html.escape(one_line(err))}</div>"
            )
            return None
        self.sample_text = text
        if kind == "translation":
            shown, how = f"<b>{html.escape(prompt)}</b> → {html.escape(text)}", "greedy"
        else:
            shown = f"<b>{html.escape(prompt)}</b> {html.escape(text)}"
            how = f"temperature {self.temperature.value:g}"
        self.sample_output.value = (
            f"<div class='reskeras-sample'>{shown} <span style='color:#888'>({when}, {how})"
            "</span></div>"
        )
        return text

    def export(self) -> Any:
        """Exports the last run for TF Serving; returns the ExportResult (or None on error)."""
        if self.run_dir is None:
            self.show_status("Nothing to export yet: train a model first.", "error")
            return None
        try:
            from reskeras.serve.export import export_for_serving

            self.show_status(f"Exporting {self.run_dir}...", "info")
            result = export_for_serving(
                self.run_dir, self.export_name.value.strip(), base_dir=self.export_base.value
            )
        except Exception as err:
            self._show_error("Export failed", err)
            return None
        self.export_result = result
        self.export_info.value = export_html(result)
        self.show_status(f"Exported version {result.version} to {result.path}", "ok")
        return result

    # -- status ----------------------------------------------------------------------------

    def show_status(self, message: str, level: str = "info") -> None:
        """Shows a one-line message in the status area.

        Args:
            message: the text (shown as is, escaped).
            level: ``"info"``, ``"ok"`` or ``"error"`` (its color and CSS class).
        """
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
