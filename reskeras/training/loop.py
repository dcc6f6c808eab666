"""The training engine: one call from a task and a model name to a run directory.

:func:`train` runs four named steps: :func:`resolve` the settings (every default, from
:mod:`reskeras.training.recipes`), build the model or resume it from its checkpoint
(:func:`_build_or_resume`), fit the phases (:func:`_fit_phases`), and finish
(:func:`_finish`: the model, the record, the test score). A run killed at any moment
resumes (``resume=run_dir``) from its last completed epoch with optimizer state and
schedule position (both follow ``optimizer.iterations``) restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from reskeras import data as data_lib
from reskeras.console import device_line
from reskeras.data import corpus as corpus_lib
from reskeras.data import text as text_lib
from reskeras.data import vectors as vectors_lib
from reskeras.data.pipeline import sample_batches
from reskeras.errors import TrainingError
from reskeras.evaluation.collapse import CollapseGuard
from reskeras.evaluation.translation import TranslationCollapseGuard
from reskeras.models.keras_hub import HUB_FAMILY
from reskeras.models.registry import build_model
from reskeras.training.callbacks import (
    PRECISE_BN_EXAMPLES,
    PreciseBatchNorm,
    Progress,
    RunCheckpoint,
)
from reskeras.training.config import TrainConfig
from reskeras.training.distributed import (
    AverageReplicaStatistics,
    Watchdog,
    Worker,
    cluster_failure,
    make_strategy,
    prepare_for_fit,
    shard_by_data,
    xla_compiles,
)
from reskeras.training.objectives import make_loss, make_metrics, monitor
from reskeras.training.optim import make_optimizer, make_schedule
from reskeras.training.precision import dtype_policy
from reskeras.training.recipes import RunSettings, resolve
from reskeras.training.rundir import RunDir, RunRecord, load_keras
from reskeras.training.xla import resolve_jit_compile
from reskeras.weights.freeze import freeze

__all__ = ["TrainResult", "TrainingError", "train"]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        model: the trained model.
        history: one dict of metrics per completed epoch.
        test_accuracy: accuracy on the task's test split (a language model's: next-token
            accuracy).
        test_loss: loss on the task's test split.
        test_perplexity: a language model's perplexity on the test split (``None`` for
            classifiers).
        stopped_early: training ended before its last epoch (early stopping, the Stop button,
            a non-finite loss).
        collapses: the epochs whose validation predictions collapsed onto one class.
        config: the resolved options the run trained with.
        embeddings: the word vectors used (file, width, vocabulary coverage), if any.
    """

    run_dir: Path
    model: keras.Model
    history: list[dict] = field(default_factory=list)
    test_accuracy: float | None = None
    test_loss: float | None = None
    test_perplexity: float | None = None
    stopped_early: bool = False
    collapses: list[dict] = field(default_factory=list)
    config: TrainConfig | None = None
    embeddings: dict | None = None


@dataclass
class _Data:
    """The loaded task and its pipelines: ``validation`` is read every epoch, ``test`` only
    once training is over; ``calibration`` is what the batch norms' statistics are
    recomputed on (:class:`PreciseBatchNorm`)."""

    task: data_lib.LoadedTask
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    calibration: tf.data.Dataset
    vectorizer: keras.layers.Layer | None
    vectors: object | None
    vocabulary: Any = None  # a sequence model's: corpus.Vocabulary or subword.SubwordVocabulary
    validation_pairs: list = field(default_factory=list)  # a translation's, as text


def _warn(line: str) -> None:
    print(f"reskeras: warning: {line}", file=sys.stderr)


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
    **options: Any,
) -> TrainResult:
    """Trains ``model`` on ``task`` and writes a run directory.

    Under ``strategy="multi_worker"`` every worker runs this same call with the same ``out``
    (or ``resume``); only the chief writes the run directory
    (:mod:`reskeras.training.distributed`).

    Args:
        task: the task to train on (``reskeras list``).
        model: a model or family name; ``None``: the recipe's.
        out: the run directory (default ``runs/<task>-<model>-<time>``).
        resume: continue the run in this directory from its last completed epoch
            (``epochs`` may be raised).
        callbacks: extra Keras callbacks.
        stop_event: set it to end training at the next batch (the app's Stop button).
        verbose: Keras' verbosity; ``"auto"``: a progress bar on a terminal, else a line an
            epoch.
        report: receives one-line warnings (default: printed to stderr), e.g. when the
            validation predictions collapse onto one class.
        **options: :class:`~reskeras.training.config.TrainConfig` fields (``epochs``,
            ``batch_size``, ``lr``, ``optimizer``, ``precision``, ``jit_compile``, ``data``,
            ``model_kwargs`` ...); unset ones are decided by
            :func:`~reskeras.training.recipes.resolve`.

    Returns:
        The :class:`TrainResult`.
    """
    if resume is None:
        given = TrainConfig.from_dict({"task": task, "model": model, **options})
        state, saved = {}, RunRecord()
    else:
        run = RunDir(resume)
        if not run.config_path.exists():
            raise TrainingError(f"Cannot resume {str(run.path)!r}: it has no config.json.")
        saved = run.read_config()
        given = TrainConfig.from_dict(saved.train)
        if options.get("epochs") is not None:
            given = given.replace(epochs=options["epochs"])
        state = run.read_state()  # {} when killed before its first epoch ended: start over
    settings = resolve(given)  # a model that does not fit the task fails before any data loads
    if resume is None:
        if out is None and settings.config.strategy == "multi_worker":
            raise TrainingError(
                "strategy='multi_worker' needs --out: every worker must name the same run "
                "directory, on storage they all reach."
            )
        run = RunDir(out if out is not None else Path("runs") / settings.run_name)
        if run.holds_run:
            raise TrainingError(
                f"Run directory {str(run.path)!r} already holds a run; continue it with "
                f"--resume {run.path} or choose another --out."
            )
    config = settings.config
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    # A worker of a cluster must not wait forever for the others (reskeras.training.distributed).
    watchdog = None
    if config.strategy == "multi_worker":
        watchdog = Watchdog(config.worker_timeout, partial(_stalled, config.worker_timeout, run))
    try:
        with watchdog.watching("joining the cluster") if watchdog else contextlib.nullcontext():
            strategy = make_strategy(config.strategy)
        return _run(
            given, run, state, saved, strategy, watchdog, callbacks=callbacks,
            stop_event=stop_event, verbose=verbose, report=report or _warn,
        )  # fmt: skip
    finally:
        if watchdog is not None:
            watchdog.close()


def _run(
    given: TrainConfig,
    run: RunDir,
    state: dict,
    saved: RunRecord,
    strategy: tf.distribute.Strategy,
    watchdog: Watchdog | None,
    *,
    callbacks: Sequence[keras.callbacks.Callback],
    stop_event: threading.Event | None,
    verbose: int | str,
    report: Callable[[str], None],
) -> TrainResult:
    """:func:`train` once the run directory and the strategy are settled."""
    xla_ok = xla_compiles(strategy)
    if given.jit_compile is True and not xla_ok:  # asked for: say why it is off
        given = given.replace(jit_compile=False)
        report(
            f"XLA is off: Keras cannot compile one training step for "
            f"{strategy.num_replicas_in_sync} replicas."
        )
    replicas = strategy.num_replicas_in_sync
    settings, data = _settle(given, run, state, saved, replicas)
    worker = Worker.of(strategy)
    # Every worker runs every step below, saves included (they may need all workers); only
    # the chief's writer is the run directory.
    with worker.writes_to(run) as writer:
        record = _begin(writer, settings, data, saved, worker, resumed=bool(state))
        net = _build_or_resume(settings, data, run, state, record, writer, strategy, xla_ok)
        history = list(state.get("history", []))
        saver = RunCheckpoint(writer, history, stop_event, settings.global_batch)
        if settings.task.kind == "translation":
            guard = TranslationCollapseGuard(
                data.validation_pairs, data.vocabulary, settings.config.sequence_length, report
            )
        else:
            guard = CollapseGuard(data.task.class_names, report)
        extra = list(callbacks) + ([watchdog] if watchdog is not None else [])
        if replicas > 1:  # before validation reads the statistics
            extra.insert(0, AverageReplicaStatistics(strategy))
        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2
        if verbose:
            extra.append(Progress())
            if worker.is_chief:
                print(f"{device_line()}; run directory {run.path}")
                print(f"TensorBoard: tensorboard --logdir {run.tensorboard_dir}")
        watching = watchdog.watching if watchdog else lambda what: contextlib.nullcontext()
        try:
            with watching("training"):
                jit = (record.xla or {}).get("jit_compile", False)
                start = state.get("epochs_done", 0)
                _fit_phases(
                    net, settings, data, strategy, writer, saver, guard, extra,
                    start=start, jit=jit, verbose=verbose,
                )  # fmt: skip
                return _finish(net, settings, data, run, writer, record, saver, guard)
        except tf.errors.OpError as err:
            cause = cluster_failure(err) if worker.num_workers > 1 else None
            if cause is None:
                raise
            raise TrainingError(
                f"{worker.task} lost the cluster ({cause}); {_restart(run, len(history))}."
            ) from err


def _settle(
    given: TrainConfig, run: RunDir, state: dict, saved: RunRecord, replicas: int
) -> tuple[RunSettings, _Data]:
    """The run's settings once the data is loaded (its size decides the epoch length), and
    the data, repeated when an epoch is longer than one pass."""
    data, given = _load_data(resolve(given, replicas=replicas), given, run if state else None)
    settings = resolve(
        given,
        num_train=data.task.num_train,
        replicas=replicas,
        steps_per_epoch=saved.steps_per_epoch if state else None,
        grey=data_lib.grey_images(data.task.train) if data.task.spec.kind == "image" else None,
    )
    if settings.steps_per_epoch > settings.steps_per_pass:
        data = replace(data, train=data.train.repeat())
    return settings, data


def _begin(
    writer: RunDir,
    settings: RunSettings,
    data: _Data,
    saved: RunRecord,
    worker: Worker,
    *,
    resumed: bool,
) -> RunRecord:
    """Writes what the run is before it trains: its record, labels and preprocessor."""
    writer.prepare()
    spec = data.task.spec
    record = RunRecord(
        train=settings.config.to_dict(),
        kind=settings.task.kind,
        input_shape=list(spec.input_shape) if spec.input_shape else None,
        num_classes=len(data.task.class_names),
        source=data.task.source,
        replicas=settings.global_batch // settings.config.batch_size,
        workers=worker.num_workers,
        global_batch_size=settings.global_batch,
        steps_per_epoch=settings.steps_per_epoch,
        validation={"examples": data.task.num_validation, "source": data.task.validation_source},
        reasons=dict(settings.reasons),
        embeddings=data.vectors.summary() if data.vectors is not None else saved.embeddings,
        xla=saved.xla,  # how the checkpointed model was compiled
    )
    writer.write_config(record)
    writer.write_labels(data.task.class_names)  # a sequence model's: its vocabulary
    if settings.task.kind == "translation" and not resumed:
        data.vocabulary.save(writer.subwords_path)
    if data.vectorizer is not None and not resumed:
        writer.save_preprocessor(text_lib.preprocessor_model(data.vectorizer))
    return record


def _load_data(
    settings: RunSettings, given: TrainConfig, saved: RunDir | None
) -> tuple[_Data, TrainConfig]:
    """The task, its pipelines, and ``given`` with what the data decides (the sequence
    length). Text is vectorized with the run's saved preprocessor when resuming (token ids
    must keep their meaning), else with a vocabulary adapted on the training split; for a
    keras-hub model it stays strings (its ``fit`` maps its own preprocessor over batches)."""
    config = settings.config
    task = data_lib.load_task(
        config.task,
        config.data,
        data_dir=config.data_dir,
        text_column=config.text_column,
        label_column=config.label_column,
        seed=config.seed,
        languages=config.languages,
    )
    if task.spec.kind == "language_model":  # its reader splits; limit_train: the first lines
        return _language_model_data(settings, given, task, saved)
    if task.spec.kind == "translation":  # likewise: limit_train keeps the first pairs
        return _translation_data(settings, given, task, saved)
    task = data_lib.training_splits(
        task, config.validation_fraction, seed=config.seed, limit_train=config.limit_train
    )
    train_split, val_split, test_split = task.train, task.validation, task.test
    if config.limit_test:
        test_split = test_split.take(config.limit_test)
    vectorizer = vectors = None
    if task.spec.kind == "text" and settings.family.name != HUB_FAMILY:
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
        val_split = text_lib.vectorize_dataset(val_split, vectorizer)
        test_split = text_lib.vectorize_dataset(test_split, vectorizer)
        if given.sequence_length is None:  # the length the vectorizer chose from the data
            length = vectorizer.get_config()["output_sequence_length"]
            given = given.replace(sequence_length=length)
        if config.embeddings is not None and saved is None:  # a checkpoint holds them already
            vectors = vectors_lib.load_word_vectors(
                config.embeddings, vectorizer.get_vocabulary(), seed=config.seed
            )
    data = _pipelines(settings, task, (train_split, val_split, test_split), vectorizer, vectors)
    return data, given


def _language_model_data(
    settings: RunSettings, given: TrainConfig, task: data_lib.LoadedTask, saved: RunDir | None
) -> tuple[_Data, TrainConfig]:
    """A corpus' windows (:mod:`reskeras.data.corpus`): the vocabulary is the training
    text's ``vocabulary_size`` most frequent words (a resumed run keeps its own), and
    ``limit_train`` keeps the first lines of the training text."""
    config = settings.config

    def lines(split: tf.data.Dataset) -> list[str]:
        return [line.decode("utf-8") for line in split.as_numpy_iterator()]

    train_lines = lines(task.train)[: config.limit_train or None]
    if saved is not None:
        vocabulary = corpus_lib.Vocabulary(tuple(saved.read_labels()))
    else:
        vocabulary = corpus_lib.Vocabulary.from_lines(train_lines, config.vocabulary_size)
    length = config.sequence_length
    splits, counts = [], []
    for split_lines in (train_lines, lines(task.validation), lines(task.test)):
        x, y = corpus_lib.windows(vocabulary.stream(split_lines), length)
        splits.append(tf.data.Dataset.from_tensor_slices((x, y)))
        counts.append(len(x))
    task, splits = _sequence_splits(task, vocabulary.tokens, splits, counts, config.limit_test)
    data = _pipelines(settings, task, splits, None, None)
    return replace(data, vocabulary=vocabulary), given


def _sequence_splits(
    task: data_lib.LoadedTask,
    tokens: Any,
    splits: list[tf.data.Dataset],
    counts: list[int],
    limit_test: int | None,
) -> tuple[data_lib.LoadedTask, tuple[tf.data.Dataset, ...]]:
    """``task`` with a sequence model's train, validation and test examples (the test split
    cut to ``limit_test``), its vocabulary as its classes; and the three splits."""
    if limit_test:
        splits[2], counts[2] = splits[2].take(limit_test), min(counts[2], limit_test)
    task = replace(
        task,
        class_names=list(tokens),
        train=splits[0],
        num_train=counts[0],
        validation=splits[1],
        num_validation=counts[1],
        test=splits[2],
        num_test=counts[2],
    )
    return task, tuple(splits)


def _translation_data(
    settings: RunSettings, given: TrainConfig, task: data_lib.LoadedTask, saved: RunDir | None
) -> tuple[_Data, TrainConfig]:
    """Sentence pairs as subword ids (:mod:`reskeras.data.subword`): one vocabulary of
    ``vocabulary_size`` pieces learned from both sides of the training pairs (a resumed run
    keeps its own); sentences longer than ``sequence_length`` tokens are cut, and counted."""
    from reskeras.data.subword import SubwordVocabulary, sentence_pairs

    config = settings.config

    def pairs(split: tf.data.Dataset) -> list[tuple[str, str]]:
        return [(s.decode("utf-8"), t.decode("utf-8")) for s, t in split.as_numpy_iterator()]

    # limit_train keeps the first pairs (read no more: a tfds corpus can hold millions)
    train_pairs = pairs(task.train.take(config.limit_train) if config.limit_train else task.train)
    if saved is not None:
        vocabulary = SubwordVocabulary.load(saved.subwords_path)
    else:  # its size may depend on how many pairs there are (resolve's rule)
        size = resolve(given, num_train=len(train_pairs)).config.vocabulary_size
        vocabulary = SubwordVocabulary.train([text for pair in train_pairs for text in pair], size)
    splits, counts, cut = [], [], 0
    validation_pairs = pairs(task.validation)
    for split_pairs in (train_pairs, validation_pairs, pairs(task.test)):
        examples, n = sentence_pairs(vocabulary, split_pairs, config.sequence_length)
        splits.append(examples)
        counts.append(len(split_pairs))
        cut += n
    if cut:
        _warn(
            f"{cut:,} sentences are longer than sequence_length={config.sequence_length} "
            "tokens and were cut to it (raise --sequence-length to keep them whole)"
        )
    task, splits = _sequence_splits(task, vocabulary.pieces, splits, counts, config.limit_test)
    train_ds, val_ds, test_ds = (
        shard_by_data(
            data_lib.bucketed_pairs(
                split,
                settings.global_batch,
                max_length=config.sequence_length,
                training=training,
                seed=config.seed,
            )
        )
        for split, training in zip(splits, (True, False, False), strict=True)
    )
    data = _Data(
        task, train_ds, val_ds, test_ds, val_ds.take(0), None, None, vocabulary, validation_pairs
    )
    if given.languages is None:  # config.json says which way the run translates
        given = given.replace(languages="-".join(task.languages))
    return data, given


def _pipelines(
    settings: RunSettings,
    task: data_lib.LoadedTask,
    splits: tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset],
    vectorizer: keras.layers.Layer | None,
    vectors: object | None,
) -> _Data:
    """The batched pipelines of the train, validation and test splits (as the model takes
    them), and the sample the batch norms are recomputed on."""
    config = settings.config
    train_split, val_split, test_split = splits
    train_ds = data_lib.make_pipeline(
        train_split,
        settings.global_batch,
        training=True,
        seed=config.seed,
        augment=bool(config.augment),
        flip=task.spec.flip,
    )
    replicas = settings.global_batch // config.batch_size
    val_ds, test_ds = (
        data_lib.make_pipeline(
            _even_for_replicas(split, count, replicas), settings.global_batch, training=False
        )
        for split, count in (
            (val_split, task.num_validation),
            (test_split, min(task.num_test, config.limit_test or task.num_test)),
        )
    )
    calibration = sample_batches(
        train_split, settings.global_batch, PRECISE_BN_EXAMPLES, seed=config.seed
    )
    return _Data(
        task,
        shard_by_data(train_ds),
        shard_by_data(val_ds),
        shard_by_data(test_ds),
        calibration,
        vectorizer,
        vectors,
    )


def _even_for_replicas(split: tf.data.Dataset, count: int, replicas: int) -> tf.data.Dataset:
    """``split`` less its last ``count % replicas`` examples: Keras cannot validate a last
    batch that does not divide evenly among the replicas (an ``AddN`` shape error in
    ``evaluate`` under ``MirroredStrategy``). ``evaluate()`` of a finished run scores every
    example."""
    return split if replicas == 1 else split.take(count - count % replicas)


def _build(settings: RunSettings, data: _Data) -> keras.Model:
    """A fresh model for the task's inputs and classes."""
    config, spec = settings.config, data.task.spec
    kwargs = dict(config.model_kwargs)
    if settings.family.name == HUB_FAMILY:
        kwargs.update(sequence_length=config.sequence_length)
    elif spec.kind == "language_model":
        kwargs.update(sequence_length=config.sequence_length, vocabulary_size=data.vocabulary.size)
    elif spec.kind == "translation":  # one joint vocabulary: the embeddings are shared
        kwargs.update(
            sequence_length=config.sequence_length,
            source_vocabulary_size=data.vocabulary.size,
            target_vocabulary_size=data.vocabulary.size,
        )
    elif spec.kind == "image":
        kwargs.update(input_shape=spec.input_shape)
        if config.weights is not None:
            kwargs.update(weights=config.weights)
        if config.input_size is not None:
            kwargs.update(input_size=config.input_size)
        # Pretrained weights bring their own preprocessing; from scratch, the data's.
        if spec.input_mean is not None and settings.recipe != "image_finetune":
            kwargs.update(input_mean=spec.input_mean, input_std=spec.input_std)
    else:
        # The adapted vocabulary may be smaller than the cap: size the embedding to it.
        kwargs.update(
            sequence_length=config.sequence_length,
            vocabulary_size=data.vectorizer.vocabulary_size(),
        )
    if data.vectors is not None:  # the vectors' width overrides a preset's embedding width
        kwargs.update(
            embeddings=data.vectors.matrix,
            embedding_dim=data.vectors.dim,
            trainable_embeddings=config.trainable_embeddings,
        )
    return build_model(
        config.model, depth=config.depth, num_classes=len(data.task.class_names), **kwargs
    )


def _compile(net: keras.Model, settings: RunSettings, phase: int, jit: bool) -> None:
    """Compiles for the epochs and peak learning rate of phase ``phase``."""
    config, steps = settings.config, settings.steps_per_epoch
    begin = settings.phases[phase - 1].end if phase else 0
    total = steps * (settings.phases[phase].end - begin)
    # Warm-up is capped at a fifth of training, so short runs still decay.
    warmup = min(steps * config.warmup_epochs, total // 5)
    schedule = make_schedule(config.schedule, settings.phases[phase].lr, total, warmup)
    kind = settings.task.kind
    net.compile(
        optimizer=make_optimizer(config.optimizer, schedule, config.weight_decay, config.ema),
        loss=make_loss(kind, config.label_smoothing),
        metrics=make_metrics(kind, int(net.outputs[0].shape[-1])),
        jit_compile=jit,
    )


def _start_phase(net: keras.Model, settings: RunSettings, phase: int, jit: bool) -> None:
    """Freezes what phase ``phase`` keeps fixed and compiles for its epochs and rate."""
    frozen = settings.phases[phase].frozen
    if frozen != "none" or phase > 0:  # else keep what the builder froze (word vectors)
        freeze(net, frozen)
    _compile(net, settings, phase, jit)


def _build_or_resume(
    settings: RunSettings,
    data: _Data,
    run: RunDir,
    state: dict,
    record: RunRecord,
    writer: RunDir,
    strategy: tf.distribute.Strategy,
    xla_ok: bool,
) -> keras.Model:
    """The model to fit: built, probed for XLA and compiled for its phase, or loaded from
    the run's last checkpoint (optimizer state included)."""
    done = state.get("epochs_done", 0)
    phase = settings.phase_of(done)
    hub = settings.family.name == HUB_FAMILY
    with dtype_policy(settings.config.precision), strategy.scope():
        if done:
            jit = (record.xla or {}).get("jit_compile", False)
            path = run.latest_checkpoint()
            if hub:
                # keras-hub tasks override compile() without compile_from_config, so Keras
                # cannot recompile them on load: compile as training did, build the
                # optimizer, then read model and optimizer variables (iterations included).
                net = load_keras(path)
                _compile(net, settings, phase, jit)
                net.optimizer.build(net.trainable_variables)
                net.load_weights(path)
            else:
                net = load_keras(path, compile=True)
                if settings.phase_of(done - 1) != phase:  # saved as the previous phase ended
                    _start_phase(net, settings, phase, jit)
        else:
            net = _build(settings, data)
            if xla_ok:
                # One replica in one process may probe; workers that must agree do not, nor
                # keras-hub models (their preprocessor runs inside fit).
                probe = strategy.num_replicas_in_sync == 1 and not hub
                jit, why = resolve_jit_compile(
                    settings.config.jit_compile,
                    net,
                    next(iter(data.train)),
                    make_loss(settings.task.kind, settings.config.label_smoothing),
                    probe=probe,
                )
            else:
                replicas = strategy.num_replicas_in_sync
                jit, why = False, {"reason": f"{replicas} replicas: no XLA step"}
            record.xla = {"jit_compile": jit, **why}
            writer.write_config(record)
            _start_phase(net, settings, phase, jit)
    prepare_for_fit(net, strategy, data.train)
    return net


def _fit_phases(
    net: keras.Model,
    settings: RunSettings,
    data: _Data,
    strategy: tf.distribute.Strategy,
    writer: RunDir,
    saver: RunCheckpoint,
    guard: CollapseGuard,
    extra: list,
    *,
    start: int,
    jit: bool,
    verbose: int,
) -> None:
    """Fits each remaining phase in turn (what trains changes, and the learning rate)."""
    first = settings.phase_of(start)
    for phase in range(first, len(settings.phases)):
        end = settings.phases[phase].end
        if phase > first:
            if len(saver.history) < start:  # stopped early, by the user, or on a bad loss
                break
            with dtype_policy(settings.config.precision), strategy.scope():
                _start_phase(net, settings, phase, jit)
            prepare_for_fit(net, strategy, data.train)
        if start < end:
            net.fit(
                data.train,
                validation_data=data.validation,
                epochs=end,
                steps_per_epoch=settings.steps_per_epoch,
                initial_epoch=start,
                callbacks=_callbacks(settings, writer, data, guard, saver, extra, append=start > 0),
                verbose=verbose,
                shuffle=False,  # the pipeline shuffles, seeded
            )
        start = end


def _callbacks(
    settings: RunSettings, run: RunDir, data: _Data, guard, saver, extra, *, append: bool
) -> list:
    """The callbacks of one ``fit``; the CSV log appends to the rows of earlier ones. Before
    a validation the EMA weights are swapped in, then the batch norms' statistics are
    recomputed for the weights validated, then (several replicas) averaged."""
    config = settings.config
    cbs = [
        PreciseBatchNorm(data.calibration),
        guard,  # before the loggers: they record the ``collapsed`` flag it adds
        saver,
        keras.callbacks.CSVLogger(str(run.metrics_path), append=append),
        keras.callbacks.TensorBoard(str(run.tensorboard_dir), write_graph=False, profile_batch=0),
        *extra,
    ]
    if config.ema:
        cbs.insert(0, keras.callbacks.SwapEMAWeights())  # validate with the averaged weights
    if config.early_stopping_patience:
        watched, mode = monitor(settings.task.kind)
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=watched, patience=config.early_stopping_patience, mode=mode
            )
        )
    return cbs


def _finish(
    net: keras.Model,
    settings: RunSettings,
    data: _Data,
    run: RunDir,
    writer: RunDir,
    record: RunRecord,
    saver: RunCheckpoint,
    guard: CollapseGuard,
) -> TrainResult:
    """Saves the model and the final record, and scores the test split."""
    _raise_on_bad_loss(saver, run)
    history = saver.history
    writer.save_model(net)
    record.epochs_done = len(history)
    # Every epoch whose validation predictions collapsed (resumed epochs included), and the
    # details when the final model's did.
    record.collapsed_epochs = [h["epoch"] for h in history if h.get("collapsed")]
    last = guard.collapses[-1] if guard.collapses else None
    record.collapse = last if last and history and last["epoch"] == len(history) else None
    writer.write_config(record)
    scores = net.evaluate(data.test, verbose=0, return_dict=True)
    return TrainResult(
        run_dir=run.path,
        model=net,
        history=history,
        test_accuracy=float(scores["accuracy"]),
        test_loss=float(scores["loss"]),
        test_perplexity=float(scores["perplexity"]) if "perplexity" in scores else None,
        stopped_early=saver.stopped_by_user or len(history) < settings.config.epochs,
        collapses=guard.collapses,
        config=settings.config,
        embeddings=record.embeddings,
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
