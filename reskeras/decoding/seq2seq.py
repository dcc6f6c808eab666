"""Translation models at inference: encode once, decode one target token at a time through
each decoder block's cache, greedily or by beam search.

A translation model (:mod:`reskeras.models.translation`) is read through its layer names:
the encoder is the sub-model from ``encoder_token_ids`` to ``encoder_output``; a decoding
step embeds the last token (``decoder_embedding``), runs each ``decoder_blockN`` with its
cache (a transformer block also with its cross-attention cache of the encoder output; GNMT's
layers above the first with the ``attention`` context) and maps the top to logits. The
decoder starts from ``<eos>`` and stops at the next one.

Beam search keeps the ``beam_width`` best partial translations by their summed
log-probability; finished ones wait with their score; at the end each is divided by GNMT's
length penalty ``((5 + length) / 6) ** length_penalty`` (Wu et al. 2016) and the best is
returned. ``beam_width=1`` is greedy decoding (keras-hub's ``GreedySampler``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from reskeras.decoding.causal import (
    compiled,
    make_sampler,
    open_run,
    sample_ids,
    step_masks_ignored,
)
from reskeras.errors import DataError

__all__ = [
    "BEAM_WIDTH",
    "LENGTH_PENALTY",
    "Seq2SeqState",
    "Translator",
    "beam_search",
    "cross_attention",
    "decode_limit",
    "decode_step",
    "encode",
    "greedy_search",
    "load_translator",
    "padded",
    "searcher",
    "source_ids",
    "strip_ids",
    "translate",
    "translate_ids",
]


def _layers(model: keras.Model) -> dict[str, Any]:
    names = {layer.name: layer for layer in model.layers}
    for needed in ("encoder_output", "decoder_embedding", "decoder_block1"):
        if needed not in names:
            raise DataError(f"{model.name} is not a reskeras translation model (no {needed!r})")
    return names


def _blocks(names: dict[str, Any]) -> list:
    blocks = []
    while f"decoder_block{len(blocks) + 1}" in names:
        blocks.append(names[f"decoder_block{len(blocks) + 1}"])
    return blocks


@functools.lru_cache(maxsize=8)
def _encoder(model: keras.Model) -> keras.Model:
    return keras.Model(model.inputs[0], model.get_layer("encoder_output").output)


#: The decoding state: each decoder block's cache, each block's cross-attention cache (a
#: transformer; else ``()``), the encoder output and the source's padding mask. Every entry
#: has the batch first, so beam search can reorder it.
Seq2SeqState = tuple


def encode(model: keras.Model, source_ids: Any, max_length: int) -> Seq2SeqState:
    """Runs the encoder once and returns the state decoding starts from.

    Args:
        model: a translation model.
        source_ids: ``[batch, source_length]`` int32 (0: padding).
        max_length: the longest target decoded (the caches' length), ``<eos>`` start included.
    """
    names = _layers(model)
    with step_masks_ignored():  # the source's padding mask is passed on explicitly
        memory = _encoder(model)(source_ids, training=False)
        mask = ops.not_equal(source_ids, 0)
        batch = ops.shape(source_ids)[0]
        blocks = _blocks(names)
        caches = tuple(block.init_cache(batch, max_length) for block in blocks)
        cross = ()
        if getattr(blocks[0], "cross_attention", None) is not None:
            cross = tuple(block.project_memory(memory) for block in blocks)
    return caches, cross, memory, mask


def decode_step(
    model: keras.Model, token_ids: Any, state: Seq2SeqState, index: Any
) -> tuple[Any, Seq2SeqState]:
    """The next-token logits after ``token_ids`` (``[batch, 1]``, at position ``index``)
    and the updated state.

    Args:
        model: a translation model.
        token_ids: the last target token of each row.
        state: :func:`encode`'s state or the previous step's.
        index: the position of ``token_ids`` in the target.

    Returns:
        float32 logits ``[batch, 1, vocabulary]`` and the state.
    """
    names = _layers(model)
    blocks = _blocks(names)
    caches, cross, memory, mask = state
    with step_masks_ignored():  # one step at a time Keras' masks mean nothing
        embedding = names["decoder_embedding"]
        if hasattr(embedding, "position_embeddings"):
            x = embedding(token_ids, start_index=index)
        else:
            x = embedding(token_ids)
        updated = []
        if cross:  # a transformer: every block attends to the encoder's cached keys and values
            for block, cache, memory_cache in zip(blocks, caches, cross, strict=True):
                x, cache = block.call_cached(
                    x, cache, index, cross_cache=memory_cache, encoder_padding_mask=mask
                )
                updated.append(cache)
            if "decoder_final_norm" in names:
                x = names["decoder_final_norm"](x)
        else:  # GNMT: the first layer's output queries the attention, whose context feeds the rest
            x, cache = blocks[0].call_cached(x, caches[0])
            updated.append(cache)
            context = names["attention"]([x, memory], mask=[None, mask])
            for block, cache in zip(blocks[1:], caches[1:], strict=True):
                x, cache = block.call_cached(x, cache, context=context)
                updated.append(cache)
        dense = names.get("logits")
        logits = dense(x) if dense is not None else embedding(x, reverse=True)
    return ops.cast(logits, "float32"), (tuple(updated), cross, memory, mask)


def greedy_search(model: keras.Model, source_ids: Any, max_length: int, eos_id: int) -> Any:
    """The most likely next token at every step (keras-hub's ``GreedySampler``).

    Args:
        model: a translation model.
        source_ids: ``[batch, source_length]`` int32.
        max_length: the most target tokens, the final ``<eos>`` included.
        eos_id: the id of ``<eos>``: the decoder's first input and its end.

    Returns:
        ``[batch, max_length + 1]`` ids: ``<eos>``, the translation, ``<eos>``, padding.
    """
    state = encode(model, source_ids, max_length + 1)
    batch = ops.shape(source_ids)[0]
    start = ops.cast(ops.one_hot(ops.zeros((batch,), "int32"), max_length + 1), "int32")
    return sample_ids(
        model,
        make_sampler(0.0),
        start * eos_id,
        ops.cast(start, "bool"),
        eos_id=eos_id,
        step=functools.partial(decode_step, model),
        caches=state,
    )


def beam_search(
    model: keras.Model,
    source_ids: Any,
    max_length: int,
    eos_id: int,
    beam_width: int = 4,
    length_penalty: float = 0.6,
) -> Any:
    """Beam search with GNMT's length penalty (see the module docstring).

    Args:
        model: a translation model.
        source_ids: ``[batch, source_length]`` int32.
        max_length: the most target tokens, the final ``<eos>`` included.
        eos_id: the id of ``<eos>``.
        beam_width: partial translations kept per sentence.
        length_penalty: GNMT's alpha (0: none; larger favours longer translations).

    Returns:
        ``[batch, max_length + 1]`` ids, as :func:`greedy_search`.
    """
    batch = ops.shape(source_ids)[0]
    k, total = int(beam_width), max_length + 1
    state = keras.tree.map_structure(
        lambda t: ops.repeat(t, k, axis=0), encode(model, source_ids, total)
    )
    ids = (
        ops.zeros((batch * k, total), "int32")
        + ops.cast(ops.one_hot(ops.zeros((batch * k,), "int32"), total), "int32") * eos_id
    )
    first = ops.cast(ops.arange(k) == 0, "float32")  # only one beam is alive at the start
    scores = ops.reshape(ops.tile((first - 1.0)[None] * 1e9, (batch, 1)), (-1,))
    done = ops.zeros((batch * k,), "bool")
    positions = ops.arange(total)[None, :]

    def cond(ids, state, scores, done, index):
        return ops.logical_not(ops.all(done))

    def body(ids, state, scores, done, index):
        token = ops.take(ids, index - 1, axis=1)[:, None]
        logits, state = decode_step(model, token, state, index - 1)
        log_probs = ops.log_softmax(logits[:, 0], axis=-1)
        vocabulary = ops.shape(log_probs)[-1]
        padding = ops.arange(vocabulary)[None] == 0
        log_probs = ops.where(padding, -1e9, log_probs)  # never a <pad> ...
        pad_only = ops.where(padding, 0.0, -1e9)
        log_probs = ops.where(done[:, None], pad_only, log_probs)  # ... but when finished
        candidates = ops.reshape(scores[:, None] + log_probs, (batch, -1))
        best, where = ops.top_k(candidates, k)
        beam = ops.reshape(where // vocabulary + ops.arange(batch)[:, None] * k, (-1,))
        picked = ops.cast(ops.reshape(where % vocabulary, (-1,)), "int32")
        ids = ops.take(ids, beam, axis=0)
        state = keras.tree.map_structure(lambda t: ops.take(t, beam, axis=0), state)
        done = ops.take(done, beam, axis=0)
        ids = ops.where(positions == index, picked[:, None], ids)
        done = done | (picked == eos_id)
        return ids, state, ops.reshape(best, (-1,)), done, index + 1

    ids, _, scores, _, _ = ops.while_loop(
        cond,
        body,
        (ids, state, scores, done, ops.convert_to_tensor(1)),
        maximum_iterations=total - 1,
    )
    lengths = ops.sum(ops.cast(ops.not_equal(ids[:, 1:], 0), "float32"), axis=1)
    normalized = scores / ops.power((5.0 + lengths) / 6.0, float(length_penalty))
    best = ops.argmax(ops.reshape(normalized, (batch, k)), axis=1) + ops.arange(batch) * k
    return ops.take(ids, best, axis=0)


def decode_limit(longest_source: Any, positions: int | None = None) -> Any:
    """The most target tokens decoded for sources of up to ``longest_source`` tokens
    (``</s>`` included): 1.5 times that plus 10, within a transformer's positions. A Python
    int for an int, a tensor for a tensor (the serving graph's).

    Args:
        longest_source: the longest source's length.
        positions: the model's positions (``None``: no limit, an LSTM).
    """
    if isinstance(longest_source, int):
        limit = int(1.5 * longest_source) + 10
        return limit if positions is None else min(limit, positions - 1)
    limit = ops.cast(1.5 * ops.cast(longest_source, "float32"), "int32") + 10
    return limit if positions is None else ops.minimum(limit, positions - 1)


def searcher(
    model: keras.Model,
    eos_id: int,
    max_length: int,
    *,
    beam_width: int = 1,
    length_penalty: float = 0.6,
) -> Any:
    """Greedy or beam search as one compiled function of a padded ``[batch, length]`` source
    array (it generalizes over source lengths); call it again and again without tracing anew.

    Args:
        model: a translation model.
        eos_id: the id of ``<eos>``.
        max_length: the most target tokens, the final ``<eos>`` included.
        beam_width: 1 for greedy decoding, else beam search.
        length_penalty: GNMT's alpha (beam search only).
    """
    if beam_width > 1:
        search = functools.partial(
            beam_search, model, max_length=max_length, eos_id=eos_id, beam_width=beam_width,
            length_penalty=length_penalty,
        )  # fmt: skip
    else:
        search = functools.partial(greedy_search, model, max_length=max_length, eos_id=eos_id)
    return compiled(search)


def source_ids(
    model: keras.Model, sources: Sequence[Any], eos_id: int, max_length: int | None = None
) -> tuple[list[np.ndarray], int]:
    """Each source's ids with ``<eos>`` appended, cut to a transformer's positions, and the
    most target tokens to decode for them (``max_length``, else :func:`decode_limit` of the
    longest).

    Args:
        model: a translation model.
        sources: each source's ids, without ``<eos>``.
        eos_id: the id of ``<eos>``.
        max_length: the most target tokens, if given.
    """
    longest = getattr(model.get_layer("decoder_embedding"), "sequence_length", None)
    ids = [np.append(np.asarray(s, np.int32), eos_id) for s in sources]
    ids = ids if longest is None else [s[:longest] for s in ids]
    return ids, max_length or decode_limit(max((len(s) for s in ids), default=1), longest)


def padded(rows: Sequence[np.ndarray]) -> np.ndarray:
    """``rows`` as one ``[batch, longest]`` int32 array, 0 after each row's end.

    Args:
        rows: token id arrays.
    """
    out = np.zeros((len(rows), max(len(r) for r in rows)), np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def strip_ids(searched: Any, eos_id: int) -> list[np.ndarray]:
    """The translations' ids in a search's output: after the starting ``<eos>``, up to the
    next.

    Args:
        searched: ``[batch, length]`` ids from :func:`greedy_search` or :func:`beam_search`.
        eos_id: the id of ``<eos>``.
    """
    out = []
    for row in ops.convert_to_numpy(searched):
        row = list(row[1:])
        out.append(np.asarray(row[: row.index(eos_id)] if eos_id in row else row, np.int32))
    return out


def translate_ids(
    model: keras.Model,
    sources: Sequence[np.ndarray],
    eos_id: int,
    *,
    beam_width: int = 1,
    length_penalty: float = 0.6,
    max_length: int | None = None,
    batch_size: int = 32,
) -> list[np.ndarray]:
    """The translations' token ids (without ``<eos>``) of tokenized sources.

    Args:
        model: a translation model.
        sources: each source's ids, without ``<eos>`` (it is added).
        eos_id: the id of ``<eos>``.
        beam_width: 1 for greedy decoding, else beam search.
        length_penalty: GNMT's alpha (beam search only).
        max_length: the most target tokens (default: :func:`decode_limit` of the longest
            source).
        batch_size: sentences decoded together.
    """
    sources, limit = source_ids(model, sources, eos_id, max_length)
    run = searcher(model, eos_id, limit, beam_width=beam_width, length_penalty=length_penalty)
    out: list[np.ndarray] = []
    for start in range(0, len(sources), batch_size):
        out.extend(strip_ids(run(padded(sources[start : start + batch_size])), eos_id))
    return out


#: What :func:`translate` decodes with unless told: beam search of 4 with GNMT's length
#: penalty 0.6 (Wu et al. 2016 use 0.2..0.6; Vaswani et al. 2017: 4 beams, 0.6).
BEAM_WIDTH, LENGTH_PENALTY = 4, 0.6


@dataclass
class Translator:
    """A translation model with the subword vocabulary that reads and writes its tokens.

    Args:
        model: the Keras model (:mod:`reskeras.models.translation`).
        vocabulary: its joint source and target vocabulary
            (:class:`~reskeras.data.subword.SubwordVocabulary`).
        sequence_length: the longest source it was trained on, in tokens.
    """

    model: keras.Model
    vocabulary: Any
    sequence_length: int

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's subword ids, cut to leave room for ``<eos>`` within the trained length.

        Args:
            texts: source sentences.
        """
        return [ids[: self.sequence_length - 1] for ids in self.vocabulary.encode(texts)]


def load_translator(
    run_or_model: str | os.PathLike | keras.Model | Translator,
    vocabulary: Any = None,
    sequence_length: int | None = None,
) -> Translator:
    """A :class:`Translator` from a run directory, or a model and its vocabulary.

    Args:
        run_or_model: a ``translation`` run directory, a Keras model, or a
            :class:`Translator` (returned as it is).
        vocabulary: the :class:`~reskeras.data.subword.SubwordVocabulary` of a bare model.
        sequence_length: the longest source (default: the run's, else 128).

    Raises:
        DataError: a bare model without a vocabulary, or a run that is not a translation
            model.
    """
    if isinstance(run_or_model, Translator):
        return run_or_model
    if isinstance(run_or_model, keras.Model):
        if vocabulary is None:
            raise DataError("translate() of a bare Keras model needs vocabulary=")
        return Translator(run_or_model, vocabulary, sequence_length or 128)
    from reskeras.data.subword import SubwordVocabulary

    run, length = open_run(run_or_model, "translation", "a translation model", sequence_length)
    return Translator(run.load_model(), SubwordVocabulary.load(run.subwords_path), length)


def translate(
    run_or_model: str | os.PathLike | keras.Model | Translator,
    sentences: str | Sequence[str],
    *,
    beam_width: int = BEAM_WIDTH,
    length_penalty: float = LENGTH_PENALTY,
    max_length: int | None = None,
    batch_size: int = 32,
    vocabulary: Any = None,
) -> str | list[str]:
    """Translates ``sentences`` (detokenized text in, detokenized text out).

    Args:
        run_or_model: a translation run directory, a :class:`Translator`, or a Keras model
            (with ``vocabulary``).
        sentences: a sentence or a list of them.
        beam_width: 1 for greedy decoding, else beam search with that many beams.
        length_penalty: GNMT's alpha for beam search (0: none).
        max_length: the most target tokens (default: 1.5 x the longest source plus 10).
        batch_size: sentences decoded together.
        vocabulary: the subword vocabulary of a bare Keras model.

    Returns:
        The translation (a list for a list of sentences).

    Raises:
        DataError: an option is out of range.
    """
    texts = [sentences] if isinstance(sentences, str) else list(sentences)
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise DataError(f"beam_width={beam_width!r} must be a positive number of beams")
    if not length_penalty >= 0:
        raise DataError(f"length_penalty={length_penalty!r} must be 0 or more")
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise DataError(f"max_length={max_length!r} must be a positive number of tokens")
    translator = load_translator(run_or_model, vocabulary)  # after the checks: they fail fast
    vocab = translator.vocabulary
    sources = translator.encode(texts)
    ids = translate_ids(
        translator.model, sources, vocab.eos_id, beam_width=beam_width,
        length_penalty=length_penalty, max_length=max_length, batch_size=batch_size,
    )  # fmt: skip
    out = [vocab.decode(row) for row in ids]
    return out[0] if isinstance(sentences, str) else out


@contextlib.contextmanager
def _recording(layer: keras.layers.Layer) -> Iterator[list]:
    """Records the attention weights ``[batch, queries, keys]`` that ``layer`` (a
    ``MultiHeadAttention``, averaged over its heads, or an ``AdditiveAttention``) computes in
    eager calls made inside the block."""
    rows: list[np.ndarray] = []
    if isinstance(layer, keras.layers.MultiHeadAttention):
        name, original = "_compute_attention", layer._compute_attention

        def wrapped(*args, **kwargs):
            out, scores = original(*args, **{**kwargs, "return_attention_scores": True})
            rows.append(ops.convert_to_numpy(ops.mean(ops.cast(scores, "float32"), axis=1)))
            return out, scores

    else:
        name, original = "_apply_scores", layer._apply_scores

        def wrapped(*args, **kwargs):
            out, weights = original(*args, **kwargs)
            rows.append(ops.convert_to_numpy(ops.cast(weights, "float32")))
            return out, weights

    object.__setattr__(layer, name, wrapped)
    try:
        yield rows
    finally:
        object.__delattr__(layer, name)


def cross_attention(
    run_or_model: str | os.PathLike | keras.Model | Translator,
    source: str,
    translation: str,
    *,
    vocabulary: Any = None,
) -> tuple[list[str], list[str], np.ndarray]:
    """Where the model looks in ``source`` as it writes ``translation`` (teacher-forced): the
    top decoder block's cross-attention averaged over its heads (a transformer), or the
    attention weights (GNMT). What a report's heat map shows.

    Args:
        run_or_model: a translation run directory, a :class:`Translator`, or a Keras model
            (with ``vocabulary``).
        source: a source sentence.
        translation: its translation (usually the model's own).
        vocabulary: the subword vocabulary of a bare Keras model.

    Returns:
        The source's pieces and the translation's (each ending in ``</s>``), and the
        weights ``[target pieces, source pieces]``; each row sums to 1.
    """
    translator = load_translator(run_or_model, vocabulary)
    model, vocab = translator.model, translator.vocabulary
    names = _layers(model)
    top = _blocks(names)[-1]
    layer = getattr(top, "cross_attention", None) or names["attention"]
    src = source_ids(model, translator.encode([source]), vocab.eos_id)[0][0]
    target = [*vocab.encode([translation])[0].tolist(), vocab.eos_id]
    state = encode(model, src[None], len(target) + 1)
    with _recording(layer) as rows:
        for index, token in enumerate([vocab.eos_id, *target[:-1]]):
            _, state = decode_step(model, np.array([[token]], np.int32), state, index)
    pieces = vocab.pieces
    weights = np.concatenate([r[0] for r in rows], axis=0)
    return [pieces[i] for i in src], [pieces[i] for i in target], weights
