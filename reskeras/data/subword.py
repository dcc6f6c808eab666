"""Subword vocabularies for translation: one SentencePiece model learned from the training
pairs only, both languages together (shared embeddings need one vocabulary), and the
examples it makes of sentence pairs.

SentencePiece rather than keras-hub's WordPiece: its pieces keep the spaces (``▁``), so
decoding is the exact inverse of encoding on any text it covers and translations come out
detokenized, as sacrebleu wants them; WordPiece splits off punctuation and loses where the
spaces were. tensorflow-text runs the same model inside a SavedModel's graph, which the
serving export needs. ``bench/translation.py subwords`` measures the round trip of both.

Ids: 0 is padding (left out of the loss), 1 ``<unk>``, 2 ``<eos>`` (which also starts every
decoder input); the pieces follow.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from reskeras.errors import DataError

__all__ = ["EOS_ID", "PAD_ID", "UNK_ID", "SubwordVocabulary", "sentence_pairs"]

PAD_ID, UNK_ID, EOS_ID = 0, 1, 2


class SubwordVocabulary:
    """A SentencePiece unigram model and the ids it gives.

    Build one with :meth:`train` or :meth:`load`.

    Args:
        model_proto: the serialized SentencePiece model.
    """

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        if (self._sp.pad_id(), self._sp.unk_id(), self._sp.eos_id()) != (PAD_ID, UNK_ID, EOS_ID):
            raise DataError(
                "this SentencePiece model has pad/unk/eos ids "
                f"{self._sp.pad_id()}/{self._sp.unk_id()}/{self._sp.eos_id()}; reskeras needs "
                f"{PAD_ID}/{UNK_ID}/{EOS_ID} (train one with SubwordVocabulary.train)"
            )

    @classmethod
    def train(cls, texts: Iterable[str], size: int) -> SubwordVocabulary:
        """Learns a vocabulary of at most ``size`` ids (fewer when the text has fewer pieces).

        Args:
            texts: the training sentences (source and target sides together).
            size: the most ids, padding, ``<unk>`` and ``<eos>`` included.

        Raises:
            DataError: ``size`` is below 16 or the text is empty.
        """
        import sentencepiece as spm

        if isinstance(size, bool) or not isinstance(size, int) or size < 16:
            raise DataError(f"vocabulary_size={size!r} must be an integer of at least 16")
        lines = [t for t in texts if t.strip()]
        if not lines:
            raise DataError("the training sentences are empty: no vocabulary can be learned")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=proto,
            vocab_size=size,
            hard_vocab_limit=False,  # small data: as many pieces as it has, up to size
            model_type="unigram",
            character_coverage=1.0,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            eos_id=EOS_ID,
            bos_id=-1,
            input_sentence_size=1_000_000,
            shuffle_input_sentence=True,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
        return cls(proto.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> SubwordVocabulary:
        """Reads a vocabulary written by :meth:`save`.

        Args:
            path: the ``.model`` file.

        Raises:
            DataError: the file is missing or not a SentencePiece model.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no subword vocabulary there")
        try:
            return cls(path.read_bytes())
        except (RuntimeError, OSError) as err:
            raise DataError(f"{path} is not a SentencePiece model: {err}") from err

    def save(self, path: str | os.PathLike) -> None:
        """Writes the model (a SentencePiece ``.model`` file, loadable by any of its users).

        Args:
            path: where to write it.
        """
        from reskeras.training.rundir import atomic_write

        atomic_write(Path(path), self.model_proto)

    @property
    def size(self) -> int:
        """Ids in all (the model's output width)."""
        return self._sp.get_piece_size()

    @property
    def eos_id(self) -> int:
        """The id that ends a sentence and starts a decoder input."""
        return EOS_ID

    @property
    def pieces(self) -> list[str]:
        """Every piece in id order (``<pad>``, ``<unk>``, ``</s>``, ...)."""
        return [self._sp.id_to_piece(i) for i in range(self.size)]

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's piece ids, without ``<eos>``.

        Args:
            texts: the sentences.
        """
        return [np.asarray(ids, np.int32) for ids in self._sp.encode(list(texts))]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of piece ids (padding and ``<eos>`` dropped).

        Args:
            ids: piece ids.
        """
        return self._sp.decode([int(i) for i in ids if int(i) not in (PAD_ID, EOS_ID)])


def sentence_pairs(
    vocabulary: SubwordVocabulary, pairs: Sequence[tuple[str, str]], length: int
) -> tuple[tf.data.Dataset, int]:
    """A translation's examples: ``((source, decoder input), labels)`` int32 vectors of their
    own lengths, the source followed by ``</s>``, the decoder input ``</s>`` then the target,
    the labels the target then ``</s>``; each side cut to ``length`` tokens.

    Args:
        vocabulary: the subword vocabulary.
        pairs: ``(source, target)`` sentences.
        length: the most tokens of a side, ``</s>`` included.

    Returns:
        The dataset (batch it with :func:`reskeras.data.pipeline.bucketed_pairs`) and how
        many sentences were cut.
    """
    sources = vocabulary.encode([s for s, _ in pairs])
    targets = vocabulary.encode([t for _, t in pairs])
    cut = sum(len(ids) > length - 1 for ids in (*sources, *targets))
    sides = (
        [np.append(ids[: length - 1], EOS_ID) for ids in sources],
        [np.concatenate([[EOS_ID], ids[: length - 1]]) for ids in targets],
        [np.append(ids[: length - 1], EOS_ID) for ids in targets],
    )
    widths = [max((len(r) for r in side), default=1) for side in sides]
    padded = [np.zeros((len(pairs), w), np.int32) for w in widths]
    for array, side in zip(padded, sides, strict=True):
        for i, row in enumerate(side):
            array[i, : len(row)] = row
    lengths = (
        np.array([len(r) for r in sides[0]], np.int32),
        np.array([len(r) for r in sides[2]], np.int32),
    )
    ds = tf.data.Dataset.from_tensor_slices((*padded, *lengths))
    return ds.map(lambda s, d, y, ns, nt: ((s[:ns], d[:nt]), y[:nt])), cut
