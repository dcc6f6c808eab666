"""The model registry: families (a builder, its input kind and depth rule) and named models.

A *family* is a builder plus the :class:`~reskeras.models.depths.DepthRule` it checks depths with; a
*named model* is a family, a depth and preset keyword arguments (timm style: one line each).
``build_model`` accepts a named model (``"cifar_resnet56"``), a family with ``depth=``,
``<family><depth>`` (``"cifar_resnet8"``), or ``hub:<preset>`` (a keras-hub text classifier,
the ``keras_hub`` family: :mod:`reskeras.models.keras_hub`). The built-in families and models
are listed at the bottom of this module; a name registered twice is an error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

from reskeras.models import image as models
from reskeras.models import keras_hub as hub
from reskeras.models import language, translation
from reskeras.models import text as text_models
from reskeras.models.depths import DepthRule, PresetDepth
from reskeras.models.handoff import build_with_weights

__all__ = [
    "FAMILIES",
    "MODELS",
    "Family",
    "ModelEntry",
    "build_model",
    "check_kind",
    "list_families",
    "list_models",
    "register_family",
    "register_model",
    "resolve_model",
]

KINDS = ("image", "text", "language_model", "translation")


@dataclass(frozen=True)
class Family:
    """A model family: its builder, kind of task (image/text/language_model) and the depths
    it accepts.

    Args:
        name: the family's name (``build_model(name, depth=...)``).
        builder: ``builder(depth, num_classes=..., **kwargs)`` -> the model.
        kind: the task the models are for: one of :data:`KINDS`.
        rule: the depths the builder accepts.
        description: one line for ``reskeras list``.
    """

    name: str
    builder: Callable[..., keras.Model]
    kind: str
    rule: DepthRule
    description: str

    @property
    def depths(self) -> tuple[int, ...]:
        """The depths a UI offers (all valid)."""
        return tuple(self.rule.offered)

    @property
    def depth_rule(self) -> str:
        """The rule in words, e.g. ``"6n+2"``."""
        return self.rule.describe()


@dataclass(frozen=True)
class ModelEntry:
    """A named model: a family, a depth and preset keyword arguments.

    Args:
        name: the model's name (``build_model(name)``).
        family: the name of its family.
        depth: the depth it is built at.
        kwargs: keyword arguments for the family's builder (overridable in
            :func:`build_model`).
    """

    name: str
    family: str
    depth: int
    kwargs: dict = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}
MODELS: dict[str, ModelEntry] = {}


def register_family(family: Family) -> Family:
    """Adds a family; its name must be new.

    Args:
        family: the family to add.

    Returns:
        ``family``.

    Raises:
        ValueError: its kind is not one of ``KINDS``, or its name is taken by a family or a
            model.
    """
    if family.kind not in KINDS:
        raise ValueError(
            f"Invalid kind {family.kind!r} for {family.name}; expected one of {KINDS}."
        )
    if family.name in FAMILIES or family.name in MODELS:
        raise ValueError(f"A model family or model named {family.name!r} is already registered.")
    FAMILIES[family.name] = family
    return family


def register_model(name: str, family: str, depth: int, **kwargs: Any) -> ModelEntry:
    """Registers ``name`` as ``FAMILIES[family].builder(depth, **kwargs)``; the name must be
    new and the depth valid for the family.

    Args:
        name: the new model's name.
        family: a registered family's name.
        depth: a depth the family's rule accepts.
        **kwargs: keyword arguments for the family's builder.

    Returns:
        The registered entry.

    Raises:
        ValueError: the family is unknown, the name is taken or the depth is invalid.
    """
    if family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; expected one of {sorted(FAMILIES)}.")
    if name in MODELS or name in FAMILIES:
        raise ValueError(f"A model family or model named {name!r} is already registered.")
    FAMILIES[family].rule.check(family, depth)
    entry = ModelEntry(name, family, depth, dict(kwargs))
    MODELS[name] = entry
    return entry


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those of one kind, sorted.

    Args:
        kind: ``"image"``, ``"text"`` or ``None`` (all).
    """
    return sorted(n for n, e in MODELS.items() if kind in (None, FAMILIES[e.family].kind))


def list_families(kind: str | None = None) -> list[str]:
    """Names of the registered families, optionally only those of one kind, sorted.

    Args:
        kind: ``"image"``, ``"text"`` or ``None`` (all).
    """
    return sorted(n for n, f in FAMILIES.items() if kind in (None, f.kind))


def resolve_model(name: str, depth: int | None = None) -> tuple[Family, int, dict]:
    """Maps a model name, a family name plus ``depth``, ``<family><depth>`` (e.g.
    ``"cifar_resnet8"``) or ``hub:<preset>`` to (family, depth, preset kwargs).

    Args:
        name: a registered model, a family, ``<family><depth>`` or ``hub:<preset>``.
        depth: the depth for a family name; for a named model it replaces the model's own.

    Returns:
        ``(family, depth, kwargs)``: the family, the depth (not yet checked for a named
            model or a family) and the named model's builder keyword arguments (``{"preset":
            ...}`` for ``hub:``).

    Raises:
        ValueError: the name is empty or unknown, or a family is given without a depth.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A model name must be a non-empty string, got {name!r}.")
    if name.startswith(hub.HUB_PREFIX):
        family = FAMILIES[hub.HUB_FAMILY]
        preset = name[len(hub.HUB_PREFIX) :]
        if not preset:
            raise ValueError(
                "`hub:` needs a keras-hub preset name or directory, e.g. "
                "'hub:bert_tiny_en_uncased'."
            )
        return family, family.rule.check(name, depth), {"preset": preset}
    if name in MODELS:
        entry = MODELS[name]
        return FAMILIES[entry.family], entry.depth if depth is None else depth, dict(entry.kwargs)
    prefix = name.rstrip("0123456789")
    if prefix != name and prefix in FAMILIES and depth is None:
        return FAMILIES[prefix], int(name[len(prefix) :]), {}  # "cifar_resnet8" = family + depth
    if name in FAMILIES:
        family = FAMILIES[name]
        if depth is None:
            raise ValueError(
                f"Model family {name!r} needs a depth; valid depths: {family.depth_rule}, "
                f"e.g. {list(family.depths)}."
            )
        return family, depth, {}
    raise ValueError(
        f"Unknown model {name!r}; expected a model ({', '.join(list_models())}) "
        f"or a family with a depth ({', '.join(sorted(FAMILIES))}), or hub:<keras-hub preset>."
    )


def check_kind(model_kind: str, task: str, task_kind: str, what: str = "The model") -> None:
    """A one-line ValueError unless a model for ``model_kind`` data fits the task's kind.

    Args:
        model_kind: the kind of input the model takes (``"image"`` or ``"text"``).
        task: the task's name, for the message.
        task_kind: the kind of data the task has.
        what: how the message names the model.

    Raises:
        ValueError: the kinds differ; the message lists the families for the task's kind.
    """
    if model_kind != task_kind:
        families = ", ".join(list_families(task_kind)) or "none registered"
        raise ValueError(
            f"{what} takes {model_kind} inputs but task {task!r} is {task_kind}; choose a "
            f"{task_kind} family (not one for {model_kind} data): {families}."
        )


def build_model(
    name: str,
    *,
    num_classes: int,
    input_shape: tuple | None = None,
    depth: int | None = None,
    weights: str | None = None,
    **overrides: Any,
) -> keras.Model:
    """Builds a registered model (``"cifar_resnet56"``) or a family at a depth
    (``"cifar_resnet", depth=56``).

    Args:
        name: a registered model, a family (with ``depth``), ``<family><depth>`` or
            ``hub:<preset>`` (see :func:`resolve_model`).
        num_classes: outputs of the classifier.
        input_shape: the input shape, passed to the builder when given.
        depth: the depth for a family name (for a named model it replaces the model's).
        weights: ``None``, a ``.weights.h5`` file saved from a reskeras model (any family;
            with another ``num_classes`` the classifier starts fresh), or for the ``resnet``
            family also ``"imagenet"`` and keras-hub presets (see :func:`reskeras.resnet`).
        **overrides: keyword arguments for the family's builder; they override a named
            model's.

    Returns:
        The uncompiled model.

    Raises:
        ValueError: the name, depth or an option is invalid.
        WeightsError: the weights cannot be found or loaded.
    """
    family, depth, kwargs = resolve_model(name, depth)
    kwargs.update(overrides)
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    if name in MODELS and depth == MODELS[name].depth:
        kwargs.setdefault("name", name)
    if weights is None:
        return family.builder(depth, num_classes=num_classes, **kwargs)
    if "weights" in inspect.signature(family.builder).parameters:  # resnet hands them off itself
        return family.builder(depth, num_classes=num_classes, weights=weights, **kwargs)

    def build(layout: dict, pretrained: bool = False) -> keras.Model:
        return family.builder(depth, num_classes=num_classes, **kwargs)

    return build_with_weights(weights, family=family.name, depth=depth, layout=None, build=build)


# -- the built-in families and named models -----------------------------------------------

for _family in (
    Family(
        "resnet",
        models.resnet,
        "image",
        models.RESNET_DEPTHS,
        "ImageNet ResNet (He et al. 2015); version v1.5 / v1 / v2",
    ),
    Family(
        "cifar_resnet",
        models.cifar_resnet,
        "image",
        models.CIFAR_DEPTHS,
        "CIFAR ResNet with 16/32/64 filters (He et al. 2015, sec. 4.2)",
    ),
    Family(
        "wide_resnet",
        models.wide_resnet,
        "image",
        models.WRN_DEPTHS,
        "Wide ResNet WRN-d-k, pre-activation (Zagoruyko & Komodakis 2016)",
    ),
    Family(
        "text_resnet",
        text_models.text_resnet,
        "text",
        text_models.VDCNN_DEPTHS,
        "VDCNN-style residual 1-D CNN over token ids (Conneau et al. 2017)",
    ),
    Family(
        "residual_lstm",
        text_models.residual_lstm,
        "text",
        text_models.STACK_DEPTHS,
        "Residual (GNMT-style) stacked LSTM/GRU, optionally bidirectional",
    ),
    Family(
        "transformer",
        text_models.transformer_classifier,
        "text",
        text_models.STACK_DEPTHS,
        "Transformer encoder classifier, pre-LN",
    ),
    Family(
        "lm_lstm",
        language.lm_lstm,
        "language_model",
        language.LM_DEPTHS,
        "Residual LSTM language model, tied embeddings (Zaremba et al. 2014; GNMT residuals)",
    ),
    Family(
        "lm_transformer",
        language.lm_transformer,
        "language_model",
        language.LM_DEPTHS,
        "Decoder-only transformer language model, pre-LN, tied output (GPT style)",
    ),
    Family(
        "transformer_seq2seq",
        translation.transformer_seq2seq,
        "translation",
        translation.SEQ2SEQ_DEPTHS,
        "Transformer encoder-decoder, pre-LN, shared and tied embeddings (Vaswani et al. 2017)",
    ),
    Family(
        "gnmt",
        translation.gnmt,
        "translation",
        translation.GNMT_DEPTHS,
        "GNMT residual LSTMs: bidirectional bottom encoder layer, attention feeding the decoder",
    ),
    Family(
        hub.HUB_FAMILY,
        hub.hub_classifier,
        "text",
        PresetDepth(),
        "keras-hub TextClassifier from a preset (BERT, RoBERTa, DeBERTa ...): --model hub:PRESET",
    ),
):
    register_family(_family)

for _d in models.IMAGENET_SPECS:
    register_model(f"resnet{_d}", "resnet", _d)
    register_model(f"plain{_d}", "resnet", _d, residual=False)
for _d in (50, 101, 152):
    register_model(f"resnet{_d}v2", "resnet", _d, version="v2")
register_model("resnet50_avgdown", "resnet", 50, avg_down=True, zero_init_last=True)
for _d in (20, 32, 44, 56, 110, 1202):
    register_model(f"cifar_resnet{_d}", "cifar_resnet", _d)
    register_model(f"plain{_d}", "cifar_resnet", _d, residual=False)
# The default image recipe's model (reskeras.training.recipes): twice the filters behind a
# stride-2 stem, projection shortcuts; faster than ResNet-20 on a CPU (bench/fashion_mnist.py).
register_model("cifar_resnet14_fast", "cifar_resnet", 14, width=2, shortcut="B", stem_strides=2)
for _d, _k in ((16, 4), (16, 8), (28, 10), (40, 4)):
    register_model(f"wrn_{_d}_{_k}", "wide_resnet", _d, width=_k)

for _d in text_models.VDCNN_SPECS:
    register_model(f"text_resnet{_d}", "text_resnet", _d)
    register_model(f"plain_text{_d}", "text_resnet", _d, residual=False)
# A residual CNN for sentences (the text recipe's runner-up, bench/data_sizes.py): half-width
# stages at full length (no downsampling: sentences are short), max pooling over time,
# dropout on the embedding channels and before the classifier.
register_model(
    "text_resnet9_fast",
    "text_resnet",
    9,
    width=0.5,
    embedding_dim=128,
    downsample=None,
    pooling="max",
    embedding_dropout=0.25,
    dropout_rate=0.5,
)
for _d in (2, 4):
    register_model(f"residual_lstm{_d}", "residual_lstm", _d)
    register_model(f"bilstm{_d}", "residual_lstm", _d, bidirectional=True)
    register_model(f"residual_gru{_d}", "residual_lstm", _d, cell="gru")
    register_model(f"plain_lstm{_d}", "residual_lstm", _d, residual=False)
for _d in (2, 4, 6):
    register_model(f"transformer{_d}", "transformer", _d)
    register_model(f"plain_transformer{_d}", "transformer", _d, residual=False)
for _d in (2, 4, 8):
    register_model(f"plain_lm_lstm{_d}", "lm_lstm", _d, residual=False)
    register_model(f"plain_lm_transformer{_d}", "lm_transformer", _d, residual=False)
    register_model(f"plain_gnmt{_d}", "gnmt", _d, residual=False)
for _d in translation.SEQ2SEQ_DEPTHS.offered:
    register_model(f"plain_transformer_seq2seq{_d}", "transformer_seq2seq", _d, residual=False)
