"""The app's settings as pure functions: what can be chosen for a task, and the train() call
the choices make. No widgets here, so all of it is tested headless.

The training settings are the :class:`reskeras.training.config.TrainConfig` options that have
an app ``label``; the defaults they show are what :func:`reskeras.training.recipes.resolve`
decides for the task (:func:`default_settings`), exactly as for the CLI. Model settings
(family, preset, depth, width, residual, drop-path) come from the registry and the family
builder's own signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping
from typing import Any

import keras

from reskeras import data as rdata
from reskeras.data.spec import SEQUENCE_KINDS
from reskeras.models.describe import describe_model
from reskeras.models.image import VERSIONS, assemble
from reskeras.models.keras_hub import (
    DEFAULT_PRESET,
    HUB_FAMILY,
    HUB_PREFIX,
    text_classifier_presets,
)
from reskeras.models.registry import (
    FAMILIES,
    KINDS,
    MODELS,
    build_model,
    check_kind,
    resolve_model,
)
from reskeras.training.config import Option, TrainConfig, options
from reskeras.training.objectives import monitor
from reskeras.training.recipes import DECIDED_BY_DATA, RECIPE_FIELDS, RunSettings, resolve
from reskeras.weights.named import available_weights

__all__ = [
    "BATCH_SIZES",
    "MODEL_SETTINGS",
    "NO_PRESET",
    "RECIPE_FIELDS",
    "app_options",
    "build_preview",
    "curve_metric",
    "default_depth",
    "default_preset",
    "default_settings",
    "families_for_kind",
    "family_options",
    "kind_defaults",
    "model_kwargs",
    "option_applies",
    "presets",
    "preview_spec",
    "recipe_model",
    "representative_task",
    "run_settings",
    "setting_names",
    "train_config",
    "valid_depths",
    "weights_choices",
    "width_parameter",
]

BATCH_SIZES = (16, 32, 64, 128, 256, 512)
#: What Build assumes for image_folder / text_file before the data has been pointed at.
PREVIEW_IMAGE_SHAPE = (32, 32, 3)
PREVIEW_NUM_CLASSES = 2
NO_PRESET = ""  # the preset dropdown's "family defaults" entry
MODEL_SETTINGS = ("family", "preset", "depth", "width", "residual", "drop_path_rate")
#: Training settings where 0 means "unset": the recipe or a rule decides (epochs, the
#: vocabulary) or all data (limits).
ZERO_IS_UNSET = (
    "epochs", "limit_train", "limit_test", "sequence_length", "input_size", "vocabulary_size",
)  # fmt: skip
#: Text settings where an empty box means "unset" (search local copies, no word vectors,
#: train from scratch, the task's translation direction).
BLANK_IS_UNSET = ("data", "embeddings", "weights", "languages")
#: What Build assumes for a text model's length before training picks one from the data.
PREVIEW_SEQUENCE_LENGTH = 64
_PREFERRED_DEPTHS = (20, 18, 16)
#: The options of text tasks that language models and translation take too: the longest
#: sequence and the vocabulary cap (word vectors and text columns are the classifiers' alone).
SEQUENCE_TEXT_OPTIONS = ("sequence_length", "vocabulary_size")
#: The builder parameters the width widget sets, the first a family's builder takes
#: (``lm_lstm`` and ``residual_lstm`` are as wide as their ``units``).
WIDTH_PARAMETERS = ("width", "units")


def app_options() -> dict[str, tuple[str, Option]]:
    """The training options the app shows: ``{setting name: (TrainConfig field, Option)}``.
    A setting is named like the option's CLI flag (``xla`` for ``jit_compile``)."""
    return {
        (opt.flag or name).replace("-", "_"): (name, opt)
        for name, opt in options().items()
        if opt.label is not None
    }


def setting_names() -> tuple[str, ...]:
    """Every setting the app has, by name (``app.set(...)`` and ``app.values()`` keys)."""
    training = tuple(app_options())
    return (*training[:2], *MODEL_SETTINGS, *training[2:])


def option_type(field: str) -> type:
    """The value type of a TrainConfig field (``int | None`` -> ``int``).

    Args:
        field: the name of a :class:`~reskeras.training.config.TrainConfig` field.

    Returns:
        The first non-None type of the field's annotation.
    """
    hint = typing.get_type_hints(TrainConfig)[field]
    return next(t for t in (*typing.get_args(hint), hint) if t is not type(None))


def option_applies(field: str, option: Option, kind: str) -> bool:
    """Whether a training option applies to tasks of a kind: options of no kind do; those of
    a kind (``Option.kind``) apply to its tasks, and :data:`SEQUENCE_TEXT_OPTIONS` to
    language models and translation too.

    Args:
        field: the option's :class:`~reskeras.training.config.TrainConfig` field.
        option: its :class:`~reskeras.training.config.Option`.
        kind: the task's kind (``"image"``, ``"text"``, ``"language_model"`` or
            ``"translation"``).
    """
    if option.kind is None or option.kind == kind:
        return True
    return kind in SEQUENCE_KINDS and field in SEQUENCE_TEXT_OPTIONS


def curve_metric(kind: str) -> str:
    """The metric the app's second panel plots for a task kind: the one early stopping
    watches (:func:`reskeras.training.objectives.monitor`) without its ``val_`` prefix,
    ``"accuracy"`` for classifiers and ``"perplexity"`` for language models.

    Args:
        kind: the task's kind.
    """
    return monitor(kind)[0].removeprefix("val_")


def representative_task(kind: str) -> str:
    """The first registered task of a kind (whose defaults the other kind's options show).

    Args:
        kind: ``"image"``, ``"text"`` or ``"language_model"``.

    Raises:
        ValueError: no task of that kind is registered.
    """
    for name in rdata.list_tasks():
        if rdata.get_task(name).kind == kind:
            return name
    raise ValueError(f"No task of kind {kind!r} is registered.")


def _task_name(task: str) -> str:
    """A task name; a kind (``"image"``/``"text"``) stands for :func:`representative_task`."""
    if task in ("image", "text") and task not in rdata.list_tasks():
        return representative_task(task)
    return rdata.get_task(task).name


def default_settings(
    task: str,
    *,
    model: str | None = None,
    weights: str | None = None,
    optimizer: str | None = None,
    batch_size: int | None = None,
) -> RunSettings:
    """What :func:`~reskeras.training.recipes.resolve` decides for the app's current choices,
    before any data is loaded (so the epoch length stays open).

    Args:
        task: a task name, or a kind (``"image"``/``"text"``) for its
            :func:`representative_task`.
        model: the model asked for (a named model or ``hub:<preset>``); ``None``: the recipe's.
        weights: the pretrained weights asked for (``""`` or ``None``: none); pretrained image
            weights select the fine-tuning recipe.
        optimizer: the optimizer chosen; ``None``: the recipe's.
        batch_size: the batch size chosen; ``None``: the recipe's.

    Returns:
        The :class:`~reskeras.training.recipes.RunSettings` (``.config.lr`` the learning rate
        train() would take, ``.recipe`` the recipe that applies ...).
    """
    config = TrainConfig(
        task=_task_name(task),
        model=model or None,
        weights=str(weights or "").strip() or None,
        optimizer=optimizer,
        batch_size=batch_size,
    )
    return resolve(config)


def kind_defaults(
    task: str,
    *,
    model: str | None = None,
    weights: str | None = None,
    optimizer: str | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """The values the training settings' widgets show by default, by setting name, as
    :func:`default_settings` (that is, ``resolve()``) decides them for the task.

    Epochs show 0 (unset: the recipe's epochs, each long enough for small data; an explicit
    count would train exactly that many passes); the limits, the sequence length and the
    input size show 0 when ``resolve()`` leaves them unset (all data, from the data, the
    data's own size), a language model's windows the recipe's length. Options of another
    kind of task (:func:`option_applies`) show what ``resolve()`` gives that kind's
    :func:`representative_task`.

    Args:
        task: a task name, or a kind (``"image"``/``"text"``) for its
            :func:`representative_task`.
        model: the model asked for (a named model or ``hub:<preset>``); ``None``: the recipe's.
        weights: the pretrained weights asked for (``""`` or ``None``: none).
        optimizer: the optimizer chosen (the learning rate follows it); ``None``: the recipe's.
        batch_size: the batch size chosen (SGD's learning rate follows it); ``None``: the
            recipe's.
    """
    settings = default_settings(
        task, model=model, weights=weights, optimizer=optimizer, batch_size=batch_size
    )
    kind = settings.task.kind
    resolved = {kind: settings.config}
    values = {}
    for setting, (field, option) in app_options().items():
        own = kind if option_applies(field, option, kind) else option.kind
        if own not in resolved:  # an option of another kind: a task of that kind's
            resolved[own] = default_settings(representative_task(own)).config
        value = getattr(resolved[own], field)
        if setting in ZERO_IS_UNSET and (
            setting == "epochs" or value is None or field in DECIDED_BY_DATA.get(own, ())
        ):
            value = 0  # left unset, resolve() decides (with the data)
        values[setting] = "" if value is None and setting in BLANK_IS_UNSET else value
    return values


def run_settings(config: Mapping[str, Any]) -> RunSettings:
    """What :func:`~reskeras.training.recipes.resolve` decides for a train() call (the run
    name, the epochs, the global batch ...), before the data is loaded.

    Args:
        config: keyword arguments for train(), as :func:`train_config` makes them (``out``
            is ignored).
    """
    return resolve({k: v for k, v in config.items() if k != "out"})


def weights_choices(family: str, preset: str = NO_PRESET, depth: int | None = None) -> list[str]:
    """The pretrained weights there are for a model (for the app's dropdown): for the
    ``resnet`` family those of its depth and version (a preset's, else every version's);
    none for other families, which take only a ``.weights.h5`` file of one's own.

    Args:
        family: the model family.
        preset: the named model chosen (its version narrows the choice); ``NO_PRESET``:
            none.
        depth: the model's depth; ``None``: no choices.

    Returns:
        The weights' names, without duplicates.
    """
    if family != "resnet" or depth is None:
        return []
    version = MODELS[preset].kwargs.get("version") if preset else None
    found: list[str] = []
    for v in [version] if version else VERSIONS:
        found += [w for w in available_weights(depth, v) if w not in found]
    return found


def families_for_kind(kind: str) -> list[str]:
    """Registered model families for tasks of ``kind``, sorted.

    Args:
        kind: one of :data:`reskeras.models.registry.KINDS` (``"image"``, ``"text"``,
            ``"language_model"``).

    Returns:
        The families' names.

    Raises:
        ValueError: ``kind`` is none of them.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; expected one of {list(KINDS)}.")
    return sorted(name for name, fam in FAMILIES.items() if fam.kind == kind)


def recipe_model(task: str) -> tuple[str, str, int | None]:
    """The model the app starts a task with: the family, preset and depth of the model
    :func:`~reskeras.training.recipes.resolve` gives the task's recipe. A registered model
    is the preset (at its own depth); a family at a depth (``lm_lstm2``) has no preset.

    Args:
        task: a registered task name.

    Returns:
        ``(family, preset or NO_PRESET, depth)``; the depth is ``None`` for a keras-hub preset.
    """
    settings = default_settings(task)
    model = settings.config.model
    family, depth, _ = resolve_model(model, settings.config.depth)
    if family.name == HUB_FAMILY:
        return family.name, model, None
    return family.name, model if model in MODELS else NO_PRESET, depth


def _family(name: str):
    if name not in FAMILIES:
        raise ValueError(f"Unknown model family {name!r}; expected one of {sorted(FAMILIES)}.")
    return FAMILIES[name]


def presets(family: str) -> list[str]:
    """The named models of a family at a depth the app offers (``cifar_resnet20``,
    ``cifar_resnet14_fast`` ...); for ``keras_hub``, the installed keras-hub's
    text-classifier presets (``hub:bert_base_en_uncased`` ...).

    Args:
        family: a registered model family.
    """
    if family == HUB_FAMILY:
        return [f"{HUB_PREFIX}{name}" for name in text_classifier_presets()]
    depths = valid_depths(family)
    return sorted(n for n, e in MODELS.items() if e.family == family and e.depth in depths)


def valid_depths(family: str) -> tuple[int, ...]:
    """The depths offered for ``family`` (all of them valid for its builder).

    Args:
        family: a registered model family.

    Returns:
        The depths, as the family lists them.

    Raises:
        ValueError: ``family`` is not registered.
    """
    return tuple(_family(family).depths)


def default_depth(family: str, current: int | None = None) -> int:
    """``current`` if it is valid for ``family``, else 20/18/16 when offered, else the smallest.

    Args:
        family: a registered model family.
        current: the depth chosen so far, kept when the family offers it.

    Returns:
        The depth.

    Raises:
        ValueError: ``family`` is not registered or offers no depths.
    """
    depths = valid_depths(family)
    if not depths:
        raise ValueError(f"Model family {family!r} offers no depths.")
    for depth in (current, *_PREFERRED_DEPTHS):
        if depth in depths:
            return depth
    return min(depths)


_ASSEMBLE_PARAMS = frozenset(inspect.signature(assemble).parameters)


def family_options(family: str, preset: str = NO_PRESET) -> dict[str, Any]:
    """Which optional knobs ``family``'s builder takes, and their defaults (a preset's own).

    A keyword the builder names explicitly counts; so does ``drop_path_rate`` for image
    builders that pass ``**kwargs`` on to :func:`reskeras.models.image.assemble`.

    Args:
        family: a registered model family.
        preset: a named model of the family, whose own width is the default;
            ``NO_PRESET``: the builder's default.

    Returns:
        ``{"width": the default width (int or float) or None, "residual": bool,
            "drop_path": bool}`` (a builder whose default width is not a number gets 1; the
            width is the builder's :func:`width_parameter`).

    Raises:
        ValueError: ``family`` is not registered.
    """
    fam = _family(family)
    params = inspect.signature(fam.builder).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def takes(name: str) -> bool:
        return name in params or (var_kw and fam.kind == "image" and name in _ASSEMBLE_PARAMS)

    width, knob = None, width_parameter(family)
    if knob is not None:
        default = MODELS[preset].kwargs.get(knob) if preset else None
        default = params[knob].default if default is None else default
        ok = isinstance(default, int | float) and not isinstance(default, bool)
        width = default if ok else 1
    return {"width": width, "residual": takes("residual"), "drop_path": takes("drop_path_rate")}


def width_parameter(family: str) -> str | None:
    """The builder parameter the app's width widget sets for a family: the first of
    :data:`WIDTH_PARAMETERS` its builder takes (``units`` for ``lm_lstm``), or ``None``.

    Args:
        family: a registered model family.
    """
    params = inspect.signature(_family(family).builder).parameters
    return next((name for name in WIDTH_PARAMETERS if name in params), None)


def model_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Builder overrides (``residual``, ``drop_path_rate``, the width: ``width`` or
    ``units``, :func:`width_parameter`) that the family takes.

    Args:
        values: the app's settings (:func:`setting_names`); ``family`` is required, and
            unset, zero (drop path) or unsupported settings are left out.

    Returns:
        The keyword arguments for the family's builder.
    """
    opts = family_options(values["family"])
    out: dict[str, Any] = {}
    if opts["width"] is not None and values.get("width") is not None:
        # Wide ResNet's width is a whole multiplier, text_resnet's a float.
        as_int = isinstance(opts["width"], int)
        width = int(round(values["width"])) if as_int else float(values["width"])
        out[width_parameter(values["family"]) or "width"] = width
    if opts["residual"] and values.get("residual") is not None:
        out["residual"] = bool(values["residual"])
    if opts["drop_path"] and values.get("drop_path_rate"):
        out["drop_path_rate"] = float(values["drop_path_rate"])
    return out


def default_preset(family: str) -> str:
    """The preset the app starts a family with (none, but for ``keras_hub``).

    Args:
        family: a registered model family.
    """
    if family != HUB_FAMILY:
        return NO_PRESET
    names = presets(family)
    return f"{HUB_PREFIX}{DEFAULT_PRESET}" if f"{HUB_PREFIX}{DEFAULT_PRESET}" in names else names[0]


def _model(values: Mapping[str, Any]) -> tuple[str, int | None]:
    """The model name train() gets (the preset, else the family) and the depth (None for a
    keras-hub preset, and for a named model at its own depth, as ``reskeras train --model
    NAME`` has it)."""
    missing = [k for k in ("task", "family", "depth") if values.get(k) in (None, "")]
    if missing:
        raise ValueError(f"Missing settings {missing}; the app needs a task, a family and a depth.")
    family = _family(values["family"])
    preset = values.get("preset") or NO_PRESET
    if family.name == HUB_FAMILY:
        if not str(preset).startswith(HUB_PREFIX):
            raise ValueError(
                f"A {HUB_FAMILY} model needs a keras-hub preset ({HUB_PREFIX}NAME); got {preset!r}."
            )
        return preset, None
    if preset and (preset not in MODELS or MODELS[preset].family != family.name):
        raise ValueError(
            f"Preset {preset!r} is not a {family.name} model; expected one of "
            f"{presets(family.name)}."
        )
    depth = int(values["depth"])
    family.rule.check(family.name, depth)
    if preset and depth == MODELS[preset].depth:
        return preset, None
    return preset or family.name, depth


def train_config(values: Mapping[str, Any], out: str | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`reskeras.training.loop.train` from the app's settings
    (:func:`setting_names`). Empty ``data`` means "search local copies"; 0 for epochs and the
    limits means unset. Options of the other kind of task are left out; every value is
    checked by :class:`~reskeras.training.config.TrainConfig`.

    Args:
        values: the app's settings, by name (:func:`setting_names`).
        out: the run directory (``None``: train()'s default, named by ``resolve()``).

    Raises:
        ValueError: the settings do not fit together (a model of the other kind, a depth the
            family cannot build, a value out of bounds).
    """
    task = rdata.get_task(values["task"])
    family = _family(values["family"])
    check_kind(family.kind, task.name, task.kind, f"Model family {family.name!r}")
    model, depth = _model(values)
    config: dict[str, Any] = {"task": task.name, "model": model, "depth": depth}
    for setting, (field, option) in app_options().items():
        if field == "task" or not option_applies(field, option, task.kind):
            continue
        value = values.get(setting)
        if setting in BLANK_IS_UNSET:
            value = str(value or "").strip() or None
        elif setting in ZERO_IS_UNSET:
            value = int(value or 0) or None
        elif value is not None and value not in option.choices:  # a choice is passed as is
            value = option_type(field)(value)  # (jit_compile's "auto" is no bool)
        config[field] = value
    config["model_kwargs"] = model_kwargs(values) or None
    TrainConfig.from_dict(config)  # every value checked, in one place
    config["out"] = str(out) if out is not None else None
    return config


def preview_spec(
    task: str, data: str | None = None, cache: dict | None = None
) -> tuple[rdata.TaskSpec, str]:
    """The task spec Build uses, and a note saying what it had to assume.

    Built-in tasks use their registered spec. User data (``image_folder``/``text_file``) is
    loaded from ``data`` to learn its classes and input shape (cached per path in ``cache``);
    without a path the preview assumes 32x32x3 images / 2 classes and says so.

    Args:
        task: a registered task name.
        data: the data path, for ``image_folder``/``text_file``; ``None`` or empty: none.
        cache: specs already loaded, by ``(task, path)``; filled in here. ``None``: no
            caching.

    Returns:
        The spec, and the note (``""`` when nothing was assumed).
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
    """Builds (never calls) the model the settings describe.

    Args:
        values: the app's settings (:func:`setting_names`).
        cache: task specs of user data already loaded, by (task, path) (see
            :func:`preview_spec`).

    Returns:
        (the model, its :func:`~reskeras.models.describe.describe_model` description, a note
        on what the preview had to assume, or ``""``).
    """
    if rdata.get_task(values["task"]).kind in SEQUENCE_KINDS:
        return _sequence_model_preview(values)
    spec, note = preview_spec(values["task"], values.get("data"), cache)
    family = _family(values["family"])
    check_kind(family.kind, spec.name, spec.kind, f"Model family {family.name!r}")
    model, depth = _model(values)
    kwargs = model_kwargs(values)
    if spec.kind == "image":
        kwargs["input_shape"] = tuple(spec.input_shape)
        if values.get("input_size"):
            kwargs["input_size"] = int(values["input_size"])
        if spec.input_mean is not None:
            kwargs["input_mean"] = tuple(spec.input_mean)
            kwargs["input_std"] = tuple(spec.input_std)
    elif family.name == HUB_FAMILY:  # keras-hub's own model: the preset sets the rest
        length = int(values.get("sequence_length") or 0)
        kwargs = {"sequence_length": length} if length else {}
    else:
        defaults = default_settings(spec.name).config
        length = int(values.get("sequence_length") or 0)
        if not length:
            assumed = f"Preview at {PREVIEW_SEQUENCE_LENGTH} tokens; training takes the length "
            note = " ".join(filter(None, [note, assumed + "from the data."]))
        kwargs["sequence_length"] = length or PREVIEW_SEQUENCE_LENGTH
        kwargs["vocabulary_size"] = int(values.get("vocabulary_size") or defaults.vocabulary_size)
    built = build_model(model, depth=depth, num_classes=len(spec.class_names), **kwargs)
    return built, describe_model(built), note


def _sequence_model_preview(values: Mapping[str, Any]) -> tuple[keras.Model, dict, str]:
    """A language or translation model at the vocabulary cap (training sizes it to the
    training text, up to the cap) and the longest sequence; its depth is its blocks (per
    side), its FLOPs per token about twice its parameters (each weight one multiply-add;
    the embedding is the output layer too)."""
    spec = rdata.get_task(values["task"])
    family = _family(values["family"])
    check_kind(family.kind, spec.name, spec.kind, f"Model family {family.name!r}")
    model, depth = _model(values)
    config = default_settings(spec.name).config
    vocabulary = int(values.get("vocabulary_size") or config.vocabulary_size)
    length = int(values.get("sequence_length") or config.sequence_length)
    sizes = (
        {"source_vocabulary_size": vocabulary, "target_vocabulary_size": vocabulary}
        if spec.kind == "translation"
        else {"vocabulary_size": vocabulary}
    )
    built = build_model(
        model, depth=depth, num_classes=vocabulary, sequence_length=length, **sizes,
        **model_kwargs(values),
    )  # fmt: skip
    desc = describe_model(built)
    desc.update(depth=resolve_model(model, depth)[1], flops=2 * desc["params"], per="token")
    learned = (
        "subword pieces learned from the training pairs"
        if spec.kind == "translation"
        else "words of the training text"
    )
    return (
        built,
        desc,
        f"Preview at the vocabulary cap ({vocabulary:,}); training takes the {learned} up to it.",
    )
