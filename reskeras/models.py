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

from collections.abc import Sequence
from dataclasses import dataclass

import keras
from keras import layers

from reskeras.blocks import (
    BasicBlock,
    BottleneckBlock,
    ResidualBlock,
)
from reskeras.checks import check_choice, check_positive_int
from reskeras.depths import DepthChoices, DepthSteps
from reskeras.norm import make_batch_norm

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
RESNET_DEPTHS = DepthChoices(tuple(IMAGENET_SPECS))
CIFAR_DEPTHS = DepthSteps(6, 2, tuple(6 * n + 2 for n in range(1, 19)), "110, 1202")
WRN_DEPTHS = DepthSteps(6, 4, tuple(6 * n + 4 for n in range(1, 7)), "16, 22, 28, 40")
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
    check_choice("pooling", pooling, POOLINGS)
    check_choice("stem", stem, ("imagenet", "cifar"))
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
        x = make_batch_norm("stem_bn")(x)
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
        x = make_batch_norm("post_bn")(x)
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
    RESNET_DEPTHS.check("resnet", depth)
    check_choice("version", version, VERSIONS)
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
    n = CIFAR_DEPTHS.blocks_per_stage("cifar_resnet", depth)
    check_choice("shortcut (He et al. option)", shortcut, CIFAR_SHORTCUTS)
    check_positive_int("width", width)
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
    n = WRN_DEPTHS.blocks_per_stage("wide_resnet", depth)
    check_positive_int("width", width)
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
