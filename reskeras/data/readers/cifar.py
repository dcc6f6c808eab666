"""Reader of CIFAR-10/100 "python version" batches, through a restricted unpickler.

CIFAR batch files are Python pickles; :class:`SafeUnpickler` only rebuilds numpy arrays, so a
tampered file raises :class:`~reskeras.data.DataError` and cannot run code.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reskeras.data.spec import DataError, LoadedTask, LoadOptions, Reader, TaskSpec, from_arrays

__all__ = ["CIFAR10", "CIFAR100", "CifarReader", "SafeUnpickler", "safe_unpickle"]


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
    anything is called. It takes ``pickle.Unpickler``'s constructor arguments
    (``SafeUnpickler(file, encoding="bytes")``).
    """

    _allowed = _safe_globals()

    def find_class(self, module: str, name: str) -> Any:
        """The numpy global ``module.name`` if it is allowed.

        Args:
            module: the global's module.
            name: the global's name.

        Raises:
            DataError: the global is not one of the allowed numpy ones.
        """
        factory = self._allowed.get((module, name))
        if factory is None:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return factory()


def safe_unpickle(path: Path) -> Any:
    """Read a pickle file with :class:`SafeUnpickler` (``encoding="bytes"``).

    Args:
        path: the pickle file.

    Returns:
        The unpickled object.

    Raises:
        DataError: the file is unreadable or corrupt, or needs a global other than numpy's.
    """
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


class CifarReader(Reader):
    """An unpacked CIFAR "python version" directory of pickled batches.

    Args:
        folder: the directory's name (``"cifar-10-batches-py"``); ``load`` also accepts its
            parent.
        train_files: the batch files of the training split.
        test_files: the batch files of the test split.
        label_key: the key of the labels in a batch (CIFAR-100: ``b"fine_labels"``).
    """

    name = "cifar"

    def __init__(
        self,
        folder: str,
        train_files: tuple[str, ...],
        test_files: tuple[str, ...],
        label_key: bytes,
    ):
        self.folder = folder
        self.train_files = train_files
        self.test_files = test_files
        self.label_key = label_key

    def usable(self, path: Path) -> bool:
        """Whether ``path`` is a directory holding the first training batch.

        Args:
            path: a local copy.
        """
        return path.is_dir() and (path / self.train_files[0]).exists()

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The train and test splits of the batches in ``path`` (or ``path/folder``).

        Args:
            spec: the task.
            path: the batch directory or its parent.
            opts: unused (the batches hold their own splits).

        Raises:
            DataError: a batch is missing, unreadable or malformed.
        """
        if path.is_dir() and (path / self.folder).is_dir():
            path = path / self.folder
        if not path.is_dir() or not (path / self.train_files[0]).is_file():
            raise DataError(
                f"{spec.name}: {str(path)!r} is not a {self.folder}/ directory "
                f"(expected {self.train_files[0]} and {self.test_files[0]})"
            )
        splits = []
        for files in (self.train_files, self.test_files):
            parts = [_read_cifar_batch(path / f, self.label_key) for f in files]
            splits.append(
                (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            )
        return from_arrays(spec, spec.class_names or (), splits[0], splits[1], str(path))


CIFAR10 = CifarReader(
    "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), b"labels"
)
CIFAR100 = CifarReader("cifar-100-python", ("train",), ("test",), b"fine_labels")
