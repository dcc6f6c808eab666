"""Reader of (Fashion-)MNIST: the IDX files (gzip'd or not), or keras' ``mnist.npz``."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from reskeras.data.spec import DataError, LoadedTask, LoadOptions, Reader, TaskSpec, from_arrays

__all__ = ["IdxReader", "read_idx"]

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


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file (optionally gzip'd) holding unsigned bytes with ``ndim`` dimensions.

    Args:
        path: the file; a ``.gz`` suffix means gzipped.
        ndim: the number of dimensions it must hold (3 for images, 1 for labels).

    Returns:
        A uint8 array of the header's shape.

    Raises:
        DataError: the file is unreadable, truncated, or of another type or rank.
    """
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


def _load_idx_task(spec: TaskSpec, path: Path) -> LoadedTask:
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
        images = read_idx(img_path, 3)
        labels = read_idx(lbl_path, 1)
        if len(images) != len(labels):
            raise DataError(
                f"{spec.name}: {str(img_path)!r} has {len(images)} images but "
                f"{str(lbl_path)!r} has {len(labels)} labels"
            )
        _check_image_shape(spec, images[..., None], img_path)
        splits[split] = (images[..., None], labels)
    return from_arrays(spec, spec.class_names or (), splits["train"], splits["test"], str(path))


def _load_npz(spec: TaskSpec, path: Path) -> LoadedTask:
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
    return from_arrays(spec, spec.class_names or (), out[0], out[1], str(path))


def _check_image_shape(spec: TaskSpec, images: np.ndarray, path: Path) -> None:
    if spec.input_shape is not None and tuple(images.shape[1:]) != tuple(spec.input_shape):
        raise DataError(
            f"{spec.name}: {str(path)!r} holds images of shape {tuple(images.shape[1:])}, "
            f"expected {tuple(spec.input_shape)}"
        )


class IdxReader(Reader):
    """A directory of IDX files (``train-images-idx3-ubyte.gz`` ...) or an ``.npz``."""

    name = "idx"

    def usable(self, path: Path) -> bool:
        """Whether ``path`` is an ``.npz`` file or holds the training images' IDX file.

        Args:
            path: a local copy.
        """
        return path.suffix == ".npz" or _find_idx(path, "train", "images") is not None

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The train and test splits of a directory of IDX files or of an ``.npz`` file.

        Args:
            spec: the task; its ``input_shape`` is checked.
            path: the directory or ``.npz`` file.
            opts: unused (the files hold their own splits).

        Raises:
            DataError: files are missing or unreadable, or the images have another shape.
        """
        return _load_idx_task(spec, path)
