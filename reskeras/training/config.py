"""Training options: one typed config, the single source of truth for what a run can be told.

:class:`TrainConfig` holds every option of a training run; each field carries its help text,
allowed values and bounds (:class:`Option`). ``train()`` validates with it, ``reskeras train``
builds its flags from it (:func:`add_arguments`), the JupyterLab app its training widgets, and a
run's ``config.json`` stores it. Options left at ``None`` are decided by
:func:`reskeras.training.recipes.resolve`; adding an option is adding a field here (and using
it). Each choice set is defined by the module that implements it and imported from there.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from reskeras.checks import check_choice
from reskeras.training.distributed import STRATEGIES
from reskeras.training.optim import OPTIMIZERS, SCHEDULES
from reskeras.training.precision import PRECISIONS
from reskeras.weights.freeze import FREEZES

__all__ = [
    "FINETUNE_LR_SCALE",
    "Option",
    "TrainConfig",
    "add_arguments",
    "from_arguments",
    "options",
]

#: After the ``head_epochs`` (the classifier alone), everything trains at this fraction of the
#: learning rate, so the pretrained features are adjusted rather than overwritten.
FINETUNE_LR_SCALE = 0.1


@dataclass(frozen=True)
class Option:
    """What the CLI, the app and ``train()`` know of one training option.

    ``low``/``high`` bound numbers (inclusive unless ``open_low``/``open_high``); ``flag`` is
    the CLI flag
    (default: the field name with dashes; ``""``: no flag; booleans get ``--no-<flag>`` too);
    ``label`` is the app widget's label (``None``: not in the app); ``kind`` limits an option
    to image or text tasks.
    """

    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    flag: str | None = None
    label: str | None = None
    kind: str | None = None


def _option(default: Any, help: str, **kwargs) -> Any:
    extra = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"option": Option(help, **kwargs)}, **extra)


@dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run; see each field's help (``reskeras train --help``)."""

    task: str = _option("fashion_mnist", "the task to train on (`reskeras list`)", label="task")
    model: str | None = _option(
        None, "a model or family name (default: the recipe of the task's kind)"
    )
    depth: int | None = _option(
        None, "the depth, for a family name (or to change a model's)", low=1
    )
    data: str | None = _option(
        None, "dataset path (required for image_folder and text_file)", label="data path"
    )
    data_dir: str | None = _option(None, "tensorflow-datasets data_dir")
    epochs: int | None = _option(
        None,
        "passes over the data (default: the recipe's epochs, each at least "
        "min_steps/epochs steps long)",
        low=1,
        label="epochs",
    )
    batch_size: int | None = _option(
        None, "batch size per replica (default: the recipe's)", low=1, label="batch size"
    )
    lr: float | None = _option(
        None,
        "peak learning rate (default: the recipe's; SGD scales it with the global batch)",
        low=0,
        open_low=True,
        label="learning rate",
    )
    optimizer: str | None = _option(
        None, "sgd (Nesterov) or adamw (default: the recipe's)", choices=OPTIMIZERS,
        label="optimizer",
    )  # fmt: skip
    schedule: str | None = _option(
        None, "learning-rate schedule (default: the recipe's)", choices=SCHEDULES
    )
    warmup_epochs: int | None = _option(None, "linear warm-up epochs (cosine schedule)", low=0)
    weight_decay: float | None = _option(
        None, "decoupled weight decay (default: 5e-4 with SGD, 0.05 with AdamW)", low=0
    )
    label_smoothing: float | None = _option(
        None, "label smoothing (default: the recipe's)", low=0, high=1, open_high=True
    )
    precision: str = _option(
        "float32", "compute precision; logits stay float32", choices=PRECISIONS,
        label="precision",
    )  # fmt: skip
    jit_compile: bool | str = _option(
        "auto",
        "compile the training step with XLA: auto (on with a GPU; on a CPU whichever a short "
        "probe at the start of the run measures faster), or --xla / --no-xla",
        choices=("auto", True, False),
        flag="xla",
        label="XLA (jit_compile)",
    )
    strategy: str = _option(
        "auto", "tf.distribute strategy (auto: mirrored with >1 GPU)", choices=STRATEGIES
    )
    worker_timeout: float = _option(
        300.0, "multi_worker: seconds a worker waits for the others (to join the cluster, or "
        "from one training step to the next) before it stops with an error", low=0,
        open_low=True,
    )  # fmt: skip
    seed: int = _option(0, "random seed (initialization, data order, splits)", label="seed")
    deterministic: bool = _option(False, "deterministic TensorFlow ops (slower)")
    early_stopping_patience: int | None = _option(
        None, "stop after this many epochs without a better validation accuracy (perplexity for "
        "language models)", low=1,
        flag="early-stopping",
    )  # fmt: skip
    limit_train: int | None = _option(
        None,
        "train on N of the training examples (a seeded sample, each class with its share)",
        low=1,
        label="limit train",
    )
    limit_test: int | None = _option(
        None, "evaluate on only the first N test examples", low=1, label="limit test"
    )
    validation_fraction: float | None = _option(
        None, "share of the training examples held out (stratified by class, seeded) to "
        "validate each epoch on, when the task has no validation split of its own (default: "
        "VALIDATION_FRACTION of reskeras.training.recipes)", low=0, high=1, open_low=True,
        open_high=True,
    )  # fmt: skip
    augment: bool | None = _option(
        None, "image augmentation: random crops, and flips where the task allows them",
        kind="image",
    )  # fmt: skip
    weights: str | None = _option(
        None, "start from weights: 'imagenet' (keras.applications, ResNet-50/101/152 v1/v2), a "
        "keras-hub preset name or directory (resnet family), or a .weights.h5 file saved from "
        "a reskeras model; other classes get a fresh classifier", kind="image",
        label="pretrained weights",
    )  # fmt: skip
    freeze: str | None = _option(
        None, "keep the stem, stem and stages 1..N, or the whole backbone fixed (frozen batch "
        "norms stay in inference mode)", choices=FREEZES, kind="image", label="freeze",
    )  # fmt: skip
    head_epochs: int | None = _option(
        None, "train only the classifier for the first N epochs, then everything (but what "
        f"--freeze keeps) at {FINETUNE_LR_SCALE:g} x the learning rate", low=0, kind="image",
        label="head epochs",
    )  # fmt: skip
    input_size: int | None = _option(
        None, "resize images to this size inside the model (small images into pretrained "
        "weights); the model still takes the data's images", low=8, kind="image",
        label="input size",
    )  # fmt: skip
    min_steps: int | None = _option(
        None, "with the recipe's epochs: at least this many training steps in all", low=0
    )
    ema: float | None = _option(
        None, "keep an exponential moving average of the weights with this momentum", low=0,
        high=1, open_low=True, open_high=True,
    )  # fmt: skip
    model_kwargs: dict = _option(dict, "builder overrides, e.g. {'residual': False}", flag="")
    text_column: str | int | None = _option(
        None, "text column: a name or a 0-based index", kind="text"
    )
    label_column: str | int | None = _option(
        None, "label column: a name or a 0-based index", kind="text"
    )
    sequence_length: int | None = _option(
        None, "tokens per example (default: 1.5 x the 99th percentile of the training texts' "
        "token counts, within 8..256)", low=1, kind="text", label="sequence length",
    )  # fmt: skip
    vocabulary_size: int | None = _option(
        None, "vocabulary cap, padding and [UNK] included (default: the recipe's)", low=3,
        kind="text", label="vocabulary",
    )  # fmt: skip
    languages: str | None = _option(
        None, "a translation's direction, source-target language codes, e.g. de-en (default: "
        "the task's, else what the file names leave)", kind="translation", label="languages",
    )  # fmt: skip
    embeddings: str | None = _option(
        None, "pretrained word vectors for the token embedding: a GloVe / word2vec / fastText "
        "text file (gzip allowed); their width sets the embedding width", kind="text",
        label="word vectors",
    )  # fmt: skip
    trainable_embeddings: bool = _option(
        True, "fine-tune the word vectors with the model (no: keep them frozen)", kind="text",
        label="train word vectors",
    )  # fmt: skip

    def __post_init__(self):
        hints = _hints()
        for f in dataclasses.fields(self):
            _check(f.name, getattr(self, f.name), f.metadata["option"], hints[f.name])

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from keyword options; an unknown name is a TypeError, as in a call.

        Args:
            values: option names to values; a ``model_kwargs`` of ``None`` means the default.

        Returns:
            The validated config.

        Raises:
            TypeError: if a name is not a training option.
            ValueError: if a value has the wrong type or is out of bounds.
        """
        unknown = sorted(set(values) - set(options()))
        if unknown:
            raise TypeError(f"train() got unexpected arguments {unknown}")
        values = {k: v for k, v in values.items() if not (k == "model_kwargs" and v is None)}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (a run's ``config.json["train"]``)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some options changed (validated).

        Args:
            **changes: option names to their new values.

        Returns:
            The new config; this one is left unchanged.
        """
        return dataclasses.replace(self, **changes)


def options() -> dict[str, Option]:
    """Every training option by name, in declaration order."""
    return {f.name: f.metadata["option"] for f in dataclasses.fields(TrainConfig)}


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _types(hint: Any) -> tuple[type, ...]:
    """The non-None types of an annotation (``int | None`` -> ``(int,)``)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(t for t in typing.get_args(hint) if t is not type(None))
    return (hint,)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_TYPE_NAMES[dict] = "a dict"


def _check(name: str, value: Any, option: Option, hint: Any) -> None:
    if value is None and type(None) in typing.get_args(hint):
        return
    allowed = _types(hint)
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok and float in allowed and isinstance(value, int) and not isinstance(value, bool):
        ok = True  # an int is a fine float
    if not ok:
        names = " or ".join(_TYPE_NAMES[t] for t in allowed)
        raise ValueError(f"`{name}` must be {names}, got {value!r}.")
    if option.choices:
        check_choice(name.replace("_", " "), value, option.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    lo, hi = option.low, option.high
    low_ok = lo is None or (value > lo if option.open_low else value >= lo)
    high_ok = hi is None or (value < hi if option.open_high else value <= hi)
    if not (low_ok and high_ok):
        if hi is None:
            bound = f"{'>' if option.open_low else '>='} {lo}"
        else:
            bound = (
                f"in {'(' if option.open_low else '['}{lo}, {hi}{')' if option.open_high else ']'}"
            )
        what = "an integer" if int in allowed and float not in allowed else "a number"
        raise ValueError(f"`{name}` must be {what} {bound}, got {value!r}.")


# -- the command line -------------------------------------------------------------------------


def _column(value: str) -> str | int:
    return int(value) if value.strip().isdigit() else value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per training option (default: unset, so the recipe decides).

    Args:
        parser: the parser the flags are added to (options with ``flag=""`` get none).
    """
    hints = _hints()
    for name, option in options().items():
        if option.flag == "":
            continue
        flag = "--" + (option.flag or name).replace("_", "-")
        allowed = _types(hints[name])
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": option.help}
        if bool in allowed:  # --flag / --no-flag; neither: the default (e.g. "auto")
            kwargs["action"] = argparse.BooleanOptionalAction
        elif allowed == (str, int):
            kwargs.update(type=_column, metavar="COLUMN")
        else:  # values are checked by TrainConfig, whose errors are one line
            kwargs["type"] = allowed[0]
            if option.choices:
                kwargs["metavar"] = "{" + ",".join(option.choices) + "}"
        parser.add_argument(flag, **kwargs)


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The training options given on the command line (unset ones left out).

    Args:
        args: the parsed arguments of a parser set up by :func:`add_arguments`.

    Returns:
        Option names to the values given, for :meth:`TrainConfig.from_dict`.
    """
    return {
        name: getattr(args, name) for name in options() if getattr(args, name, None) is not None
    }
