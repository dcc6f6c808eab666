"""What the readers share: the error type, loaded datasets, label matching and splits."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from reskeras.errors import DataError

__all__ = [
    "SEQUENCE_KINDS",
    "DataError",
    "LoadedTask",
    "LoadOptions",
    "Reader",
    "TestSet",
    "from_arrays",
    "infer_class_names",
    "match_labels",
    "split_indices",
    "stratified_indices",
]


#: Task kinds whose examples are token sequences cut from text (a language model's windows,
#: translation's sentence pairs): ``limit_train`` counts their lines, not their examples.
SEQUENCE_KINDS = ("language_model", "translation")


@dataclass(frozen=True)
class TaskSpec:
    """Static description of a task, and the reader of its files (one entry of ``TASKS``).

    ``LoadedTask.spec`` always carries the resolved ``class_names`` and ``input_shape``.

    Args:
        name: the task's name, its key in ``TASKS`` (e.g. ``"fashion_mnist"``).
        kind: ``"image"``, ``"text"``, ``"language_model"`` or ``"translation"``.
        class_names: the classes in label-id order; ``None`` when they come from the data
            (``image_folder``/``text_file``; a language model's vocabulary) until loaded.
        input_shape: the shape of one example (``(H, W, C)``; ``()`` for text); ``None`` for
            user images until loaded.
        input_mean: per-channel mean in 0..1 units (images only; ``None`` for text).
        input_std: per-channel standard deviation in 0..1 units (images only).
        flip: whether horizontal-flip augmentation is label-preserving for this task.
        tfds_name: the TensorFlow Datasets name of the download fallback (``None``: none).
        tfds_splits: the tfds ``(train, test)`` split names.
        tfds_text_key: the feature holding the text when the tfds dataset is read as dicts
            (``None``: as ``(x, label)`` pairs).
        local_names: names of local copies, looked for in every directory of
            :func:`~reskeras.data.load.local_search_dirs`.
        hint: how to get the data, shown when it is not found and by ``reskeras list``.
        description: one line for ``reskeras list``.
        languages: a translation task's default direction, ``(source, target)`` codes.
        reader: the :class:`Reader` of the task's files (keyword-only).
    """

    name: str
    kind: str
    class_names: tuple[str, ...] | None
    input_shape: tuple[int, ...] | None
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    flip: bool = False
    tfds_name: str | None = None
    tfds_splits: tuple[str, str] = ("train", "test")
    tfds_text_key: str | None = None
    local_names: tuple[str, ...] = ()
    hint: str = ""
    description: str = ""
    languages: tuple[str, str] | None = None
    reader: Reader = field(kw_only=True)

    @property
    def user_data(self) -> bool:
        """Whether the data must be given (``data=PATH``): the task names no local copy and
        no tensorflow-datasets name (``image_folder``, ``text_file``, ``language_model``)."""
        return not self.local_names and self.tfds_name is None

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or ``None`` when they come from user data."""
        return None if self.class_names is None else len(self.class_names)


@dataclass
class LoadedTask:
    """A loaded task: unbatched ``(x, y)`` train/test splits plus metadata (for a
    ``language_model`` task: datasets of lines, and no classes until the run makes its
    vocabulary).

    Args:
        spec: the task, with ``class_names`` and ``input_shape`` resolved.
        class_names: the classes; ``y`` are their ids.
        train: the training split.
        test: the test split (the data's own, or a seeded validation split).
        num_train: examples in ``train``.
        num_test: examples in ``test``.
        source: where the data came from (a path, ``tfds:<name>`` ...), for reports.
        validation: the split each epoch is validated on: the data's own, or held out of
            the training split (:func:`reskeras.data.load.training_splits`); ``None``
            until one is chosen.
        num_validation: examples in ``validation``.
        validation_source: how ``validation`` was made, for the run's record.
        languages: a translation task's ``(source, target)`` language codes.
    """

    spec: TaskSpec
    class_names: list[str]
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    source: str
    validation: tf.data.Dataset | None = None
    num_validation: int = 0
    validation_source: str | None = None
    languages: tuple[str, str] | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


@dataclass
class TestSet:
    """Labelled examples to score a trained model on: unbatched ``(x, y)`` pairs whose ``y``
    are ids of ``class_names`` (the run's classes).

    Args:
        examples: the ``(x, y)`` pairs.
        num_examples: how many there are.
        class_names: the run's classes.
        source: where the examples came from, for reports.
    """

    examples: tf.data.Dataset
    num_examples: int
    class_names: list[str]
    source: str


@dataclass(frozen=True)
class LoadOptions:
    """How to read user data (see :func:`reskeras.data.load_task`).

    Args:
        text_column: name or index of the text column of a CSV/TSV file (``None``: a column
            named like ``text`` or ``sentence``, else column 0).
        label_column: name or index of the label column (``None``: a column named like
            ``label``, else column 1).
        validation_split: fraction held out as the test split when the data has none.
        seed: seed of that split.
        image_size: ``(height, width)`` to resize ``image_folder`` images to (``None``: the
            first image's size).
        languages: a translation's ``(source, target)`` language codes (``None``: the
            task's, else what the file names leave).
    """

    text_column: str | int | None = None
    label_column: str | int | None = None
    validation_split: float = 0.1
    seed: int = 0
    image_size: tuple[int, int] | None = None
    languages: tuple[str, str] | None = None

    def split_note(self, path: Path) -> str:
        """The ``source`` of data read from ``path`` with a seeded validation split.

        Args:
            path: the file read.
        """
        return f"{path} (seeded {self.validation_split:g} validation split, seed {self.seed})"


class Reader:
    """How a task's files are recognised and read; each :class:`TaskSpec` names one."""

    name = "reader"

    def usable(self, path: Path) -> bool:
        """Whether a well-known location holds something this reader understands.

        Args:
            path: an existing local copy (a search directory joined with a local name).
        """
        return True

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The task's train and test splits read from ``path``.

        Args:
            spec: the task.
            path: the file or directory to read.
            opts: how to read user data.

        Returns:
            The loaded task.

        Raises:
            DataError: the data is missing, unreadable or invalid.
        """
        raise NotImplementedError

    def test_set(
        self,
        spec: TaskSpec,
        path: Path,
        class_names: list[str],
        input_shape: Sequence[int] | None,
        opts: LoadOptions,
    ) -> TestSet | None:
        """Every example under ``path``, labelled with a trained run's ``class_names``; None
        when this reader's test set is just the test split of :meth:`load`.

        Args:
            spec: the task.
            path: the file or directory given as ``data=`` for evaluation.
            class_names: the run's classes; labels are matched to them.
            input_shape: the run's input shape (images are resized to it).
            opts: how to read user data.

        Returns:
            The test set, or ``None``.

        Raises:
            DataError: the data is unreadable or has labels outside ``class_names``.
        """
        return None


def from_arrays(
    spec: TaskSpec,
    class_names: Sequence[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    source: str,
) -> LoadedTask:
    """In-memory numpy splits -> LoadedTask (``from_tensor_slices``; the pipeline caches).

    Args:
        spec: the task.
        class_names: the classes; every label must be an id of one.
        train: ``(x, y)`` arrays of the training split.
        test: ``(x, y)`` arrays of the test split.
        source: where the arrays came from, for reports.

    Returns:
        The loaded task (labels as int32).

    Raises:
        DataError: a label is outside ``0..len(class_names) - 1``.
    """
    n = len(class_names)
    for split_name, (_, y) in (("train", train), ("test", test)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n):
            bad = int(y.max()) if int(y.max()) >= n else int(y.min())
            raise DataError(
                f"{spec.name}: label {bad} in the {split_name} split of {source} is out of range "
                f"0..{n - 1}"
            )
    return LoadedTask(
        spec=spec,
        class_names=list(class_names),
        train=tf.data.Dataset.from_tensor_slices((train[0], train[1].astype(np.int32))),
        test=tf.data.Dataset.from_tensor_slices((test[0], test[1].astype(np.int32))),
        num_train=len(train[1]),
        num_test=len(test[1]),
        source=source,
    )


def make_test_set(x: np.ndarray, y: np.ndarray, names: list[str], source: str) -> TestSet:
    """In-memory numpy examples -> TestSet.

    Args:
        x: the examples.
        y: their class ids (of ``names``).
        names: the run's classes.
        source: where the examples came from, for reports.
    """
    examples = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    return TestSet(examples, len(y), names, source)


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices of a seeded ``fraction`` test split of ``n`` examples.

    Args:
        n: the number of examples.
        fraction: the share that goes to the test split (at least one example, and at
            least one left for training).
        seed: seed of the permutation.

    Returns:
        ``(train, test)`` arrays of indices.

    Raises:
        DataError: ``n`` is below 2.
    """
    if n < 2:
        raise DataError(f"cannot make a validation split of {n} example(s); add more data")
    perm = np.random.RandomState(seed).permutation(n)
    n_test = min(max(1, int(round(n * fraction))), n - 1)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def stratified_indices(
    labels: np.ndarray, size: int, seed: int, *, keep_one: bool = True
) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` examples with each class's share of
    ``labels`` (largest remainders).

    Args:
        labels: the class id of every example.
        size: how many to sample (at least 1, fewer than ``len(labels)``).
        seed: seed of the sample.
        keep_one: leave at least one example of every class unsampled (a validation split
            must not take a class's only example away from training).

    Returns:
        The sampled indices.
    """
    rng = np.random.RandomState(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / len(labels)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: size - int(take.sum())]:
        take[i] += 1
    if keep_one:
        take = np.minimum(take, np.maximum(counts - 1, 0))
    chosen = [
        rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def is_int(s: str) -> bool:
    """Whether ``int(s)`` parses.

    Args:
        s: the string (surrounding whitespace and a sign are allowed).
    """
    try:
        int(s)
        return True
    except ValueError:
        return False


def _label_key(value: str) -> str:
    return " ".join(str(value).split()).casefold()


def match_labels(
    values: Sequence[str],
    class_names: Sequence[str],
    where: Callable[[int], str],
    *,
    prefix: str,
    what: str = "label",
) -> np.ndarray:
    """Class ids of raw label values for a fixed list of classes.

    A value that names a class (exactly, or ignoring case and extra whitespace) maps to it;
    otherwise an integer in ``0..k-1`` is a class id.

    Args:
        values: the raw label values.
        class_names: the classes.
        where: ``where(i)`` says where value ``i`` was found (e.g. a file and line).
        prefix: starts the error message (usually the task's name).
        what: what the values are, for the message (``"label"``, ``"class"``).

    Returns:
        The class ids, an int64 array.

    Raises:
        DataError: a value is neither a class name nor an id in range; the one-line
            message names the value and ``where(i)`` it was found, and lists the classes.
    """
    exact = {n: i for i, n in enumerate(class_names)}
    loose: dict[str, int] = {}
    for i, n in enumerate(class_names):
        loose.setdefault(_label_key(n), i)
    seen: dict[str, int] = {}
    ids = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if value not in seen:
            found = exact.get(value, loose.get(_label_key(value)))
            if found is None and is_int(value) and 0 <= int(value) < len(class_names):
                found = int(value)
            if found is None:
                shown = value.strip() if is_int(value) else repr(value)
                raise DataError(
                    f"{prefix}: {what} {shown} in {where(i)} is not one of: "
                    f"{', '.join(class_names)} (or 0..{len(class_names) - 1})"
                )
            seen[value] = found
        ids[i] = seen[value]
    return ids


def infer_class_names(labels: list[str], source: os.PathLike | str) -> list[str]:
    """Classes of user data: ``0..max`` for integer labels, else the sorted distinct names.

    Args:
        labels: the raw label values.
        source: the file they came from, for the message.

    Raises:
        DataError: an integer label is negative.
    """
    if all(is_int(v) for v in labels):
        values = [int(v) for v in labels]
        if min(values) < 0:
            raise DataError(f"text_file: negative label {min(values)} in {str(source)!r}")
        return [str(i) for i in range(max(values) + 1)]
    return sorted(set(labels))
