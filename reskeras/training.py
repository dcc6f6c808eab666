"""The training engine: one call from a task and a model name to a run directory.

``train()`` validates its options (:class:`reskeras.config.TrainConfig`), fills the unset ones
from the recipe of the task's kind, loads the task, builds a registered model, compiles it (XLA
by default, optional mixed precision, a ``tf.distribute`` strategy) and fits it with a
checkpoint after every epoch, writing a run directory (:mod:`reskeras.rundir`). A run killed
at any moment resumes (``resume=run_dir``) from its last completed epoch with optimizer state
and schedule position (both follow ``optimizer.iterations``) restored.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras
import tensorflow as tf

from reskeras import data as data_lib
from reskeras.collapse import CollapseGuard, TopClassShare
from reskeras.config import FINETUNE_LR_SCALE, RECIPES, TrainConfig, default_lr, recipe_key
from reskeras.console import device_line
from reskeras.distributed import (
    AverageReplicaStatistics,
    Watchdog,
    Worker,
    cluster_failure,
    make_strategy,
    prepare_for_fit,
    shard_by_data,
    xla_compiles,
)
from reskeras.finetune import freeze
from reskeras.hub import HUB_FAMILY
from reskeras.optim import SparseSmoothedCrossentropy, make_optimizer, make_schedule
from reskeras.registry import build_model, check_kind, resolve_model
from reskeras.rundir import RunDir, load_keras
from reskeras.xla import resolve_jit_compile

__all__ = ["RunCheckpoint", "TrainResult", "TrainingError", "train"]


class TrainingError(RuntimeError):
    """Training could not go on (non-finite loss, a run directory in the way ...)."""


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    run_dir: Path
    model: keras.Model
    history: list[dict] = field(default_factory=list)
    test_accuracy: float | None = None
    test_loss: float | None = None
    stopped_early: bool = False
    collapses: list[dict] = field(default_factory=list)  # epochs whose predictions collapsed
    config: TrainConfig | None = None  # the resolved options the run trained with
    embeddings: dict | None = None  # word vectors used: file, width, vocabulary coverage


class RunCheckpoint(keras.callbacks.Callback):
    """Checkpoints model + optimizer state after every epoch; stops on a non-finite loss
    (keeping the last good checkpoint) or when ``stop_event`` is set.

    Keras' ``BackupAndRestore`` and ``TerminateOnNaN`` cover part of this; ours does more:
    each checkpoint is committed atomically with the epoch history (``RunDir.write_checkpoint``,
    so a ``kill -9`` never leaves a torn pair), the non-finite loss is located (epoch and batch)
    for the error message, an interrupted epoch is never saved as a completed one, and the
    app's Stop button ends training at the next batch.
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


def _warn(line: str) -> None:
    print(f"reskeras: warning: {line}", file=sys.stderr)


def _load_data(config: TrainConfig, global_batch: int, saved: RunDir | None, raw_text: bool):
    """The task and its pipelines. Text is vectorized with the run's saved preprocessor when
    resuming (token ids must keep their meaning), else with a vocabulary adapted on the
    training split; with ``raw_text`` it stays strings (a keras-hub model's ``fit`` maps its
    own preprocessor over the batches)."""
    ds = data_lib.load_task(
        config.task,
        config.data,
        data_dir=config.data_dir,
        text_column=config.text_column,
        label_column=config.label_column,
        seed=config.seed,
    )
    train_split, test_split = ds.train, ds.test
    if config.limit_train:
        train_split = train_split.take(config.limit_train)
    if config.limit_test:
        test_split = test_split.take(config.limit_test)
    vectorizer = None
    if ds.spec.kind == "text" and not raw_text:
        from reskeras.data import text as text_lib

        preprocessor = saved.load_preprocessor() if saved is not None else None
        if preprocessor is not None:
            vectorizer = text_lib.find_vectorizer(preprocessor)
        else:
            vectorizer = text_lib.adapt_vectorizer(
                train_split.map(lambda x, y: x),
                vocabulary_size=config.vocabulary_size,
                sequence_length=config.sequence_length,
            )
        train_split = text_lib.vectorize_dataset(train_split, vectorizer)
        test_split = text_lib.vectorize_dataset(test_split, vectorizer)
    if vectorizer is not None and config.sequence_length is None:  # chosen from the data
        length = vectorizer.get_config()["output_sequence_length"]
        config = config.replace(sequence_length=length)
    train_ds = data_lib.make_pipeline(
        train_split,
        global_batch,
        training=True,
        seed=config.seed,
        augment=bool(config.augment),
        flip=ds.spec.flip,
    )
    test_ds = data_lib.make_pipeline(test_split, global_batch, training=False)
    return ds, shard_by_data(train_ds), shard_by_data(test_ds), vectorizer, config


def _build(config: TrainConfig, ds, vocabulary_size: int | None, vectors=None) -> keras.Model:
    kwargs = dict(config.model_kwargs)
    if vocabulary_size is None and ds.spec.kind == "text":  # a keras-hub preset
        kwargs.update(sequence_length=config.sequence_length)
    elif ds.spec.kind == "image":
        kwargs.update(input_shape=ds.spec.input_shape)
        if config.weights is not None:
            kwargs.update(weights=config.weights)
        if config.input_size is not None:
            kwargs.update(input_size=config.input_size)
        # Pretrained weights bring their own preprocessing; from scratch, the data's.
        pretrained = recipe_key(ds.spec.kind, weights=config.weights) == "finetune"
        if ds.spec.input_mean is not None and not pretrained:
            kwargs.update(input_mean=ds.spec.input_mean, input_std=ds.spec.input_std)
    else:
        # The adapted vocabulary may be smaller than the cap: size the embedding to it.
        kwargs.update(sequence_length=config.sequence_length, vocabulary_size=vocabulary_size)
    if vectors is not None:  # the vectors' width overrides a preset's embedding width
        kwargs.update(
            embeddings=vectors.matrix,
            embedding_dim=vectors.dim,
            trainable_embeddings=config.trainable_embeddings,
        )
    return build_model(config.model, depth=config.depth, num_classes=len(ds.class_names), **kwargs)


def _phases(config: TrainConfig) -> list[tuple[int, str, float]]:
    """(last epoch, what is frozen, peak learning rate) of each training phase: with
    ``head_epochs`` the classifier trains alone first, then the rest joins at a lower rate."""
    head = min(config.head_epochs or 0, config.epochs)
    freeze_rest = config.freeze or "none"
    if not head:
        return [(config.epochs, freeze_rest, config.lr)]
    phases = [(head, "backbone", config.lr)]
    if head < config.epochs:
        phases.append((config.epochs, freeze_rest, config.lr * FINETUNE_LR_SCALE))
    return phases


def _compile(
    net: keras.Model,
    config: TrainConfig,
    steps: int,
    num_classes: int,
    epochs: int,
    lr: float,
    jit_compile: bool,
) -> None:
    """Compiles for ``epochs`` epochs of ``steps`` steps, peaking at ``lr``."""
    total = steps * epochs
    # Warm-up is capped at a fifth of training, so short runs still decay.
    warmup = min(steps * config.warmup_epochs, total // 5)
    schedule = make_schedule(config.schedule, lr, total, warmup)
    net.compile(
        optimizer=make_optimizer(config.optimizer, schedule, config.weight_decay, config.ema),
        loss=SparseSmoothedCrossentropy(config.label_smoothing),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            TopClassShare(num_classes),
        ],
        jit_compile=jit_compile,
    )


def _load_hub_checkpoint(
    path: Path, config: TrainConfig, steps: int, ds, jit_compile: bool
) -> keras.Model:
    """A keras-hub checkpoint with its optimizer state. keras-hub tasks override
    ``compile()`` without ``compile_from_config``, so Keras cannot recompile them on load:
    compile as training did, build the optimizer, then read model and optimizer variables
    (``iterations`` included, so the schedule goes on where it stopped)."""
    net = load_keras(path)
    _compile(net, config, steps, len(ds.class_names), config.epochs, config.lr, jit_compile)
    net.optimizer.build(net.trainable_variables)
    net.load_weights(path)
    return net


def _start_phase(
    net: keras.Model,
    config: TrainConfig,
    phases,
    index: int,
    steps: int,
    num_classes: int,
    jit_compile: bool,
) -> None:
    """Freezes what phase ``index`` keeps fixed and compiles for its epochs and rate."""
    end, frozen, lr = phases[index]
    begin = phases[index - 1][0] if index else 0
    if frozen != "none" or index > 0:  # else keep what the builder froze (word vectors)
        freeze(net, frozen)
    _compile(net, config, steps, num_classes, end - begin, lr, jit_compile)


def _callbacks(config, run, guard, saver, extra, *, append: bool) -> list:
    """The callbacks of one ``fit``; the CSV log appends to the rows of earlier ones."""
    cbs = [
        guard,  # before the loggers: they record the ``collapsed`` flag it adds
        saver,
        keras.callbacks.CSVLogger(str(run.metrics_path), append=append),
        keras.callbacks.TensorBoard(str(run.tensorboard_dir), write_graph=False, profile_batch=0),
        *extra,
    ]
    if config.ema:
        cbs.insert(0, keras.callbacks.SwapEMAWeights())  # validate with the averaged weights
    if config.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.early_stopping_patience, mode="max"
            )
        )
    return cbs


def train(
    task: str = TrainConfig.task,
    model: str | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stop_event: threading.Event | None = None,
    verbose: int | str = "auto",
    report: Callable[[str], None] | None = None,
    **options,
) -> TrainResult:
    """Trains ``model`` on ``task`` and writes a run directory (``out``, default
    ``runs/<task>-<model>-<time>``).

    ``options`` are :class:`~reskeras.config.TrainConfig` fields (``epochs``, ``batch_size``,
    ``lr``, ``optimizer``, ``precision``, ``jit_compile``, ``data``, ``model_kwargs`` ...);
    those left unset come from the recipe of the task's kind (``reskeras.config.RECIPES``),
    the model too. ``resume`` continues a run from its last completed epoch (``epochs`` may
    be raised). ``report`` receives one-line warnings (default: printed to stderr), e.g.
    when the validation predictions collapse onto one class.

    Under ``strategy="multi_worker"`` every worker runs this same call with the same ``out``
    (or ``resume``); only the chief writes the run directory (:mod:`reskeras.distributed`).
    """
    if resume is None:
        config = TrainConfig.from_dict({"task": task, "model": model, **options})
        state, history, saved_steps, saved = {}, [], None, {}
    else:
        run = RunDir(resume)
        if not run.config_path.exists():
            raise TrainingError(f"Cannot resume {str(run.path)!r}: it has no config.json.")
        saved = run.read_config()
        config = TrainConfig.from_dict(saved["train"])
        if options.get("epochs") is not None:
            config = config.replace(epochs=options["epochs"])
        state = run.read_state()  # {} when killed before its first epoch ended: start over
        history = list(state.get("history", []))
        saved_steps = saved.get("steps_per_epoch") if state else None
    spec = data_lib.get_task(config.task)
    config = config.for_kind(spec.kind)
    # The recipe: image, text, pretrained (a keras-hub preset) or finetune (ImageNet weights)
    kind = recipe_key(spec.kind, config.model, config.weights)
    family, _, preset = resolve_model(config.model, config.depth)  # fail before loading data
    check_kind(family.kind, spec.name, spec.kind, f"Model {config.model!r}")
    if config.embeddings is not None and (spec.kind != "text" or family.name == HUB_FAMILY):
        raise ValueError(
            "`embeddings` (word vectors) initialize our own text models' token embedding; "
            f"model {config.model!r} on task {spec.name!r} has none to initialize."
        )
    if family.name == HUB_FAMILY and config.sequence_length is None:
        from reskeras.hub import preset_sequence_length

        config = config.replace(sequence_length=preset_sequence_length(preset["preset"]))
    if resume is None:
        if out is None and config.strategy == "multi_worker":
            raise TrainingError(
                "strategy='multi_worker' needs --out: every worker must name the same run "
                "directory, on storage they all reach."
            )
        stamp = time.strftime("%Y%m%d-%H%M%S")
        label = config.model.replace(":", "-").replace(os.sep, "_").strip("._-") or "model"
        run = RunDir(out if out is not None else Path("runs") / f"{spec.name}-{label}-{stamp}")
        if run.holds_run:
            raise TrainingError(
                f"Run directory {str(run.path)!r} already holds a run; continue it with "
                f"--resume {run.path} or choose another --out."
            )

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    # A worker of a cluster must not wait forever for the others (reskeras.distributed).
    watchdog = None
    if config.strategy == "multi_worker":
        watchdog = Watchdog(config.worker_timeout, partial(_stalled, config.worker_timeout, run))
    try:
        with watchdog.watching("joining the cluster") if watchdog else contextlib.nullcontext():
            strategy = make_strategy(config.strategy)
        return _train(
            config, spec, kind, family, run, state, history, saved, saved_steps, strategy,
            watchdog, callbacks=callbacks, stop_event=stop_event, verbose=verbose,
            report=report or _warn,
        )  # fmt: skip
    finally:
        if watchdog is not None:
            watchdog.close()


def _train(
    config: TrainConfig,
    spec: data_lib.TaskSpec,
    kind: str,
    family,
    run: RunDir,
    state: dict,
    history: list[dict],
    saved: dict,
    saved_steps: int | None,
    strategy: tf.distribute.Strategy,
    watchdog: Watchdog | None,
    *,
    callbacks: Sequence[keras.callbacks.Callback],
    stop_event: threading.Event | None,
    verbose: int | str,
    report: Callable[[str], None],
) -> TrainResult:
    """:func:`train` once the options, the run directory and the strategy are settled."""
    xla_ok = xla_compiles(strategy)
    if config.jit_compile is True and not xla_ok:  # asked for: say why it is off
        config = config.replace(jit_compile=False)
        report(
            f"XLA is off: Keras cannot compile one training step for "
            f"{strategy.num_replicas_in_sync} replicas."
        )
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    ds, train_ds, test_ds, vectorizer, config = _load_data(
        config, global_batch, run if state else None, raw_text=family.name == HUB_FAMILY
    )
    vectors = None
    if config.embeddings is not None and not state:  # a checkpoint holds them already
        from reskeras.data.vectors import load_word_vectors

        vectors = load_word_vectors(
            config.embeddings, vectorizer.get_vocabulary(), seed=config.seed
        )
    steps_per_pass = int(train_ds.cardinality())
    if steps_per_pass < 1:
        raise data_lib.DataError(
            f"{spec.name}: {config.limit_train or ds.num_train} training examples make no full "
            f"batch of {global_batch}; lower --batch-size."
        )
    if config.epochs is None:  # the recipe's epochs, each long enough for small data
        recipe = RECIPES[kind]
        min_steps = recipe.min_steps if config.min_steps is None else config.min_steps
        config = config.replace(epochs=recipe.epochs, min_steps=min_steps)
    if config.lr is None:
        config = config.replace(lr=default_lr(kind, config.optimizer, global_batch))
    # An epoch is one pass over the data, or more passes when ``min_steps`` asks for them;
    # a resumed run keeps the epoch length its schedule was laid out for.
    steps = saved_steps or max(steps_per_pass, math.ceil((config.min_steps or 0) / config.epochs))
    if steps > steps_per_pass:
        train_ds = train_ds.repeat()

    worker = Worker.of(strategy)
    # Every worker runs every step below, saves included (they may need all workers); only
    # the chief's writer is the run directory.
    with worker.writes_to(run) as writer:
        writer.prepare()
        record = {
            "train": config.to_dict(),
            "kind": spec.kind,
            "input_shape": list(ds.spec.input_shape) if ds.spec.input_shape else None,
            "num_classes": len(ds.class_names),
            "source": ds.source,
            "replicas": strategy.num_replicas_in_sync,
            "workers": worker.num_workers,
            "global_batch_size": global_batch,
            "steps_per_epoch": steps,
            "embeddings": vectors.summary() if vectors is not None else saved.get("embeddings"),
        }
        if "xla" in saved:
            record["xla"] = saved["xla"]  # how the checkpointed model was compiled
        writer.write_config(record)
        writer.write_labels(ds.class_names)
        if vectorizer is not None and not state:
            from reskeras.data import text as text_lib

            writer.save_preprocessor(text_lib.preprocessor_model(vectorizer))

        epochs_done = state.get("epochs_done", 0)
        phases = _phases(config)

        def phase_of(epoch: int) -> int:  # the phase 0-based ``epoch`` belongs to
            return next((i for i, (end, _, _) in enumerate(phases) if epoch < end), len(phases) - 1)

        phase = phase_of(epochs_done)
        n = len(ds.class_names)
        previous_policy = keras.config.dtype_policy()
        # The policy is global while building, and while loading a checkpoint: a model that
        # loads under float32 would compile without the LossScaleOptimizer it was saved with.
        keras.config.set_dtype_policy(config.precision)
        try:
            with strategy.scope():
                jit = record.get("xla", {}).get("jit_compile", False)  # a resumed run's
                if epochs_done and family.name == HUB_FAMILY:
                    net = _load_hub_checkpoint(run.latest_checkpoint(), config, steps, ds, jit)
                elif epochs_done:
                    net = load_keras(run.latest_checkpoint(), compile=True)
                    if phase_of(epochs_done - 1) != phase:  # saved as the previous phase ended
                        _start_phase(net, config, phases, phase, steps, n, jit)
                else:
                    vocab = vectorizer.vocabulary_size() if vectorizer is not None else None
                    net = _build(config, ds, vocab, vectors)
                    # One replica in one process may probe; workers that must agree do not,
                    # nor keras-hub models (their preprocessor runs inside fit).
                    probe = strategy.num_replicas_in_sync == 1 and family.name != HUB_FAMILY
                    if xla_ok:
                        jit, why = resolve_jit_compile(
                            config.jit_compile,
                            net,
                            next(iter(train_ds)),
                            SparseSmoothedCrossentropy(config.label_smoothing),
                            probe=probe,
                        )
                    else:
                        replicas = strategy.num_replicas_in_sync
                        jit, why = False, {"reason": f"{replicas} replicas: no XLA step"}
                    record["xla"] = {"jit_compile": jit, **why}
                    writer.write_config(record)
                    _start_phase(net, config, phases, phase, steps, n, jit)
        finally:
            keras.config.set_dtype_policy(previous_policy)
        prepare_for_fit(net, strategy, train_ds)

        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2
        if verbose and worker.is_chief:
            print(f"{device_line()}; run directory {run.path}")
            print(f"TensorBoard: tensorboard --logdir {run.tensorboard_dir}")
        saver = RunCheckpoint(writer, history, stop_event, global_batch)
        guard = CollapseGuard(ds.class_names, report)
        extra = list(callbacks) + ([watchdog] if watchdog is not None else [])
        if strategy.num_replicas_in_sync > 1:  # before validation reads the statistics
            extra.insert(0, AverageReplicaStatistics(strategy))
        watching = watchdog.watching if watchdog else lambda what: contextlib.nullcontext()
        try:
            with watching("training"):
                start = epochs_done
                for i in range(phase, len(phases)):
                    end = phases[i][0]
                    if i > phase:  # the next phase: what trains changes, and the learning rate
                        if len(history) < start:  # stopped early, by the user, or on a bad loss
                            break
                        keras.config.set_dtype_policy(config.precision)
                        try:
                            with strategy.scope():
                                _start_phase(net, config, phases, i, steps, n, jit)
                        finally:
                            keras.config.set_dtype_policy(previous_policy)
                        prepare_for_fit(net, strategy, train_ds)
                    if start < end:
                        net.fit(
                            train_ds,
                            validation_data=test_ds,
                            epochs=end,
                            steps_per_epoch=steps,
                            initial_epoch=start,
                            callbacks=_callbacks(
                                config, writer, guard, saver, extra, append=start > 0
                            ),
                            verbose=verbose,
                            shuffle=False,  # the pipeline shuffles, seeded
                        )
                    start = end
                _raise_on_bad_loss(saver, run)
                writer.save_model(net)
                record["epochs_done"] = len(history)
                # Every epoch whose validation predictions collapsed (resumed epochs
                # included), and the details when the final model's did.
                record["collapsed_epochs"] = [h["epoch"] for h in history if h.get("collapsed")]
                last = guard.collapses[-1] if guard.collapses else None
                final = last and history and last["epoch"] == len(history)
                record["collapse"] = last if final else None
                writer.write_config(record)
                test_loss, test_accuracy = net.evaluate(test_ds, verbose=0)[:2]
        except tf.errors.OpError as err:
            cause = cluster_failure(err) if worker.num_workers > 1 else None
            if cause is None:
                raise
            raise TrainingError(
                f"{worker.task} lost the cluster ({cause}); {_restart(run, len(history))}."
            ) from err
    return TrainResult(
        run_dir=run.path,
        model=net,
        history=history,
        test_accuracy=float(test_accuracy),
        test_loss=float(test_loss),
        stopped_early=saver.stopped_by_user or len(history) < config.epochs,
        collapses=guard.collapses,
        config=config,
        embeddings=record["embeddings"],
    )


def _raise_on_bad_loss(saver: RunCheckpoint, run: RunDir) -> None:
    if not saver.bad_loss:
        return
    epoch, batch, loss = saver.bad_loss
    done = len(saver.history)
    kept = (
        f"the last good checkpoint (epoch {done}) is kept in {run.checkpoint_path(done)}; "
        f"resume with --resume {run.path} and a lower learning rate"
        if done
        else "no epoch had completed, so there is no checkpoint"
    )
    where = f"epoch {epoch}" + (f", batch {batch}" if batch > 0 else "")
    raise TrainingError(f"Loss became {loss} at {where}; training stopped and {kept}.")


def _stalled(timeout: float, run: RunDir, what: str) -> str:
    done = run.read_state().get("epochs_done", 0) if run.state_path.exists() else 0
    return (
        f"no progress for {timeout:g} s while {what}: a worker of the TF_CONFIG cluster is "
        f"missing, stopped or stuck; {_restart(run, done)}."
    )


def _restart(run: RunDir, done: int) -> str:
    """How to go on after a worker was lost, ``done`` epochs into the run."""
    if not done:
        return "no epoch had completed: start every worker again with the same command"
    return f"epoch {done} is checkpointed: start every worker again with --resume {run.path}"
