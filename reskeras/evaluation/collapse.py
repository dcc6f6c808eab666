"""Collapse: a model that gives (almost) every example the same class.

A collapsed classifier can still report a respectable accuracy on skewed data, and on
balanced data it scores the majority baseline while looking "trained". reskeras checks for it
after every epoch's validation (:class:`CollapseGuard`, fed by the :class:`TopClassShare`
metric) and in every evaluation (:func:`find_collapse`), and says so in one line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops
from numpy.typing import ArrayLike

from reskeras.checks import check_positive_int

__all__ = [
    "COLLAPSE_PREDICTED_SHARE",
    "COLLAPSE_TRUE_SHARE",
    "CollapseGuard",
    "TopClassShare",
    "collapse_message",
    "find_collapse",
]

#: A model has collapsed when it gives one class to at least this share of the examples ...
COLLAPSE_PREDICTED_SHARE = 0.95
#: ... while that class is less than this share of their true labels.
COLLAPSE_TRUE_SHARE = 0.80


def find_collapse(
    predicted: ArrayLike, actual: ArrayLike, class_names: Sequence[str]
) -> dict | None:
    """``{"class", "predicted_share", "true_share", "examples"}`` when the predictions
    collapsed onto one class (see ``COLLAPSE_*``), else None.

    Args:
        predicted: per-class counts of the predicted labels.
        actual: per-class counts of the true labels.
        class_names: the classes, to name the collapsed one.
    """
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    total = actual.sum()
    if total <= 0:
        return None
    top = int(predicted.argmax())
    predicted_share, true_share = predicted[top] / total, actual[top] / total
    if predicted_share < COLLAPSE_PREDICTED_SHARE or true_share >= COLLAPSE_TRUE_SHARE:
        return None
    return {
        "class": str(class_names[top]),
        "predicted_share": round(float(predicted_share), 4),
        "true_share": round(float(true_share), 4),
        "examples": int(total),
    }


def collapse_message(collapse: dict, where: str) -> str:
    """One line telling the user that accuracy figures of a collapsed model mean nothing.

    Args:
        collapse: what :func:`find_collapse` found (with ``unit``, what one output is
            called where it is not a class, e.g. ``"translation"``).
        where: what was evaluated, starts the line (e.g. ``"epoch 3 validation"``).
    """
    name, unit = collapse["class"], collapse.get("unit", "class")
    return (
        f"{where}: the model predicts {name!r} for {collapse['predicted_share']:.0%} of the "
        f"{collapse['examples']} examples, but only {collapse['true_share']:.0%} of them are "
        f"{name!r}: it has collapsed to one {unit}."
    )


@keras.saving.register_keras_serializable(package="reskeras")
class TopClassShare(keras.metrics.Metric):
    """Share of the examples given the most often predicted class (1.0: one class for all).

    Keeps the per-class counts of predicted and true labels, which :class:`CollapseGuard`
    reads after validation.

    Args:
        num_classes: the number of classes (of the logits' last axis).
        name: the metric's name in the logs.
        **kwargs: passed to ``keras.metrics.Metric`` (``dtype``).
    """

    def __init__(self, num_classes: int, name: str = "top_class_share", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.predicted = self.add_variable((num_classes,), "zeros", name="predicted")
        self.actual = self.add_variable((num_classes,), "zeros", name="actual")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None):
        """Adds a batch to the per-class counts.

        Args:
            y_true: the integer labels.
            y_pred: the logits or probabilities; the argmax is the predicted class.
            sample_weight: ignored (every example counts once).
        """
        k = self.num_classes
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        self.predicted.assign_add(ops.sum(ops.one_hot(ops.argmax(y_pred, axis=-1), k), axis=0))
        self.actual.assign_add(ops.sum(ops.one_hot(labels, k), axis=0))

    def result(self):
        return ops.max(self.predicted) / ops.maximum(ops.sum(self.predicted), 1.0)

    def reset_state(self):
        for v in (self.predicted, self.actual):
            v.assign(ops.zeros_like(v))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class CollapseGuard(keras.callbacks.Callback):
    """After each epoch's validation, adds ``collapsed`` (0/1) to the epoch's logs and, when
    the predictions collapsed onto one class, tells the user in one line (``report``).

    It reads the :class:`TopClassShare` metric; a model compiled without one (a language
    model) is not checked. Each collapse found is kept in ``collapses``.

    Args:
        class_names: the classes, to name the collapsed one.
        report: receives the one-line warning (default: printed to stderr).
    """

    def __init__(self, class_names: Sequence[str], report: Callable[[str], None] | None = None):
        super().__init__()
        self.class_names = list(class_names)
        self.report = report or (lambda line: print(f"reskeras: warning: {line}", file=sys.stderr))
        self.collapses: list[dict] = []

    def _metric(self) -> TopClassShare | None:
        for metric in self.model.metrics:
            for m in [metric, *getattr(metric, "metrics", [])]:
                if isinstance(m, TopClassShare):
                    return m
        return None

    def on_epoch_end(self, epoch: int, logs: dict | None = None):
        """Checks the epoch's validation counts; a no-op for epochs without validation.

        Args:
            epoch: the epoch's index (from 0).
            logs: the epoch's logs; ``collapsed`` is added to them.
        """
        metric = self._metric()  # holds the validation counts until the next epoch begins
        if logs is None or "val_loss" not in logs or metric is None:
            return
        collapse = find_collapse(
            keras.ops.convert_to_numpy(metric.predicted),
            keras.ops.convert_to_numpy(metric.actual),
            self.class_names,
        )
        self.record(epoch, logs, collapse)

    def record(self, epoch: int, logs: dict, collapse: dict | None) -> None:
        """Adds ``collapsed`` to the epoch's logs; keeps and reports a collapse.

        Args:
            epoch: the epoch's index (from 0).
            logs: the epoch's logs.
            collapse: what :func:`find_collapse` found, or ``None``.
        """
        logs["collapsed"] = float(collapse is not None)
        if collapse is not None:
            self.collapses.append({"epoch": epoch + 1, **collapse})
            self.report(collapse_message(collapse, f"epoch {epoch + 1} validation"))
