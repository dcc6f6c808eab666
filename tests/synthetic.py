"""Small generated datasets in the real on-disk formats (IDX, image folders, TSV/CSV)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}


def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> Path:
    """Writes ``array`` (uint8) in the IDX format of (Fashion-)MNIST."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def learnable_images(n: int, num_classes: int = 10, size: int = 28, seed: int = 0):
    """Images whose class is their brightness, with noise: learnable in a few steps and
    unchanged by crop and flip augmentation, so training tests can assert progress."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    levels = 20 + labels * (200 // num_classes)
    noise = rng.integers(0, 15, size=(n, size, size))
    images = (levels[:, None, None] + noise).astype(np.uint8)
    return images, labels.astype(np.uint8)


def make_idx_dir(root: Path, n_train: int = 256, n_test: int = 64, seed: int = 0) -> Path:
    """A Fashion-MNIST-layout directory of learnable 28x28 images."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = learnable_images(n, seed=seed + (split == "test"))
        write_idx(root / IDX_FILES[(split, "images")], images)
        write_idx(root / IDX_FILES[(split, "labels")], labels)
    return root


def make_image_folder(root: Path, classes=("cat", "dog"), per_class: int = 12, size: int = 12):
    """An ``image_folder`` layout with train/ and test/ splits of PNGs whose class is their
    brightness (RGB)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", max(per_class // 3, 1))):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                level = 40 + c * (180 // max(len(classes) - 1, 1))
                pixels = np.clip(level + rng.integers(-10, 10, (size, size, 3)), 0, 255)
                png = tf.io.encode_png(pixels.astype(np.uint8)).numpy()
                (folder / f"{i:03d}.png").write_bytes(png)
    return root


# A word-for-word "language" pair: a translation model has to learn a dictionary and keep the
# order, which a tiny transformer does in a few hundred steps.
DICTIONARY = {
    "ein": "a", "hund": "dog", "katze": "cat", "mann": "man", "frau": "woman", "läuft": "runs",
    "schläft": "sleeps", "singt": "sings", "liest": "reads", "rot": "red", "klein": "small",
    "groß": "big", "und": "and", "hier": "here", "dort": "there", "heute": "today",
}  # fmt: skip


def make_parallel_dir(root: Path, n_train: int = 1_100, n_val: int = 100, seed: int = 0):
    """``train.xx``/``train.yy`` and ``val.xx``/``val.yy`` of :data:`DICTIONARY` sentences;
    returns the folder and the validation pairs."""
    import random

    rng = random.Random(seed)
    pairs = []
    for _ in range(n_train + n_val):
        words = [rng.choice(list(DICTIONARY)) for _ in range(rng.randint(2, 6))]
        pairs.append((" ".join(words), " ".join(DICTIONARY[w] for w in words)))
    root.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", pairs[:n_train]), ("val", pairs[n_train:])):
        (root / f"{split}.xx").write_text("\n".join(s for s, _ in rows) + "\n")
        (root / f"{split}.yy").write_text("\n".join(t for _, t in rows) + "\n")
    return root, pairs[n_train:]


def train_translation(root: Path, epochs: int = 15):
    """A tiny transformer trained on :func:`make_parallel_dir`'s pairs: the run's directory and
    the validation pairs (it translates most of them right)."""
    import reskeras as rk

    data, held_out = make_parallel_dir(root / "data")
    rk.train(
        "translation",
        "transformer_seq2seq1",
        data=str(data),
        languages="xx-yy",
        out=str(root / "run"),
        epochs=epochs,
        min_steps=0,
        batch_size=32,
        lr=2e-3,
        warmup_epochs=0,
        vocabulary_size=64,
        sequence_length=16,
        model_kwargs={"width": 48, "num_heads": 2, "dropout": 0.0},
        verbose=0,
        jit_compile=False,
    )
    return root / "run", held_out


def shared_translation_run(tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    """:func:`train_translation` once per test session, however many test files (and pytest-xdist
    workers) ask for it; the run directory must not be changed (copy it to resume it)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if base.name.startswith("popen-gw"):  # a pytest-xdist worker: the session's folder is above
        base = base.parent
    root = base / "shared_translation"
    with FileLock(str(root) + ".lock"):
        if not (root / "run" / "model.keras").is_file():
            return train_translation(root)
    return root / "run", make_parallel_dir(root / "data")[1]
