"""Scoring finished runs: accuracy, loss, per-class metrics, the confusion matrix, the most
confidently wrong examples and collapse checks (drawn and written by
:mod:`reskeras.evaluation.report`)."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from reskeras import data as data_lib
from reskeras.evaluation.collapse import find_collapse
from reskeras.evaluation.language import evaluate_language_model
from reskeras.evaluation.report import (
    GALLERY_SIZE,
    MistakeCollector,
    Results,
    classification_report,
)
from reskeras.evaluation.translation import evaluate_translation
from reskeras.models.registry import check_kind
from reskeras.training.recipes import resolve
from reskeras.training.rundir import RunDir

__all__ = ["classification_report", "evaluate", "score_run"]


def evaluate(
    run_dir: str | os.PathLike,
    task: str | None = None,
    data: str | os.PathLike | None = None,
    batch_size: int = 256,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    reference: str | os.PathLike | None = None,
    report_dir: str | os.PathLike | None = None,
) -> dict:
    """Scores a finished run: accuracy, loss, macro-F1, ``num_examples``, per-class recall and
    precision/recall/F1/support (``per_class``), the ``confusion`` matrix (rows: true class),
    and the ``checkpoint`` scored (``{"file": "model.keras", "epoch": N}``).

    Without ``task``/``data``: the test split the run was trained against. When the
    predictions collapsed onto one class the report has a ``collapsed`` entry. A language
    model's run is scored by perplexity instead
    (:func:`~reskeras.evaluation.language.evaluate_language_model`), a translation run by
    BLEU and chrF (:func:`~reskeras.evaluation.translation.evaluate_translation`).

    Args:
        run_dir: the run directory (written by ``reskeras.train``).
        task: score on this task's test split (its classes mapped onto the run's).
        data: this file or folder is the test set and every example in it is scored, read
            with the run's classes (labels may be class names or ids).
        batch_size: examples per forward pass.
        text_column: the text column of CSV/TSV ``data`` (default: the run's).
        label_column: the label column of CSV/TSV ``data`` (default: the run's).
        reference: a translation run's reference translations of ``data``, line for line.
        report_dir: where to write ``report.html`` (confusion matrix, per-class table, the
            most confidently wrong examples) and ``report.json``; ``None``: nothing written.

    Returns:
        The report dict.

    Raises:
        RunError: the run directory is missing or incomplete.
        DataError: the test data cannot be found or read, or does not fit the run.
        ValueError: the task's kind or classes differ from the run's.
    """
    kind = RunDir.open(run_dir).read_config().kind
    if kind == "translation":
        if task is not None:
            raise ValueError(
                f"task={task!r}: a translation is scored on data=SOURCE_FILE against "
                "reference=TARGET_FILE"
            )
        return evaluate_translation(run_dir, data, reference, report_dir=report_dir)
    if reference is not None:
        raise ValueError("reference= applies to translation runs only")
    if kind == "language_model":
        if task is not None:
            raise ValueError(
                f"task={task!r}: a language model is scored on a text, given as data=FILE"
            )
        return evaluate_language_model(run_dir, data, report_dir=report_dir)
    results = score_run(
        run_dir,
        task,
        data,
        batch_size,
        text_column=text_column,
        label_column=label_column,
    )
    if report_dir is not None:
        results.write(report_dir)
    return results.report


def score_run(
    run_dir: str | os.PathLike,
    task: str | None = None,
    data: str | os.PathLike | None = None,
    batch_size: int = 256,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    gallery_size: int = GALLERY_SIZE,
) -> Results:
    """:func:`evaluate`, returning the :class:`~reskeras.evaluation.report.Results` (report and the
    ``gallery_size`` most confidently wrong examples) that the app and ``--report`` draw.

    Args:
        run_dir: the run directory.
        task: score on this task's test split (see :func:`evaluate`).
        data: score every example of this file or folder (see :func:`evaluate`).
        batch_size: examples per forward pass.
        text_column: the text column of CSV/TSV ``data`` (default: the run's).
        label_column: the label column of CSV/TSV ``data`` (default: the run's).
        gallery_size: wrong examples kept for the gallery.

    Raises:
        RunError: the run directory is missing or incomplete.
        DataError: the test data cannot be found or read, is empty, or does not fit the run.
        ValueError: the task's kind or classes differ from the run's.
    """
    run = RunDir.open(run_dir)
    model, record, labels = run.load_model(), run.read_config(), run.read_labels()
    cfg = resolve(record.train).config  # the options the run trained with, complete
    if task is None and data is None:
        ds = data_lib.load_task(
            cfg.task,
            cfg.data,
            data_dir=cfg.data_dir,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            seed=cfg.seed,
        )
        if list(ds.class_names) != list(labels):
            raise ValueError(
                f"Task {cfg.task!r} has classes {list(ds.class_names)} but the run was "
                f"trained on {labels}; pass the data it was trained on with --data."
            )
        test = ds.test.take(cfg.limit_test) if cfg.limit_test else ds.test
    else:
        spec = data_lib.get_task(task or cfg.task)
        check_kind(record.kind, spec.name, spec.kind, f"Run {str(run_dir)!r}")
        test_set = data_lib.load_test_set(
            spec.name,
            data,
            class_names=labels,
            input_shape=record.input_shape,
            data_dir=cfg.data_dir,
            text_column=text_column if text_column is not None else cfg.text_column,
            label_column=label_column if label_column is not None else cfg.label_column,
            seed=cfg.seed,
        )
        test = test_set.examples
        shape = tuple(test.element_spec[0].shape)
        if record.kind == "image" and list(shape) != list(record.input_shape):
            raise data_lib.DataError(
                f"{test_set.source} holds images of shape {shape} but the run takes "
                f"{tuple(record.input_shape)}"
            )
    # Text runs: the saved vocabulary, or a keras-hub model's own tokenizer.
    preprocessor = run.load_preprocessor()
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    logits, y_true = [], []
    mistakes = MistakeCollector(gallery_size)
    for x, y in test.batch(batch_size):
        raw = x.numpy()
        if preprocessor is not None:
            x = preprocessor(x)
        batch = keras.ops.convert_to_numpy(model(x, training=False)).astype("float64")
        logits.append(batch)
        y_true.append(y.numpy())
        mistakes.add(raw, y_true[-1], _softmax(batch))
    if not logits:
        raise data_lib.DataError(f"nothing to evaluate: the test set of {str(run_dir)!r} is empty")
    logits = np.concatenate(logits)
    y_true = np.concatenate(y_true).astype("int64")
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    loss = float(-log_probs[np.arange(len(y_true)), y_true].mean())
    y_pred = logits.argmax(1)
    report = {
        "loss": loss,
        **classification_report(y_true, y_pred, labels),
        # What was scored: the run's final model (training keeps the last epoch's weights).
        "checkpoint": {"file": run.model_path.name, "epoch": record.epochs_done},
    }
    k = len(labels)
    collapse = find_collapse(
        np.bincount(y_pred, minlength=k), np.bincount(y_true, minlength=k), labels
    )
    if collapse is not None:
        report["collapsed"] = collapse
    where = data if data is not None else (task or cfg.task)
    return Results(
        report,
        list(labels),
        record.kind,
        mistakes.mistakes,
        title=f"{Path(run_dir).name} on {where}",
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(1, keepdims=True)
