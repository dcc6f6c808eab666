"""Image model builders driven by spec tables, and the model registry.

A builder turns a depth into a list of :class:`Stage` s (TF Model Garden style) and hands
it to one assembly loop; named models (timm style) are one registry line each. Inputs are
raw pixels (0..255, float or uint8): the first layer, ``preprocess``, normalizes them, so
training, evaluation and serving all feed the same thing. Outputs are float32 logits,
also under mixed precision. Layer names follow keras.applications: ``stage2_block1``
holds ``conv1``, ``bn1`` ...; the stem is ``stem_conv``/``stem_bn``, the head
``avg_pool``/``predictions``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
from keras import layers

from reskeras.blocks import (
    BasicBlock,
    BottleneckBlock,
    ResidualBlock,
    _check_choice,
    _check_positive_int,
)

BLOCKS: dict[str, type[ResidualBlock]] = {"basic": BasicBlock, "bottleneck": BottleneckBlock}


@dataclass(frozen=True)
class Stage:
    """One stage of a residual network: ``repeats`` blocks, the first with ``strides``."""

    block: str
    filters: int
    repeats: int
    strides: int


# depth -> (block, repeats per stage); filters are 64/128/256/512 (He et al. 2015, table 1).
IMAGENET_SPECS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_FILTERS = (64, 128, 256, 512)
VERSIONS = ("v1", "v1.5", "v2")
CIFAR_SHORTCUTS = {"A": "zero_pad", "B": "auto"}
POOLINGS = (None, "avg", "max")


def _stages(block: str, filters: Sequence[int], repeats: Sequence[int], first_stride: int):
    return [
        Stage(block, f, r, first_stride if i == 0 else 2)
        for i, (f, r) in enumerate(zip(filters, repeats, strict=True))
    ]


def _input_scaling(input_shape, input_mean, input_std) -> layers.Rescaling:
    """``(x / 255 - mean) / std`` as one Rescaling layer: ``x * scale + offset``."""
    channels = input_shape[-1]

    def per_channel(value, what):
        values = [float(value)] * channels if isinstance(value, int | float) else list(value)
        if len(values) != channels:
            raise ValueError(
                f"`{what}` has {len(values)} values but the input has {channels} channels."
            )
        return values

    mean = per_channel(input_mean, "input_mean")
    std = per_channel(input_std, "input_std")
    if min(std) <= 0:
        raise ValueError(f"`input_std` must be positive, got {std}.")
    scale = [1.0 / (255.0 * s) for s in std]
    offset = [-m / s for m, s in zip(mean, std, strict=True)]
    return layers.Rescaling(scale, offset, name="preprocess")


def assemble(
    stages: Sequence[Stage],
    *,
    stem: str,
    name: str,
    num_classes: int | None,
    input_shape: tuple[int, int, int],
    preact: bool = False,
    include_top: bool = True,
    pooling: str | None = None,
    drop_path_rate: float = 0.0,
    dropout_rate: float = 0.0,
    input_mean: float | Sequence[float] = 0.5,
    input_std: float | Sequence[float] = 0.5,
    stem_filters: int | None = None,
    stem_strides: int = 1,
    **block_kwargs,
) -> keras.Model:
    """Builds a residual network from a stage list; every image builder ends here.

    ``stem`` is ``"imagenet"`` (7x7/2 conv, 3x3/2 max-pool) or ``"cifar"`` (3x3 conv with
    ``stem_strides``, 1 or 2) with ``stem_filters`` filters (default: 64 for imagenet, the
    first stage's for cifar). A strided cifar stem halves every feature map: on a CPU, where
    the early full-resolution layers dominate the cost, that roughly doubles training speed.
    ``drop_path_rate`` grows linearly from 0 at the first block to the rate at the last.
    ``dropout_rate`` is dropout before the classifier.
    """
    _check_choice("pooling", pooling, POOLINGS)
    _check_choice("stem", stem, ("imagenet", "cifar"))
    if include_top and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}.")
    if stem_strides not in (1, 2) or (stem == "imagenet" and stem_strides != 1):
        raise ValueError(
            f"`stem_strides` must be 1 or 2 (and 1 for the imagenet stem), got {stem_strides!r}."
        )
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"`drop_path_rate` must be in [0, 1), got {drop_path_rate!r}.")

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _input_scaling(input_shape, input_mean, input_std)(inputs)
    if stem == "imagenet":
        x = layers.Conv2D(
            stem_filters or 64, 7, strides=2, padding="same", use_bias=False, name="stem_conv"
        )(x)
    else:
        x = layers.Conv2D(
            stem_filters or stages[0].filters,
            3,
            strides=stem_strides,
            padding="same",
            use_bias=False,
            name="stem_conv",
        )(x)
    # Pre-activation nets normalize inside the first block instead.
    if not preact:
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn")(x)
        x = layers.Activation("relu", name="stem_relu")(x)
    if stem == "imagenet":
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)

    total = sum(stage.repeats for stage in stages)
    index = 0
    for s, stage in enumerate(stages, start=1):
        block = BLOCKS[stage.block]
        for b in range(stage.repeats):
            x = block(
                stage.filters,
                strides=stage.strides if b == 0 else 1,
                preact=preact,
                drop_path=drop_path_rate * index / max(total - 1, 1),
                name=f"stage{s}_block{b + 1}",
                **block_kwargs,
            )(x)
            index += 1
    if preact:
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        # float32 logits even under a mixed-precision policy.
        x = layers.Dense(num_classes, dtype="float32", name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name)


def resnet(
    depth: int,
    version: str = "v1.5",
    num_classes: int | None = 1000,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    include_top: bool = True,
    pooling: str | None = None,
    *,
    residual: bool = True,
    avg_down: bool = False,
    input_mean: float | Sequence[float] = (0.485, 0.456, 0.406),
    input_std: float | Sequence[float] = (0.229, 0.224, 0.225),
    name: str | None = None,
    **kwargs,
) -> keras.Model:
    """ImageNet ResNet-18/34/50/101/152 (He et al. 2015).

    ``version``: ``"v1.5"`` (stride on the 3x3, torchvision), ``"v1"`` (stride on the first
    1x1), ``"v2"`` (pre-activation). ``avg_down=True`` uses ResNet-D shortcuts. Extra
    keyword arguments (``zero_init_last``, ``drop_path_rate``, ``se_ratio`` ...) go to
    :func:`assemble` and the blocks. ``residual=False`` builds the plain twin.
    """
    _check_choice("resnet depth", depth, IMAGENET_SPECS)
    _check_choice("version", version, VERSIONS)
    block, repeats = IMAGENET_SPECS[depth]
    if block == "bottleneck":
        kwargs["stride_in_1x1"] = version == "v1"
    if avg_down:
        kwargs["shortcut"] = "avg_down"
    default = f"{'plain' if not residual else 'resnet'}{depth}{'v2' if version == 'v2' else ''}"
    return assemble(
        _stages(block, IMAGENET_FILTERS, repeats, first_stride=1),
        stem="imagenet",
        name=name or default,
        num_classes=num_classes,
        input_shape=input_shape,
        include_top=include_top,
        pooling=pooling,
        preact=version == "v2",
        residual=residual,
        input_mean=input_mean,
        input_std=input_std,
        **kwargs,
    )


def _blocks_per_stage(depth, family: str, fixed: int, per_block: int, example: str) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < fixed + per_block:
        valid = False
    else:
        valid = (depth - fixed) % per_block == 0
    if not valid:
        first = [fixed + per_block * n for n in range(1, 6)]
        raise ValueError(
            f"Invalid depth {depth!r} for {family}: depth must be {per_block}n+{fixed} "
            f"(n >= 1), e.g. {first} ... {example}."
        )
    return (depth - fixed) // per_block


def cifar_resnet(
    depth: int,
    shortcut: str = "A",
    num_classes: int | None = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    include_top: bool = True,
    pooling: str | None = None,
    *,
    width: int = 1,
    residual: bool = True,
    name: str | None = None,
    **kwargs,
) -> keras.Model:
    """CIFAR ResNet-(6n+2) of He et al. 2015, section 4.2: 16/32/64 filters, 3x3 stem.

    ``shortcut="A"`` zero-pads channels (no parameters), ``"B"`` projects when the shape
    changes. ``width`` multiplies the filters (2 -> 32/64/128). ``residual=False`` builds
    the plain net of the degradation experiment.
    """
    n = _blocks_per_stage(depth, "cifar_resnet", 2, 6, "110, 1202")
    _check_choice("shortcut (He et al. option)", shortcut, CIFAR_SHORTCUTS)
    _check_positive_int("width", width)
    default = f"{'cifar_resnet' if residual else 'plain'}{depth}"
    return assemble(
        _stages("basic", (16 * width, 32 * width, 64 * width), (n, n, n), first_stride=1),
        stem="cifar",
        name=name or default,
        num_classes=num_classes,
        input_shape=input_shape,
        include_top=include_top,
        pooling=pooling,
        shortcut=CIFAR_SHORTCUTS[shortcut],
        residual=residual,
        **kwargs,
    )


def wide_resnet(
    depth: int,
    width: int = 10,
    num_classes: int | None = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    include_top: bool = True,
    pooling: str | None = None,
    *,
    dropout: float = 0.0,
    residual: bool = True,
    name: str | None = None,
    **kwargs,
) -> keras.Model:
    """WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation basic blocks, 16k/32k/64k
    filters, ``dropout`` between the two convolutions of each block."""
    n = _blocks_per_stage(depth, "wide_resnet", 4, 6, "16, 22, 28, 40")
    _check_positive_int("width", width)
    default = f"{'wrn' if residual else 'plain_wrn'}_{depth}_{width}"
    return assemble(
        _stages("basic", (16 * width, 32 * width, 64 * width), (n, n, n), first_stride=1),
        stem="cifar",
        name=name or default,
        num_classes=num_classes,
        input_shape=input_shape,
        include_top=include_top,
        pooling=pooling,
        preact=True,
        stem_filters=16,
        dropout=dropout,
        residual=residual,
        **kwargs,
    )


# -- registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A model family: its builder, kind of input, and the depths it accepts."""

    name: str
    builder: Callable[..., keras.Model]
    kind: str  # "image" or "text"
    depths: tuple[int, ...]  # the depths a UI offers (all valid)
    depth_rule: str  # human-readable rule, e.g. "6n+2"
    description: str


@dataclass(frozen=True)
class ModelEntry:
    """A named model: a family, a depth and preset keyword arguments."""

    name: str
    family: str
    depth: int
    kwargs: dict = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}
MODELS: dict[str, ModelEntry] = {}


def register_family(family: Family) -> Family:
    """Adds a family to the registry (text models register theirs from their module)."""
    FAMILIES[family.name] = family
    return family


def register_model(name: str, family: str, depth: int, **kwargs) -> ModelEntry:
    """Registers ``name`` as ``FAMILIES[family].builder(depth, **kwargs)``."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; expected one of {sorted(FAMILIES)}.")
    entry = ModelEntry(name, family, depth, dict(kwargs))
    MODELS[name] = entry
    return entry


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those of one kind (image/text)."""
    return sorted(n for n, e in MODELS.items() if kind in (None, FAMILIES[e.family].kind))


def list_families(kind: str | None = None) -> list[str]:
    """Names of the registered families, optionally only those of one kind."""
    return sorted(n for n, f in FAMILIES.items() if kind in (None, f.kind))


def resolve_model(name: str, depth: int | None = None) -> tuple[Family, int, dict]:
    """Maps a model name, a family name plus ``depth``, or ``<family><depth>`` (e.g.
    ``"cifar_resnet8"``) to (family, depth, preset kwargs)."""
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
        f"or a family with a depth ({', '.join(sorted(FAMILIES))})."
    )


def build_model(
    name: str,
    *,
    num_classes: int,
    input_shape: tuple | None = None,
    depth: int | None = None,
    **overrides,
) -> keras.Model:
    """Builds a registered model (``"cifar_resnet56"``) or a family at a depth
    (``"cifar_resnet", depth=56``). ``overrides`` go to the family's builder."""
    family, depth, kwargs = resolve_model(name, depth)
    kwargs.update(overrides)
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    if name in MODELS and depth == MODELS[name].depth:
        kwargs.setdefault("name", name)
    return family.builder(depth, num_classes=num_classes, **kwargs)


def describe_model(model: keras.Model) -> dict:
    """Parameter counts, FLOPs per example, weighted depth and a per-stage summary."""
    stages: dict[str, dict] = {}
    flops = 0
    depth = 0
    for layer in model.layers:
        if isinstance(layer, ResidualBlock):
            stage = stages.setdefault(
                layer.name.split("_block")[0],
                {"blocks": 0, "params": 0, "flops": 0, "output_shape": None},
            )
            stage["blocks"] += 1
            stage["params"] += layer.count_params()
            stage["flops"] += layer.flops()
            stage["output_shape"] = tuple(layer.output.shape[1:])
            flops += layer.flops()
            depth += len(layer.convs)
        elif isinstance(layer, layers.Conv1D | layers.Conv2D):
            flops += 2 * math.prod(layer.kernel.shape) * math.prod(layer.output.shape[1:-1])
            depth += 1
        elif isinstance(layer, layers.Dense):
            flops += 2 * math.prod(layer.kernel.shape)
            depth += 1
        elif hasattr(layer, "flops"):
            flops += layer.flops()
            depth += getattr(layer, "depth", 0)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "name": model.name,
        "params": model.count_params(),
        "trainable_params": trainable,
        "flops": flops,
        "depth": depth,
        "stages": [{"name": k, **v} for k, v in stages.items()],
    }


_CIFAR_DEPTHS = tuple(6 * n + 2 for n in range(1, 19))  # 8 ... 110
register_family(
    Family(
        "resnet",
        resnet,
        "image",
        tuple(IMAGENET_SPECS),
        "one of 18, 34, 50, 101, 152",
        "ImageNet ResNet (He et al. 2015); version v1.5 / v1 / v2",
    )
)
register_family(
    Family(
        "cifar_resnet",
        cifar_resnet,
        "image",
        _CIFAR_DEPTHS,
        "6n+2",
        "CIFAR ResNet with 16/32/64 filters (He et al. 2015, sec. 4.2)",
    )
)
register_family(
    Family(
        "wide_resnet",
        wide_resnet,
        "image",
        tuple(6 * n + 4 for n in range(1, 7)),
        "6n+4",
        "Wide ResNet WRN-d-k, pre-activation (Zagoruyko & Komodakis 2016)",
    )
)
for _d in IMAGENET_SPECS:
    register_model(f"resnet{_d}", "resnet", _d)
    register_model(f"plain{_d}", "resnet", _d, residual=False)
for _d in (50, 101, 152):
    register_model(f"resnet{_d}v2", "resnet", _d, version="v2")
register_model("resnet50_avgdown", "resnet", 50, avg_down=True, zero_init_last=True)
for _d in (20, 32, 44, 56, 110, 1202):
    register_model(f"cifar_resnet{_d}", "cifar_resnet", _d)
    register_model(f"plain{_d}", "cifar_resnet", _d, residual=False)
# The Fashion-MNIST benchmark recipe: twice the filters, a stride-2 stem, 2 blocks per stage.
register_model("cifar_resnet14_fast", "cifar_resnet", 14, width=2, shortcut="B", stem_strides=2)
for _d, _k in ((16, 4), (16, 8), (28, 10), (40, 4)):
    register_model(f"wrn_{_d}_{_k}", "wide_resnet", _d, width=_k)
