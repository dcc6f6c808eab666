"""Residual blocks for token sequences ``[batch, time, channels]`` as Keras layers.

Same conventions as :mod:`reskeras.layers.blocks`: arguments are validated in ``__init__``,
sublayers are created in ``build()`` with ``dtype=self.dtype_policy``, ``get_config``
round-trips every argument, ``residual=False`` gives the plain twin, ``drop_path`` is
stochastic depth on the residual branch, and ``flops()`` (after build) returns the
floating-point operations (2 x multiply-adds) per example. Only ``keras.layers`` /
``keras.ops`` are used.

* :class:`ResidualConv1DBlock` - two 1-D convolutions (VDCNN, Conneau et al. 2017;
  He et al. 2016 forms), batch or layer norm, optional downsampling.
* :class:`ResidualRNNBlock` - an LSTM/GRU (optionally bidirectional) with a residual
  connection around it (GNMT, Wu et al. 2016); masks are respected.
(The transformer's blocks live in :mod:`reskeras.layers.transformer`.)
* :class:`KMaxPooling1D`, :class:`MaskedGlobalPooling1D` - sequence poolings for the heads.

Masks: every layer here accepts a Keras mask (``[batch, time]`` booleans, e.g. from
``Embedding(mask_zero=True)``). The RNN block uses it; the conv block zeroes
padded positions before each convolution (so, with padding at the end and stride 1, outputs at
real positions equal those of the unpadded sequence) and passes a (downsampled) mask on.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

from reskeras.checks import check_choice, check_fraction, check_positive_int
from reskeras.layers.blocks import (
    DropPath,
    ZeroPadShortcut,
)
from reskeras.layers.norm import NORMS, make_layer_norm, make_norm

CONV1D_SHORTCUTS = ("auto", "identity", "projection", "zero_pad")
RNN_SHORTCUTS = ("auto", "identity", "projection")
DOWNSAMPLES = (None, "stride", "pool")
CELLS = ("lstm", "gru")
POOL_MODES = ("max", "avg")

_register = keras.saving.register_keras_serializable(package="reskeras")


def _dense_flops(kernel) -> int:
    return 2 * math.prod(kernel.shape)


@_register
class ResidualConv1DBlock(layers.Layer):
    """Two kernel-3 1-D convolutions with a shortcut (a VDCNN convolutional block).

    Post-activation (default): ``relu(norm(conv(relu(norm(conv(x))))) + shortcut)``;
    pre-activation (``preact=True``): ``conv(relu(norm(conv(relu(norm(x)))))) + shortcut``.

    Args:
        filters: output channels.
        kernel_size: convolution width (3 in VDCNN).
        dilation_rate: dilation of both convolutions (stride-1 blocks only).
        norm: ``"batch"`` or ``"layer"``.
        preact: pre-activation (v2) form.
        shortcut: ``"auto"`` (identity when the shape is kept, else projection),
            ``"identity"``, ``"projection"`` (1x1 conv + norm) or ``"zero_pad"`` (option A).
        downsample: ``None``; ``"stride"`` (the first conv has stride 2, the shortcut too) or
            ``"pool"`` (max-pool, size 3 stride 2, after the block, as in VDCNN).
        dropout: dropout before the second convolution.
        drop_path: stochastic-depth rate of the residual branch.
        residual: ``False`` builds the plain twin (no shortcut).
        activation: activation name (``keras.activations.get``).
        zero_init_last: the residual branch starts at zero (the last norm's γ, or with
            ``preact`` the second convolution's kernel), so the block starts as its shortcut;
            ignored when ``residual=False``.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(
        self,
        filters: int,
        *,
        kernel_size: int = 3,
        dilation_rate: int = 1,
        norm: str = "batch",
        preact: bool = False,
        shortcut: str = "auto",
        downsample: str | None = None,
        dropout: float = 0.0,
        drop_path: float = 0.0,
        residual: bool = True,
        activation: str = "relu",
        zero_init_last: bool = False,
        kernel_initializer: str = "he_normal",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.dilation_rate = check_positive_int("dilation_rate", dilation_rate)
        check_choice("norm", norm, NORMS)
        check_choice("shortcut", shortcut, CONV1D_SHORTCUTS)
        check_choice("downsample", downsample, DOWNSAMPLES)
        if downsample == "stride" and dilation_rate > 1:
            raise ValueError(
                f"downsample='stride' cannot be combined with dilation_rate={dilation_rate}; "
                "use downsample='pool' or dilation_rate=1."
            )
        self.norm = norm
        self.preact = bool(preact)
        self.shortcut = shortcut
        self.downsample = downsample
        self.dropout = check_fraction("dropout", dropout)
        self.drop_path = check_fraction("drop_path", drop_path)
        self.residual = bool(residual)
        self.activation = activation
        self.act_fn = keras.activations.get(activation)
        self.zero_init_last = bool(zero_init_last)
        self.kernel_initializer = kernel_initializer
        self.strides = 2 if downsample == "stride" else 1
        self.supports_masking = True
        self.depth = 2

    def _norm(self, name: str, gamma_zero: bool = False) -> layers.Layer:
        return make_norm(self.norm, name, dtype=self.dtype_policy, gamma_zero=gamma_zero)

    def _conv(self, kernel_size: int, strides: int, dilation: int, name: str, zero=False):
        return layers.Conv1D(
            self.filters,
            kernel_size,
            strides=strides,
            dilation_rate=dilation,
            padding="same",
            use_bias=False,
            kernel_initializer="zeros" if zero else self.kernel_initializer,
            name=name,
            dtype=self.dtype_policy,
        )

    def _conv_flops(self, conv, shape):
        out = conv.compute_output_shape(shape)
        length = out[1] if out[1] is not None else 0
        self._flops += 2 * math.prod(conv.kernel.shape) * length
        return out

    def build(self, input_shape):
        in_channels = input_shape[-1]
        matches = self.strides == 1 and in_channels == self.filters
        shortcut = None
        if self.residual:
            shortcut = self.shortcut
            if shortcut == "auto" or (shortcut == "zero_pad" and matches):
                shortcut = "identity" if matches else "projection"
            if shortcut == "identity" and not matches:
                raise ValueError(
                    f"shortcut='identity' needs the block to keep its shape, but the input has "
                    f"{in_channels} channels and downsample={self.downsample!r} while the block "
                    f"outputs {self.filters}. Use 'auto', 'projection' or 'zero_pad'."
                )
        self.shortcut_type = shortcut
        self._flops = 0
        shape = tuple(input_shape)
        if self.preact:
            self.norm0 = self._norm("norm0")
            self.norm0.build(shape)
        self.conv1 = self._conv(self.kernel_size, self.strides, self.dilation_rate, "conv1")
        self.conv1.build(shape)
        shape = self._conv_flops(self.conv1, shape)
        self.norm1 = self._norm("norm1")
        self.norm1.build(shape)
        zero_last = self.zero_init_last and self.residual
        self.conv2 = self._conv(
            self.kernel_size, 1, self.dilation_rate, "conv2", zero=zero_last and self.preact
        )
        self.conv2.build(shape)
        shape = self._conv_flops(self.conv2, shape)
        self.norm2 = None
        if not self.preact:
            self.norm2 = self._norm("norm2", gamma_zero=zero_last)
            self.norm2.build(shape)
        self.dropout_layer = (
            layers.Dropout(self.dropout, name="dropout", dtype=self.dtype_policy)
            if self.dropout
            else None
        )
        self.drop_path_layer = (
            DropPath(self.drop_path, name="drop_path", dtype=self.dtype_policy)
            if self.drop_path and self.residual
            else None
        )
        self.shortcut_layers = []
        if shortcut == "zero_pad":
            pad = ZeroPadShortcut(
                self.filters, self.strides, name="shortcut_pad", dtype=self.dtype_policy
            )
            pad.build(input_shape)
            self.shortcut_layers = [pad]
        elif shortcut == "projection":
            conv = self._conv(1, self.strides, 1, "shortcut_conv")
            conv.build(input_shape)
            sc_shape = self._conv_flops(conv, tuple(input_shape))
            self.shortcut_layers = [conv]
            if not self.preact:
                sc_norm = self._norm("shortcut_norm")
                sc_norm.build(sc_shape)
                self.shortcut_layers.append(sc_norm)
        self.pool = None
        if self.downsample == "pool":
            self.pool = layers.MaxPooling1D(
                3, strides=2, padding="same", name="pool", dtype=self.dtype_policy
            )

    @staticmethod
    def _apply_mask(x, mask):
        if mask is None:
            return x
        return x * ops.expand_dims(ops.cast(mask, x.dtype), -1)

    def call(self, inputs, training=None, mask=None):
        x = inputs
        if self.preact:
            x = self.act_fn(self.norm0(x, training=training))
        shortcut = x if self.preact and self.shortcut_type not in (None, "identity") else inputs
        x = self.conv1(self._apply_mask(x, mask))
        x = self.act_fn(self.norm1(x, training=training))
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        inner_mask = mask
        if mask is not None and self.strides > 1:
            inner_mask = self._downsample_mask(mask)
        x = self.conv2(self._apply_mask(x, inner_mask))
        if self.norm2 is not None:
            x = self.norm2(x, training=training)
        if self.residual:
            if self.drop_path_layer is not None:
                x = self.drop_path_layer(x, training=training)
            shortcut = self._apply_mask(shortcut, mask)
            for layer in self.shortcut_layers:
                shortcut = layer(shortcut, training=training)
            x = x + ops.cast(shortcut, x.dtype)
        if not self.preact:
            x = self.act_fn(x)
        if self.pool is not None:
            x = self.pool(x)
        return x

    def _downsample_mask(self, mask):
        # Position i of a stride-2 "same" conv/pool is centred on input 2i: keep it if real.
        return mask[:, ::2]

    def compute_mask(self, inputs: Any, mask: Any = None):
        """The mask of the output: ``mask``, every other step of it when downsampling.

        Args:
            inputs: the block's input.
            mask: the input's ``[batch, time]`` mask, or ``None``.
        """
        if mask is None or self.downsample is None:
            return mask
        return self._downsample_mask(mask)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if self.downsample is not None and length is not None:
            length = -(-length // 2)
        return (input_shape[0], length, self.filters)

    def flops(self) -> int:
        """Floating-point operations (2 x multiply-adds) of the convolutions, per example."""
        return self._flops

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
            "norm": self.norm,
            "preact": self.preact,
            "shortcut": self.shortcut,
            "downsample": self.downsample,
            "dropout": self.dropout,
            "drop_path": self.drop_path,
            "residual": self.residual,
            "activation": self.activation,
            "zero_init_last": self.zero_init_last,
            "kernel_initializer": self.kernel_initializer,
        }


@_register
class ResidualRNNBlock(layers.Layer):
    """An LSTM/GRU over the sequence with a residual connection around it (GNMT style).

    ``y = x' + dropout(rnn(layer_norm(x)))`` where ``x'`` is ``x`` (same width) or a Dense
    projection of ``x`` (different width). ``units`` is the output width; a bidirectional block
    runs ``units // 2`` units per direction and concatenates them. Returns sequences.
    Masks (``Embedding(mask_zero=True)``) are respected: padded steps do not change the outputs
    at real positions, and the mask is passed on.

    Args:
        units: output width (even when ``bidirectional``).
        cell: ``"lstm"`` or ``"gru"``.
        bidirectional: run the sequence both ways.
        layer_norm: normalize the RNN input (pre-norm); the builder adds a final LayerNorm.
        dropout: dropout on the RNN output before the addition.
        recurrent_dropout: dropout on the recurrent state (slow: disables fused kernels).
        shortcut: ``"auto"``, ``"identity"`` or ``"projection"`` (Dense, no bias).
        drop_path: stochastic-depth rate of the residual branch.
        residual: ``False`` builds the plain twin (a stacked RNN layer).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).

    Called with a ``context`` (``[batch, time, features]``, e.g. an attention's output, as
    GNMT feeds its decoder layers), the RNN reads ``[x, context]`` concatenated while the
    residual connection adds ``x`` alone.
    """

    def __init__(
        self,
        units: int,
        *,
        cell: str = "lstm",
        bidirectional: bool = False,
        layer_norm: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        shortcut: str = "auto",
        drop_path: float = 0.0,
        residual: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        check_choice("cell", cell, CELLS)
        check_choice("shortcut", shortcut, RNN_SHORTCUTS)
        if bidirectional and units % 2:
            raise ValueError(
                f"A bidirectional block splits `units` between two directions, so it must be "
                f"even; got units={units!r}."
            )
        self.cell = cell
        self.bidirectional = bool(bidirectional)
        self.layer_norm = bool(layer_norm)
        self.dropout = check_fraction("dropout", dropout)
        self.recurrent_dropout = check_fraction("recurrent_dropout", recurrent_dropout)
        self.shortcut = shortcut
        self.drop_path = check_fraction("drop_path", drop_path)
        self.residual = bool(residual)
        self.supports_masking = True
        self.depth = 1

    def build(self, inputs_shape, context_shape=None):
        input_shape = inputs_shape
        in_width = input_shape[-1]
        shortcut = None
        if self.residual:
            shortcut = self.shortcut
            if shortcut == "auto":
                shortcut = "identity" if in_width == self.units else "projection"
            if shortcut == "identity" and in_width != self.units:
                raise ValueError(
                    f"shortcut='identity' needs input width == units, but the input has "
                    f"{in_width} features and units={self.units}. Use 'auto' or 'projection'."
                )
        self.shortcut_type = shortcut
        shape = tuple(input_shape)
        self.norm = None
        if self.layer_norm:
            self.norm = make_layer_norm("layer_norm", dtype=self.dtype_policy)
            self.norm.build(shape)
        rnn_cls = layers.LSTM if self.cell == "lstm" else layers.GRU
        per_direction = self.units // 2 if self.bidirectional else self.units
        rnn = rnn_cls(
            per_direction,
            return_sequences=True,
            recurrent_dropout=self.recurrent_dropout,
            name=self.cell,
            dtype=self.dtype_policy,
        )
        if self.bidirectional:
            rnn = layers.Bidirectional(rnn, name="bidirectional", dtype=self.dtype_policy)
        self.context_width = 0 if context_shape is None else int(context_shape[-1])
        rnn.build((*shape[:-1], in_width + self.context_width))
        self.rnn = rnn
        self.dropout_layer = (
            layers.Dropout(self.dropout, name="dropout", dtype=self.dtype_policy)
            if self.dropout
            else None
        )
        self.drop_path_layer = (
            DropPath(self.drop_path, name="drop_path", dtype=self.dtype_policy)
            if self.drop_path and self.residual
            else None
        )
        self.projection = None
        if shortcut == "projection":
            self.projection = layers.Dense(
                self.units, use_bias=False, name="shortcut_dense", dtype=self.dtype_policy
            )
            self.projection.build(shape)
        # 2 x multiply-adds per step: gates (4 for LSTM, 3 for GRU) x (input + recurrent).
        gates = 4 if self.cell == "lstm" else 3
        directions = 2 if self.bidirectional else 1
        steps = input_shape[1] or 0
        per_step = gates * per_direction * (in_width + self.context_width + per_direction)
        self._flops = 2 * directions * steps * per_step
        if self.projection is not None:
            self._flops += steps * _dense_flops(self.projection.kernel)

    def _rnn_input(self, inputs, context):
        x = inputs if self.norm is None else self.norm(inputs)
        if (context is None) != (self.context_width == 0):
            built = "without" if self.context_width == 0 else "with"
            raise ValueError(
                f"{self.name} was built {built} a context and must be called {built} one."
            )
        return x if context is None else ops.concatenate([x, ops.cast(context, x.dtype)], axis=-1)

    def call(self, inputs, context=None, training=None, mask=None):
        x = self._rnn_input(inputs, context)
        x = self.rnn(x, mask=mask, training=training)
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        if not self.residual:
            return x
        if self.drop_path_layer is not None:
            x = self.drop_path_layer(x, training=training)
        shortcut = inputs if self.projection is None else self.projection(inputs)
        return x + ops.cast(shortcut, x.dtype)

    def init_cache(self, batch_size: Any, max_length: int | None = None) -> Any:
        """The state incremental decoding starts from: zeros ``[batch, states, units]``
        (an LSTM's hidden and cell state, a GRU's hidden state).

        Args:
            batch_size: the number of sequences decoded together.
            max_length: unused (an RNN's state does not grow); for the common interface.
        """
        if self.bidirectional:
            raise ValueError(
                f"{self.name} is bidirectional: it reads the whole sequence, so it cannot "
                f"decode step by step."
            )
        states = 2 if self.cell == "lstm" else 1
        return ops.zeros((batch_size, states, self.units), dtype=self.compute_dtype)

    def call_cached(
        self, inputs: Any, cache: Any, index: Any = None, context: Any = None
    ) -> tuple[Any, Any]:
        """The block on ``inputs`` (``[batch, steps, width]``) from the state in ``cache``
        (:meth:`init_cache`); returns ``(outputs, cache)`` with the state after the last step.
        Inference only (no dropout). Same outputs as :meth:`call` on the whole sequence.

        Args:
            inputs: the next steps' inputs.
            cache: the state after the steps before.
            index: unused (an RNN's state holds the position); for the common interface.
            context: the steps' context, for a block built with one.
        """
        cell = self.rnn.cell
        x = self._rnn_input(inputs, context)
        state = [cache[:, i] for i in range(ops.shape(cache)[1])]
        outputs = []
        for t in range(inputs.shape[1]):
            out, state = cell(x[:, t], state if self.cell == "lstm" else state[0])
            state = list(state) if isinstance(state, (list, tuple)) else [state]
            outputs.append(out)
        y = ops.stack(outputs, axis=1)
        if self.residual:
            shortcut = inputs if self.projection is None else self.projection(inputs)
            y = y + ops.cast(shortcut, y.dtype)
        return y, ops.stack(state, axis=1)

    def compute_mask(self, inputs: Any, mask: Any = None):
        """The incoming mask, unchanged (the block keeps the sequence length).

        Args:
            inputs: the block's input.
            mask: the input's ``[batch, time]`` mask, or ``None``.
        """
        return mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units)

    def flops(self) -> int:
        """Floating-point operations (2 x multiply-adds) per example (needs a fixed length)."""
        return self._flops

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "cell": self.cell,
            "bidirectional": self.bidirectional,
            "layer_norm": self.layer_norm,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "shortcut": self.shortcut,
            "drop_path": self.drop_path,
            "residual": self.residual,
        }


@_register
class KMaxPooling1D(layers.Layer):
    """k-max pooling over time (Kalchbrenner et al. 2014; VDCNN): for each channel the ``k``
    largest values, in their original order. Output ``[batch, k * channels]``.

    ``k`` is clipped to the sequence length. Padded (masked) positions are never selected
    unless a sequence has fewer than ``k`` real positions.

    Args:
        k: values kept per channel (a positive integer).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(self, k: int = 8, **kwargs: Any):
        super().__init__(**kwargs)
        self.k = check_positive_int("k", k)
        self.supports_masking = True

    def _k(self, length):
        return self.k if length is None else min(self.k, length)

    def call(self, inputs, mask=None):
        x = ops.transpose(inputs, (0, 2, 1))  # [batch, channels, time]
        if mask is not None:
            low = ops.cast(-1e4 if x.dtype == "float16" else -1e9, x.dtype)
            x = ops.where(ops.expand_dims(mask, 1), x, low)
        k = self._k(inputs.shape[1])
        _, idx = ops.top_k(x, k, sorted=False)
        idx = ops.sort(idx, axis=-1)
        values = ops.take_along_axis(ops.transpose(inputs, (0, 2, 1)), idx, axis=-1)
        return ops.reshape(values, (-1, inputs.shape[-1] * k))

    def compute_mask(self, inputs: Any, mask: Any = None):
        """No mask: the output has no time axis.

        Args:
            inputs: the layer's input.
            mask: the input's ``[batch, time]`` mask, or ``None``; not passed on.
        """
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] * self._k(input_shape[1]))

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@_register
class MaskedGlobalPooling1D(layers.Layer):
    """Global max or average pooling over time that ignores padded (masked) positions.

    An all-padding sequence (empty text) pools to zeros.

    Args:
        mode: ``"max"`` or ``"avg"`` (the mean over the real positions).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(self, mode: str = "max", **kwargs: Any):
        super().__init__(**kwargs)
        check_choice("mode", mode, POOL_MODES)
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            if self.mode == "max":
                return ops.max(inputs, axis=1)
            return ops.mean(inputs, axis=1)
        m = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        count = ops.sum(m, axis=1)
        if self.mode == "avg":
            return ops.sum(inputs * m, axis=1) / ops.maximum(count, 1.0)
        low = ops.cast(-1e4 if inputs.dtype == "float16" else -1e9, inputs.dtype)
        pooled = ops.max(ops.where(m > 0, inputs, low), axis=1)
        return ops.where(count > 0, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs: Any, mask: Any = None):
        """No mask: the output has no time axis.

        Args:
            inputs: the layer's input.
            mask: the input's ``[batch, time]`` mask, or ``None``; not passed on.
        """
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
