"""Training on several devices and machines: the strategy, who writes, how the data is split.

``train()`` runs unchanged under every strategy; what differs is collected here:

* :func:`make_strategy` picks the ``tf.distribute`` strategy (``mirrored`` also splits work
  over logical CPU devices when there is no GPU, which is how the tests run 2 replicas), and
  :func:`xla_compiles` says whether XLA can compile a step under it.
* :class:`Worker` says whether this process is the chief. Every worker calls every save
  function (saving a distributed model may run collective ops, so all must take part), but
  only the chief writes to the run directory; the others write to a scratch directory of
  their own that is removed when they finish (the scheme of TensorFlow's multi-worker Keras
  guide).
* :func:`shard_by_data` sets the sharding policy of our in-memory datasets, which cannot be
  sharded by file.
* :class:`AverageReplicaStatistics` keeps the replicas' batch-norm moving statistics equal.
* :func:`prepare_for_fit` works around two Keras 3 steps that fail under
  ``MultiWorkerMirroredStrategy``.
* :class:`Watchdog` bounds how long a worker waits for the others; :func:`cluster_failure`
  reads the error TensorFlow raises when one of them is lost.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from reskeras.checks import check_choice
from reskeras.training.rundir import RunDir

__all__ = [
    "STRATEGIES",
    "AverageReplicaStatistics",
    "Watchdog",
    "Worker",
    "cluster_failure",
    "localhost_tf_configs",
    "make_strategy",
    "prepare_for_fit",
    "shard_by_data",
    "xla_compiles",
]

#: The ``tf.distribute`` strategies :func:`make_strategy` makes by name.
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def localhost_tf_configs(n: int) -> list[str]:
    """``TF_CONFIG`` of each worker of an ``n``-worker cluster on free 127.0.0.1 ports: to try
    ``--strategy multi_worker`` on one machine (the tests and ``bench/multi_worker.py`` do).

    Args:
        n: the number of workers.

    Returns:
        One JSON ``TF_CONFIG`` string per worker, in task-index order.
    """
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(n)
    ]


@functools.cache
def _mirrored(devices: tuple[str, ...]) -> tf.distribute.Strategy:
    """One MirroredStrategy per set of devices for the whole process: the collective ops of
    a second strategy would reuse the first one's instance keys, and a run after a run of a
    model with other gradient shapes fails with "Shape mismatch in the collective instance"
    (tests/training/two_replicas.py trains a classifier, then a translation model)."""
    return tf.distribute.MirroredStrategy(list(devices))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (one of :data:`STRATEGIES`).

    ``auto``: MirroredStrategy when there is more than one GPU, else the default strategy.
    ``mirrored``: one replica per GPU, or per logical CPU device when there is no GPU (one,
    unless the CPU was split with ``tf.config.set_logical_device_configuration``).
    ``multi_worker``: MultiWorkerMirroredStrategy over the cluster in ``TF_CONFIG``.
    ``tpu``: TPUStrategy on the TPU system found by ``TPUClusterResolver``.

    Args:
        name: one of :data:`STRATEGIES`.

    Returns:
        The strategy.

    Raises:
        ValueError: if ``name`` is not a strategy, or it is ``multi_worker`` and
            ``TF_CONFIG`` is not set.
    """
    check_choice("strategy", name, STRATEGIES)
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return (
            _mirrored(tuple(g.name for g in gpus))
            if len(gpus) > 1
            else tf.distribute.get_strategy()
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return _mirrored(tuple(d.name for d in devices))
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy='multi_worker' reads the cluster from the TF_CONFIG environment "
                "variable, which is not set."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def xla_compiles(strategy: tf.distribute.Strategy) -> bool:
    """Whether Keras can compile the training step with XLA under ``strategy``: with one
    replica, or on TPUs. With several replicas the step spans devices (or workers) that one
    XLA computation cannot: XLA has no collective ops for CPUs, and a MirroredStrategy step
    reads variables that live on other devices. Keras' own ``jit_compile="auto"`` turns XLA
    off under any ``tf.distribute`` strategy for the same reason.

    Args:
        strategy: the strategy training runs under.

    Returns:
        True when the step can be compiled with XLA.
    """
    return strategy.num_replicas_in_sync == 1 or isinstance(strategy, tf.distribute.TPUStrategy)


@dataclass(frozen=True)
class Worker:
    """This process's place in the cluster: ``task`` (e.g. ``"worker 1"``, or ``"local"``
    outside a cluster), ``num_workers``, and whether it is the chief, the one process that
    writes the run directory."""

    task: str
    num_workers: int
    is_chief: bool

    @classmethod
    def of(cls, strategy: tf.distribute.Strategy) -> Worker:
        """This process's place under ``strategy``.

        Args:
            strategy: the strategy training runs under; anything but a
                ``MultiWorkerMirroredStrategy`` with a cluster gives the single ``"local"``
                chief.

        Returns:
            The worker.
        """
        resolver = getattr(strategy, "cluster_resolver", None)
        task_type = getattr(resolver, "task_type", None)
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or not task_type:
            return cls("local", 1, True)
        spec = resolver.cluster_spec()
        workers = sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)
        return cls(
            f"{task_type} {resolver.task_id}", workers, bool(strategy.extended.should_checkpoint)
        )

    def scratch_dir(self, run: RunDir) -> Path:
        """Where a non-chief worker writes what the chief writes to ``run``: a local
        temporary directory named after the run and the task, so that a worker restarted
        after a crash replaces the one its predecessor left.

        Args:
            run: the run directory the chief writes.

        Returns:
            The scratch directory's path (not created here).
        """
        key = hashlib.sha1(str(run.path.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"reskeras-{self.task.replace(' ', '')}-{key}"

    @contextlib.contextmanager
    def writes_to(self, run: RunDir) -> Iterator[RunDir]:
        """The run directory this worker writes: ``run`` for the chief; for the others a
        fresh scratch directory, removed when the block ends (whether training ended well
        or not).

        Args:
            run: the run directory the chief writes.

        Yields:
            ``run`` itself for the chief, else a :class:`RunDir` on the scratch directory.
        """
        if self.is_chief:
            yield run
            return
        scratch = self.scratch_dir(run)
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            yield RunDir(scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def shard_by_data(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with ``AutoShardPolicy.DATA``: every worker reads the whole (in-memory) dataset
    in the same seeded order and keeps its slice of each global batch, so the workers together
    see exactly the batches a single process would. (The default policy looks for files to
    divide between workers, finds none, warns and falls back to this.)

    Args:
        ds: the dataset.

    Returns:
        The dataset with the DATA sharding policy set.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


class AverageReplicaStatistics(keras.callbacks.Callback):
    """Averages the model's non-trainable float variables (the batch-norm moving statistics)
    over all replicas before every validation and when training ends.

    Gradients are averaged, so the weights agree on every replica; but each replica updates
    the moving statistics from its own slice of the batch (Keras 3 creates them without an
    aggregation), so the copies drift apart, each worker would validate with its own, and
    the saved model would hold the chief's. The moving averages are linear, so their mean is
    the moving average of the replicas' mean batch statistics, the same on every replica
    (what tf.keras did). The other non-trainable variables agree already and stay as they are.

    Args:
        strategy: the strategy the model was built under, whose replicas are averaged.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        super().__init__()
        self.strategy = strategy

    def _sync(self) -> None:
        for variable in self.model.non_trainable_variables:
            if "float" not in variable.dtype:
                continue
            copies = variable.value.values  # this worker's, one per local replica
            per_replica = self.strategy.experimental_distribute_values_from_function(
                lambda context, copies=copies: tf.identity(
                    copies[context.replica_id_in_sync_group % len(copies)]
                )
            )
            variable.assign(self.strategy.reduce("MEAN", per_replica, axis=None))

    def on_test_begin(self, logs=None):
        self._sync()

    def on_train_end(self, logs=None):
        self._sync()


# The watchdog's other half: a small Python process (no TensorFlow) that reads commands from
# its stdin and SIGKILLs the worker when a watched phase outlives its deadline. It has to be
# a process: while TensorFlow joins the cluster it holds the GIL, so no thread of the worker
# would run (and SIGTERM does not end the worker meanwhile).
_WATCHER = r"""
import os, select, signal, sys, time
parent, timeout = int(sys.argv[1]), float(sys.argv[2])
fd, pending, message, deadline = sys.stdin.fileno(), b"", None, 0.0
while True:
    wait = None if message is None else max(deadline - time.monotonic(), 0.0)
    if not select.select([fd], [], [], wait)[0]:
        sys.stderr.write("reskeras: error: " + message + "\n")
        sys.stderr.flush()
        os.kill(parent, signal.SIGKILL)
        sys.exit(0)
    data = os.read(fd, 65536)
    if not data:
        sys.exit(0)  # the worker ended
    *lines, pending = (pending + data).split(b"\n")
    for line in lines:
        command, _, argument = line.decode().partition(" ")
        if command == "watch":
            message = argument
        elif command == "rest":
            message = None
        deadline = time.monotonic() + timeout
"""


class Watchdog(keras.callbacks.Callback):
    """Ends a worker whose watched phase makes no progress for ``timeout`` seconds, after one
    ``reskeras: error:`` line: joining the cluster (:meth:`watching`), or training, where
    every batch, validation batch and epoch boundary is progress.

    TensorFlow's coordination service already aborts the survivors' collective ops within
    about 10 s when a worker dies or stops sending heartbeats (``train()`` then fails with a
    one-line error); this bounds the waits it leaves open: a worker that never joins (one
    missing from the launch, or not restarted after a crash) and a worker stuck outside
    TensorFlow's view. TensorFlow blocks the worker's Python meanwhile, so a separate small
    process watches and ends the worker with SIGKILL (exit status 137); completed epochs are
    checkpointed and ``--resume`` continues.

    Args:
        timeout: seconds without progress before the worker is ended.
        message: makes the error line from the phase being watched (e.g.
            ``"joining the cluster"``).
    """

    def __init__(self, timeout: float, message: Callable[[str], str]):
        super().__init__()
        self.timeout = float(timeout)
        self.message = message
        self._last_kick = 0.0
        self._what: str | None = None
        self._watcher = subprocess.Popen(
            [sys.executable, "-c", _WATCHER, str(os.getpid()), repr(self.timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError):  # the watcher is gone: nothing left to tell
            self._watcher.stdin.write(line.replace("\n", " ").encode() + b"\n")
            self._watcher.stdin.flush()

    @contextlib.contextmanager
    def watching(self, what: str) -> Iterator[None]:
        """Watches the block; ``what`` (``"joining the cluster"``) goes into the error.

        Args:
            what: the phase being watched, passed to ``message`` for the error line.

        Yields:
            Nothing; the watch ends when the block does.
        """
        self._what = what
        self._send(f"watch {self.message(what)}")
        try:
            yield
        finally:
            self._what = None
            self._send("rest")

    def kick(self) -> None:
        """Progress: the deadline moves to ``timeout`` seconds from now."""
        now = time.monotonic()
        if now - self._last_kick > min(1.0, self.timeout / 10):
            self._last_kick = now
            self._send("kick")

    def close(self) -> None:
        """Ends the watcher (it also ends by itself when the worker does)."""
        with contextlib.suppress(OSError):
            self._watcher.stdin.close()
        self._watcher.wait()

    def on_epoch_begin(self, epoch, logs=None):
        self.kick()

    def on_epoch_end(self, epoch, logs=None):
        if self._what is not None:  # the error names the epoch checkpointed by now
            self._send(f"watch {self.message(self._what)}")

    def on_train_batch_end(self, batch, logs=None):
        self.kick()

    def on_test_begin(self, logs=None):
        self.kick()

    def on_test_batch_end(self, batch, logs=None):
        self.kick()


def cluster_failure(err: Exception) -> str | None:
    """What a TensorFlow error says about a lost worker, in one line; None when it is not
    one of the errors collective ops end with when a peer fails.

    Args:
        err: the error training raised.

    Returns:
        The line, or None.
    """
    lost = (
        tf.errors.UnavailableError,
        tf.errors.AbortedError,
        tf.errors.DeadlineExceededError,
        tf.errors.CancelledError,
    )
    if not isinstance(err, lost):
        return None
    lines = [line.strip() for line in str(getattr(err, "message", err)).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Graph execution error")]
    for line in lines:
        if "aborted by:" in line:
            return line.split("aborted by:", 1)[1].strip()
    return lines[0] if lines else type(err).__name__


def prepare_for_fit(
    model: keras.Model, strategy: tf.distribute.Strategy, ds: tf.data.Dataset
) -> None:
    """Gets a compiled ``model`` past two Keras 3 steps that fail under
    ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585); other strategies need nothing.

    1. ``fit``/``evaluate`` first average one batch across all replicas to learn the input
       shapes, from which they build the optimizer and metric variables; that strategy cannot
       reduce an ``(images, labels)`` pair. They are built here from the element shapes of
       ``ds`` instead, which leaves Keras' step nothing to do, so it is skipped.
    2. Every step's logs are averaged across replicas with ``reduce("MEAN", v, axis=0)``,
       which that strategy refuses for scalars. The train and test steps here return each
       scalar as a vector of one, which it averages to the scalar over all workers' replicas.
       (Epoch logs — history, ``metrics.csv``, checkpoints, validation — come from the metric
       variables, summed over all workers, either way.)

    Args:
        model: the compiled model; its train and test steps are replaced in place.
        strategy: the strategy training runs under.
        ds: the training dataset, whose element spec builds the model's variables.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    with strategy.scope():
        model._symbolic_build(data_batch=ds.element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    model.train_step = _scalars_as_vectors(model.train_step)
    model.test_step = _scalars_as_vectors(model.test_step)


def _scalars_as_vectors(step: Callable[[Any], dict]) -> Callable[[Any], dict]:
    def vector_step(data):
        return {k: tf.reshape(v, [1]) if v.shape.rank == 0 else v for k, v in step(data).items()}

    return vector_step
