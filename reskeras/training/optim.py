"""Losses, learning-rate schedules and optimizers for training.

The cosine schedule is Keras' own ``CosineDecay`` (with its linear warm-up); Keras has no
one-cycle schedule, so :class:`OneCycle` is ours. Distribution strategies live in
:mod:`reskeras.training.distributed`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from reskeras.checks import check_choice

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "OneCycle",
    "SparseSmoothedCrossentropy",
    "make_optimizer",
    "make_schedule",
]

#: The optimizers :func:`make_optimizer` makes (SGD is Nesterov momentum).
OPTIMIZERS = ("sgd", "adamw")
#: The learning-rate schedules :func:`make_schedule` makes.
SCHEDULES = ("cosine", "onecycle", "constant")

_register = keras.saving.register_keras_serializable(package="reskeras")


@_register
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits with integer labels and label smoothing.

    Args:
        label_smoothing: the share of each label's probability spread evenly over all
            classes.
        name: the loss's name.
        **kwargs: passed to ``keras.losses.Loss`` (e.g. ``reduction``).
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@_register
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle (Smith 2018): cosine ramp from ``peak/div`` up to ``peak`` over the first
    ``pct_start`` of training, then cosine annealing to ``peak/final_div``.

    Args:
        peak: the highest learning rate.
        total_steps: the optimizer steps of the whole run.
        pct_start: the fraction of the steps spent ramping up.
        div: the starting rate is ``peak / div``.
        final_div: the final rate is ``peak / final_div``.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        pct_start: float = 0.25,
        div: float = 25.0,
        final_div: float = 1e4,
    ):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div = float(div)
        self.final_div = float(final_div)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        up = max(self.pct_start * self.total_steps, 1.0)
        down = max(self.total_steps - up, 1.0)
        start, end = self.peak / self.div, self.peak / self.final_div

        def anneal(a, b, t):
            return b + (a - b) * 0.5 * (1.0 + ops.cos(math.pi * ops.clip(t, 0.0, 1.0)))

        return ops.where(
            step < up,
            anneal(start, self.peak, step / up),
            anneal(self.peak, end, (step - up) / down),
        )

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div": self.div,
            "final_div": self.final_div,
        }


def make_schedule(
    name: str, peak: float, total_steps: int, warmup_steps: int = 0
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """A learning-rate schedule by name: ``cosine`` (linear warm-up over ``warmup_steps``, then
    cosine decay to 0 at ``total_steps``), ``onecycle``, or ``constant``.

    Args:
        name: one of :data:`SCHEDULES`.
        peak: the highest learning rate (the constant one for ``constant``).
        total_steps: the optimizer steps of the whole run.
        warmup_steps: steps of linear warm-up from 0 (``cosine`` only).

    Returns:
        The schedule, or ``peak`` itself for ``constant``.

    Raises:
        ValueError: if ``name`` is not one of :data:`SCHEDULES`.
    """
    check_choice("schedule", name, SCHEDULES)
    if name == "cosine":
        if not warmup_steps:
            return keras.optimizers.schedules.CosineDecay(peak, max(total_steps, 1))
        return keras.optimizers.schedules.CosineDecay(
            0.0,
            max(total_steps - warmup_steps, 1),
            warmup_target=peak,
            warmup_steps=warmup_steps,
        )
    if name == "onecycle":
        return OneCycle(peak, total_steps)
    return peak


def make_optimizer(
    name: str,
    schedule: keras.optimizers.schedules.LearningRateSchedule | float,
    weight_decay: float,
    ema: float | None = None,
) -> keras.optimizers.Optimizer:
    """SGD with Nesterov momentum or AdamW, both with decoupled weight decay that spares
    normalization parameters and biases; ``ema`` keeps an exponential moving average of the
    weights with that momentum (the trained model ends with the averaged weights).

    Args:
        name: one of :data:`OPTIMIZERS`.
        schedule: the learning rate: a schedule or a constant (see :func:`make_schedule`).
        weight_decay: the decoupled weight decay (falsy: none, with SGD).
        ema: the moving average's momentum; ``None`` or 0: no moving average.

    Returns:
        The optimizer (SGD with momentum 0.9).

    Raises:
        ValueError: if ``name`` is not one of :data:`OPTIMIZERS`.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    averaging = {"use_ema": True, "ema_momentum": float(ema)} if ema else {}
    if name == "sgd":
        opt = keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay or None, **averaging
        )
    else:
        opt = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, **averaging)
    opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias", "embeddings"])
    return opt
