"""Sequence-to-sequence (translation) models: a transformer encoder-decoder and GNMT's
residual LSTMs, each with a plain twin.

Both take ``encoder_token_ids`` ``[batch, source_length]`` and ``decoder_token_ids``
``[batch, target_length]`` (the target shifted right: ``<eos>`` first, as fairseq starts
its decoder) and return float32 logits ``[batch, target_length, target_vocabulary]`` of the
next target token; 0 is padding on both sides. Their layers follow one naming contract that
incremental decoding (:mod:`reskeras.decoding.seq2seq`) reads: ``encoder_embedding``,
``encoder_block1..N``, ``encoder_output`` (the memory the decoder attends to),
``decoder_embedding`` (called with ``reverse=True`` for a tied output), ``decoder_block1..N``,
``attention`` (GNMT), ``decoder_final_norm`` (transformer) and ``logits`` (untied output only).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from reskeras.checks import check_fraction, check_int, check_positive_int
from reskeras.layers.decoder import TransformerDecoderBlock
from reskeras.layers.norm import make_layer_norm
from reskeras.layers.sequence import ResidualRNNBlock
from reskeras.layers.transformer import (
    ReversibleEmbedding,
    TokenAndPositionEmbedding,
    TransformerEncoderBlock,
)
from reskeras.models.depths import DepthRange

__all__ = ["GNMT_DEPTHS", "SEQ2SEQ_DEPTHS", "gnmt", "transformer_seq2seq"]

#: Layers per side of a transformer encoder-decoder.
SEQ2SEQ_DEPTHS = DepthRange(1, 24, (1, 2, 3, 4, 6, 8))
#: LSTM layers per side of GNMT: the decoder's attention feeds the layers above the first.
GNMT_DEPTHS = DepthRange(2, 24, (2, 4, 8))


def _inputs() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    return (
        keras.Input((None,), dtype="int32", name="encoder_token_ids"),
        keras.Input((None,), dtype="int32", name="decoder_token_ids"),
    )


def _check_vocabularies(
    num_classes: int | None, source_vocabulary_size: int, target_vocabulary_size: int, share: bool
) -> None:
    check_int("source_vocabulary_size", source_vocabulary_size, 3)
    check_int("target_vocabulary_size", target_vocabulary_size, 3)
    if num_classes is not None and num_classes != target_vocabulary_size:
        raise ValueError(
            f"A translation model predicts one of its target_vocabulary_size="
            f"{target_vocabulary_size} tokens, so num_classes must equal it (or be left out); "
            f"got num_classes={num_classes}."
        )
    if share and source_vocabulary_size != target_vocabulary_size:
        raise ValueError(
            "share_embeddings=True needs one joint vocabulary, but source_vocabulary_size="
            f"{source_vocabulary_size} and target_vocabulary_size={target_vocabulary_size}."
        )


def _logits(x, embedding: layers.Layer, vocabulary_size: int, tie: bool):
    logits = embedding(x, reverse=True) if tie else layers.Dense(vocabulary_size, name="logits")(x)
    return layers.Activation("linear", dtype="float32", name="float32_logits")(logits)


def _name(prefix: str, depth: int, residual: bool, name: str | None) -> str:
    return name or f"{'' if residual else 'plain_'}{prefix}{depth}"


def transformer_seq2seq(
    depth: int,
    num_classes: int | None = None,
    *,
    source_vocabulary_size: int = 8_000,
    target_vocabulary_size: int = 8_000,
    sequence_length: int = 128,
    width: int = 256,
    num_heads: int = 4,
    intermediate_dim: int | None = None,
    dropout: float = 0.1,
    share_embeddings: bool = True,
    tie_embeddings: bool = True,
    normalize_first: bool = True,
    residual: bool = True,
    name: str | None = None,
) -> keras.Model:
    """A transformer encoder-decoder (Vaswani et al. 2017): token + learned position
    embeddings, ``depth`` :class:`~reskeras.layers.transformer.TransformerEncoderBlock` s,
    ``depth`` :class:`~reskeras.layers.decoder.TransformerDecoderBlock` s with
    cross-attention, next-token logits through the tied target embedding.

    Args:
        depth: layers per side, 1..24.
        num_classes: the number of outputs; must equal ``target_vocabulary_size`` when given
            (the registry passes it).
        source_vocabulary_size: source token ids, padding (0) included.
        target_vocabulary_size: target token ids, padding (0) included.
        sequence_length: the longest sentence, in tokens (one position embedding each).
        width: the model width (embeddings and blocks).
        num_heads: attention heads per block (``width`` must be divisible by it).
        intermediate_dim: the feed-forward width (default ``4 * width``).
        dropout: dropout in the blocks and after the embeddings.
        share_embeddings: one embedding layer for both sides (a joint vocabulary).
        tie_embeddings: the output layer is the transposed target embedding (Press & Wolf
            2017).
        normalize_first: pre-LN blocks (with a final LayerNorm on each side) instead of the
            paper's post-LN.
        residual: ``False`` builds the plain twin (no residual additions).
        name: the model's name (default ``transformer_seq2seq<depth>`` /
            ``plain_transformer_seq2seq<depth>``).

    Returns:
        The uncompiled model: ``encoder_token_ids`` and ``decoder_token_ids`` in, float32
        logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    SEQ2SEQ_DEPTHS.check("transformer_seq2seq", depth)
    _check_vocabularies(
        num_classes, source_vocabulary_size, target_vocabulary_size, share_embeddings
    )
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("width", width)
    check_fraction("dropout", dropout)
    source, target = _inputs()
    decoder_embedding = TokenAndPositionEmbedding(
        target_vocabulary_size, sequence_length, width, name="decoder_embedding"
    )
    encoder_embedding = decoder_embedding
    if not share_embeddings:
        encoder_embedding = TokenAndPositionEmbedding(
            source_vocabulary_size, sequence_length, width, name="encoder_embedding"
        )
    block_args = {
        "intermediate_dim": intermediate_dim or 4 * width,
        "num_heads": num_heads,
        "dropout": dropout,
        "normalize_first": normalize_first,
        "residual": residual,
    }
    x = layers.Dropout(dropout, name="encoder_embedding_dropout")(encoder_embedding(source))
    for b in range(depth):
        x = TransformerEncoderBlock(**block_args, name=f"encoder_block{b + 1}")(x)
    if normalize_first:
        x = make_layer_norm("encoder_final_norm")(x)
    memory = layers.Activation("linear", name="encoder_output")(x)
    y = layers.Dropout(dropout, name="decoder_embedding_dropout")(decoder_embedding(target))
    # The source's padding, given to every block: a tensor's Keras mask does not reach a
    # layer's second input reliably once another layer has read it.
    source_mask = ops.not_equal(source, 0)
    for b in range(depth):
        y = TransformerDecoderBlock(**block_args, name=f"decoder_block{b + 1}")(
            y, memory, encoder_padding_mask=source_mask
        )
    if normalize_first:
        y = make_layer_norm("decoder_final_norm")(y)
    logits = _logits(y, decoder_embedding, target_vocabulary_size, tie_embeddings)
    return keras.Model(
        [source, target], logits, name=_name("transformer_seq2seq", depth, residual, name)
    )


def gnmt(
    depth: int,
    num_classes: int | None = None,
    *,
    source_vocabulary_size: int = 8_000,
    target_vocabulary_size: int = 8_000,
    sequence_length: int = 128,
    units: int = 256,
    residual_from: int = 3,
    dropout: float = 0.2,
    share_embeddings: bool = True,
    tie_embeddings: bool = True,
    residual: bool = True,
    name: str | None = None,
) -> keras.Model:
    """GNMT's residual LSTMs (Wu et al. 2016): an encoder whose bottom layer is
    bidirectional, a decoder whose bottom layer's output queries an additive attention over
    the encoder's output, the attention context fed to every decoder layer above it, and
    residual connections from layer ``residual_from`` up on both sides (:class:`~reskeras.
    layers.sequence.ResidualRNNBlock`).

    Args:
        depth: LSTM layers per side, 2..24.
        num_classes: the number of outputs; must equal ``target_vocabulary_size`` when given.
        source_vocabulary_size: source token ids, padding (0) included.
        target_vocabulary_size: target token ids, padding (0) included.
        sequence_length: the longest sentence the data is cut to (the model takes any).
        units: width of the embeddings, every layer and the attention.
        residual_from: the first layer (1-based) with a residual connection; GNMT's is 3.
        dropout: dropout after the embeddings and on each layer's output.
        share_embeddings: one embedding layer for both sides (a joint vocabulary).
        tie_embeddings: the output layer is the transposed target embedding.
        residual: ``False`` builds the plain twin (no residual connections at all).
        name: the model's name (default ``gnmt<depth>`` / ``plain_gnmt<depth>``).

    Returns:
        The uncompiled model: ``encoder_token_ids`` and ``decoder_token_ids`` in, float32
        logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    GNMT_DEPTHS.check("gnmt", depth)
    _check_vocabularies(
        num_classes, source_vocabulary_size, target_vocabulary_size, share_embeddings
    )
    check_positive_int("sequence_length", sequence_length)
    check_int("residual_from", residual_from, 1)
    check_fraction("dropout", dropout)
    if units % 2:
        raise ValueError(f"GNMT's bidirectional bottom layer splits `units`; got units={units}.")
    source, target = _inputs()
    decoder_embedding = ReversibleEmbedding(
        target_vocabulary_size, units, mask_zero=True, name="decoder_embedding"
    )
    encoder_embedding = decoder_embedding
    if not share_embeddings:
        encoder_embedding = ReversibleEmbedding(
            source_vocabulary_size, units, mask_zero=True, name="encoder_embedding"
        )

    def block(side: str, layer: int, **kwargs) -> ResidualRNNBlock:
        return ResidualRNNBlock(
            units, dropout=dropout, residual=residual and layer >= residual_from,
            name=f"{side}_block{layer}", **kwargs,
        )  # fmt: skip

    x = layers.Dropout(dropout, name="encoder_embedding_dropout")(encoder_embedding(source))
    x = block("encoder", 1, bidirectional=True)(x)
    for layer in range(2, depth + 1):
        x = block("encoder", layer)(x)
    memory = layers.Activation("linear", name="encoder_output")(x)
    y = layers.Dropout(dropout, name="decoder_embedding_dropout")(decoder_embedding(target))
    y = block("decoder", 1)(y)
    source_mask = ops.not_equal(source, 0)  # given explicitly, as in transformer_seq2seq
    context = layers.AdditiveAttention(name="attention")(
        [y, memory], mask=[ops.not_equal(target, 0), source_mask]
    )
    for layer in range(2, depth + 1):
        y = block("decoder", layer)(y, context=context)
    logits = _logits(y, decoder_embedding, target_vocabulary_size, tie_embeddings)
    return keras.Model([source, target], logits, name=_name("gnmt", depth, residual, name))
