"""Residual blocks for images as Keras layers.

Every block follows the keras-hub conventions: arguments are validated in ``__init__``,
sublayers are created in ``build()`` with ``dtype=self.dtype_policy``, and ``get_config``
round-trips every argument. Only ``keras.layers`` and ``keras.ops`` are used, so the blocks
run on the TensorFlow, JAX and PyTorch backends.

Forms (He et al. 2015, 2016; Goyal et al. 2017; He et al. 2019; Hu et al. 2018):

* post-activation (v1): ``relu(bn(conv(...)) + shortcut)``; stride on the 3x3 (v1.5, the
  default) or on the first 1x1 of a bottleneck (``stride_in_1x1=True``, the original v1);
* pre-activation (v2, ``preact=True``): ``conv(relu(bn(x))) + shortcut``;
* shortcuts: ``"auto"``, ``"identity"``, ``"projection"``, ``"zero_pad"`` (option A),
  ``"avg_down"`` (ResNet-D), ``"subsample"`` (keras.applications ResNetV2);
* padding of strided convolutions: ``"same"`` (Keras: the extra pixel goes after) or
  ``"symmetric"`` (PyTorch, keras-hub, keras.applications: ``(k - 1) // 2`` on every side);
* extras: ``zero_init_last``, ``drop_path`` (stochastic depth), ``se_ratio``
  (squeeze-excitation), ``dropout`` between convolutions (wide ResNets), and
  ``residual=False`` for the plain twin with no shortcut at all.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

from reskeras.checks import check_fraction, check_positive_int
from reskeras.layers.norm import BN_EPSILON, BN_MOMENTUM

SHORTCUTS = ("auto", "identity", "projection", "zero_pad", "avg_down", "subsample")
PADDINGS = ("same", "symmetric")
POOL_FILLS = ("min", "zero")

_register = keras.saving.register_keras_serializable(package="reskeras")


@_register
class DropPath(layers.Layer):
    """Stochastic depth: drops the whole residual branch per sample while training.

    Kept samples are scaled by ``1 / (1 - rate)`` so the expectation is unchanged; at
    inference the layer is the identity.

    Args:
        rate: probability in ``[0, 1)`` that a sample's branch is dropped (0: a no-op).
        seed: seed of the layer's random generator (``None``: unseeded).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = check_fraction("rate", rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        return inputs * ops.floor(keep + noise) / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@_register
class ZeroPadShortcut(layers.Layer):
    """Option A shortcut (He et al. 2015): subsample, then zero-pad the channels.

    Has no parameters. Works for any number of spatial dimensions (1-D text blocks too).

    Args:
        filters: channels of the output; must be at least the input's (checked in ``build``).
        strides: keep every ``strides``-th position along each spatial axis (1: all).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.strides = check_positive_int("strides", strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels > self.filters:
            raise ValueError(
                f"shortcut='zero_pad' can only add channels, but the input has {channels} "
                f"channels and the block outputs {self.filters}; use 'projection'."
            )

    def call(self, inputs):
        rank = len(inputs.shape)
        if self.strides > 1:
            step = slice(None, None, self.strides)
            inputs = inputs[(slice(None),) + (step,) * (rank - 2) + (slice(None),)]
        extra = self.filters - inputs.shape[-1]
        if extra:
            pads = [[0, 0]] * (rank - 1) + [[extra // 2, extra - extra // 2]]
            inputs = ops.pad(inputs, pads)
        return inputs

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else -(-d // self.strides) for d in input_shape[1:-1]]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@_register
class SqueezeExcite(layers.Layer):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from global context.

    The spatial mean of each channel goes through a ReLU dense layer of
    ``max(1, int(channels * ratio))`` units and a sigmoid dense layer back to ``channels``
    gates, which scale the input.

    Args:
        ratio: width of the hidden layer as a fraction of the channels, in ``(0, 1]``.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(self, ratio: float = 0.25, **kwargs: Any):
        super().__init__(**kwargs)
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"`ratio` must be in (0, 1], got {ratio!r}.")
        self.ratio = float(ratio)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.spatial_axes = tuple(range(1, len(input_shape) - 1))
        hidden = max(1, int(channels * self.ratio))
        self.reduce = layers.Dense(
            hidden, activation="relu", name="reduce", dtype=self.dtype_policy
        )
        self.expand = layers.Dense(
            channels, activation="sigmoid", name="expand", dtype=self.dtype_policy
        )
        self.reduce.build((input_shape[0], channels))
        self.expand.build((input_shape[0], hidden))

    def call(self, inputs):
        squeezed = ops.mean(inputs, axis=self.spatial_axes)
        gates = self.expand(self.reduce(squeezed))
        for _ in self.spatial_axes:
            gates = ops.expand_dims(gates, 1)
        return inputs * gates

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


@_register
class SmallMapConv2D(layers.Conv2D):
    """A ``Conv2D`` that computes a "same" convolution on a map with fewer pixels than its
    kernel has taps (a 3x3 kernel on a 2x2 map: the last stage of an ImageNet ResNet fed
    64x64 images) as one matrix product of shifted copies of the input.

    XLA:CPU swaps the operands of such a convolution (the kernel becomes the image), a form
    its Eigen convolution kernels do not cover, so it emits a naive loop nest, far slower than
    TensorFlow's kernel for a 3x3, 512-channel convolution on 2x2 maps, and ResNet-50 at 64x64
    trained several times slower with XLA (``bench/xla_ops.py``; figures in bench/README.md).
    A matrix product is fast in both modes. Weights, config and results are those of
    ``Conv2D``; other shapes take ``Conv2D``'s path unchanged. It takes ``Conv2D``'s
    constructor arguments.
    """

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        """The convolution, as a matrix product when the map is smaller than the kernel.

        Args:
            inputs: the ``channels_last`` input batch.
            kernel: the ``(kh, kw, channels, filters)`` kernel.

        Returns:
            The convolved batch, the same as ``Conv2D.convolution_op``'s.
        """
        height, width = inputs.shape[1:3]
        kh, kw = self.kernel_size
        if (
            self.padding != "same"
            or self.data_format != "channels_last"
            or self.groups != 1
            or max(self.dilation_rate) != 1
            or height is None
            or width is None
            or height * width >= kh * kw
        ):
            return super().convolution_op(inputs, kernel)
        (sh, sw), channels = self.strides, inputs.shape[-1]
        out_h, out_w = -(-height // sh), -(-width // sw)
        pad_h = max((out_h - 1) * sh + kh - height, 0)
        pad_w = max((out_w - 1) * sw + kw - width, 0)
        x = ops.pad(
            inputs,
            [[0, 0], [pad_h // 2, pad_h - pad_h // 2], [pad_w // 2, pad_w - pad_w // 2], [0, 0]],
        )
        taps = [
            x[:, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw, :]
            for i in range(kh)
            for j in range(kw)
        ]  # tap-major, as the kernel's (kh, kw, channels, filters) layout
        patches = ops.concatenate(taps, axis=-1)
        return ops.matmul(patches, ops.reshape(kernel, (kh * kw * channels, self.filters)))


@_register
class SymmetricMaxPooling2D(layers.Layer):
    """Max pooling with ``(pool_size - 1) // 2`` pixels of padding on every side (PyTorch's
    ``MaxPool2d(padding=...)``, the ImageNet ResNet stem of torchvision and keras-hub).

    ``fill="min"`` pads with -inf, so padding is never the maximum; ``fill="zero"`` pads with
    zeros, as keras.applications' ResNetV2 does before its first max-pool (whose input is not
    rectified, so there zeros can win). Keras' ``padding="same"`` pads only after when the
    total is odd, which shifts every window by one pixel.

    Args:
        pool_size: side of the square pooling window.
        strides: step of the window along both spatial axes.
        fill: value of the padding, ``"min"`` (-inf) or ``"zero"``.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(self, pool_size: int = 3, strides: int = 2, fill: str = "min", **kwargs: Any):
        super().__init__(**kwargs)
        self.pool_size = check_positive_int("pool_size", pool_size)
        self.strides = check_positive_int("strides", strides)
        if fill not in POOL_FILLS:
            raise ValueError(f"Invalid fill {fill!r}; expected one of {list(POOL_FILLS)}.")
        self.fill = fill
        self.pad = (self.pool_size - 1) // 2

    def build(self, input_shape):
        self.pool = layers.MaxPooling2D(
            self.pool_size, self.strides, padding="valid", name="pool", dtype=self.dtype_policy
        )

    def call(self, inputs):
        p = self.pad
        value = float("-inf") if self.fill == "min" else 0.0
        padded = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=value)
        return self.pool(padded)

    def compute_output_shape(self, input_shape):
        spatial = [
            None if d is None else (d + 2 * self.pad - self.pool_size) // self.strides + 1
            for d in input_shape[1:3]
        ]
        return (input_shape[0], *spatial, input_shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "fill": self.fill,
        }


class ResidualBlock(layers.Layer):
    """Shared machinery of the residual blocks; subclasses define the main path.

    Subclasses implement ``_main_path_specs(in_channels)`` returning a list of
    ``(kernel_size, filters, strides)`` convolutions; this class wires normalization,
    activation, the shortcut, squeeze-excitation, dropout and stochastic depth around them.

    Args:
        filters: filters of the main path's convolutions; the block outputs
            ``filters * expansion`` channels (1 for :class:`BasicBlock`, 4 for
            :class:`BottleneckBlock`).
        strides: 1, or 2 to halve the feature map (and project or pad the shortcut).
        preact: pre-activation (v2): batch norm and activation before each convolution and
            nothing after the addition; ``False``: post-activation (v1).
        shortcut: one of ``SHORTCUTS``: ``"auto"`` (identity when the shape is kept, else a
            1x1 projection), ``"identity"`` (the shape must be kept), ``"projection"``
            (1x1 convolution and batch norm), ``"zero_pad"`` (option A: subsample and add
            zero channels), ``"avg_down"`` (ResNet-D: average-pool, then a stride-1 1x1
            convolution) or ``"subsample"`` (parameter-free strided slicing; the channels
            must match).
        zero_init_last: the last batch norm's γ (v1), or the last convolution's kernel (v2),
            starts at zero, so the block starts as its shortcut.
        drop_path: stochastic-depth rate in ``[0, 1)`` of the residual branch.
        se_ratio: squeeze-excitation after the last convolution, its hidden width as this
            fraction of the channels, in ``[0, 1]``; 0: none.
        dropout: dropout rate in ``[0, 1)`` before the last convolution (wide ResNets).
        residual: ``False`` builds the plain twin: no shortcut, no addition.
        padding: padding of strided convolutions, ``"same"`` or ``"symmetric"``
            (``(k - 1) // 2`` on every side, as PyTorch).
        activation: activation name (``keras.activations.get``).
        bn_momentum: momentum of every batch norm.
        bn_epsilon: epsilon of every batch norm.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    expansion = 1

    def __init__(
        self,
        filters: int,
        strides: int = 1,
        *,
        preact: bool = False,
        shortcut: str = "auto",
        zero_init_last: bool = False,
        drop_path: float = 0.0,
        se_ratio: float = 0.0,
        dropout: float = 0.0,
        residual: bool = True,
        padding: str = "same",
        activation: str = "relu",
        bn_momentum: float = BN_MOMENTUM,
        bn_epsilon: float = BN_EPSILON,
        kernel_initializer: str = "he_normal",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        if strides not in (1, 2):
            raise ValueError(f"`strides` must be 1 or 2, got {strides!r}.")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"Unknown shortcut {shortcut!r}; expected one of {SHORTCUTS}.")
        self.strides = strides
        self.preact = bool(preact)
        self.shortcut = shortcut
        self.zero_init_last = bool(zero_init_last)
        self.drop_path = check_fraction("drop_path", drop_path)
        self.se_ratio = check_fraction("se_ratio", se_ratio, upper_inclusive=True)
        self.dropout = check_fraction("dropout", dropout)
        self.residual = bool(residual)
        if padding not in PADDINGS:
            raise ValueError(f"Invalid padding {padding!r}; expected one of {list(PADDINGS)}.")
        self.padding = padding
        self.activation = activation
        self.act_fn = keras.activations.get(activation)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.kernel_initializer = kernel_initializer

    @property
    def output_channels(self) -> int:
        return self.filters * self.expansion

    # -- construction -------------------------------------------------------------
    def _bn(self, name, gamma_zero=False):
        return layers.BatchNormalization(
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            gamma_initializer="zeros" if gamma_zero else "ones",
            name=name,
            dtype=self.dtype_policy,
        )

    def _pad(self, kernel_size, strides) -> int:
        """Pixels of explicit padding on every side before a conv (0: the conv pads "same")."""
        return (kernel_size - 1) // 2 if self.padding == "symmetric" and strides > 1 else 0

    def _conv(self, filters, kernel_size, strides, name, zero=False):
        return SmallMapConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="valid" if self._pad(kernel_size, strides) else "same",
            use_bias=False,
            kernel_initializer="zeros" if zero else self.kernel_initializer,
            name=name,
            dtype=self.dtype_policy,
        )

    def _count_flops(self, conv, input_shape):
        """Adds a built conv's FLOPs (2 x multiply-adds per example); returns its output shape."""
        shape = conv.compute_output_shape(input_shape)
        self._flops += 2 * math.prod(conv.kernel.shape) * math.prod(shape[1:-1])
        return shape

    def _resolve_shortcut(self, in_channels: int) -> str | None:
        if not self.residual:
            return None
        matches = self.strides == 1 and in_channels == self.output_channels
        if self.shortcut == "auto":
            return "identity" if matches else "projection"
        if self.shortcut == "identity" and not matches:
            raise ValueError(
                f"shortcut='identity' needs the block to keep its shape, but the input has "
                f"{in_channels} channels and strides={self.strides} while the block outputs "
                f"{self.output_channels} channels at stride 1 only. Use 'auto', 'projection', "
                f"'zero_pad' or 'avg_down'."
            )
        if self.shortcut == "subsample":
            if in_channels != self.output_channels:
                raise ValueError(
                    f"shortcut='subsample' keeps the channels, but the input has {in_channels} "
                    f"and the block outputs {self.output_channels}; use 'projection'."
                )
            return "identity" if matches else "subsample"
        if self.shortcut == "zero_pad" and matches:
            return "identity"
        return self.shortcut

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.shortcut_type = self._resolve_shortcut(in_channels)
        self._flops = 0
        specs = self._main_path_specs()
        last = len(specs) - 1
        self.convs, self.norms, self.pads = [], [], []
        shape = input_shape
        if self.preact:
            self.preact_bn = self._bn("preact_bn")
            self.preact_bn.build(shape)
        for i, (kernel, filters, strides) in enumerate(specs):
            conv = self._conv(
                filters,
                kernel,
                strides,
                f"conv{i + 1}",
                zero=self.preact and self.zero_init_last and i == last,
            )
            pad = self._pad(kernel, strides)
            if pad:
                shape = (shape[0], *[d if d is None else d + 2 * pad for d in shape[1:3]], shape[3])
            conv.build(shape)
            shape = self._count_flops(conv, shape)
            self.convs.append(conv)
            self.pads.append(pad)
            # v1 normalizes after every conv; v2 before every conv but the first
            # (which uses preact_bn), so there the norm after conv i feeds conv i+1.
            if not self.preact or i < last:
                bn_name = f"bn{i + 1}" if not self.preact else f"bn{i + 2}"
                bn = self._bn(
                    bn_name, gamma_zero=not self.preact and self.zero_init_last and i == last
                )
                bn.build(shape)
                self.norms.append(bn)
        self.dropout_layer = None
        if self.dropout:
            self.dropout_layer = layers.Dropout(
                self.dropout, name="dropout", dtype=self.dtype_policy
            )
        self.se = None
        if self.se_ratio:
            self.se = SqueezeExcite(self.se_ratio, name="se", dtype=self.dtype_policy)
            self.se.build(shape)
        self.drop_path_layer = None
        if self.drop_path:
            self.drop_path_layer = DropPath(
                self.drop_path, name="drop_path", dtype=self.dtype_policy
            )
        self._build_shortcut(input_shape)
        self.add = layers.Add(name="add", dtype=self.dtype_policy) if self.residual else None

    def _build_shortcut(self, input_shape):
        shortcut = self.shortcut_type
        self.shortcut_layers = []
        if shortcut in (None, "identity"):
            return
        if shortcut in ("zero_pad", "subsample"):
            pad = ZeroPadShortcut(
                self.output_channels,
                self.strides,
                name="shortcut_pad" if shortcut == "zero_pad" else "shortcut_subsample",
                dtype=self.dtype_policy,
            )
            pad.build(input_shape)
            self.shortcut_layers = [pad]
            return
        shape = input_shape
        conv_strides = self.strides
        if shortcut == "avg_down":
            conv_strides = 1
            if self.strides > 1:
                pool = layers.AveragePooling2D(
                    self.strides,
                    self.strides,
                    padding="same",
                    name="shortcut_pool",
                    dtype=self.dtype_policy,
                )
                shape = pool.compute_output_shape(shape)
                self.shortcut_layers.append(pool)
        conv = self._conv(self.output_channels, 1, conv_strides, "shortcut_conv")
        conv.build(shape)
        shape = self._count_flops(conv, shape)
        self.shortcut_layers.append(conv)
        # Pre-activation blocks feed the shortcut conv with normalized input already.
        if not self.preact:
            bn = self._bn("shortcut_bn")
            bn.build(shape)
            self.shortcut_layers.append(bn)

    # -- forward ----------------------------------------------------------------
    def call(self, inputs, training=None):
        x = inputs
        if self.preact:
            x = self.act_fn(self.preact_bn(x, training=training))
        # Pre-activation shortcuts with parameters read the normalized input; parameter-free
        # ones (identity, subsample) the block's input itself.
        shortcut_input = (
            x
            if self.preact and self.shortcut_type not in (None, "identity", "subsample")
            else inputs
        )
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            if self.dropout_layer is not None and i == last:
                x = self.dropout_layer(x, training=training)
            if self.pads[i]:
                p = self.pads[i]
                x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
            x = conv(x)
            if i < len(self.norms):
                x = self.norms[i](x, training=training)
            if i < last:
                x = self.act_fn(x)
        if self.se is not None:
            x = self.se(x)
        if self.drop_path_layer is not None:
            x = self.drop_path_layer(x, training=training)
        if not self.residual:
            return x if self.preact else self.act_fn(x)
        shortcut = shortcut_input
        for layer in self.shortcut_layers:
            if isinstance(layer, layers.BatchNormalization):
                shortcut = layer(shortcut, training=training)
            else:
                shortcut = layer(shortcut)
        x = self.add([x, shortcut])
        return x if self.preact else self.act_fn(x)

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else -(-d // self.strides) for d in input_shape[1:-1]]
        return (input_shape[0], *spatial, self.output_channels)

    def flops(self) -> int:
        """Floating-point operations (2 x multiply-adds) of the convolutions, per example."""
        return self._flops

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "preact": self.preact,
            "shortcut": self.shortcut,
            "zero_init_last": self.zero_init_last,
            "drop_path": self.drop_path,
            "se_ratio": self.se_ratio,
            "dropout": self.dropout,
            "residual": self.residual,
            "padding": self.padding,
            "activation": self.activation,
            "bn_momentum": self.bn_momentum,
            "bn_epsilon": self.bn_epsilon,
            "kernel_initializer": self.kernel_initializer,
        }


@_register
class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions (ResNet-18/34, CIFAR ResNets, wide ResNets).

    Args:
        filters: filters of both convolutions, and the block's output channels.
        strides: 1, or 2 to halve the feature map in the first convolution.
        preact: pre-activation (v2) instead of post-activation (v1).
        shortcut: the shortcut, one of ``SHORTCUTS`` (see :class:`ResidualBlock`).
        zero_init_last: the last batch norm's γ (v1) or convolution (v2) starts at zero.
        drop_path: stochastic-depth rate in ``[0, 1)``.
        se_ratio: squeeze-excitation hidden width as a fraction of the channels; 0: none.
        dropout: dropout rate in ``[0, 1)`` between the two convolutions.
        residual: ``False`` builds the plain twin (no shortcut).
        padding: padding of a strided convolution, ``"same"`` or ``"symmetric"``.
        activation: activation name.
        bn_momentum: momentum of every batch norm.
        bn_epsilon: epsilon of every batch norm.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    expansion = 1

    def _main_path_specs(self):
        return [(3, self.filters, self.strides), (3, self.filters, 1)]


@_register
class BottleneckBlock(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (x4) convolutions (ResNet-50/101/152).

    ``stride_in_1x1=False`` (default) strides the 3x3 as in ResNet v1.5 / torchvision;
    ``True`` strides the first 1x1 as in the original paper (v1).

    Args:
        filters: filters of the 1x1 reduce and the 3x3 convolutions; the block outputs
            ``4 * filters`` channels.
        strides: 1, or 2 to halve the feature map.
        stride_in_1x1: put the stride on the first 1x1 convolution instead of the 3x3.
        **kwargs: the keyword arguments of :class:`ResidualBlock` (``preact``, ``shortcut``,
            ``zero_init_last``, ``drop_path``, ``se_ratio``, ``dropout``, ``residual``,
            ``padding``, ``activation``, ``bn_momentum``, ``bn_epsilon``,
            ``kernel_initializer``) and of ``keras.layers.Layer``.
    """

    expansion = 4

    def __init__(
        self, filters: int, strides: int = 1, *, stride_in_1x1: bool = False, **kwargs: Any
    ):
        super().__init__(filters, strides, **kwargs)
        self.stride_in_1x1 = bool(stride_in_1x1)

    def _main_path_specs(self):
        s1, s3 = (self.strides, 1) if self.stride_in_1x1 else (1, self.strides)
        return [(1, self.filters, s1), (3, self.filters, s3), (1, self.output_channels, 1)]

    def get_config(self):
        return {**super().get_config(), "stride_in_1x1": self.stride_in_1x1}
