"""Reader of image folders: one sub-folder of PNG/JPEG images per class.

``keras.utils.image_dataset_from_directory`` lists and decodes such folders too, but it does
not do this reader's job: images are decoded into memory as they are found, so an unreadable
file is reported by name at once (not as an op error mid-training); grayscale is detected
(1 channel only when every image is grey); the size defaults to the first image's; the
per-channel mean/std is measured for the model's input scaling; and class folders can be
mapped onto a trained run's classes by name or id. Decoding, resizing and the grayscale
conversion are TensorFlow's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from reskeras.data.spec import (
    DataError,
    LoadedTask,
    LoadOptions,
    Reader,
    TaskSpec,
    TestSet,
    from_arrays,
    make_test_set,
    match_labels,
    split_indices,
)

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderReader"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
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
    """Class names, image files and labels of a folder of class folders. With ``class_names``
    (a test split, or a trained run's classes) every folder must name one of them (or be an
    id); without, the sorted folder names are the classes."""
    dirs = _class_dirs(root)
    names = [d.name for d in dirs]
    if class_names is None:
        class_names, ids = names, list(range(len(names)))
    else:
        ids = match_labels(
            names,
            class_names,
            lambda i: repr(str(root)),
            prefix="image_folder",
            what="class folder",
        ).tolist()
    files, labels = [], []
    for d, label in zip(dirs, ids, strict=True):
        imgs = _image_files(d)
        files += imgs
        labels += [label] * len(imgs)
    return class_names, files, labels


def _to_array(decoded: list[np.ndarray], size: tuple[int, int], channels: int) -> np.ndarray:
    out = np.empty((len(decoded), size[0], size[1], channels), dtype=np.uint8)
    for i, img in enumerate(decoded):
        c = img.shape[-1]
        if channels == 1 and c >= 3:  # colour images for a grayscale model: luminance
            img = tf.cast(tf.round(tf.image.rgb_to_grayscale(img[..., :3])), tf.uint8).numpy()
        elif channels == 1:
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


def _load_image_folder(spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
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
        tr, te = split_indices(len(files), opts.validation_split, opts.seed)
        train_files, train_y = [files[i] for i in tr], [labels[i] for i in tr]
        test_files, test_y = [files[i] for i in te], [labels[i] for i in te]
        source = opts.split_note(path)
    train_dec = [_decode_image(p) for p in train_files]
    test_dec = [_decode_image(p) for p in test_files]
    everything = train_dec + test_dec
    size = opts.image_size or tuple(everything[0].shape[:2])
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
    return from_arrays(
        resolved,
        class_names,
        (x_train, np.asarray(train_y, dtype=np.int64)),
        (x_test, np.asarray(test_y, dtype=np.int64)),
        source,
    )


def _image_test_set(path: Path, names: list[str], input_shape: Sequence[int] | None) -> TestSet:
    if not path.is_dir():
        raise DataError(f"image_folder: {str(path)!r} is not a directory")
    if input_shape is None or len(input_shape) != 3:
        raise DataError(f"image_folder: the run has no image input shape (got {input_shape!r})")
    test_dir = next((path / n for n in _TEST_DIR_NAMES if (path / n).is_dir()), None)
    root = test_dir if (path / "train").is_dir() and test_dir is not None else path
    _, files, labels = _collect(root, names)
    h, w, c = (int(v) for v in input_shape)
    x = _to_array([_decode_image(f) for f in files], (h, w), c)
    return make_test_set(
        x, np.asarray(labels, np.int64), names, f"{root} (all {len(files)} images)"
    )


class ImageFolderReader(Reader):
    """``DIR/<class>/*.png``, or ``DIR/train/<class>/`` with ``DIR/test/<class>/`` (or val/,
    validation/, valid/, dev/)."""

    name = "image_folder"

    def usable(self, path: Path) -> bool:
        """Whether ``path`` is a directory.

        Args:
            path: a local copy.
        """
        return path.is_dir()

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The class folders' images; without train/ and test/ folders a seeded validation
        split is the test split.

        Args:
            spec: the task; its classes are the folders' names.
            path: the image folder.
            opts: ``image_size``, ``validation_split`` and ``seed``.

        Raises:
            DataError: the folder has no class folders or images, or an image is unreadable.
        """
        return _load_image_folder(spec, path, opts)

    def test_set(
        self,
        spec: TaskSpec,
        path: Path,
        class_names: list[str],
        input_shape: Sequence[int] | None,
        opts: LoadOptions,
    ) -> TestSet:
        """Every image under ``path`` (its test/ folder in a train/test layout), resized to
        ``input_shape``, labelled with a run's classes.

        Args:
            spec: the task.
            path: the image folder.
            class_names: the run's classes; every class folder must name one (or its id).
            input_shape: the run's ``(H, W, C)``; images are resized to it.
            opts: unused.

        Raises:
            DataError: ``path`` is not a directory, ``input_shape`` is not an image shape, or
                a class folder is not one of ``class_names``.
        """
        return _image_test_set(path, class_names, input_shape)
