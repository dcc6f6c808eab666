"""Tasks, dataset loaders and tf.data input pipelines.

A *task* is a named dataset recipe (:class:`TaskSpec`): its kind (``"image"`` or ``"text"``), its
classes, its input spec and where its data can come from. :func:`load_task` returns a
:class:`Dataset` holding UNBATCHED ``tf.data.Dataset`` splits of ``(x, y)`` pairs (images: uint8
``[H, W, C]``; text: a ``tf.string`` scalar; ``y``: int32). :func:`make_pipeline` turns a split into
a shuffled, batched, augmented and prefetched training (or evaluation) stream.

Sources are tried in this order (see :func:`local_search_dirs`):

1. an explicit path given as ``data=``;
2. well-known local copies under the search directories: ``$RESKERAS_DATA``,
   ``~/.keras/datasets``, ``/usr/share/datasets`` (Debian ``dataset-fashion-mnist``) and
   ``../shared/data`` relative to the working directory (``$RESKERAS_DATA_SEARCH``, a
   ``os.pathsep``-separated list, replaces this whole list; set it to ``""`` to skip local copies);
3. TensorFlow Datasets (``tfds.load``), which downloads on first use and needs internet.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import os
import pickle
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "DataError",
    "TaskSpec",
    "Dataset",
    "list_tasks",
    "get_task",
    "describe_tasks",
    "load_task",
    "make_pipeline",
    "local_search_dirs",
    "augment_batch",
    "SafeUnpickler",
    "safe_unpickle",
]

AUTOTUNE = tf.data.AUTOTUNE
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MAX_SHUFFLE_BUFFER = 60_000
TEXT_COLUMN_NAMES = ("sentence", "text", "review", "description", "content")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "target")
_CSV_FIELD_LIMIT = 1 << 24


class DataError(ValueError):
    """A dataset could not be found, read or validated (always a one-line message)."""


# --------------------------------------------------------------------------------------------
# Task registry
# --------------------------------------------------------------------------------------------

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
    """Static description of a task.

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

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or ``None`` when they come from user data."""
        return None if self.class_names is None else len(self.class_names)


@dataclass
class Dataset:
    """A loaded task: unbatched ``(x, y)`` train/test splits plus metadata."""

    spec: TaskSpec
    class_names: list[str]
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


_TASKS: dict[str, TaskSpec] = {
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

_USER_TASKS = ("image_folder", "text_file")


def list_tasks() -> list[str]:
    """Names of all registered tasks."""
    return list(_TASKS)


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` registered as ``name`` (DataError listing the tasks otherwise)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _TASKS:
        raise DataError(f"unknown task {name!r}; choose one of: {', '.join(_TASKS)}")
    return _TASKS[key]


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
    if spec.name in _USER_TASKS:
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
            "description": s.description,
            "hint": s.hint,
        }
        for s in _TASKS.values()
    ]


# --------------------------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------------------------


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
    opts = {
        "text_column": text_column,
        "label_column": label_column,
        "validation_split": float(validation_split),
        "seed": int(seed),
        "image_size": _parse_image_size(image_size),
    }
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise DataError(f"{spec.name}: data path {str(path)!r} does not exist")
        return _load_path(spec, path, opts)
    if spec.name in _USER_TASKS:
        raise DataError(f"task {spec.name!r} needs data=PATH: {spec.hint}")
    looked = []
    for root in local_search_dirs():
        for local in spec.local_names:
            cand = root / local
            looked.append(str(cand))
            if cand.exists() and _looks_usable(spec, cand):
                return _load_path(spec, cand, opts)
    return _load_tfds(spec, data_dir, looked)


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


def _looks_usable(spec: TaskSpec, path: Path) -> bool:
    """Whether a well-known location holds something this task's reader understands."""
    if spec.name in ("fashion_mnist", "mnist"):
        return path.suffix == ".npz" or _find_idx(path, "train", "images") is not None
    if spec.name in ("cifar10", "cifar100"):
        return path.is_dir() and ((path / "data_batch_1").exists() or (path / "train").exists())
    if spec.kind == "text":
        return path.is_file() or _find_split_files(path) is not None
    return True


def _load_path(spec: TaskSpec, path: Path, opts: dict[str, Any]) -> Dataset:
    if spec.name in ("fashion_mnist", "mnist"):
        return _load_idx_task(spec, path)
    if spec.name in ("cifar10", "cifar100"):
        return _load_cifar(spec, path)
    if spec.name == "image_folder":
        return _load_image_folder(spec, path, opts)
    return _load_text(spec, path, opts)


def _from_arrays(
    spec: TaskSpec,
    class_names: Sequence[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    source: str,
) -> Dataset:
    """In-memory numpy splits -> Dataset (``from_tensor_slices``; cache happens in the pipeline)."""
    n = len(class_names)
    for split_name, (_, y) in (("train", train), ("test", test)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n):
            bad = int(y.max()) if int(y.max()) >= n else int(y.min())
            raise DataError(
                f"{spec.name}: label {bad} in the {split_name} split of {source} is out of range "
                f"0..{n - 1}"
            )
    return Dataset(
        spec=spec,
        class_names=list(class_names),
        train=tf.data.Dataset.from_tensor_slices((train[0], train[1].astype(np.int32))),
        test=tf.data.Dataset.from_tensor_slices((test[0], test[1].astype(np.int32))),
        num_train=len(train[1]),
        num_test=len(test[1]),
        source=source,
    )


# --------------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# --------------------------------------------------------------------------------------------

_IDX_PREFIX = {"train": ("train",), "test": ("t10k", "test")}
_IDX_KIND = {"images": "idx3", "labels": "idx1"}


def _find_idx(directory: Path, split: str, kind: str) -> Path | None:
    if not directory.is_dir():
        return None
    for prefix in _IDX_PREFIX[split]:
        for sep in ("-", "."):
            for ext in (".gz", ""):
                cand = directory / f"{prefix}-{kind}{sep}{_IDX_KIND[kind]}-ubyte{ext}"
                if cand.is_file():
                    return cand
    return None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file (optionally gzip'd) holding unsigned bytes with ``ndim`` dimensions."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {str(path)!r}: corrupt or truncated ({e})") from None
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"IDX file {str(path)!r} is truncated ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    expected = 0x0800 | ndim
    if magic != expected:
        raise DataError(
            f"IDX file {str(path)!r} has magic number {magic:#010x}, expected {expected:#010x}"
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    header = 4 + 4 * ndim
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise DataError(
            f"IDX file {str(path)!r} is truncated or corrupt: header says {dims} "
            f"({size} bytes) but it holds {len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _load_idx_task(spec: TaskSpec, path: Path) -> Dataset:
    if path.is_file() and path.suffix == ".npz":
        return _load_npz(spec, path)
    if not path.is_dir():
        raise DataError(
            f"{spec.name}: {str(path)!r} is not a directory of IDX files or a .npz file"
        )
    splits = {}
    for split in ("train", "test"):
        img_path = _find_idx(path, split, "images")
        lbl_path = _find_idx(path, split, "labels")
        if img_path is None or lbl_path is None:
            prefix = "train" if split == "train" else "t10k"
            raise DataError(
                f"{spec.name}: {str(path)!r} lacks {prefix}-images-idx3-ubyte.gz / "
                f"{prefix}-labels-idx1-ubyte.gz"
            )
        images = _read_idx(img_path, 3)
        labels = _read_idx(lbl_path, 1)
        if len(images) != len(labels):
            raise DataError(
                f"{spec.name}: {str(img_path)!r} has {len(images)} images but "
                f"{str(lbl_path)!r} has {len(labels)} labels"
            )
        _check_image_shape(spec, images[..., None], img_path)
        splits[split] = (images[..., None], labels)
    return _from_arrays(spec, spec.class_names or (), splits["train"], splits["test"], str(path))


def _load_npz(spec: TaskSpec, path: Path) -> Dataset:
    """keras.datasets-style ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {str(path)!r}: {e}") from None
    out = []
    for split in ("train", "test"):
        x = arrays[f"x_{split}"].astype(np.uint8)
        x = x[..., None] if x.ndim == 3 else x
        _check_image_shape(spec, x, path)
        out.append((x, arrays[f"y_{split}"].astype(np.int64)))
    return _from_arrays(spec, spec.class_names or (), out[0], out[1], str(path))


def _check_image_shape(spec: TaskSpec, images: np.ndarray, path: Path) -> None:
    if spec.input_shape is not None and tuple(images.shape[1:]) != tuple(spec.input_shape):
        raise DataError(
            f"{spec.name}: {str(path)!r} holds images of shape {tuple(images.shape[1:])}, "
            f"expected {tuple(spec.input_shape)}"
        )


# --------------------------------------------------------------------------------------------
# CIFAR python pickles (restricted unpickler)
# --------------------------------------------------------------------------------------------


def _numpy_attr(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


def _safe_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
    reconstruct = lambda: _numpy_attr(f"{core}.multiarray", "_reconstruct")  # noqa: E731
    frombuffer = lambda: _numpy_attr(f"{core}.numeric", "_frombuffer")  # noqa: E731
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy.core.numeric", "_frombuffer"): frombuffer,
        ("numpy._core.numeric", "_frombuffer"): frombuffer,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _numpy_attr("_codecs", "encode"),
    }


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only reconstructs numpy arrays (what CIFAR batch files contain).

    Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`DataError` before
    anything is called.
    """

    _allowed = _safe_globals()

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        factory = self._allowed.get((module, name))
        if factory is None:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return factory()


def safe_unpickle(path: Path) -> Any:
    """Read a pickle file with :class:`SafeUnpickler` (``encoding="bytes"``)."""
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f, encoding="bytes").load()
    except DataError as e:
        raise DataError(f"{str(path)!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any parse failure means a corrupt file
        raise DataError(
            f"cannot read pickle {str(path)!r}: corrupt or truncated ({type(e).__name__}: {e})"
        ) from None


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"CIFAR batch file {str(path)!r} is missing")
    obj = safe_unpickle(path)
    if not isinstance(obj, dict) or b"data" not in obj or label_key not in obj:
        keys = (
            sorted(k.decode() if isinstance(k, bytes) else str(k) for k in obj)
            if isinstance(obj, dict)
            else type(obj).__name__
        )
        raise DataError(f"CIFAR batch {str(path)!r} lacks b'data'/{label_key!r} (found {keys})")
    try:
        data = np.asarray(obj[b"data"])
        labels = np.asarray(obj[label_key], dtype=np.int64).reshape(-1)
        if data.dtype.kind not in "iu":
            raise TypeError(f"pixel dtype {data.dtype}")
    except (TypeError, ValueError) as e:
        raise DataError(f"CIFAR batch {str(path)!r} is malformed ({e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(
            f"CIFAR batch {str(path)!r} has data of shape {data.shape} and {len(labels)} labels; "
            f"expected [N, 3072] and N labels"
        )
    if data.dtype != np.uint8:
        if data.size and (data.min() < 0 or data.max() > 255):
            raise DataError(f"CIFAR batch {str(path)!r} has pixel values outside 0..255")
        data = data.astype(np.uint8)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _load_cifar(spec: TaskSpec, path: Path) -> Dataset:
    local = spec.local_names[0]
    if path.is_dir() and (path / local).is_dir():
        path = path / local
    if spec.name == "cifar10":
        train_files = [path / f"data_batch_{i}" for i in range(1, 6)]
        test_files, key = [path / "test_batch"], b"labels"
    else:
        train_files, test_files, key = [path / "train"], [path / "test"], b"fine_labels"
    if not path.is_dir() or not train_files[0].is_file():
        raise DataError(
            f"{spec.name}: {str(path)!r} is not a {local}/ directory "
            f"(expected {train_files[0].name} and {test_files[0].name})"
        )
    splits = []
    for files in (train_files, test_files):
        parts = [_read_cifar_batch(f, key) for f in files]
        splits.append(
            (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        )
    return _from_arrays(spec, spec.class_names or (), splits[0], splits[1], str(path))


# --------------------------------------------------------------------------------------------
# tensorflow-datasets fallback
# --------------------------------------------------------------------------------------------


def _load_tfds(spec: TaskSpec, data_dir: Any, looked: list[str]) -> Dataset:
    where = ", ".join(looked) if looked else "(local search disabled)"

    def fail(reason: str) -> DataError:
        reason = " ".join(reason.strip().splitlines()[:1])[:200] if reason else "unknown error"
        return DataError(
            f"{spec.name}: no local copy found (looked in {where}) and tfds {spec.tfds_name!r} "
            f"failed ({reason}); to get it: {spec.hint}; or pass data=PATH, or set "
            f"RESKERAS_DATA, or let tfds download {spec.tfds_name!r} (needs internet)"
        )

    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise fail(f"tensorflow_datasets not importable: {e}") from None
    supervised = spec.kind == "image" or spec.tfds_text_key is None
    splits = []
    try:
        for split in spec.tfds_splits:
            ds = tfds.load(
                spec.tfds_name,
                split=split,
                as_supervised=supervised,
                data_dir=None if data_dir is None else str(data_dir),
            )
            splits.append(ds)
    except Exception as e:  # noqa: BLE001 - offline, not found, missing deps: all one story
        raise fail(f"{type(e).__name__}: {e}") from None

    key = spec.tfds_text_key

    def to_pair(*args: Any) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = args if len(args) == 2 else (args[0][key], args[0]["label"])
        return x, tf.cast(y, tf.int32)

    out = [ds.map(to_pair, num_parallel_calls=AUTOTUNE) for ds in splits]
    counts = [_count(ds) for ds in out]
    return Dataset(
        spec=spec,
        class_names=list(spec.class_names or ()),
        train=out[0],
        test=out[1],
        num_train=counts[0],
        num_test=counts[1],
        source=f"tfds:{spec.tfds_name} ({'/'.join(spec.tfds_splits)})",
    )


def _count(ds: tf.data.Dataset) -> int:
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(np.int64(0), lambda c, _x, _y: c + 1))


# --------------------------------------------------------------------------------------------
# Text (CSV / TSV)
# --------------------------------------------------------------------------------------------

_SPLIT_FILE_PAIRS = (
    ("train.tsv", "dev.tsv"),
    ("train.tsv", "test.tsv"),
    ("train.csv", "test.csv"),
    ("train.csv", "dev.csv"),
    ("train.tsv", "validation.tsv"),
    ("train.csv", "validation.csv"),
)


def _find_split_files(directory: Path) -> tuple[Path, Path] | None:
    if not directory.is_dir():
        return None
    for train, test in _SPLIT_FILE_PAIRS:
        if (directory / train).is_file() and (directory / test).is_file():
            return directory / train, directory / test
    return None


@dataclass
class _Table:
    path: Path
    header: list[str] | None
    rows: list[list[str]]


def _read_table(path: Path, wanted: Sequence[Any] = (None, None)) -> _Table:
    """Parse CSV/TSV; ``wanted`` = (text_column, label_column) as given by the user."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"text file {str(path)!r} is not UTF-8 ({e.reason})") from None
    except OSError as e:
        raise DataError(f"cannot read text file {str(path)!r}: {e}") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"text file {str(path)!r} is empty")
    sample = "\n".join(lines[:50])
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        delimiter = "\t"
    elif suffix == ".csv":
        delimiter = ","
    else:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = "\t" if "\t" in lines[0] else ","
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quoting=quoting))
    except csv.Error as e:
        raise DataError(f"cannot parse {str(path)!r} as delimited text: {e}") from None
    first = [c.strip() for c in rows[0]]
    known = {n.lower() for n in TEXT_COLUMN_NAMES + LABEL_COLUMN_NAMES}
    known |= {str(c).lower() for c in wanted if isinstance(c, str) and not c.strip().isdigit()}
    has_header = any(c.lower() in known for c in first)
    if not has_header and len(rows) > 1:
        # No known names: a header iff the label column holds ints except in the first row.
        label_idx = next((int(c) for c in wanted[1:] if _is_int(str(c))), 1)
        values = [r[label_idx].strip() for r in rows[1:51] if len(r) > label_idx]
        has_header = (
            len(first) > label_idx
            and not _is_int(first[label_idx])
            and bool(values)
            and all(_is_int(v) for v in values)
        )
    if has_header:
        return _Table(path, first, rows[1:])
    return _Table(path, None, rows)


def _column_index(
    table: _Table, col: str | int | None, defaults: Sequence[str], fallback: int, what: str
) -> int:
    ncols = max((len(r) for r in table.rows), default=len(table.header or []))
    if table.header is not None:
        ncols = max(ncols, len(table.header))
    cols = table.header if table.header is not None else [str(i) for i in range(ncols)]
    listing = ", ".join(f"{i}:{c}" if table.header is not None else c for i, c in enumerate(cols))
    if col is None:
        if table.header is not None:
            lowered = [c.lower() for c in table.header]
            for name in defaults:
                if name in lowered:
                    return lowered.index(name)
        idx = fallback
    elif isinstance(col, int | np.integer) or (isinstance(col, str) and col.strip().isdigit()):
        idx = int(col)
    else:
        lowered = [c.lower() for c in (table.header or [])]
        if col.lower() not in lowered:
            raise DataError(
                f"{what} column {col!r} not found in {str(table.path)!r}; columns: {listing}"
                + ("" if table.header is not None else " (the file has no header row)")
            )
        return lowered.index(col.lower())
    if not 0 <= idx < ncols:
        raise DataError(
            f"{what} column {col if col is not None else idx!r} not found in "
            f"{str(table.path)!r}; columns: {listing}"
        )
    return idx


def _text_columns(table: _Table, opts: dict[str, Any]) -> tuple[list[str], list[str]]:
    t_idx = _column_index(table, opts["text_column"], TEXT_COLUMN_NAMES, 0, "text")
    l_idx = _column_index(table, opts["label_column"], LABEL_COLUMN_NAMES, 1, "label")
    if t_idx == l_idx:
        raise DataError(f"text and label columns are both column {t_idx} in {str(table.path)!r}")
    texts, labels = [], []
    first_line = 2 if table.header is not None else 1
    for i, row in enumerate(table.rows):
        if len(row) <= max(t_idx, l_idx) or not row[l_idx].strip():
            raise DataError(
                f"{str(table.path)!r} line {i + first_line}: label column {l_idx} is missing "
                f"(row has {len(row)} column(s))"
            )
        texts.append(row[t_idx])
        labels.append(row[l_idx].strip())
    if not texts:
        raise DataError(f"text file {str(table.path)!r} has a header but no rows")
    return texts, labels


def _is_int(s: str) -> bool:
    try:
        int(s)
        return True
    except ValueError:
        return False


def _encode_labels(
    spec: TaskSpec, all_labels: list[str], source: Path
) -> tuple[list[str], dict[str, int] | None]:
    """Class names, and a string->id map when labels are names (None when ints)."""
    ints = all(_is_int(v) for v in all_labels)
    if spec.class_names is not None:
        names = list(spec.class_names)
        if ints:
            return names, None
        lookup = {n.lower(): i for i, n in enumerate(names)}
        lookup.update({v.lower(): int(v) for v in set(all_labels) if _is_int(v)})
        bad = sorted({v for v in all_labels if v.lower() not in lookup})
        if bad:
            raise DataError(
                f"{spec.name}: label {bad[0]!r} in {str(source)!r} is not one of: "
                f"{', '.join(names)} (or 0..{len(names) - 1})"
            )
        return names, {v: lookup[v.lower()] for v in set(all_labels)}
    if ints:
        values = [int(v) for v in all_labels]
        if min(values) < 0:
            raise DataError(f"text_file: negative label {min(values)} in {str(source)!r}")
        return [str(i) for i in range(max(values) + 1)], None
    names = sorted(set(all_labels))
    return names, {n: i for i, n in enumerate(names)}


def _split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n < 2:
        raise DataError(f"cannot make a validation split of {n} example(s); add more data")
    perm = np.random.RandomState(seed).permutation(n)
    n_test = min(max(1, int(round(n * fraction))), n - 1)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _load_text(spec: TaskSpec, path: Path, opts: dict[str, Any]) -> Dataset:
    cols = (opts["text_column"], opts["label_column"])
    if path.is_dir():
        pair = _find_split_files(path)
        if pair is None:
            files = [p.name for p in path.iterdir() if p.suffix.lower() in (".csv", ".tsv")]
            if len(files) == 1:
                return _load_text(spec, path / files[0], opts)
            raise DataError(
                f"{spec.name}: directory {str(path)!r} has no train.tsv+dev.tsv or "
                f"train.csv+test.csv (found: {', '.join(sorted(files)) or 'no CSV/TSV files'})"
            )
        tables = [_read_table(p, cols) for p in pair]
        parts = [_text_columns(t, opts) for t in tables]
        class_names, mapping = _encode_labels(spec, parts[0][1] + parts[1][1], path)
        source = f"{pair[0]} + {pair[1].name}"
        arrays = [_text_arrays(t, lab, mapping) for t, lab in parts]
        return _text_dataset(spec, class_names, arrays[0], arrays[1], source)
    table = _read_table(path, cols)
    texts, labels = _text_columns(table, opts)
    class_names, mapping = _encode_labels(spec, labels, path)
    x, y = _text_arrays(texts, labels, mapping)
    tr, te = _split_indices(len(y), opts["validation_split"], opts["seed"])
    source = f"{path} (seeded {opts['validation_split']:g} validation split, seed {opts['seed']})"
    return _text_dataset(spec, class_names, (x[tr], y[tr]), (x[te], y[te]), source)


def _text_arrays(
    texts: list[str], labels: list[str], mapping: dict[str, int] | None
) -> tuple[np.ndarray, np.ndarray]:
    y = [int(v) for v in labels] if mapping is None else [mapping[v] for v in labels]
    return np.array(texts, dtype=object), np.array(y, dtype=np.int64)


def _text_dataset(
    spec: TaskSpec,
    class_names: list[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    source: str,
) -> Dataset:
    if spec.class_names is None:
        spec = dataclasses.replace(spec, class_names=tuple(class_names))
    return _from_arrays(spec, class_names, train, test, source)


# --------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------

_TEST_DIR_NAMES = ("test", "val", "validation", "valid", "dev")


def _class_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"image_folder: {str(root)!r} is not a directory")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(
            f"image_folder: {str(root)!r} has no class sub-directories (expected one folder of "
            f"PNG/JPEG images per class)"
        )
    return dirs


def _image_files(class_dir: Path) -> list[Path]:
    files = sorted(
        p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise DataError(
            f"image_folder: class folder {str(class_dir)!r} has no images "
            f"({'/'.join(IMAGE_EXTENSIONS)})"
        )
    return files


def _decode_image(path: Path) -> np.ndarray:
    try:
        raw = path.read_bytes()
        img = tf.io.decode_image(raw, channels=0, expand_animations=False)
        return img.numpy()
    except (OSError, tf.errors.OpError, ValueError) as e:
        msg = getattr(e, "message", None) or str(e)
        raise DataError(
            f"image_folder: cannot decode image {str(path)!r} ({' '.join(msg.split())[:120]})"
        ) from None


def _collect(root: Path, class_names: list[str] | None) -> tuple[list[str], list[Path], list[int]]:
    dirs = _class_dirs(root)
    names = [d.name for d in dirs]
    if class_names is not None:
        unknown = [n for n in names if n not in class_names]
        if unknown:
            raise DataError(
                f"image_folder: class folder {str(root / unknown[0])!r} is not a training class; "
                f"classes: {', '.join(class_names)}"
            )
    else:
        class_names = names
    files, labels = [], []
    for d in dirs:
        imgs = _image_files(d)
        files += imgs
        labels += [class_names.index(d.name)] * len(imgs)
    return class_names, files, labels


def _to_array(decoded: list[np.ndarray], size: tuple[int, int], channels: int) -> np.ndarray:
    out = np.empty((len(decoded), size[0], size[1], channels), dtype=np.uint8)
    for i, img in enumerate(decoded):
        c = img.shape[-1]
        if channels == 1:
            img = img[..., :1]
        elif c in (1, 2):
            img = np.repeat(img[..., :1], 3, axis=-1)
        else:
            img = img[..., :3]
        if img.shape[:2] != size:
            img = tf.image.resize(img, size, method="bilinear", antialias=True)
            img = tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8).numpy()
        out[i] = img
    return out


def _load_image_folder(spec: TaskSpec, path: Path, opts: dict[str, Any]) -> Dataset:
    if not path.is_dir():
        raise DataError(f"image_folder: {str(path)!r} is not a directory")
    train_dir = path / "train"
    test_dir = next((path / n for n in _TEST_DIR_NAMES if (path / n).is_dir()), None)
    if train_dir.is_dir() and test_dir is not None:
        class_names, train_files, train_y = _collect(train_dir, None)
        _, test_files, test_y = _collect(test_dir, class_names)
        source = f"{train_dir} + {test_dir.name}/"
    else:
        if train_dir.is_dir():  # train/ without a test folder: split train/ itself
            path = train_dir
        class_names, files, labels = _collect(path, None)
        tr, te = _split_indices(len(files), opts["validation_split"], opts["seed"])
        train_files, train_y = [files[i] for i in tr], [labels[i] for i in tr]
        test_files, test_y = [files[i] for i in te], [labels[i] for i in te]
        source = (
            f"{path} (seeded {opts['validation_split']:g} validation split, seed {opts['seed']})"
        )
    train_dec = [_decode_image(p) for p in train_files]
    test_dec = [_decode_image(p) for p in test_files]
    everything = train_dec + test_dec
    size = opts["image_size"] or tuple(everything[0].shape[:2])
    channels = 1 if all(img.shape[-1] in (1, 2) for img in everything) else 3
    x_train = _to_array(train_dec, size, channels)
    x_test = _to_array(test_dec, size, channels)
    scaled = x_train.reshape(-1, channels).astype(np.float64) / 255.0
    resolved = dataclasses.replace(
        spec,
        class_names=tuple(class_names),
        input_shape=(int(size[0]), int(size[1]), channels),
        input_mean=tuple(round(float(v), 4) for v in scaled.mean(axis=0)),
        input_std=tuple(round(max(float(v), 1e-3), 4) for v in scaled.std(axis=0)),
    )
    return _from_arrays(
        resolved,
        class_names,
        (x_train, np.asarray(train_y, dtype=np.int64)),
        (x_test, np.asarray(test_y, dtype=np.int64)),
        source,
    )


# --------------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------------


def augment_batch(
    images: tf.Tensor, seed: tf.Tensor, *, pad: int = 4, flip: bool = False
) -> tf.Tensor:
    """Per-example random crop (after ``pad`` px of zero padding) and optional horizontal flip.

    Vectorized over the batch with index arithmetic (two gathers); keeps dtype and shape.
    ``seed`` is a stateless seed (shape ``[2]`` int) so results are reproducible.
    """
    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    rows = tf.range(h)[None, :]
    cols = tf.range(w)[None, :]
    if pad > 0:
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        off_y = tf.random.stateless_uniform([b, 1], seeds[0], 0, 2 * pad + 1, dtype=tf.int32)
        off_x = tf.random.stateless_uniform([b, 1], seeds[1], 0, 2 * pad + 1, dtype=tf.int32)
    else:
        padded = images
        off_y = tf.zeros([b, 1], tf.int32)
        off_x = tf.zeros([b, 1], tf.int32)
    row_idx = off_y + rows  # [B, H]
    if flip:
        do_flip = tf.random.stateless_uniform([b, 1], seeds[2]) < 0.5
        col_idx = off_x + tf.where(do_flip, w - 1 - cols, cols)  # [B, W]
    else:
        col_idx = off_x + cols
    out = tf.gather(padded, row_idx, axis=1, batch_dims=1)  # [B, H, W + 2p, C]
    out = tf.gather(out, col_idx, axis=2, batch_dims=1)  # [B, H, W, C]
    return tf.ensure_shape(out, images.shape)


def make_pipeline(
    ds: tf.data.Dataset,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: bool = True,
    flip: bool = False,
    pad: int = 4,
    cache: bool = True,
) -> tf.data.Dataset:
    """cache -> seeded shuffle (training) -> batch -> augmentation (training, images) -> prefetch.

    Shuffling reshuffles every epoch and is reproducible for a given ``seed``; training batches
    drop the remainder. Image augmentation (per-example random crop with ``pad`` px padding,
    horizontal flip only when ``flip``) runs on whole batches and keeps uint8. Text passes through.
    """
    if int(batch_size) < 1:
        raise DataError(f"batch_size={batch_size!r} must be a positive integer")
    if int(pad) < 0:
        raise DataError(f"pad={pad!r} must be >= 0")
    batch_size, pad, seed = int(batch_size), int(pad), int(seed)
    if cache:
        ds = ds.cache()
    if training:
        n = int(ds.cardinality())
        buffer = min(n, MAX_SHUFFLE_BUFFER) if n > 0 else 10_000
        ds = ds.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    x_spec = ds.element_spec[0] if isinstance(ds.element_spec, tuple) else ds.element_spec
    is_image = x_spec.shape.rank == 4 and x_spec.dtype != tf.string
    if training and augment and is_image and (pad > 0 or flip):
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds)

        def _aug(batch: Any, s: tf.Tensor) -> Any:
            if isinstance(batch, tuple):
                return (augment_batch(batch[0], s, pad=pad, flip=flip),) + tuple(batch[1:])
            return augment_batch(batch, s, pad=pad, flip=flip)

        ds = ds.map(_aug, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)
