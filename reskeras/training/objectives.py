"""What a run minimizes and reports, by task kind: the loss, the per-epoch metrics, and the
validation metric early stopping watches.

Classifiers minimize label-smoothed cross-entropy and report accuracy (plus the share of the
top predicted class, which the collapse guard reads). Language models minimize the
cross-entropy of the next token over the real tokens (padding, id 0, is left out) and report
token accuracy and perplexity: ``exp`` of the mean negative log-likelihood per token, every
``<eos>`` included (:mod:`reskeras.data.corpus`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from reskeras.evaluation.collapse import TopClassShare
from reskeras.training.optim import SparseSmoothedCrossentropy

__all__ = ["Perplexity", "TokenAccuracy", "make_loss", "make_metrics", "monitor"]

_register = keras.saving.register_keras_serializable(package="reskeras")
#: Task kinds whose models predict a token at every position.
SEQUENCE_KINDS = ("language_model",)


def _real_tokens(y_true: Any) -> tuple[Any, Any]:
    labels = ops.cast(y_true, "int32")
    return labels, ops.cast(ops.not_equal(labels, 0), "float32")


@_register
class Perplexity(keras.metrics.Metric):
    """``exp`` of the mean negative log-likelihood of the real (non-padding) target tokens.

    Args:
        name: the metric's name in the logs.
        **kwargs: passed to ``keras.metrics.Metric`` (``dtype``).
    """

    def __init__(self, name: str = "perplexity", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable((), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None):
        """Adds a batch's token log-likelihoods.

        Args:
            y_true: the target ids ``[batch, length]`` (0: padding, not scored).
            y_pred: the logits ``[batch, length, vocabulary]``.
            sample_weight: ignored (every real token counts once).
        """
        labels, real = _real_tokens(y_true)
        nll = keras.losses.sparse_categorical_crossentropy(
            labels, ops.cast(y_pred, "float32"), from_logits=True
        )
        self.total.assign_add(ops.sum(nll * real))
        self.count.assign_add(ops.sum(real))

    def result(self):
        return ops.exp(self.total / ops.maximum(self.count, 1.0))

    def reset_state(self):
        for v in (self.total, self.count):
            v.assign(0.0)


@_register
class TokenAccuracy(keras.metrics.Metric):
    """The share of real (non-padding) target tokens predicted as the most likely token.

    Args:
        name: the metric's name in the logs.
        **kwargs: passed to ``keras.metrics.Metric`` (``dtype``).
    """

    def __init__(self, name: str = "accuracy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), "zeros", name="correct")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None):
        """Adds a batch's hits.

        Args:
            y_true: the target ids (0: padding, not scored).
            y_pred: the logits.
            sample_weight: ignored.
        """
        labels, real = _real_tokens(y_true)
        hit = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), "float32")
        self.correct.assign_add(ops.sum(hit * real))
        self.count.assign_add(ops.sum(real))

    def result(self):
        return self.correct / ops.maximum(self.count, 1.0)

    def reset_state(self):
        for v in (self.correct, self.count):
            v.assign(0.0)


def make_loss(kind: str, label_smoothing: float) -> keras.losses.Loss:
    """The loss a run of task kind ``kind`` minimizes.

    Args:
        kind: the task's kind.
        label_smoothing: the classifiers' label smoothing (language models use none).
    """
    if kind in SEQUENCE_KINDS:
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0, name="crossentropy"
        )
    return SparseSmoothedCrossentropy(label_smoothing)


def make_metrics(kind: str, num_classes: int) -> list[keras.metrics.Metric]:
    """The metrics logged every epoch (training and validation).

    Args:
        kind: the task's kind.
        num_classes: the model's outputs (classes or vocabulary).
    """
    if kind in SEQUENCE_KINDS:
        return [TokenAccuracy(), Perplexity()]
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), TopClassShare(num_classes)]


def monitor(kind: str) -> tuple[str, str]:
    """The validation metric early stopping watches, and whether higher is better
    (``"max"``) or lower (``"min"``).

    Args:
        kind: the task's kind.
    """
    return ("val_perplexity", "min") if kind in SEQUENCE_KINDS else ("val_accuracy", "max")
