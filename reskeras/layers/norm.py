"""Normalization layers: the one place their settings live.

Every BatchNormalization in reskeras uses ``BN_MOMENTUM``/``BN_EPSILON`` (PyTorch's and
torchvision's momentum 0.1 = Keras 0.9, epsilon 1e-5), and every LayerNormalization
``LN_EPSILON``. Image blocks and builders use stock
``keras.layers.BatchNormalization``; text models use :class:`DebiasedBatchNormalization`
(see its docstring for why). :func:`precise_batch_statistics` replaces every moving average
with the statistics of the current weights ("precise BN").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
from keras import layers, ops

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "LN_EPSILON",
    "NORMS",
    "DebiasedBatchNormalization",
    "make_batch_norm",
    "make_layer_norm",
    "make_norm",
    "precise_batch_statistics",
]

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
LN_EPSILON = 1e-5
NORMS = ("batch", "layer")


@keras.saving.register_keras_serializable(package="reskeras")
class DebiasedBatchNormalization(layers.BatchNormalization):
    """BatchNormalization whose moving statistics are bias-corrected running averages.

    Keras starts ``moving_variance`` at 1 and blends each batch in with ``momentum``, so
    after ``n`` training steps inference divides by ``momentum**n * 1 + (real variance)``.
    That is harmless when activations have unit scale (normalized pixels), but a learned
    embedding starts at Keras' ±0.05 and feeds the first convolution a variance near 1e-3:
    after a few hundred steps the stale 1.0 still dominates, every activation is shrunk
    ~10x at inference, and the model predicts one class (9,000 SST-2 sentences x 3 epochs =
    210 steps left 0.99**210 = 0.12, 700x the real 1.8e-4).

    Here both statistics start at zero and are divided by ``1 - momentum**steps`` when used,
    the bias correction of Adam (and of ``tf.train.ExponentialMovingAverage(zero_debias=True)``;
    PyTorch's ``momentum=None`` cumulative average is the same idea). Inference then uses the
    weighted average of exactly the batches seen, after one step or a million, whatever the
    activations' scale. Before the first training step it normalizes with mean 0 and
    variance 1, as stock BatchNormalization does.

    Args:
        momentum: weight of the running average's past (``BN_MOMENTUM``, 0.9, by default);
            also the base of the ``1 - momentum**steps`` correction.
        epsilon: added to the variance before the square root (``BN_EPSILON``).
        **kwargs: passed to ``keras.layers.BatchNormalization`` (``axis``, ``center``,
            ``scale``, ``gamma_initializer``, ``name``, ``dtype`` ...). The moving
            statistics' initializers default to zeros; ``renorm=True`` is refused.

    Raises:
        ValueError: ``renorm=True`` was given.
    """

    def __init__(self, momentum: float = BN_MOMENTUM, epsilon: float = BN_EPSILON, **kwargs: Any):
        if kwargs.get("renorm"):
            raise ValueError("DebiasedBatchNormalization does not support renorm=True.")
        kwargs.setdefault("moving_mean_initializer", "zeros")
        kwargs.setdefault("moving_variance_initializer", "zeros")
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self.steps = self.add_weight(
            shape=(), name="steps", initializer="zeros", trainable=False, autocast=False
        )

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            self.steps.assign_add(ops.ones((), self.steps.dtype))
            return super().call(inputs, training=True, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        steps = ops.cast(self.steps, x.dtype)
        seen = ops.where(steps > 0, 1.0 - ops.power(ops.cast(self.momentum, x.dtype), steps), 1.0)
        mean = ops.cast(self.moving_mean, x.dtype) / seen
        variance = ops.where(steps > 0, ops.cast(self.moving_variance, x.dtype) / seen, 1.0)
        outputs = ops.batch_normalization(
            x,
            mean,
            variance,
            axis=self.axis,
            offset=None if self.beta is None else ops.cast(self.beta, x.dtype),
            scale=None if self.gamma is None else ops.cast(self.gamma, x.dtype),
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)


def make_batch_norm(
    name: str, *, dtype: Any = None, gamma_zero: bool = False, debiased: bool = False
) -> layers.BatchNormalization:
    """A BatchNormalization with the package's settings (``BN_MOMENTUM``, ``BN_EPSILON``).

    Args:
        name: the layer's name.
        dtype: the layer's dtype or dtype policy (``None``: Keras' global policy).
        gamma_zero: γ starts at 0 instead of 1 (e.g. the last norm of a residual branch, so
            the block starts as its shortcut).
        debiased: build a :class:`DebiasedBatchNormalization` instead of the stock layer.

    Returns:
        The unbuilt layer.
    """
    cls = DebiasedBatchNormalization if debiased else layers.BatchNormalization
    return cls(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        gamma_initializer="zeros" if gamma_zero else "ones",
        name=name,
        dtype=dtype,
    )


def make_layer_norm(
    name: str, *, dtype: Any = None, gamma_zero: bool = False
) -> layers.LayerNormalization:
    """A LayerNormalization with the package's epsilon (``LN_EPSILON``).

    Args:
        name: the layer's name.
        dtype: the layer's dtype or dtype policy (``None``: Keras' global policy).
        gamma_zero: γ starts at 0 instead of 1.

    Returns:
        The unbuilt layer.
    """
    return layers.LayerNormalization(
        epsilon=LN_EPSILON,
        gamma_initializer="zeros" if gamma_zero else "ones",
        name=name,
        dtype=dtype,
    )


def make_norm(norm: str, name: str, *, dtype: Any = None, gamma_zero: bool = False) -> layers.Layer:
    """The normalization of text models: ``"batch"`` (debiased BN) or ``"layer"``.

    Args:
        norm: ``"batch"`` (a :class:`DebiasedBatchNormalization`) or ``"layer"`` (a
            ``LayerNormalization``); see ``NORMS``.
        name: the layer's name.
        dtype: the layer's dtype or dtype policy (``None``: Keras' global policy).
        gamma_zero: γ starts at 0 instead of 1.

    Returns:
        The unbuilt layer.

    Raises:
        ValueError: ``norm`` is not one of ``NORMS``.
    """
    if norm not in NORMS:
        raise ValueError(f"Invalid norm {norm!r}; expected one of {list(NORMS)}.")
    if norm == "batch":
        return make_batch_norm(name, dtype=dtype, gamma_zero=gamma_zero, debiased=True)
    return make_layer_norm(name, dtype=dtype, gamma_zero=gamma_zero)


def precise_batch_statistics(model: keras.Model, batches: Iterable[Any]) -> int:
    """Sets every batch norm's moving statistics to the mean of its batch statistics over
    ``batches``, computed with the model's current weights ("precise BN": Wu & Johnson 2021,
    *Rethinking "Batch" in BatchNorm*; pycls' ``compute_precise_bn_stats``).

    A moving average describes the weights of the last ~``1 / (1 - momentum)`` steps. When
    those steps changed the weights a lot (a short run at a high learning rate), inference
    normalizes with statistics of weights that no longer exist, and the model can predict
    one class. Each batch is run in training mode (no gradient, nothing else changes) with
    the momentum set so that the moving statistics become the running mean of the batches'.

    Args:
        model: the model; its trainable ``BatchNormalization`` layers (stock and
            :class:`DebiasedBatchNormalization`, nested ones included) are recomputed.
        batches: ``x`` or ``(x, ...)`` batches of training inputs, preprocessed as in
            training.

    Returns:
        The number of batches used (0 when the model has no batch norm or ``batches`` is
        empty; the statistics are then unchanged).
    """
    norms = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, layers.BatchNormalization) and layer.trainable and layer.built
    ]
    if not norms:
        return 0
    momenta = [layer.momentum for layer in norms]
    steps = [None if not hasattr(layer, "steps") else layer.steps.numpy() for layer in norms]
    seen = 0
    try:
        for batch in batches:
            for layer in norms:
                layer.momentum = seen / (seen + 1)  # the first batch replaces the old average
            model(batch[0] if isinstance(batch, tuple | list) else batch, training=True)
            seen += 1
    finally:
        for layer, momentum, step in zip(norms, momenta, steps, strict=True):
            layer.momentum = momentum
            if step is not None:
                # The debiased layer divides by 1 - momentum**steps when it reads: store the
                # mean so that it reads back as the mean, and keep its count of steps.
                step = max(float(step), 1.0) if seen else float(step)
                layer.steps.assign(step)
                if seen:
                    kept = 1.0 - momentum**step
                    layer.moving_mean.assign(layer.moving_mean * kept)
                    layer.moving_variance.assign(layer.moving_variance * kept)
    return seen
