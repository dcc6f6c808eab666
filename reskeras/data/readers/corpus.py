"""Reader of plain-text corpora for language models: a file, a ``.gz`` of one, or a folder.

A folder with ``train``/``valid``/``test`` files (``train.txt``, ``wiki.train.tokens``, either
gzipped) keeps those splits; any other file or folder is one text whose last lines are held
out as the validation split (``validation_split`` of them). Without a test file the test
split is the validation text. The splits are datasets of lines; tokens are made by the run
(:mod:`reskeras.data.corpus`).
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from reskeras.data.corpus import TEXT_SUFFIXES, read_lines, split_tail
from reskeras.data.spec import DataError, LoadedTask, LoadOptions, Reader, TaskSpec

__all__ = ["CorpusReader"]

#: The names a split's file may have in a corpus folder (before a ``.gz``).
SPLIT_NAMES = {
    "train": ("train.txt", "wiki.train.tokens", "train.tokens"),
    "validation": ("valid.txt", "validation.txt", "wiki.valid.tokens", "valid.tokens", "dev.txt"),
    "test": ("test.txt", "wiki.test.tokens", "test.tokens"),
}


def _split_file(folder: Path, split: str) -> Path | None:
    for name in SPLIT_NAMES[split]:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _lines(lines: list[str]) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(tf.constant(lines, dtype=tf.string))


class CorpusReader(Reader):
    """Reads a language model's text (see the module docstring)."""

    name = "corpus"

    def usable(self, path: Path) -> bool:
        """Whether ``path`` is a corpus folder with a training file, or a text file.

        Args:
            path: a local copy's location.
        """
        if path.is_dir():
            return _split_file(path, "train") is not None
        return path.name.endswith(TEXT_SUFFIXES)

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The train, validation and test lines of the corpus at ``path``.

        Args:
            spec: the task.
            path: a text file or folder.
            opts: ``validation_split`` is the share of lines held out when the corpus has no
                validation file.

        Returns:
            The loaded task; its splits are datasets of lines.

        Raises:
            DataError: the text is missing, empty or not UTF-8.
        """
        train_file = _split_file(path, "train") if path.is_dir() else None
        if train_file is not None:
            train = read_lines(train_file)
            valid_file = _split_file(path, "validation")
            if valid_file is not None:
                validation = read_lines(valid_file)
                how = str(valid_file)
            else:
                train, validation = split_tail(train, opts.validation_split)
                how = f"the last {len(validation)} lines of {train_file}"
            test_file = _split_file(path, "test")
        else:
            train, validation = split_tail(read_lines(path), opts.validation_split)
            how = f"the last {len(validation)} lines of {path}"
            test_file = None
        test = read_lines(test_file) if test_file is not None else validation
        if not any(line.split() for line in train):
            raise DataError(f"{spec.name}: the training text at {path} has no words")
        return LoadedTask(
            spec=spec,
            class_names=[],
            train=_lines(train),
            test=_lines(test),
            num_train=len(train),
            num_test=len(test),
            source=str(path) if test_file is not None else f"{path} (test = the validation text)",
            validation=_lines(validation),
            num_validation=len(validation),
            validation_source=how,
        )
