"""Serving signatures of translation models: a string in, its translation out, the whole
decode loop inside the graph.

A translation run's export (:func:`reskeras.serve.export.export_for_serving`) tokenizes with
the run's SentencePiece model (tensorflow-text's ``SentencepieceTokenizeOp``, which TF Serving
links), encodes, decodes through each decoder block's cache in a ``while`` loop and
detokenizes:

* ``serving_default``: ``text`` (string ``[batch]``) -> ``translation`` (string ``[batch]``),
  by beam search with :func:`~reskeras.decoding.seq2seq.translate`'s defaults
  (:data:`~reskeras.decoding.seq2seq.BEAM_WIDTH` beams, length penalty
  :data:`~reskeras.decoding.seq2seq.LENGTH_PENALTY`);
* ``greedy``: the same, decoding greedily (``rk.translate(..., beam_width=1)``);
* ``serve_token_ids``: ``token_ids`` (int32 ``[batch, length]``, the subword ids of each
  source without ``</s>``, 0-padded) -> ``token_ids`` (int32, the translation's ids without
  ``</s>``, 0-padded), by beam search, for clients that tokenize themselves.

The loops are :func:`~reskeras.decoding.seq2seq.beam_search` and
:func:`~reskeras.decoding.seq2seq.greedy_search`, the ones ``rk.translate`` runs, and the
longest translation is the same (:func:`~reskeras.decoding.seq2seq.decode_limit` of the
request's longest source), so a request translates as ``rk.translate`` of the same sentences.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from reskeras.decoding.seq2seq import (
    BEAM_WIDTH,
    LENGTH_PENALTY,
    Translator,
    beam_search,
    decode_limit,
    greedy_search,
)
from reskeras.errors import ExportError, one_line
from reskeras.serve.archive import add_signatures
from reskeras.serve.keys import (
    INPUT_TEXT,
    INPUT_TOKEN_IDS,
    SIGNATURE_DEFAULT,
    SIGNATURE_GREEDY,
    SIGNATURE_TOKEN_IDS,
    TRANSLATION_OUTPUT_KEYS,
)

__all__ = ["translation_archive"]


def translation_archive(translator: Translator) -> tuple[Any, dict[str, Any], str, dict]:
    """A ``keras.export.ExportArchive`` with the signatures of the module docstring.

    Args:
        translator: the translation model and its subword vocabulary.

    Returns:
        The archive, its concrete functions by signature, the kind (``"translation"``) and
        what the warm-up requests need (nothing).

    Raises:
        ExportError: tensorflow-text is missing or the graph cannot be traced.
    """
    try:
        import tensorflow_text as tf_text
    except ImportError as err:  # keras-hub depends on it, so this is a broken install
        raise ExportError(
            f"exporting a translation model needs tensorflow-text ({one_line(err)})"
        ) from err
    model, vocab = translator.model, translator.vocabulary
    tokenizer = tf_text.SentencepieceTokenizer(model=vocab.model_proto, out_type=tf.int32)
    eos, source_length = vocab.eos_id, translator.sequence_length
    longest = getattr(model.get_layer("decoder_embedding"), "sequence_length", None)
    (output_key,) = TRANSLATION_OUTPUT_KEYS

    def decode(token_ids: tf.RaggedTensor, beam_width: int) -> tf.Tensor:
        """Each source's translation ids, ``<eos>`` start and end dropped, 0-padded."""
        rows = token_ids.nrows()
        ends = tf.RaggedTensor.from_tensor(tf.fill(tf.stack([rows, 1]), eos))
        sources = tf.concat([token_ids[:, : source_length - 1], ends], axis=1)
        if longest is not None:
            sources = sources[:, :longest]
        limit = decode_limit(tf.cast(tf.reduce_max(sources.row_lengths()), tf.int32), longest)
        source = sources.to_tensor(0)
        if beam_width > 1:
            out = beam_search(model, source, limit, eos, beam_width, LENGTH_PENALTY)
        else:
            out = greedy_search(model, source, limit, eos)
        position = tf.range(tf.shape(out)[1])[None, :]
        ended = tf.cumsum(tf.cast((out == eos) & (position >= 1), tf.int32), axis=1) > 0
        keep = (position >= 1) & ~ended & (out != 0)
        return tf.ragged.boolean_mask(out, keep)

    def translate_text(text: tf.Tensor, beam_width: int) -> dict[str, tf.Tensor]:
        ids = decode(tokenizer.tokenize(text), beam_width)
        return {output_key: tokenizer.detokenize(ids)}

    text_spec = tf.TensorSpec([None], tf.string, name=INPUT_TEXT)

    @tf.function(input_signature=[text_spec])
    def serve_default(text):
        return translate_text(text, BEAM_WIDTH)

    @tf.function(input_signature=[text_spec])
    def serve_greedy(text):
        return translate_text(text, 1)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=INPUT_TOKEN_IDS)])
    def serve_token_ids(token_ids):
        ragged = tf.RaggedTensor.from_tensor(token_ids, padding=0)
        return {INPUT_TOKEN_IDS: decode(ragged, BEAM_WIDTH).to_tensor(0)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)
    fns = {
        SIGNATURE_DEFAULT: serve_default,
        SIGNATURE_GREEDY: serve_greedy,
        SIGNATURE_TOKEN_IDS: serve_token_ids,
    }
    concrete = add_signatures(archive, fns, "translation", model)
    return archive, concrete, "translation", {}
