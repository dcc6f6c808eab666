"""Language models: a residual LSTM stack and a decoder-only transformer, with plain twins.

Both take ``[batch, length]`` token ids (0 = padding) and return ``[batch, length,
vocabulary_size]`` float32 logits of the next token at every position. Their layers follow
one naming contract that incremental decoding (:mod:`reskeras.decoding.causal`) reads:
``embedding`` (called with ``reverse=True`` for the tied output), ``block1..blockN`` (each
with ``init_cache``/``call_cached``), ``final_norm`` (optional) and ``logits`` (an untied
``Dense`` output or an :class:`~reskeras.layers.softmax.AdaptiveSoftmax`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from reskeras.checks import check_choice, check_fraction, check_int, check_positive_int
from reskeras.layers.decoder import TransformerDecoderBlock
from reskeras.layers.norm import make_layer_norm
from reskeras.layers.sequence import CELLS, ResidualRNNBlock
from reskeras.layers.softmax import AdaptiveSoftmax, adaptive_cutoffs
from reskeras.layers.transformer import ReversibleEmbedding, TokenAndPositionEmbedding
from reskeras.models.depths import DepthRange

__all__ = ["LM_DEPTHS", "lm_lstm", "lm_transformer"]

#: Blocks in a language model's stack.
LM_DEPTHS = DepthRange(1, 48, (1, 2, 4, 8))


def _check_lm_args(num_classes: int | None, vocabulary_size: int, sequence_length: int) -> None:
    check_int("vocabulary_size", vocabulary_size, 3)
    check_positive_int("sequence_length", sequence_length)
    if num_classes is not None and num_classes != vocabulary_size:
        raise ValueError(
            f"A language model predicts one of its vocabulary_size={vocabulary_size} tokens, "
            f"so num_classes must equal it (or be left out); got num_classes={num_classes}."
        )


def _output(
    x,
    embedding: layers.Layer,
    vocabulary_size: int,
    tie: bool | None,
    adaptive: bool | Sequence[int],
):
    """Logits from the last hidden states: through the embedding (tied), an adaptive softmax
    (``adaptive``: ``True`` for the default cutoffs, or the cutoffs) or a Dense layer."""
    if adaptive is not False:
        if tie:
            raise ValueError(
                "tie_embeddings=True needs the full softmax: an adaptive softmax has its own "
                "output weights (leave tie_embeddings unset, or adaptive_softmax=False)."
            )
        cutoffs = adaptive_cutoffs(vocabulary_size) if adaptive is True else adaptive
        return AdaptiveSoftmax(vocabulary_size, cutoffs, name="logits")(x)
    if tie is None or tie:
        return embedding(x, reverse=True)
    return layers.Dense(vocabulary_size, name="logits")(x)


def _model(inputs, logits, name: str) -> keras.Model:
    logits = layers.Activation("linear", dtype="float32", name="float32_logits")(logits)
    return keras.Model(inputs, logits, name=name)


def lm_lstm(
    depth: int,
    num_classes: int | None = None,
    *,
    vocabulary_size: int = 10_000,
    sequence_length: int = 64,
    units: int = 256,
    cell: str = "lstm",
    tie_embeddings: bool | None = None,
    adaptive_softmax: bool | Sequence[int] = False,
    residual: bool = True,
    embedding_dropout: float = 0.1,
    dropout: float = 0.3,
    layer_norm: bool = False,
    name: str | None = None,
) -> keras.Model:
    """A word- or subword-level LSTM language model: embedding -> ``depth`` residual LSTM
    blocks (:class:`~reskeras.layers.sequence.ResidualRNNBlock`, GNMT-style residual
    connections between layers) -> next-token logits.

    Dropout goes on the embedding and on every block's output (Zaremba et al. 2014); with
    ``tie_embeddings`` the output layer is the transposed input embedding (Press & Wolf 2017),
    which also needs the embedding width to equal ``units``.

    Args:
        depth: the number of LSTM blocks, 1..48.
        num_classes: the number of outputs; must equal ``vocabulary_size`` when given (the
            registry passes it).
        vocabulary_size: token ids, padding (0) included; at least 3.
        sequence_length: the training window's length (the model itself takes any length).
        units: width of the embedding and every block.
        cell: ``"lstm"`` or ``"gru"``.
        tie_embeddings: share the input embedding with the output layer (default: yes,
            unless ``adaptive_softmax``).
        adaptive_softmax: an :class:`~reskeras.layers.softmax.AdaptiveSoftmax` output layer
            (Grave et al. 2017) for large vocabularies: ``True`` for the default cluster
            boundaries, or the boundaries themselves; ``False``, the full softmax.
        residual: ``False`` builds the plain twin (a stacked LSTM).
        embedding_dropout: dropout after the embedding.
        dropout: dropout on each block's output.
        layer_norm: normalize each block's input and the final output (pre-LN).
        name: the model's name (default ``lm_lstm<depth>`` / ``plain_lm_lstm<depth>``).

    Returns:
        The uncompiled model: ``token_ids`` in, float32 logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    LM_DEPTHS.check("lm_lstm", depth)
    _check_lm_args(num_classes, vocabulary_size, sequence_length)
    check_choice("cell", cell, CELLS)
    check_fraction("embedding_dropout", embedding_dropout)
    check_fraction("dropout", dropout)
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    embedding = ReversibleEmbedding(vocabulary_size, units, mask_zero=True, name="embedding")
    x = layers.Dropout(embedding_dropout, name="embedding_dropout")(embedding(inputs))
    for b in range(depth):
        x = ResidualRNNBlock(
            units, cell=cell, layer_norm=layer_norm, dropout=dropout, residual=residual,
            name=f"block{b + 1}",
        )(x)  # fmt: skip
    if layer_norm:
        x = make_layer_norm("final_norm")(x)
    logits = _output(x, embedding, vocabulary_size, tie_embeddings, adaptive_softmax)
    return _model(inputs, logits, name or f"{'' if residual else 'plain_'}lm_{cell}{depth}")


def lm_transformer(
    depth: int,
    num_classes: int | None = None,
    *,
    vocabulary_size: int = 10_000,
    sequence_length: int = 128,
    width: int = 256,
    num_heads: int = 4,
    intermediate_dim: int | None = None,
    dropout: float = 0.1,
    tie_embeddings: bool | None = None,
    adaptive_softmax: bool | Sequence[int] = False,
    residual: bool = True,
    name: str | None = None,
) -> keras.Model:
    """A decoder-only transformer language model (GPT style, pre-LN): token + learned
    position embeddings -> ``depth`` causal :class:`~reskeras.layers.decoder.
    TransformerDecoderBlock` s without cross-attention -> final LayerNorm -> next-token
    logits through the tied token embedding.

    Args:
        depth: the number of decoder blocks, 1..48.
        num_classes: the number of outputs; must equal ``vocabulary_size`` when given.
        vocabulary_size: token ids, padding (0) included; at least 3.
        sequence_length: the longest sequence (one position embedding each), training
            windows and generated text included.
        width: the model width (embeddings and blocks).
        num_heads: attention heads per block (``width`` must be divisible by it).
        intermediate_dim: the feed-forward width (default ``4 * width``).
        dropout: dropout in the blocks and after the embeddings.
        tie_embeddings: share the token embedding with the output layer (default: yes,
            unless ``adaptive_softmax``).
        adaptive_softmax: an adaptive softmax output layer: ``True`` for the default
            cluster boundaries, or the boundaries; ``False``, the full softmax.
        residual: ``False`` builds the plain twin (no residual additions).
        name: the model's name (default ``lm_transformer<depth>`` /
            ``plain_lm_transformer<depth>``).

    Returns:
        The uncompiled model: ``token_ids`` in, float32 logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    LM_DEPTHS.check("lm_transformer", depth)
    _check_lm_args(num_classes, vocabulary_size, sequence_length)
    check_positive_int("width", width)
    check_fraction("dropout", dropout)
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    embedding = TokenAndPositionEmbedding(vocabulary_size, sequence_length, width, name="embedding")
    x = layers.Dropout(dropout, name="embedding_dropout")(embedding(inputs))
    for b in range(depth):
        x = TransformerDecoderBlock(
            intermediate_dim or 4 * width, num_heads, dropout=dropout, normalize_first=True,
            residual=residual, name=f"block{b + 1}",
        )(x)  # fmt: skip
    x = make_layer_norm("final_norm")(x)
    logits = _output(x, embedding, vocabulary_size, tie_embeddings, adaptive_softmax)
    return _model(inputs, logits, name or f"{'' if residual else 'plain_'}lm_transformer{depth}")
