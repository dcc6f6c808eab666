"""Image model builders: spec tables and one assembly loop.

A builder turns a depth into a list of :class:`Stage` s (TF Model Garden style) and hands
it to one assembly loop (:func:`assemble`); named models (timm style) are one line each in
:mod:`reskeras.models.registry`. Inputs are
raw pixels (0..255, float or uint8): the first layer, ``preprocess``, normalizes them, so
training, evaluation and serving all feed the same thing. Outputs are float32 logits,
also under mixed precision. Layer names follow keras.applications: ``stage2_block1``
holds ``conv1``, ``bn1`` ...; the stem is ``stem_conv``/``stem_bn``, the head
``avg_pool``/``predictions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from reskeras.checks import check_choice, check_positive_int
from reskeras.layers.blocks import (
    PADDINGS,
    BasicBlock,
    BottleneckBlock,
    ResidualBlock,
    SymmetricMaxPooling2D,
)
from reskeras.layers.norm import make_batch_norm
from reskeras.models.depths import DepthChoices, DepthSteps
from reskeras.models.handoff import build_with_weights

BLOCKS: dict[str, type[ResidualBlock]] = {"basic": BasicBlock, "bottleneck": BottleneckBlock}


@dataclass(frozen=True)
class Stage:
    """One stage of a residual network: ``repeats`` blocks, the first with ``strides``.

    Args:
        block: the block type, a key of ``BLOCKS`` (``"basic"`` or ``"bottleneck"``).
        filters: the blocks' ``filters`` (a bottleneck stage outputs 4x as many channels).
        repeats: number of blocks in the stage.
        strides: stride of the strided block (1 or 2); the others have stride 1.
        stride_last: stride the last block instead of the first, with a parameter-free
            subsampling shortcut (keras.applications' ResNetV2, after TF-slim).
        first_shortcut: the first block's shortcut kind (``None``: the blocks' own,
            ``"auto"`` unless given).
    """

    block: str
    filters: int
    repeats: int
    strides: int
    stride_last: bool = False
    first_shortcut: str | None = None


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
STEMS = ("imagenet", "deep", "slim", "cifar")
DOWNSAMPLES = ("first", "last")
# The ImageNet mean and standard deviation of RGB pixels scaled to [0, 1] (torchvision, timm,
# keras-hub): the default preprocessing of ``resnet``.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_SHORTCUTS = {"A": "zero_pad", "B": "auto"}
POOLINGS = (None, "avg", "max")


def _stages(
    block: str,
    filters: Sequence[int],
    repeats: Sequence[int],
    first_stride: int,
    *,
    downsample: str = "first",
    first_shortcut: str | None = None,
) -> list[Stage]:
    """Stages with 2x downsampling from the second on: in their first block, or with
    ``downsample="last"`` in the last block of the stage before (the first stride then
    applies to the first stage's first block)."""
    check_choice("downsample", downsample, DOWNSAMPLES)
    strides = [first_stride] + [2] * (len(filters) - 1)
    if downsample == "last":
        strides = strides[1:] + [1]
    stages = [
        Stage(block, f, r, s, stride_last=downsample == "last", first_shortcut=first_shortcut)
        for f, r, s in zip(filters, repeats, strides, strict=True)
    ]
    if downsample == "last" and first_stride != 1:
        raise ValueError(
            f"downsample='last' needs a first stride of 1 (the first stage keeps the stem's "
            f"resolution), got {first_stride}."
        )
    return stages


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


def _conv(x, filters, kernel_size, strides, name, padding, use_bias=False):
    """A stem convolution; ``padding="symmetric"`` pads a strided one on every side first."""
    conv_padding = "same"
    if padding == "symmetric" and strides > 1:
        x = layers.ZeroPadding2D((kernel_size - 1) // 2, name=f"{name}_pad")(x)
        conv_padding = "valid"
    return layers.Conv2D(
        filters, kernel_size, strides, padding=conv_padding, use_bias=use_bias, name=name
    )(x)


def _stem(x, stem, filters, strides, padding, preact):
    """The stem: convolutions (batch-normalized and rectified between them, and after the last
    unless ``preact``), then for the ImageNet stems a 3x3/2 max-pool."""
    if stem == "deep":  # ResNet-C (He et al. 2019): three 3x3 convolutions
        specs = [(filters // 2, 3, 2), (filters // 2, 3, 1), (filters, 3, 1)]
        names = ["stem_conv1", "stem_conv2", "stem_conv3"]
    elif stem == "cifar":
        specs, names = [(filters, 3, strides)], ["stem_conv"]
    else:
        specs, names = [(filters, 7, 2)], ["stem_conv"]
    for i, (f, k, s) in enumerate(specs):
        x = _conv(x, f, k, s, names[i], padding, use_bias=stem == "slim")
        if i < len(specs) - 1 or not preact:  # pre-activation nets normalize in block 1
            suffix = names[i][len("stem_conv") :]
            x = make_batch_norm(f"stem_bn{suffix}")(x)
            x = layers.Activation("relu", name=f"stem_relu{suffix}")(x)
    if stem == "cifar":
        return x
    if padding == "symmetric":
        fill = "zero" if stem == "slim" else "min"
        return SymmetricMaxPooling2D(3, 2, fill=fill, name="stem_pool")(x)
    return layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)


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
    padding: str = "same",
    input_size: int | Sequence[int] | None = None,
    gray_to_rgb: bool = False,
    **block_kwargs: Any,
) -> keras.Model:
    """Builds a residual network from a stage list; every image builder ends here.

    Args:
        stages: the stages, in order (:class:`Stage`).
        stem: ``"imagenet"`` (7x7/2 conv, 3x3/2 max-pool), ``"deep"`` (three 3x3 convs, the
            first strided, then the max-pool: ResNet-C/D), ``"slim"`` (the imagenet stem
            with a biased conv and a zero-padded max-pool: keras.applications' ResNetV2) or
            ``"cifar"`` (one 3x3 conv with ``stem_strides``, no max-pool).
        name: the model's name.
        num_classes: outputs of the classifier; a positive integer when ``include_top``.
        input_shape: ``(height, width, channels)`` of the raw images.
        preact: pre-activation (v2) blocks, followed by a final batch norm and ReLU
            (``post_bn``, ``post_relu``).
        include_top: end in global average pooling, dropout (``dropout_rate``) and a float32
            ``Dense`` of logits (``predictions``).
        pooling: without the top: ``None`` (the last feature map), ``"avg"`` or ``"max"``
            (global pooling).
        drop_path_rate: stochastic depth, growing linearly from 0 at the first block to this
            rate, in ``[0, 1)``, at the last.
        dropout_rate: dropout before the classifier.
        input_mean: mean of the pixels scaled to ``[0, 1]``, one number or one per channel;
            the model computes ``(x / 255 - mean) / std`` in its ``preprocess`` layer.
        input_std: standard deviation of the scaled pixels (positive), one or per channel.
        stem_filters: filters of the stem (``None``: 64 for the ImageNet stems, the first
            stage's for cifar).
        stem_strides: stride of the cifar stem, 1 or 2 (1 for the other stems). A strided
            cifar stem halves every feature map: on a CPU, where the early full-resolution
            layers dominate the cost, that roughly doubles training speed.
        padding: how strided convolutions and the max-pool pad: ``"same"`` (Keras) or
            ``"symmetric"`` (PyTorch and the pretrained references).
        input_size: ``H`` or ``(H, W)`` (at least 8) to resize the raw images inside the
            model (a ``Resizing`` layer named ``resize``): small images for weights trained
            on large ones, while the model, and its export, still take ``input_shape``.
        gray_to_rgb: repeat a one-channel input three times (``to_rgb``) for RGB weights;
            ``input_mean``/``input_std`` are then per RGB channel.
        **block_kwargs: passed to every block (:class:`~reskeras.layers.blocks.BasicBlock`
            or :class:`~reskeras.layers.blocks.BottleneckBlock`: ``shortcut``,
            ``zero_init_last``, ``se_ratio``, ``dropout``, ``residual`` ...).

    Returns:
        The uncompiled model: raw pixels in (input ``images``), logits (or features) out.

    Raises:
        ValueError: an option is not one of its choices, out of range, or inconsistent
            with ``input_shape``.
    """
    check_choice("pooling", pooling, POOLINGS)
    check_choice("stem", stem, STEMS)
    check_choice("padding", padding, PADDINGS)
    if include_top and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}.")
    if stem_strides not in (1, 2) or (stem != "cifar" and stem_strides != 1):
        raise ValueError(
            f"`stem_strides` must be 1 or 2 (and 1 for the ImageNet stems), got {stem_strides!r}."
        )
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"`drop_path_rate` must be in [0, 1), got {drop_path_rate!r}.")

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    if input_size is not None:
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if len(size) != 2 or not all(isinstance(v, int) and v >= 8 for v in size):
            raise ValueError(f"`input_size` must be an integer >= 8 or (H, W), got {input_size!r}.")
        # training=False: Resizing's call defaults to training=True, which a plain model(x)
        # call would pass on to every later layer (batch norms would train).
        x = layers.Resizing(*size, interpolation="bilinear", name="resize")(x, training=False)
    channels = input_shape[-1]
    if gray_to_rgb:
        if channels != 1:
            raise ValueError(f"`gray_to_rgb` needs a 1-channel input, got {channels} channels.")
        x = layers.Concatenate(name="to_rgb")([x, x, x])
        channels = 3
    x = _input_scaling((*input_shape[:-1], channels), input_mean, input_std)(x)
    default_filters = stages[0].filters if stem == "cifar" else 64
    x = _stem(x, stem, stem_filters or default_filters, stem_strides, padding, preact)

    total = sum(stage.repeats for stage in stages)
    index = 0
    for s, stage in enumerate(stages, start=1):
        block = BLOCKS[stage.block]
        strided = stage.repeats - 1 if stage.stride_last else 0
        for b in range(stage.repeats):
            kwargs = dict(block_kwargs)
            if b == 0 and stage.first_shortcut:
                kwargs["shortcut"] = stage.first_shortcut
            elif b == strided and stage.stride_last:
                kwargs["shortcut"] = "subsample"
            x = block(
                stage.filters,
                strides=stage.strides if b == strided else 1,
                preact=preact,
                drop_path=drop_path_rate * index / max(total - 1, 1),
                padding=padding,
                name=f"stage{s}_block{b + 1}",
                **kwargs,
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
    version: str | None = None,
    num_classes: int | None = 1000,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    include_top: bool = True,
    pooling: str | None = None,
    *,
    residual: bool = True,
    avg_down: bool | None = None,
    stem: str | None = None,
    downsample: str | None = None,
    padding: str | None = None,
    input_mean: float | Sequence[float] | None = None,
    input_std: float | Sequence[float] | None = None,
    weights: str | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> keras.Model:
    """ImageNet ResNet-18/34/50/101/152 (He et al. 2015).

    Options left at ``None`` follow the weights (a preset's version, stem, shortcuts and
    preprocessing), or without weights the defaults below; given ones must agree with the
    weights.

    Args:
        depth: 18, 34, 50, 101 or 152.
        version: ``"v1.5"`` (stride on the 3x3, torchvision; the default), ``"v1"`` (stride
            on the first 1x1) or ``"v2"`` (pre-activation).
        num_classes: outputs of the classifier. With another number than the weights' the
            classifier starts fresh.
        input_shape: ``(height, width, channels)`` of the raw images; a one-channel input
            with pretrained weights is repeated into RGB.
        include_top: end in the classifier (see :func:`assemble`).
        pooling: without the top: ``None``, ``"avg"`` or ``"max"``.
        residual: ``False`` builds the plain twin.
        avg_down: ResNet-D shortcuts (a 2x2 average pool and a 1x1 conv in the first block
            of every stage); default ``False``.
        stem: ``"imagenet"`` (the default), ``"deep"`` (the ResNet-C stem) or ``"slim"``.
        downsample: ``"first"`` (the default: the first block of a stage strides) or
            ``"last"`` (the last block of the stage before); ``stem="slim"`` with
            ``downsample="last"`` is keras.applications' ResNetV2 layout.
        padding: ``"symmetric"`` (the default, as every pretrained ResNet: strided
            convolutions pad on every side) or ``"same"`` (Keras': after).
        input_mean: pixel mean (of pixels scaled to ``[0, 1]``); default ImageNet's.
        input_std: pixel standard deviation; default ImageNet's.
        weights: ``None`` (random), ``"imagenet"`` (keras.applications' weights for this
            depth and version: v1 or v2), a keras-hub preset name or directory, or a
            ``.weights.h5`` file saved from a reskeras model; see :mod:`reskeras.weights`.
        name: the model's name (default e.g. ``"resnet50"``, ``"resnet50v2"``,
            ``"plain50"``).
        **kwargs: passed to :func:`assemble` and the blocks (``zero_init_last``,
            ``drop_path_rate``, ``se_ratio`` ...).

    Returns:
        The uncompiled model, with ``weights`` loaded.

    Raises:
        ValueError: ``depth`` or an option is invalid.
        WeightsError: the weights cannot be found or loaded, or contradict a given option.
    """
    RESNET_DEPTHS.check("resnet", depth)
    if version is not None:
        check_choice("version", version, VERSIONS)
    chosen = {
        "version": version,
        "stem": stem,
        "downsample": downsample,
        "avg_down": avg_down,
        "padding": padding,
        "input_mean": input_mean,
        "input_std": input_std,
    }

    def build(layout: dict[str, Any], pretrained: bool = False) -> keras.Model:
        layout = {**RESNET_DEFAULTS, **{k: v for k, v in layout.items() if v is not None}}
        options = dict(kwargs)
        if pretrained and len(input_shape) == 3 and input_shape[-1] == 1:
            options.setdefault("gray_to_rgb", True)  # grey images into RGB weights
        return _resnet(
            depth, layout, num_classes, input_shape, include_top, pooling, residual, name,
            **options,
        )  # fmt: skip

    if weights is None:
        return build(chosen)
    return build_with_weights(weights, family="resnet", depth=depth, layout=chosen, build=build)


def _resnet(
    depth: int,
    layout: dict[str, Any],
    num_classes: int | None,
    input_shape: tuple[int, int, int],
    include_top: bool,
    pooling: str | None,
    residual: bool,
    name: str | None,
    **kwargs,
) -> keras.Model:
    """:func:`resnet` for a complete layout (:data:`RESNET_DEFAULTS`' keys)."""
    version = layout["version"]
    check_choice("stem", layout["stem"], STEMS[:3])
    block, repeats = IMAGENET_SPECS[depth]
    if block == "bottleneck":
        kwargs["stride_in_1x1"] = version == "v1"
    stages = _stages(
        block,
        IMAGENET_FILTERS,
        repeats,
        first_stride=1,
        downsample=layout["downsample"],
        first_shortcut="avg_down" if layout["avg_down"] else None,
    )
    default = f"{'plain' if not residual else 'resnet'}{depth}{'v2' if version == 'v2' else ''}"
    return assemble(
        stages,
        stem=layout["stem"],
        name=name or default,
        num_classes=num_classes,
        input_shape=input_shape,
        include_top=include_top,
        pooling=pooling,
        preact=version == "v2",
        residual=residual,
        input_mean=layout["input_mean"],
        input_std=layout["input_std"],
        padding=layout["padding"],
        **kwargs,
    )


# What ``resnet`` builds for options left at None (and no weights decide them).
RESNET_DEFAULTS = {
    "version": "v1.5",
    "stem": "imagenet",
    "downsample": "first",
    "avg_down": False,
    "padding": "symmetric",
    "input_mean": IMAGENET_MEAN,
    "input_std": IMAGENET_STD,
}


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
    **kwargs: Any,
) -> keras.Model:
    """CIFAR ResNet-(6n+2) of He et al. 2015, section 4.2: 16/32/64 filters, 3x3 stem.

    Args:
        depth: ``6n + 2`` for ``n >= 1`` blocks per stage (20, 32, 44, 56, 110 ...).
        shortcut: ``"A"`` zero-pads channels (no parameters), ``"B"`` projects when the
            shape changes.
        num_classes: outputs of the classifier.
        input_shape: ``(height, width, channels)`` of the raw images.
        include_top: end in the classifier (see :func:`assemble`).
        pooling: without the top: ``None``, ``"avg"`` or ``"max"``.
        width: multiplies the filters (2 -> 32/64/128).
        residual: ``False`` builds the plain net of the degradation experiment.
        name: the model's name (default ``"cifar_resnet<depth>"`` or ``"plain<depth>"``).
        **kwargs: passed to :func:`assemble` and the blocks (``stem_strides``,
            ``drop_path_rate``, ``zero_init_last`` ...).

    Returns:
        The uncompiled model.

    Raises:
        ValueError: ``depth``, ``shortcut`` or ``width`` is invalid.
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
    **kwargs: Any,
) -> keras.Model:
    """WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation basic blocks, 16k/32k/64k
    filters, a 16-filter 3x3 stem.

    Args:
        depth: ``6n + 4`` for ``n >= 1`` blocks per stage (16, 22, 28, 40 ...).
        width: the widening factor ``k``.
        num_classes: outputs of the classifier.
        input_shape: ``(height, width, channels)`` of the raw images.
        include_top: end in the classifier (see :func:`assemble`).
        pooling: without the top: ``None``, ``"avg"`` or ``"max"``.
        dropout: dropout rate between the two convolutions of each block.
        residual: ``False`` builds the plain twin.
        name: the model's name (default ``"wrn_<depth>_<width>"``, or ``"plain_wrn_..."``).
        **kwargs: passed to :func:`assemble` and the blocks.

    Returns:
        The uncompiled model.

    Raises:
        ValueError: ``depth`` or ``width`` is invalid.
    """
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
