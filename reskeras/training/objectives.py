"""What a run minimizes and reports, by task kind: the loss, the per-epoch metrics, and the
validation metric early stopping watches.

Classifiers minimize label-smoothed cross-entropy and report accuracy (plus the share of the
top predicted class, which the collapse guard reads). Sequence models (language models and
translation) minimize the label-smoothed cross-entropy of the next token averaged over the
real tokens (padding, id 0, is left out) and report token accuracy and perplexity: ``exp`` of
the mean negative log-likelihood per token, every ``<eos>`` included
(:mod:`reskeras.data.corpus`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from reskeras.evaluation.collapse import TopClassShare
from reskeras.training.optim import SparseSmoothedCrossentropy

__all__ = [
    "Perplexity",
    "TokenAccuracy",
    "TokenCrossentropy",
    "make_loss",
    "make_metrics",
    "monitor",
]

_register = keras.saving.register_keras_serializable(package="reskeras")


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


@_register
class TokenCrossentropy(keras.losses.Loss):
    """Label-smoothed cross-entropy of every real (non-padding) target token, averaged over
    those tokens: ``(1 - s) * nll + s * mean(-log p)`` (Szegedy et al. 2016; Vaswani et al.
    2017 train translation with ``s = 0.1``).

    Args:
        label_smoothing: ``s``, the share of each target's probability spread over the
            vocabulary.
        name: the loss's name.
        **kwargs: passed to ``keras.losses.Loss``.
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The mean over the real tokens, taken here: Keras' reduction would weigh it again
        by the padding mask the logits carry.

        Args:
            y_true: the target ids ``[batch, length]`` (0: padding).
            y_pred: the logits ``[batch, length, vocabulary]``.
            sample_weight: ignored (every real token counts once).
        """
        return self.call(y_true, y_pred)

    def call(self, y_true, y_pred):
        labels, real = _real_tokens(y_true)
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, labels[..., None], axis=-1), -1)
        if self.label_smoothing:
            spread = -ops.mean(log_probs, axis=-1)
            nll = (1.0 - self.label_smoothing) * nll + self.label_smoothing * spread
        return ops.sum(nll * real) / ops.maximum(ops.sum(real), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _sequence(kind: str) -> bool:
    # Imported here: data.spec imports TensorFlow, and this module registers classes with
    # Keras on any backend (reskeras.serializable).
    from reskeras.data.spec import SEQUENCE_KINDS

    return kind in SEQUENCE_KINDS


def make_loss(kind: str, label_smoothing: float) -> keras.losses.Loss:
    """The loss a run of task kind ``kind`` minimizes.

    Args:
        kind: the task's kind.
        label_smoothing: the share of each target's probability spread over the classes.
    """
    if _sequence(kind):
        return TokenCrossentropy(label_smoothing)
    return SparseSmoothedCrossentropy(label_smoothing)


def make_metrics(kind: str, num_classes: int) -> list[keras.metrics.Metric]:
    """The metrics logged every epoch (training and validation).

    Args:
        kind: the task's kind.
        num_classes: the model's outputs (classes or vocabulary).
    """
    if _sequence(kind):
        return [TokenAccuracy(), Perplexity()]
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), TopClassShare(num_classes)]


def monitor(kind: str) -> tuple[str, str]:
    """The validation metric early stopping watches, and whether higher is better
    (``"max"``) or lower (``"min"``).

    Args:
        kind: the task's kind.
    """
    return ("val_perplexity", "min") if _sequence(kind) else ("val_accuracy", "max")
