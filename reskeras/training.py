"""The training engine: one call from task and model name to a run directory.

``train()`` loads a task, builds a registered model, compiles it (XLA by default, optional
mixed precision, a ``tf.distribute`` strategy), fits it with checkpoints every epoch and
writes a run directory::

    runs/<name>/config.json      what was asked for, and how many epochs are done
    runs/<name>/checkpoints/     epoch-NNNN.keras (model + optimizer state), state.json
    runs/<name>/metrics.csv      one row per epoch
    runs/<name>/tb/              TensorBoard logs
    runs/<name>/model.keras      the trained model (raw pixels or token ids in, logits out)
    runs/<name>/labels.json      class names, index = class id
    runs/<name>/preprocessor.keras  text runs: raw strings -> token ids

A checkpoint is written atomically at the end of every epoch, so a run killed at any moment
resumes (``resume=run_dir``) from its last completed epoch with optimizer state and schedule
position (both follow ``optimizer.iterations``) restored.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from reskeras import data as data_lib
from reskeras.blocks import _check_choice, _check_positive_int
from reskeras.models import FAMILIES, build_model, resolve_model

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "constant")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")

_register = keras.saving.register_keras_serializable(package="reskeras")


class TrainingError(RuntimeError):
    """Training could not go on (non-finite loss, a run directory in the way ...)."""


# -- losses and schedules --------------------------------------------------------------


@_register
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits with integer labels and label smoothing."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "crossentropy", **kwargs):
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
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, cosine decay to 0 at ``total_steps``."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        progress = ops.clip(progress, 0.0, 1.0)
        cosine = 0.5 * self.peak * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


@_register
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle (Smith 2018): cosine ramp from ``peak/div`` up to ``peak`` over the first
    ``pct_start`` of training, then cosine annealing to ``peak/final_div``."""

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


def make_schedule(name: str, peak: float, total_steps: int, warmup_steps: int):
    """A learning-rate schedule by name: ``cosine`` (with warm-up), ``onecycle``, ``constant``."""
    _check_choice("schedule", name, SCHEDULES)
    if name == "cosine":
        return WarmupCosine(peak, total_steps, warmup_steps)
    if name == "onecycle":
        return OneCycle(peak, total_steps)
    return peak


def make_optimizer(name: str, schedule, weight_decay: float) -> keras.optimizers.Optimizer:
    """SGD with Nesterov momentum or AdamW, both with decoupled weight decay that spares
    normalization parameters and biases."""
    _check_choice("optimizer", name, OPTIMIZERS)
    if name == "sgd":
        opt = keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay or None
        )
    else:
        opt = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias", "embeddings"])
    return opt


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """``auto``: MirroredStrategy when more than one GPU, else the default strategy."""
    _check_choice("strategy", name, STRATEGIES)
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
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


# -- callbacks --------------------------------------------------------------------------


def _atomic_save(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    model.save(tmp)
    os.replace(tmp, path)


def _atomic_json(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


class RunCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer state atomically after every epoch; stops on a non-finite
    loss (keeping the last good checkpoint) or when ``stop_event`` is set."""

    def __init__(self, run_dir: Path, history: list, stop_event: threading.Event | None = None):
        super().__init__()
        self.dir = run_dir / "checkpoints"
        self.history = history
        self.stop_event = stop_event
        self.bad_loss: tuple[int, int, float] | None = None
        self.stopped_by_user = False
        self._epoch = 0
        self._start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = time.time()

    def on_train_batch_end(self, batch, logs=None):
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
        lr = self.model.optimizer.learning_rate
        row = {"epoch": epoch + 1, **logs, "lr": float(lr), "seconds": time.time() - self._start}
        self.history.append(row)
        # The checkpoint file is written first; the atomic swap of state.json that names
        # it is the commit point, so a kill at any moment leaves a consistent pair.
        name = f"epoch-{epoch + 1:04d}.keras"
        _atomic_save(self.model, self.dir / name)
        state = {"epochs_done": epoch + 1, "checkpoint": name, "history": self.history}
        _atomic_json(state, self.dir / "state.json")
        for old in self.dir.glob("epoch-*.keras"):
            if old.name != name:
                old.unlink()


# -- the engine -------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    run_dir: Path
    model: keras.Model
    history: list[dict] = field(default_factory=list)
    test_accuracy: float | None = None
    test_loss: float | None = None
    stopped_early: bool = False


DEFAULTS: dict[str, Any] = {
    "task": "fashion_mnist",
    "model": "cifar_resnet20",
    "depth": None,
    "data": None,
    "data_dir": None,
    "epochs": 10,
    "batch_size": 128,
    "lr": None,
    "optimizer": None,
    "schedule": "cosine",
    "warmup_epochs": None,
    "weight_decay": None,
    "label_smoothing": 0.1,
    "precision": "float32",
    "jit_compile": True,
    "strategy": "auto",
    "seed": 0,
    "deterministic": False,
    "early_stopping_patience": None,
    "limit_train": None,
    "limit_test": None,
    "augment": True,
    "model_kwargs": {},
    "text_column": None,
    "label_column": None,
    "sequence_length": None,
    "vocabulary_size": None,
}
# Options left at None take their task kind's default: SGD for image nets (Goyal et al.),
# AdamW for text, where embeddings need adaptive steps.
KIND_DEFAULTS = {
    "image": {"optimizer": "sgd", "weight_decay": 5e-4, "warmup_epochs": 1},
    "text": {
        "optimizer": "adamw",
        "weight_decay": 0.05,
        "warmup_epochs": 0,
        "sequence_length": 64,
        "vocabulary_size": 20_000,
    },
}


def default_lr(optimizer: str, batch_size: int) -> float:
    """The learning rate ``train`` picks when none is given: 0.1 x batch/256 for SGD (the
    linear scaling rule of Goyal et al. 2017), 1e-3 for AdamW."""
    return 0.1 * batch_size / 256 if optimizer == "sgd" else 1e-3


def _new_run_dir(out, task: str, model: str) -> Path:
    if out is None:
        out = Path("runs") / f"{task}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(out)
    if (run_dir / "checkpoints" / "state.json").exists() or (run_dir / "model.keras").exists():
        raise TrainingError(
            f"Run directory {str(run_dir)!r} already holds a run; continue it with "
            f"--resume {run_dir} or choose another --out."
        )
    return run_dir


def _prepare_data(cfg: dict, global_batch: int, saved_preprocessor: Path | None = None):
    """Loads the task and builds the pipelines; text is vectorized with the run's saved
    preprocessor when resuming (token ids must mean what they meant), else a new one."""
    ds = data_lib.load_task(
        cfg["task"],
        cfg["data"],
        data_dir=cfg["data_dir"],
        text_column=cfg["text_column"],
        label_column=cfg["label_column"],
        seed=cfg["seed"],
    )
    train_split, test_split = ds.train, ds.test
    if cfg["limit_train"]:
        train_split = train_split.take(int(cfg["limit_train"]))
    if cfg["limit_test"]:
        test_split = test_split.take(int(cfg["limit_test"]))
    vectorizer = None
    if ds.spec.kind == "text":
        from reskeras import text as text_lib

        if saved_preprocessor is not None and saved_preprocessor.exists():
            saved = keras.saving.load_model(saved_preprocessor, safe_mode=True)
            vectorizer = next(
                layer for layer in saved.layers if isinstance(layer, keras.layers.TextVectorization)
            )
        else:
            vectorizer = text_lib.adapt_vectorizer(
                train_split.map(lambda x, y: x),
                vocabulary_size=cfg["vocabulary_size"],
                sequence_length=cfg["sequence_length"],
            )
        train_split = text_lib.vectorize_dataset(train_split, vectorizer)
        test_split = text_lib.vectorize_dataset(test_split, vectorizer)
    train_ds = data_lib.make_pipeline(
        train_split,
        global_batch,
        training=True,
        seed=cfg["seed"],
        augment=cfg["augment"],
        flip=ds.spec.flip,
    )
    test_ds = data_lib.make_pipeline(test_split, global_batch, training=False)
    return ds, train_ds, test_ds, vectorizer


def _build(cfg: dict, ds, vocabulary_size: int | None = None) -> keras.Model:
    kwargs = dict(cfg["model_kwargs"])
    if ds.spec.kind == "image":
        kwargs.update(input_shape=ds.spec.input_shape)
        if ds.spec.input_mean is not None:
            kwargs.update(input_mean=ds.spec.input_mean, input_std=ds.spec.input_std)
    else:
        # The adapted vocabulary may be smaller than the cap: size the embedding to it.
        kwargs.update(sequence_length=cfg["sequence_length"], vocabulary_size=vocabulary_size)
    return build_model(cfg["model"], depth=cfg["depth"], num_classes=len(ds.class_names), **kwargs)


def _resolve_config(resume, overrides: dict) -> tuple[dict, Path | None, dict, list]:
    """The run's config, directory, checkpoint state and history (fresh or resumed)."""
    if resume is None:
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"train() got unexpected arguments {sorted(unknown)}")
        cfg = {**DEFAULTS, **overrides}
        return cfg, None, {}, []
    run_dir = Path(resume)
    state_path = run_dir / "checkpoints" / "state.json"
    if not (run_dir / "config.json").exists():
        raise TrainingError(f"Cannot resume {str(run_dir)!r}: it has no config.json.")
    cfg = {**DEFAULTS, **json.loads((run_dir / "config.json").read_text())["train"]}
    if "epochs" in overrides:
        cfg["epochs"] = overrides["epochs"]
    if not state_path.exists():
        return cfg, run_dir, {}, []  # killed before its first epoch ended: start over
    state = json.loads(state_path.read_text())
    return cfg, run_dir, state, list(state["history"])


def train(
    task: str = DEFAULTS["task"],
    model: str = DEFAULTS["model"],
    *,
    out: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stop_event: threading.Event | None = None,
    verbose: int | str = "auto",
    **options,
) -> TrainResult:
    """Trains ``model`` on ``task`` and writes a run directory; see the module docstring.

    Options (defaults in ``DEFAULTS``, and ``KIND_DEFAULTS`` for those left at None: SGD for
    image tasks, AdamW for text): ``depth``, ``data``, ``epochs``, ``batch_size`` (per
    replica), ``lr`` (default: 0.1 x batch/256 for SGD, 1e-3 for AdamW), ``optimizer``,
    ``schedule``, ``warmup_epochs``, ``weight_decay``, ``label_smoothing``, ``precision``,
    ``jit_compile``, ``strategy``, ``seed``, ``deterministic``, ``early_stopping_patience``,
    ``limit_train``/``limit_test`` (subsample), ``augment``, ``model_kwargs`` (builder
    overrides), and for text ``text_column``, ``label_column``, ``sequence_length``,
    ``vocabulary_size``. ``resume`` continues a run from its last completed epoch.
    """
    cfg, run_dir, state, history = _resolve_config(
        resume, {"task": task, "model": model, **options}
    )
    spec = data_lib.get_task(cfg["task"])
    for key, value in KIND_DEFAULTS[spec.kind].items():
        if cfg[key] is None:
            cfg[key] = value
    _check_choice("precision", cfg["precision"], PRECISIONS)
    _check_choice("optimizer", cfg["optimizer"], OPTIMIZERS)
    _check_choice("schedule", cfg["schedule"], SCHEDULES)
    _check_choice("strategy", cfg["strategy"], STRATEGIES)
    for key in ("epochs", "batch_size"):
        _check_positive_int(key, cfg[key])
    family, _, _ = resolve_model(cfg["model"], cfg["depth"])  # fail before loading data
    if family.kind != spec.kind:
        choices = ", ".join(sorted(f for f in FAMILIES if FAMILIES[f].kind == spec.kind))
        raise ValueError(
            f"Model {cfg['model']!r} is for {family.kind} data but task {cfg['task']!r} is "
            f"{spec.kind}; choose a {spec.kind} family: {choices or 'none registered'}."
        )
    if run_dir is None:
        run_dir = _new_run_dir(out, cfg["task"], cfg["model"])

    keras.utils.set_random_seed(cfg["seed"])
    if cfg["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(cfg["strategy"])
    global_batch = cfg["batch_size"] * strategy.num_replicas_in_sync
    resumed_preprocessor = run_dir / "preprocessor.keras" if state else None
    ds, train_ds, test_ds, vectorizer = _prepare_data(cfg, global_batch, resumed_preprocessor)
    steps_per_epoch = int(train_ds.cardinality())
    if steps_per_epoch < 1:
        raise data_lib.DataError(
            f"{cfg['task']}: {ds.num_train if not cfg['limit_train'] else cfg['limit_train']} "
            f"training examples make no full batch of {global_batch}; lower --batch-size."
        )

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    config = {
        "train": cfg,
        "kind": ds.spec.kind,
        "input_shape": list(ds.spec.input_shape) if ds.spec.input_shape else None,
        "num_classes": len(ds.class_names),
        "source": ds.source,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch_size": global_batch,
    }
    _atomic_json(config, run_dir / "config.json")
    _atomic_json(list(ds.class_names), run_dir / "labels.json")
    if vectorizer is not None and resumed_preprocessor is None:
        from reskeras import text as text_lib

        text_lib.preprocessor_model(vectorizer).save(run_dir / "preprocessor.keras")

    epochs_done = state.get("epochs_done", 0)
    checkpoint = run_dir / "checkpoints" / state.get("checkpoint", "none")
    previous_policy = keras.config.dtype_policy()
    # The policy is global while building, and while loading a checkpoint: a model that
    # loads under float32 would compile without the LossScaleOptimizer it was saved with.
    keras.config.set_dtype_policy(cfg["precision"])
    try:
        with strategy.scope():
            if epochs_done:
                net = keras.saving.load_model(checkpoint, safe_mode=True)
            else:
                vocab = vectorizer.vocabulary_size() if vectorizer is not None else None
                net = _build(cfg, ds, vocab)
                lr = cfg["lr"] or default_lr(cfg["optimizer"], global_batch)
                total = steps_per_epoch * cfg["epochs"]
                # Warm-up is capped at a fifth of training, so short runs still decay.
                warmup = min(steps_per_epoch * cfg["warmup_epochs"], total // 5)
                schedule = make_schedule(cfg["schedule"], lr, total, warmup)
                net.compile(
                    optimizer=make_optimizer(cfg["optimizer"], schedule, cfg["weight_decay"]),
                    loss=SparseSmoothedCrossentropy(cfg["label_smoothing"]),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                    jit_compile=cfg["jit_compile"],
                )
    finally:
        keras.config.set_dtype_policy(previous_policy)

    saver = RunCheckpoint(run_dir, history, stop_event)
    cbs = [
        saver,
        keras.callbacks.CSVLogger(str(run_dir / "metrics.csv"), append=epochs_done > 0),
        keras.callbacks.TensorBoard(str(run_dir / "tb"), write_graph=False, profile_batch=0),
        *callbacks,
    ]
    if cfg["early_stopping_patience"]:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=int(cfg["early_stopping_patience"]), mode="max"
            )
        )
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if epochs_done < cfg["epochs"]:
        net.fit(
            train_ds,
            validation_data=test_ds,
            epochs=cfg["epochs"],
            initial_epoch=epochs_done,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles, seeded
        )
    if saver.bad_loss:
        epoch, batch, loss = saver.bad_loss
        done = len(history)
        kept = (
            f"the last good checkpoint (epoch {done}) is kept in "
            f"{run_dir / 'checkpoints' / f'epoch-{done:04d}.keras'}; "
            f"resume with --resume {run_dir} and a lower learning rate"
            if done
            else "no epoch had completed, so there is no checkpoint"
        )
        where = f"epoch {epoch}" + (f", batch {batch}" if batch > 0 else "")
        raise TrainingError(f"Loss became {loss} at {where}; training stopped and {kept}.")

    net.save(run_dir / "model.keras")
    config["epochs_done"] = len(history)
    _atomic_json(config, run_dir / "config.json")
    test_loss, test_accuracy = net.evaluate(test_ds, verbose=0)[:2]
    return TrainResult(
        run_dir=run_dir,
        model=net,
        history=history,
        test_accuracy=float(test_accuracy),
        test_loss=float(test_loss),
        stopped_early=saver.stopped_by_user or len(history) < cfg["epochs"],
    )


# -- evaluation -------------------------------------------------------------------------


def load_run(run_dir: str | os.PathLike) -> tuple[keras.Model, dict, list[str]]:
    """The trained model (uncompiled: for inference and export; train(resume=...) continues
    training), config and class names of a run directory."""
    run_dir = Path(run_dir)
    path = run_dir / "model.keras"
    if not path.exists():
        raise TrainingError(
            f"{str(run_dir)!r} holds no finished run (no model.keras); finish it with --resume."
        )
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    config = json.loads((run_dir / "config.json").read_text())
    labels = json.loads((run_dir / "labels.json").read_text())
    return model, config, labels


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]):
    """Accuracy, per-class recall and macro-F1 from integer labels and predictions."""
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(1), confusion.sum(0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    return {
        "accuracy": float(tp.sum() / max(confusion.sum(), 1)),
        "per_class_recall": {
            n: round(float(r), 6) for n, r in zip(class_names, recall, strict=True)
        },
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "num_examples": int(confusion.sum()),
    }


def evaluate(
    run_dir: str | os.PathLike,
    task: str | None = None,
    data: str | os.PathLike | None = None,
    batch_size: int = 256,
) -> dict:
    """Evaluates a finished run on the test split of its task (or another ``task``/``data``)."""
    model, config, labels = load_run(run_dir)
    cfg = dict(config["train"])
    if task is not None:
        cfg["task"], cfg["data"] = task, data
    elif data is not None:
        cfg["data"] = data
    ds = data_lib.load_task(
        cfg["task"],
        cfg["data"],
        data_dir=cfg.get("data_dir"),
        text_column=cfg.get("text_column"),
        label_column=cfg.get("label_column"),
        seed=cfg["seed"],
    )
    if list(ds.class_names) != list(labels):
        raise ValueError(
            f"Task {cfg['task']!r} has classes {list(ds.class_names)} but the run was trained "
            f"on {labels}."
        )
    test = ds.test.take(cfg["limit_test"]) if cfg.get("limit_test") and task is None else ds.test
    preprocessor = None
    if config["kind"] == "text":
        preprocessor = keras.saving.load_model(Path(run_dir) / "preprocessor.keras", safe_mode=True)
    logits, y_true = [], []
    for x, y in test.batch(batch_size):
        if preprocessor is not None:
            x = preprocessor(x)
        logits.append(keras.ops.convert_to_numpy(model(x, training=False)))
        y_true.append(y.numpy())
    logits = np.concatenate(logits).astype("float64")
    y_true = np.concatenate(y_true).astype("int64")
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    loss = float(-log_probs[np.arange(len(y_true)), y_true].mean())
    return {"loss": loss, **classification_report(y_true, logits.argmax(1), labels)}
