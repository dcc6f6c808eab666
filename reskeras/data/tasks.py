"""Tasks: named dataset recipes, where their data is found, and how it is loaded.

A *task* (:class:`TaskSpec`) is a dataset's kind (``"image"`` or ``"text"``), classes, input
spec, where local copies live, its tensorflow-datasets name, and the reader of its files;
adding a task is adding one entry to :data:`TASKS`. :func:`load_task` returns a
:class:`~reskeras.data.Dataset` of UNBATCHED splits of ``(x, y)`` pairs (images: uint8
``[H, W, C]``; text: a ``tf.string`` scalar; ``y``: int32).

Sources are tried in this order (see :func:`local_search_dirs`):

1. an explicit path given as ``data=``;
2. well-known local copies under the search directories: ``$RESKERAS_DATA``,
   ``~/.keras/datasets``, ``/usr/share/datasets`` (Debian ``dataset-fashion-mnist``) and
   ``../shared/data`` relative to the working directory (``$RESKERAS_DATA_SEARCH``, a
   ``os.pathsep``-separated list, replaces this whole list; set it to ``""`` to skip local copies);
3. TensorFlow Datasets (``tfds.load``), which downloads on first use and needs internet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from reskeras.data.cifar import CIFAR10, CIFAR100
from reskeras.data.common import (
    DataError,
    Dataset,
    LoadOptions,
    Reader,
    TestSet,
    match_labels,
)
from reskeras.data.idx import IdxReader
from reskeras.data.images import ImageFolderReader
from reskeras.data.tables import TableReader
from reskeras.data.tfds import load_tfds

__all__ = [
    "TASKS",
    "TaskSpec",
    "describe_tasks",
    "get_task",
    "list_tasks",
    "load_task",
    "load_test_set",
    "local_search_dirs",
]

IDX = IdxReader()

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# The 100 CIFAR-100 "fine" label names; index = fine label id (alphabetical, as in meta).
CIFAR100_CLASSES = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
    crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
    lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
    oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
    possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
    spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
    train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)
assert len(CIFAR100_CLASSES) == 100 and list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)


@dataclass(frozen=True)
class TaskSpec:
    """Static description of a task, and the reader of its files (one entry of ``TASKS``).

    ``class_names``/``input_shape`` are ``None`` for user data (``image_folder``/``text_file``)
    until loaded; ``Dataset.spec`` always carries the resolved values. ``input_mean``/``input_std``
    are per-channel statistics in 0..1 units (images only, ``None`` for text). ``flip`` says
    whether horizontal-flip augmentation is label-preserving for this task.
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
    reader: Reader = field(default_factory=TableReader)

    @property
    def user_data(self) -> bool:
        """Whether the classes (and input shape) come from the user's data (``data=PATH``)."""
        return self.class_names is None

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or ``None`` when they come from user data."""
        return None if self.class_names is None else len(self.class_names)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            name="fashion_mnist",
            kind="image",
            class_names=FASHION_MNIST_CLASSES,
            input_shape=(28, 28, 1),
            input_mean=(0.2860,),
            input_std=(0.3530,),
            flip=True,
            tfds_name="fashion_mnist",
            local_names=("fashion-mnist", "fashion_mnist"),
            hint="`apt-get install dataset-fashion-mnist` (offline copy in "
            "/usr/share/datasets/fashion-mnist)",
            description="Zalando clothing, 28x28 grayscale, 60k train / 10k test",
            reader=IDX,
        ),
        TaskSpec(
            name="mnist",
            kind="image",
            class_names=MNIST_CLASSES,
            input_shape=(28, 28, 1),
            input_mean=(0.1307,),
            input_std=(0.3081,),
            flip=False,
            tfds_name="mnist",
            local_names=("mnist", "mnist.npz"),
            hint="pass data=DIR with the MNIST IDX files (train-images-idx3-ubyte.gz, ...)",
            description="handwritten digits, 28x28 grayscale, 60k train / 10k test",
            reader=IDX,
        ),
        TaskSpec(
            name="cifar10",
            kind="image",
            class_names=CIFAR10_CLASSES,
            input_shape=(32, 32, 3),
            input_mean=(0.4914, 0.4822, 0.4465),
            input_std=(0.2470, 0.2435, 0.2616),
            flip=True,
            tfds_name="cifar10",
            local_names=("cifar-10-batches-py",),
            hint="unpack cifar-10-python.tar.gz into $RESKERAS_DATA or ~/.keras/datasets",
            description="10 object classes, 32x32 RGB, 50k train / 10k test",
            reader=CIFAR10,
        ),
        TaskSpec(
            name="cifar100",
            kind="image",
            class_names=CIFAR100_CLASSES,
            input_shape=(32, 32, 3),
            input_mean=(0.5071, 0.4865, 0.4409),
            input_std=(0.2673, 0.2564, 0.2762),
            flip=True,
            tfds_name="cifar100",
            local_names=("cifar-100-python",),
            hint="unpack cifar-100-python.tar.gz into $RESKERAS_DATA or ~/.keras/datasets",
            description="100 fine object classes, 32x32 RGB, 50k train / 10k test",
            reader=CIFAR100,
        ),
        TaskSpec(
            name="sst2",
            kind="text",
            class_names=("negative", "positive"),
            input_shape=(),
            tfds_name="glue/sst2",
            tfds_splits=("train", "validation"),
            tfds_text_key="sentence",
            local_names=("sst2", "SST-2"),
            hint="put GLUE SST-2 {train,dev}.tsv in $RESKERAS_DATA/sst2 or ../shared/data/sst2",
            description="Stanford Sentiment Treebank (GLUE), binary sentence polarity; "
            "test = GLUE dev split",
        ),
        TaskSpec(
            name="imdb",
            kind="text",
            class_names=("negative", "positive"),
            input_shape=(),
            tfds_name="imdb_reviews",
            tfds_text_key="text",
            local_names=("imdb",),
            hint="put train.csv/test.csv (text,label) in $RESKERAS_DATA/imdb",
            description="IMDB movie reviews, binary sentiment, 25k train / 25k test",
        ),
        TaskSpec(
            name="ag_news",
            kind="text",
            class_names=("World", "Sports", "Business", "Sci/Tech"),
            input_shape=(),
            tfds_name="ag_news_subset",
            tfds_text_key="description",
            local_names=("ag_news",),
            hint="put train.csv/test.csv (text,label) in $RESKERAS_DATA/ag_news",
            description="AG News topic classification (4 classes), 120k train / 7.6k test",
        ),
        TaskSpec(
            name="image_folder",
            kind="image",
            class_names=None,
            input_shape=None,
            flip=True,
            hint="pass data=DIR with one sub-directory of PNG/JPEG images per class "
            "(optionally inside train/ and test/)",
            description="your images: one sub-directory per class (PNG/JPEG)",
            reader=ImageFolderReader(),
        ),
        TaskSpec(
            name="text_file",
            kind="text",
            class_names=None,
            input_shape=(),
            hint="pass data=FILE.csv|FILE.tsv (text and label columns) or a directory with "
            "train.tsv/dev.tsv or train.csv/test.csv",
            description="your text: a CSV/TSV file with a text column and a label column",
        ),
    )
}


def list_tasks() -> list[str]:
    """Names of all registered tasks."""
    return list(TASKS)


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` registered as ``name`` (DataError listing the tasks otherwise)."""
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
) -> Dataset:
    """Load a task's train/test splits.

    Args:
        name: a task from :func:`list_tasks`.
        data: explicit path (file or directory) to read instead of searching.
        data_dir: TensorFlow Datasets data directory (tfds fallback only).
        text_column / label_column: column name or index for CSV/TSV text data.
        validation_split: fraction held out as the test split when the data has no test split.
        seed: seed of that split.
        image_size: ``H`` or ``(H, W)`` to resize ``image_folder`` images to.
    """
    spec = get_task(name)
    if not 0.0 < float(validation_split) < 1.0:
        raise DataError(f"validation_split={validation_split!r} must be between 0 and 1")
    opts = LoadOptions(
        text_column, label_column, float(validation_split), int(seed), _parse_image_size(image_size)
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
    return load_tfds(spec, data_dir, looked)


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

    ``data`` given for evaluation IS the test set and is scored whole: a CSV/TSV file (every
    row), a text directory (its dev/test file), or a folder of class folders (every image; with
    ``train/`` and ``test/`` inside, ``test/``), images resized to ``input_shape``. Labels and
    class folders are read with the run's classes (:func:`match_labels`: by name, or an id in
    range). Built-in image files (IDX, CIFAR) and ``data=None`` (local copies, then tfds) give
    the task's test split, its classes mapped onto ``class_names`` the same way.
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
