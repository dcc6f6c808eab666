"""Callbacks of a training run: per-epoch checkpoints, and a progress line of the user's metrics."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from typing import Any

import keras

from reskeras.layers.norm import precise_batch_statistics
from reskeras.training.rundir import RunDir

__all__ = [
    "INTERNAL_METRICS",
    "PRECISE_BN_EXAMPLES",
    "PreciseBatchNorm",
    "Progress",
    "RunCheckpoint",
]

#: Metrics training keeps for the collapse check (reskeras.evaluation.collapse): they go to
#: ``metrics.csv`` and the collapse line, not to the progress line.
INTERNAL_METRICS = ("top_class_share", "val_top_class_share", "collapsed")

#: Training examples the batch norms' statistics are recomputed on before each validation
#: (bench/short_runs.py measured the accuracy of short runs with and without).
PRECISE_BN_EXAMPLES = 1024


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recomputes the batch norms' statistics with the current weights before every
    validation (:func:`~reskeras.layers.norm.precise_batch_statistics`), so validation, the
    checkpoints and the saved model use statistics that describe their weights, after 30
    steps or 30,000.

    Args:
        batches: the training inputs to recompute them on (e.g.
            :func:`reskeras.data.pipeline.sample_batches`, the same ones every time).
    """

    def __init__(self, batches: Iterable[Any]):
        super().__init__()
        self.batches = batches

    def on_test_begin(self, logs=None):
        precise_batch_statistics(self.model, self.batches)


class RunCheckpoint(keras.callbacks.Callback):
    """Checkpoints model + optimizer state after every epoch; stops on a non-finite loss
    (keeping the last good checkpoint) or when ``stop_event`` is set.

    Keras' ``BackupAndRestore`` and ``TerminateOnNaN`` cover part of this; ours does more:
    each checkpoint is committed atomically with the epoch history (``RunDir.write_checkpoint``,
    so a ``kill -9`` never leaves a torn pair), the non-finite loss is located (epoch and batch)
    for the error message, an interrupted epoch is never saved as a completed one, and the
    app's Stop button ends training at the next batch.

    Args:
        run: the run directory the checkpoints are written to.
        history: the per-epoch metric rows; each completed epoch's row is appended to it in
            place and saved with that epoch's checkpoint.
        stop_event: when set (by the app's Stop button), training stops after the current
            batch; ``None``: never.
        global_batch: examples per step over all replicas, for each row's
            ``examples_per_s``; ``0`` leaves that column out.
    """

    def __init__(
        self,
        run: RunDir,
        history: list,
        stop_event: threading.Event | None = None,
        global_batch: int = 0,
    ):
        super().__init__()
        self.run = run
        self.history = history
        self.stop_event = stop_event
        self.global_batch = global_batch
        self.bad_loss: tuple[int, int, float] | None = None
        self.stopped_by_user = False
        self._epoch = 0
        self._start = self._train_end = time.time()
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = self._train_end = time.time()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._train_end, self._batches = time.time(), batch + 1
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.bad_loss = (self._epoch + 1, batch + 1, loss)
            self.model.stop_training = True
        elif self.stop_event is not None and self.stop_event.is_set():
            self.stopped_by_user = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.bad_loss or self.stopped_by_user:
            return  # an interrupted epoch is not a completed one
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for v in logs.values()):
            self.bad_loss = (epoch + 1, -1, logs.get("loss", float("nan")))
            self.model.stop_training = True
            return
        # A constant rate is a variable, distributed under a strategy: read it as an array.
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        # seconds: the whole epoch; train_seconds: its optimizer steps (validation excluded)
        row = {"epoch": epoch + 1, **logs, "lr": lr, "seconds": time.time() - self._start}
        row["train_seconds"] = max(self._train_end - self._start, 1e-9)
        if self.global_batch:
            row["examples_per_s"] = self._batches * self.global_batch / row["train_seconds"]
        self.history.append(row)
        self.run.write_checkpoint(self.model, epoch + 1, self.history)


class Progress(keras.callbacks.ProgbarLogger):
    """Keras' progress line without the :data:`INTERNAL_METRICS`."""

    @staticmethod
    def _shown(logs: dict | None) -> dict:
        return {k: v for k, v in (logs or {}).items() if k not in INTERNAL_METRICS}

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, self._shown(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, self._shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, self._shown(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(self._shown(logs))
