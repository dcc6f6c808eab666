"""Finding and loading a task's data: the task table's lookups, local copies, then tfds.

:func:`load_task` returns a :class:`~reskeras.data.spec.LoadedTask` of UNBATCHED splits of
``(x, y)`` pairs (images: uint8 ``[H, W, C]``; text: a ``tf.string`` scalar; ``y``: int32).
Sources are tried in this order (see :func:`local_search_dirs`):

1. an explicit path given as ``data=``;
2. well-known local copies under the search directories: ``$RESKERAS_DATA``,
   ``~/.keras/datasets``, ``/usr/share/datasets`` (Debian ``dataset-fashion-mnist``) and
   ``../shared/data`` relative to the working directory (``$RESKERAS_DATA_SEARCH``, a
   ``os.pathsep``-separated list, replaces this whole list; set it to ``""`` to skip local copies);
3. TensorFlow Datasets (``tfds.load``), which downloads on first use and needs internet.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from reskeras.data.readers.tfds import load_tfds
from reskeras.data.spec import (
    DataError,
    LoadedTask,
    LoadOptions,
    TaskSpec,
    TestSet,
    match_labels,
    stratified_indices,
)
from reskeras.data.tasks import TASKS

__all__ = [
    "describe_tasks",
    "get_task",
    "grey_images",
    "training_splits",
    "list_tasks",
    "load_task",
    "load_test_set",
    "local_search_dirs",
    "parse_languages",
]


def list_tasks() -> list[str]:
    """Names of all registered tasks."""
    return list(TASKS)


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` registered as ``name``.

    Args:
        name: a task name; case, surrounding spaces and ``-`` for ``_`` do not matter.

    Raises:
        DataError: there is no such task (the message lists them).
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in TASKS:
        raise DataError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[key]


def local_search_dirs() -> list[Path]:
    """Directories searched (in order) for well-known local dataset copies.

    Default: ``$RESKERAS_DATA`` (if set), ``~/.keras/datasets``, ``/usr/share/datasets``,
    ``../shared/data`` (relative to the working directory). ``$RESKERAS_DATA_SEARCH`` (paths joined
    with ``os.pathsep``) replaces the whole list; an empty value disables local search.
    """
    override = os.environ.get("RESKERAS_DATA_SEARCH")
    if override is not None:
        return [Path(p).expanduser() for p in override.split(os.pathsep) if p.strip()]
    dirs = []
    if os.environ.get("RESKERAS_DATA"):
        dirs.append(Path(os.environ["RESKERAS_DATA"]).expanduser())
    dirs += [
        Path("~/.keras/datasets").expanduser(),
        Path("/usr/share/datasets"),
        Path.cwd().parent / "shared" / "data",
    ]
    return dirs


def _source_order(spec: TaskSpec) -> list[str]:
    if spec.user_data:
        return ["data=PATH"]
    order = ["data=PATH"]
    order += [str(d / n) for d in local_search_dirs() for n in spec.local_names]
    if spec.tfds_name is not None:
        order.append(f"tfds:{spec.tfds_name}")
    return order


def describe_tasks() -> list[dict[str, Any]]:
    """One dict per task (name, kind, num_classes, input_shape, flip, tfds, sources, ...)."""
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "num_classes": s.num_classes,
            "input_shape": s.input_shape,
            "flip": s.flip,
            "tfds": s.tfds_name,
            "sources": _source_order(s),
            "reader": s.reader.name,
            "description": s.description,
            "hint": s.hint,
        }
        for s in TASKS.values()
    ]


def load_task(
    name: str,
    data: str | os.PathLike | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    validation_split: float = 0.1,
    seed: int = 0,
    image_size: int | Sequence[int] | None = None,
    languages: str | Sequence[str] | None = None,
) -> LoadedTask:
    """Load a task's train/test splits.

    Args:
        name: a task from :func:`list_tasks`.
        data: explicit path (file or directory) to read instead of searching.
        data_dir: TensorFlow Datasets data directory (tfds fallback only).
        text_column: name or index of the text column of CSV/TSV text data (``None``: a
            column named like ``text``, else column 0).
        label_column: name or index of the label column (``None``: a column named like
            ``label``, else column 1).
        validation_split: fraction held out as the test split when the data has no test split.
        seed: seed of that split.
        image_size: ``H`` or ``(H, W)`` to resize ``image_folder`` images to.
        languages: a translation's direction, ``"de-en"`` or ``("de", "en")`` (``None``: the
            task's, else what the file names leave).

    Returns:
        The unbatched splits and their metadata.

    Raises:
        DataError: the task is unknown, an option is invalid, or no data is found or it
            cannot be read.
    """
    spec = get_task(name)
    if not 0.0 < float(validation_split) < 1.0:
        raise DataError(f"validation_split={validation_split!r} must be between 0 and 1")
    opts = LoadOptions(
        text_column,
        label_column,
        float(validation_split),
        int(seed),
        _parse_image_size(image_size),
        parse_languages(languages),
    )
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise DataError(f"{spec.name}: data path {str(path)!r} does not exist")
        return spec.reader.load(spec, path, opts)
    if spec.user_data:
        raise DataError(f"task {spec.name!r} needs data=PATH: {spec.hint}")
    looked = []
    for root in local_search_dirs():
        for local in spec.local_names:
            cand = root / local
            looked.append(str(cand))
            if cand.exists() and spec.reader.usable(cand):
                return spec.reader.load(spec, cand, opts)
    return load_tfds(spec, data_dir, looked, opts.languages)


def training_splits(
    task: LoadedTask, fraction: float, *, seed: int = 0, limit_train: int | None = None
) -> LoadedTask:
    """The splits a run trains and validates on, so that per-epoch metrics, early stopping
    and the collapse check never read the test split.

    A task that brings its own validation split keeps it. Otherwise ``fraction`` of the
    training examples the run uses (``limit_train`` of them, if set) is held out of the
    training split, stratified by class and seeded. With ``limit_train`` the run trains on a
    seeded sample of that many of the rest, each class with its share (not the first ones:
    a folder of images is read class by class).

    Args:
        task: the loaded task.
        fraction: the share to hold out, between 0 and 1.
        seed: seed of the samples.
        limit_train: training examples the run uses (``None``: all).

    Returns:
        The task with ``validation`` set, and ``train``/``num_train`` what the run trains on.

    Raises:
        DataError: ``fraction`` is not between 0 and 1, or too few examples to split.
    """
    own = task.validation is not None
    limited = limit_train is not None and limit_train < task.num_train
    if own and not limited:
        return task
    if not own and not 0.0 < float(fraction) < 1.0:
        raise DataError(f"validation_fraction={fraction!r} must be between 0 and 1")
    labels = np.concatenate(
        [y for y in task.train.map(lambda x, y: y).batch(65_536).as_numpy_iterator()]
    )
    held = np.zeros(len(labels), bool)
    used = min(task.num_train, limit_train or task.num_train)
    if not own:
        size = max(1, round(used * float(fraction)))
        if task.num_train - size < 1:
            raise DataError(
                f"{task.spec.name}: {task.num_train} training example(s) are too few to hold "
                f"out a validation split; add more data"
            )
        held[stratified_indices(labels, size, seed)] = True
    trains = ~held
    pool = np.flatnonzero(trains)
    if limit_train is not None and limit_train < len(pool):
        trains = np.zeros(len(labels), bool)
        trains[pool[stratified_indices(labels[pool], limit_train, seed, keep_one=False)]] = True

    def part(keep: np.ndarray) -> tf.data.Dataset:
        mask = tf.constant(keep)
        ds = task.train.enumerate().filter(lambda i, xy: tf.gather(mask, i))
        # Keras restarts a dataset each epoch only when it knows its length.
        size = int(keep.sum())
        return ds.map(lambda i, xy: xy).apply(tf.data.experimental.assert_cardinality(size))

    if own:
        return dataclasses.replace(task, train=part(trains), num_train=int(trains.sum()))
    return dataclasses.replace(
        task,
        train=part(trains),
        num_train=int(trains.sum()),
        validation=part(held),
        num_validation=int(held.sum()),
        validation_source=(
            f"{held.sum()} of the {len(held)} training examples held out "
            f"({float(fraction):g} of {used}, stratified by class, seed {seed})"
        ),
    )


#: The mean difference between an image's channels (0..255) below which it is grey: a grey
#: photo saved as RGB has none, and JPEG's colour subsampling adds about one.
GREY_TOLERANCE = 2.0


def grey_images(images: tf.data.Dataset, sample: int = 512) -> bool:
    """Whether a task's images are grey: one channel, or three equal ones (grey photos saved
    as RGB or JPEG files), judged on the first ``sample`` images.

    Args:
        images: ``(image, label)`` pairs, pixels 0..255, channels last.
        sample: how many images to look at.
    """
    batch = next(images.map(lambda x, y: x).take(sample).batch(sample).as_numpy_iterator())
    if batch.shape[-1] == 1:
        return True
    pixels = batch.astype(np.float32)
    return float(np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).mean()) < GREY_TOLERANCE


def load_test_set(
    name: str,
    data: str | os.PathLike | None = None,
    *,
    class_names: Sequence[str],
    input_shape: Sequence[int] | None = None,
    data_dir: str | os.PathLike | None = None,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    seed: int = 0,
) -> TestSet:
    """The examples to score a model trained on ``class_names`` with, labelled with its ids.

    Labels and class folders are read with the run's classes (:func:`match_labels`: by name,
    or an id in range).

    Args:
        name: a task from :func:`list_tasks`.
        data: given for evaluation, it IS the test set and is scored whole: a CSV/TSV file
            (every row), a text directory (its dev/test file), or a folder of class folders
            (every image; with ``train/`` and ``test/`` inside, ``test/``). Built-in image
            files (IDX, CIFAR) and ``None`` (local copies, then tfds) give the task's test
            split, its classes mapped onto ``class_names`` the same way.
        class_names: the classes the model was trained on.
        input_shape: the model's input shape; images are resized to it.
        data_dir: TensorFlow Datasets data directory (tfds fallback only).
        text_column: name or index of the text column of CSV/TSV text data.
        label_column: name or index of the label column.
        seed: seed of a validation split, where the task's test split is one.

    Returns:
        The test set, labelled with ids of ``class_names``.

    Raises:
        DataError: the task is unknown, the data is missing or unreadable, or a label or
            class is not one of ``class_names``.
    """
    spec = get_task(name)
    names = [str(n) for n in class_names]
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise DataError(f"{spec.name}: data path {str(path)!r} does not exist")
        opts = LoadOptions(text_column, label_column, seed=int(seed))
        test_set = spec.reader.test_set(spec, path, names, input_shape, opts)
        if test_set is not None:
            return test_set
    ds = load_task(spec.name, data, data_dir=data_dir, seed=seed)
    ids = match_labels(
        ds.class_names, names, lambda i: f"task {spec.name}", prefix=spec.name, what="class"
    )
    mapping = tf.constant(ids, tf.int32)
    examples = ds.test.map(lambda x, y: (x, tf.gather(mapping, y)))
    return TestSet(examples, ds.num_test, names, ds.source)


def parse_languages(languages: str | Sequence[str] | None) -> tuple[str, str] | None:
    """``"de-en"`` (or ``("de", "en")``) as ``("de", "en")``; ``None`` stays ``None``.

    Args:
        languages: a translation's direction.

    Raises:
        DataError: not two different language codes.
    """
    if languages is None:
        return None
    parts = languages.split("-") if isinstance(languages, str) else list(languages)
    parts = [str(p).strip() for p in parts]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise DataError(
            f"languages={languages!r} must name two different languages, source first: 'de-en'"
        )
    return parts[0], parts[1]


def _parse_image_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    try:
        if isinstance(image_size, int | np.integer):
            size = (int(image_size), int(image_size))
        else:
            size = tuple(int(v) for v in image_size)
            if len(size) == 1:
                size = (size[0], size[0])
        if len(size) != 2 or min(size) < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(
            f"image_size={image_size!r} must be a positive int or (height, width)"
        ) from None
    return size  # type: ignore[return-value]
