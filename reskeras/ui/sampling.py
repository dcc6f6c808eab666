"""The app's "try the model" area for sequence models, as plain functions (no widgets): the
model as it trains, or as it trained, with its run's vocabulary
(:func:`live_language_model`, :func:`live_translator`), a sampled continuation of a prompt
that fits a language model (:func:`sample_continuation`,
:func:`reskeras.decoding.causal.generate` underneath) and a translation
(:func:`translate_text`, :func:`reskeras.decoding.seq2seq.translate` underneath)."""

from __future__ import annotations

import os

import keras

from reskeras.data.corpus import Vocabulary
from reskeras.data.subword import SubwordVocabulary
from reskeras.decoding.causal import LanguageModel, generate
from reskeras.decoding.seq2seq import Translator, translate
from reskeras.errors import DataError
from reskeras.training.rundir import RunDir

__all__ = [
    "SAMPLE_TOKENS",
    "live_language_model",
    "live_translator",
    "sample_continuation",
    "translate_text",
]

#: The most tokens the app samples by default.
SAMPLE_TOKENS = 30


def live_language_model(
    model: keras.Model | None, run_dir: str | os.PathLike | None, sequence_length: int
) -> LanguageModel:
    """The language model being trained (or just trained), with the vocabulary its run
    saved before training began (``labels.json``).

    Args:
        model: the live Keras model (``None``: training has not built it yet).
        run_dir: the run's directory (``None``: no run yet).
        sequence_length: the windows the run trains on.

    Returns:
        The :class:`~reskeras.decoding.causal.LanguageModel`.

    Raises:
        DataError: there is no model or no vocabulary yet (training has not begun).
    """
    labels = RunDir(run_dir).labels_path if run_dir is not None else None
    if model is None or labels is None or not labels.is_file():
        raise DataError("no language model yet: press Train, and sample once training has begun")
    vocabulary = Vocabulary(tuple(RunDir(run_dir).read_labels()))
    return LanguageModel(model, vocabulary, int(sequence_length))


def sample_continuation(
    lm: LanguageModel,
    prompt: str,
    *,
    max_length: int = SAMPLE_TOKENS,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> str:
    """A sampled continuation of ``prompt`` (:func:`~reskeras.decoding.causal.generate`),
    at most ``max_length`` tokens and no more than the model reads (a transformer's
    positions): the sample is shortened to fit, not refused.

    Args:
        lm: the language model.
        prompt: the text to continue (empty: the start of a line).
        max_length: the most tokens to add.
        temperature: divides the logits before sampling; 0 is greedy decoding.
        top_k: sample from the ``k`` most likely tokens only (``None``: all).
        seed: the seed of the sampling (``None``: a new sample each time).

    Returns:
        The continuation, words joined by spaces (it ends at the end of the line).

    Raises:
        DataError: the prompt alone fills the model's positions, or an option is out of range.
    """
    prompt = " ".join(str(prompt).split())
    if lm.max_length is not None:
        room = lm.max_length - (len(lm.vocabulary.stream([prompt])) - 1)
        if room < 1:
            raise DataError(f"the prompt fills this model's {lm.max_length} positions; shorten it")
        max_length = min(int(max_length), room)
    return generate(
        lm, prompt, max_length=int(max_length), temperature=float(temperature),
        top_k=top_k, seed=seed,
    )  # fmt: skip


def live_translator(
    model: keras.Model | None, run_dir: str | os.PathLike | None, sequence_length: int
) -> Translator:
    """The translation model being trained (or just trained), with the subword vocabulary
    its run saved before training began (``subwords.model``).

    Args:
        model: the live Keras model (``None``: training has not built it yet).
        run_dir: the run's directory (``None``: no run yet).
        sequence_length: the longest source the run trains on.

    Returns:
        The :class:`~reskeras.decoding.seq2seq.Translator`.

    Raises:
        DataError: there is no model or no vocabulary yet (training has not begun).
    """
    subwords = RunDir(run_dir).subwords_path if run_dir is not None else None
    if model is None or subwords is None or not subwords.is_file():
        raise DataError(
            "no translation model yet: press Train, and translate once training has begun"
        )
    return Translator(model, SubwordVocabulary.load(subwords), int(sequence_length))


def translate_text(translator: Translator, text: str, *, max_length: int = SAMPLE_TOKENS) -> str:
    """The greedy translation of ``text`` (quick enough to try while the model trains).

    Args:
        translator: the translation model.
        text: the source sentence.
        max_length: the most subword tokens of the translation.

    Raises:
        DataError: the text is empty.
    """
    text = " ".join(str(text).split())
    if not text:
        raise DataError("type a sentence to translate")
    return translate(translator, text, beam_width=1, max_length=int(max_length))
