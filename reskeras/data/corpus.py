"""Text corpora for language models: reading lines, word-level vocabularies, token streams
and the windows a language model trains and is scored on.

A corpus is read as lines; each line's words (split on whitespace) are followed by one
``<eos>`` token, and the lines of a split are concatenated into one token stream, the
standard for word-level language modelling (WikiText, Penn Treebank). The stream starts with
an ``<eos>`` (:meth:`Vocabulary.stream`, the end of the line before) and is cut into
consecutive windows of ``sequence_length + 1`` tokens overlapping by one: the model reads
``window[:-1]`` and predicts ``window[1:]``, so every token of the text is predicted exactly
once. The last window is padded (id 0, masked out of the loss), so a split's perplexity
covers all its tokens.
"""

from __future__ import annotations

import collections
import gzip
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reskeras.errors import DataError

__all__ = [
    "EOS",
    "PAD",
    "UNK",
    "Vocabulary",
    "read_lines",
    "windows",
]

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
#: Suffixes of the plain-text files a folder corpus is read from.
TEXT_SUFFIXES = (".txt", ".txt.gz", ".tokens", ".raw")


def _open_text(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", encoding="utf-8", newline="\n")


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file (``.gz`` too) or of every text file in a folder, in
    name order, without their line ends.

    Args:
        path: a file or a folder of ``.txt`` files.

    Raises:
        DataError: missing, empty, not UTF-8, or a folder with no text files.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith(TEXT_SUFFIXES))
        if not files:
            raise DataError(f"{path} holds no text files (looked for {', '.join(TEXT_SUFFIXES)})")
        return [line for f in files for line in read_lines(f)]
    if not path.is_file():
        raise DataError(f"{path} is not a file or a folder")
    try:
        with _open_text(path) as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}: {err.reason})") from err
    except (OSError, EOFError) as err:
        raise DataError(f"{path} cannot be read: {err}") from err
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line; it starts none
    if not any(line.strip() for line in lines):
        raise DataError(f"{path} has no text")
    return lines


@dataclass(frozen=True)
class Vocabulary:
    """Word-level token ids: ``<pad>`` is 0, then ``<unk>``, ``<eos>`` and the words.

    Args:
        tokens: every token in id order, starting ``<pad>``, ``<unk>``, ``<eos>``.
    """

    tokens: tuple[str, ...]

    def __post_init__(self):
        if tuple(self.tokens[:3]) != (PAD, UNK, EOS):
            raise DataError(f"A vocabulary starts with {PAD}, {UNK}, {EOS}; got {self.tokens[:3]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise DataError("A vocabulary lists each token once")
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def from_lines(cls, lines: Iterable[str], max_size: int | None = None) -> Vocabulary:
        """The ``max_size`` most frequent words of ``lines`` (ties by first appearance),
        after the three special tokens; ``None``: every word.

        Args:
            lines: the training text.
            max_size: the vocabulary's size, special tokens included (at least 4).
        """
        counts = collections.Counter(w for line in lines for w in line.split())
        for special in (PAD, UNK, EOS):
            counts.pop(special, None)
        words = [w for w, _ in counts.most_common(None if max_size is None else max_size - 3)]
        return cls((PAD, UNK, EOS, *words))

    @property
    def size(self) -> int:
        """Token ids, ``<pad>`` included (the model's vocabulary size)."""
        return len(self.tokens)

    @property
    def eos_id(self) -> int:
        """The id of ``<eos>``."""
        return 2

    def encode(self, lines: Iterable[str]) -> np.ndarray:
        """One int32 stream of the lines' word ids, each line followed by ``<eos>``;
        unknown words become ``<unk>``.

        Args:
            lines: the text.
        """
        ids, unk, eos = self._ids, 1, 2
        stream = [i for line in lines for i in [*(ids.get(w, unk) for w in line.split()), eos]]
        return np.asarray(stream, dtype=np.int32)

    def stream(self, lines: Iterable[str]) -> np.ndarray:
        """The token stream a split (or a prompt) is read as: ``<eos>`` (the end of the
        line before the text), then :meth:`encode`. A language model reads the stream and
        predicts all of it but its first token, so every token of the text is predicted,
        the first word from the start of a line.

        Args:
            lines: the text.
        """
        return np.concatenate([np.asarray([self.eos_id], np.int32), self.encode(lines)])

    def decode(self, ids: Iterable[int]) -> str:
        """Words joined by spaces, ``<eos>`` as a line break, padding dropped.

        Args:
            ids: token ids.
        """
        words = [self.tokens[int(i)] for i in ids if int(i) != 0]
        return (
            " ".join(words)
            .replace(f" {EOS} ", "\n")
            .replace(f" {EOS}", "\n")
            .replace(f"{EOS} ", "\n")
            .replace(EOS, "\n")
        )

    def save(self, path: str | os.PathLike) -> None:
        """Writes one token a line.

        Args:
            path: the file to write.
        """
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Reads a file :meth:`save` wrote, or any one-token-a-line file (the special
        tokens are put first when it lacks them).

        Args:
            path: the vocabulary file.
        """
        tokens = [t for t in read_lines(path) if t]
        rest = [t for t in tokens if t not in (PAD, UNK, EOS)]
        return cls((PAD, UNK, EOS, *rest))


def windows(stream: np.ndarray, sequence_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets ``[n, sequence_length]``: consecutive windows of ``stream``, each
    target the input shifted by one, the last padded with 0 (masked from the loss).

    Args:
        stream: the token ids of a split.
        sequence_length: tokens per window.

    Raises:
        DataError: the stream has fewer than two tokens.
    """
    if len(stream) < 2:
        raise DataError(
            f"a language model needs at least 2 tokens to learn from, got {len(stream)}"
        )
    n = -(-(len(stream) - 1) // sequence_length)
    padded = np.zeros(n * sequence_length + 1, np.int32)
    padded[: len(stream)] = stream
    x = padded[:-1].reshape(n, sequence_length)
    y = padded[1:].reshape(n, sequence_length)
    return x, y


def split_tail(lines: Sequence[str], fraction: float) -> tuple[list[str], list[str]]:
    """``lines`` less its last ``fraction``, and that tail (a held-out validation text keeps
    its sentences together, as published splits do).

    Args:
        lines: the text's lines.
        fraction: the share of lines held out, between 0 and 1.

    Raises:
        DataError: ``fraction`` is out of range or leaves one side empty.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise DataError(f"validation_fraction={fraction!r} must be between 0 and 1")
    cut = len(lines) - max(1, round(len(lines) * float(fraction)))
    if cut < 1:
        raise DataError(f"{len(lines)} line(s) are too few to hold out a validation text")
    return list(lines[:cut]), list(lines[cut:])
