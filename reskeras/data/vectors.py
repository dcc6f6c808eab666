"""Pretrained word vectors: the GloVe / word2vec / fastText text format, read for a vocabulary.

A vector file holds one word a line, ``word v1 v2 ... vd``, values separated by spaces;
fastText's ``.vec`` files (and word2vec's text output) start with a header line ``count dim``.
The file may be gzip-compressed (``.gz`` or not: the magic bytes decide). Only the rows of
the vocabulary's words are kept, so a file of millions of words costs one pass and no more
memory than the vocabulary's matrix::

    vectors = load_word_vectors("glove.6B.100d.txt.gz", vectorizer.get_vocabulary())
    vectors.matrix.shape      # (vocabulary size, 100): row i is the vector of id i
    vectors.summary()         # {"dim": 100, "found": 9876, "coverage": 0.93, ...}

Lookup is case-insensitive where it has to be: an exact match wins, else the first line whose
lower-cased word matches (vector files list frequent words first). Vocabulary words the file
lacks get random rows at the scale of the rows found (normal, the found values' mean and
standard deviation); padding (id 0) and ``[UNK]`` (id 1) get zeros, as
:func:`reskeras.models.text` gives ``[UNK]`` everywhere. Every malformed file is a one-line
:class:`~reskeras.data.DataError` naming the file and the line.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reskeras.data.spec import DataError

__all__ = ["WordVectors", "load_word_vectors"]

#: Vocabulary ids that never get a vector: padding and ``[UNK]`` (TextVectorization's).
RESERVED_IDS = (0, 1)
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class WordVectors:
    """The embedding matrix built from a vector file for one vocabulary.

    Args:
        path: the vector file.
        matrix: float32 ``[vocabulary size, dim]``, the embedding matrix.
        found: vocabulary words with a vector in the file.
        words: vocabulary words (padding and ``[UNK]`` not counted).
        file_words: vectors in the file.
    """

    path: str
    matrix: np.ndarray  # float32 [vocabulary size, dim]
    found: int  # vocabulary words with a vector in the file
    words: int  # vocabulary words (padding and [UNK] not counted)
    file_words: int  # vectors in the file

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def coverage(self) -> float:
        """The share of the vocabulary's words found in the file."""
        return self.found / self.words if self.words else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for a run's ``config.json`` and the training output."""
        return {
            "path": self.path,
            "dim": self.dim,
            "file_words": self.file_words,
            "vocabulary_words": self.words,
            "found": self.found,
            "coverage": round(self.coverage, 4),
        }


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as f:
            yield from enumerate(f, start=1)
    except (OSError, EOFError) as err:  # a truncated or corrupt gzip stream
        raise DataError(f"{path}: cannot be read: {err}") from None


def _is_header(fields: list[str]) -> bool:
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def load_word_vectors(
    path: str | os.PathLike, vocabulary: Sequence[str], *, seed: int = 0
) -> WordVectors:
    """The embedding matrix for ``vocabulary`` from a word-vector file in the GloVe /
    word2vec / fastText text format.

    A word takes the vector of its exact form, else of its lower-case form. Padding and
    ``[UNK]`` rows are zero; words without a vector get random ones with the found vectors'
    mean and standard deviation.

    Args:
        path: the vector file, optionally gzipped (a ``count dim`` header line is skipped).
        vocabulary: the words by id (``TextVectorization.get_vocabulary()``: id 0 padding,
            1 ``[UNK]``).
        seed: seed of the random vectors of the words not in the file.

    Returns:
        The matrix and its coverage counts.

    Raises:
        DataError: (one line, with the file and line) the file is missing, binary, ragged
            or non-numeric, or shares no word with the vocabulary.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"word-vector file {str(path)!r} not found (expected a GloVe/word2vec/fastText "
            "text file, optionally gzipped)"
        )
    index = {w: i for i, w in enumerate(vocabulary) if i not in RESERVED_IDS}
    rows: dict[int, np.ndarray] = {}
    exact: set[int] = set()
    dim = None
    file_words = 0
    for number, raw in _lines(path):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(
                f"{path}: line {number} is not UTF-8 text (byte {err.start}); a binary "
                "word2vec file must be converted to the text format first"
            ) from None
        line = line.rstrip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        count = rest.count(" ") + 1 if rest else 0
        if number == 1 and _is_header(line.split()):
            dim = int(line.split()[1])  # fastText / word2vec header: "count dim"
            continue
        if dim is None:
            dim = len(rest.split())
            if dim == 0:
                raise DataError(f"{path}: line {number} has a word but no values")
        values = rest.split() if count != dim else None
        if values is not None and len(values) != dim:  # ragged, not just extra spaces
            raise DataError(
                f"{path}: line {number} has {len(values)} values where the file has {dim} "
                f"(word {word[:40]!r})"
            )
        file_words += 1
        i = index.get(word)
        if i is None or i in exact:
            i = index.get(word.lower())
            if i is None or i in rows:
                continue
        else:
            exact.add(i)
        try:
            rows[i] = np.array(values or rest.split(), dtype=np.float32)
        except ValueError:
            bad = next(v for v in (values or rest.split()) if not _is_number(v))
            raise DataError(f"{path}: line {number}: {bad[:40]!r} is not a number") from None
    if not file_words:
        raise DataError(f"{path}: holds no word vectors")
    if not rows:
        sample = ", ".join(repr(w) for w in list(index)[:5])
        raise DataError(
            f"{path}: none of its {file_words} words is in the vocabulary of {len(index)} words "
            f"(e.g. {sample}); is it a vector file for this language?"
        )
    found = np.stack(list(rows.values()))
    rng = np.random.default_rng(seed)
    matrix = rng.normal(found.mean(), found.std(), (len(vocabulary), dim)).astype(np.float32)
    matrix[list(RESERVED_IDS)[: len(vocabulary)]] = 0.0
    matrix[list(rows)] = found
    return WordVectors(str(path), matrix, len(rows), len(index), file_words)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
