"""Text classifier builders (residual 1-D CNN, residual RNN, transformer) and their registry.

Every builder takes int token ids ``[batch, sequence_length]`` (input named ``"token_ids"``,
0 = padding, 1 = out-of-vocabulary, as produced by :func:`reskeras.data.text.adapt_vectorizer`)
and returns float32 logits ``[batch, num_classes]`` (also under mixed precision). They accept
``num_classes``, ``sequence_length``, ``vocabulary_size``, ``input_shape`` (``None``, ``()``
or ``(sequence_length,)``; anything else is an error), ``residual`` (``False``: the plain twin)
and ``name``, and are registered in :mod:`reskeras.models.registry` with ``kind="text"``.

Every builder also takes ``embeddings``, an initial ``[vocabulary_size, embedding_dim]``
token embedding matrix (pretrained word vectors, :func:`reskeras.data.vectors.load_word_vectors`),
and ``trainable_embeddings`` (``False`` freezes the token embedding).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from reskeras.checks import check_choice, check_int, check_positive_int
from reskeras.layers.norm import NORMS, make_layer_norm, make_norm
from reskeras.layers.sequence import (
    KMaxPooling1D,
    MaskedGlobalPooling1D,
    ResidualConv1DBlock,
    ResidualRNNBlock,
)
from reskeras.layers.transformer import TokenAndPositionEmbedding, TransformerEncoderBlock
from reskeras.models.depths import DepthChoices, DepthRange

# depth -> conv blocks per stage (Conneau et al. 2017, table 2); filters 64/128/256/512.
VDCNN_SPECS: dict[int, tuple[int, int, int, int]] = {
    9: (1, 1, 1, 1),
    17: (2, 2, 2, 2),
    29: (5, 5, 2, 2),
    49: (8, 8, 5, 3),
}
VDCNN_FILTERS = (64, 128, 256, 512)
VDCNN_DEPTHS = DepthChoices(tuple(VDCNN_SPECS))
OOV_ID = 1  # TextVectorization: 0 = padding, 1 = [UNK]
STACK_DEPTHS = DepthRange(1, 48, (1, 2, 3, 4, 6, 8, 12))
TEXT_POOLINGS = ("kmax", "max", "avg")
RNN_POOLINGS = ("max", "avg")


def _check_text_args(num_classes, sequence_length, vocabulary_size, input_shape) -> None:
    check_int("num_classes", num_classes, 1)
    check_int("sequence_length", sequence_length, 1)
    check_int("vocabulary_size", vocabulary_size, 3)
    if input_shape not in (None, (), (sequence_length,)):
        raise ValueError(
            f"Text models take token ids of shape (sequence_length,) = ({sequence_length},); "
            f"got input_shape={input_shape!r}. Pass sequence_length= instead (or None)."
        )


def _embedding_dim(embeddings, vocabulary_size: int, embedding_dim: int | None) -> int | None:
    """The embedding width an ``embeddings`` matrix implies (``embedding_dim`` when None)."""
    if embeddings is None:
        return embedding_dim
    shape = tuple(getattr(embeddings, "shape", ()))
    if len(shape) != 2 or shape[0] != vocabulary_size:
        raise ValueError(
            f"`embeddings` must be a [vocabulary_size, dim] = [{vocabulary_size}, dim] matrix, "
            f"got shape {shape}."
        )
    if embedding_dim is not None and embedding_dim != shape[1]:
        raise ValueError(
            f"`embedding_dim`={embedding_dim} does not match the {shape[1]}-wide `embeddings`; "
            "leave it unset."
        )
    return int(shape[1])


def _token_input(sequence_length: int) -> keras.KerasTensor:
    return keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")


def _embed(inputs, layer: layers.Layer, embeddings=None):
    """Applies a token embedding whose ``[UNK]`` row starts at zero (or whose table starts
    as ``embeddings``, pretrained vectors, whose ``[UNK]`` row is zero too).

    Id 1 is ``[UNK]``: words the training data never showed. A random vector for them is
    noise that the layers above read as evidence (on 1,000 SST-2 sentences a quarter of the
    test tokens are unknown); zero makes them contribute nothing, as in a bag-of-words model.
    When ``[UNK]`` does occur in training (a capped vocabulary), its row is learned.
    """
    x = layer(inputs)
    table = getattr(layer, "token_embedding", layer).embeddings
    if embeddings is None:
        keep = keras.ops.expand_dims(keras.ops.arange(table.shape[0]) != OOV_ID, 1)
        table.assign(keras.ops.where(keep, table, keras.ops.zeros_like(table)))
    else:
        table.assign(keras.ops.cast(embeddings, table.dtype))
    return x


def _head(x, num_classes: int, dropout_rate: float, hidden_units: int = 0):
    if dropout_rate:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
        if dropout_rate:
            x = layers.Dropout(dropout_rate, name="hidden_dropout")(x)
    # float32 logits even under a mixed-precision policy.
    return layers.Dense(num_classes, dtype="float32", name="predictions")(x)


def text_resnet(
    depth: int,
    num_classes: int = 2,
    sequence_length: int = 64,
    vocabulary_size: int = 20000,
    input_shape: tuple | None = None,
    *,
    width: float = 1.0,
    embedding_dim: int | None = None,
    residual: bool = True,
    preact: bool = False,
    shortcut: str = "auto",
    norm: str = "batch",
    downsample: str | None = "pool",
    pooling: str = "kmax",
    k: int = 8,
    hidden_units: int = 0,
    embedding_dropout: float = 0.0,
    dropout_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    block_dropout: float = 0.0,
    embeddings: Any = None,
    trainable_embeddings: bool = True,
    name: str | None = None,
) -> keras.Model:
    """VDCNN-style residual 1-D CNN (Conneau et al. 2017) over word (or char) ids.

    Embedding -> 3-wide stem conv -> 4 stages of :class:`ResidualConv1DBlock` with
    ``64/128/256/512 x width`` filters -> ``pooling`` -> optional ``hidden_units`` Dense ->
    logits.

    Args:
        depth: 9, 17, 29 or 49 (1-1-1-1 / 2-2-2-2 / 5-5-2-2 / 8-8-5-3 blocks per stage).
        num_classes: outputs of the classifier (at least 1).
        sequence_length: token ids per example (the input's length).
        vocabulary_size: rows of the token embedding, padding (0) and ``[UNK]`` (1)
            included; at least 3.
        input_shape: ``None``, ``()`` or ``(sequence_length,)`` (the builders' common
            signature); anything else is an error.
        width: multiplies the stages' filters (a positive number; 0.5 -> 32/64/128/256).
        embedding_dim: width of the token embedding (default 64, or the width of
            ``embeddings``).
        residual: ``False`` builds the plain twin.
        preact: pre-activation blocks (the stem is then not normalized; a final norm and
            ReLU follow the last block).
        shortcut: the blocks' shortcut: ``"auto"``, ``"identity"``, ``"projection"`` or
            ``"zero_pad"``.
        norm: ``"batch"`` (debiased batch norm) or ``"layer"``.
        downsample: how the length halves between stages: ``"pool"`` (max-pool after the
            last block of a stage, VDCNN), ``"stride"`` (stride-2 first block of the next
            stage, ResNet) or ``None`` (full length throughout).
        pooling: over time: ``"kmax"`` (k-max pooling), ``"max"`` or ``"avg"``.
        k: values per channel of ``"kmax"`` pooling.
        hidden_units: width of a ReLU ``Dense`` before the logits (0: none).
        embedding_dropout: spatial dropout (whole embedding channels) after the embedding.
        dropout_rate: dropout before the classifier (and after the hidden layer).
        drop_path_rate: stochastic depth, growing linearly over the blocks to this rate, in
            ``[0, 1)``.
        block_dropout: dropout inside each block, before its second convolution.
        embeddings: an initial ``[vocabulary_size, embedding_dim]`` token embedding matrix
            (pretrained word vectors, :func:`reskeras.data.vectors.load_word_vectors`);
            ``None``: random, with the ``[UNK]`` row at zero.
        trainable_embeddings: ``False`` freezes the token embedding.
        name: the model's name (default ``"text_resnet<depth>"`` or ``"plain_text<depth>"``).

    Returns:
        The uncompiled model: ``token_ids`` in, float32 logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    VDCNN_DEPTHS.check("text_resnet", depth)
    _check_text_args(num_classes, sequence_length, vocabulary_size, input_shape)
    check_choice("pooling", pooling, TEXT_POOLINGS)
    check_choice("norm", norm, NORMS)
    check_choice("downsample", downsample, (None, "stride", "pool"))
    if not isinstance(width, int | float) or width <= 0:
        raise ValueError(f"`width` must be a positive number, got {width!r}.")
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"`drop_path_rate` must be in [0, 1), got {drop_path_rate!r}.")
    repeats = VDCNN_SPECS[depth]
    filters = [max(1, round(f * width)) for f in VDCNN_FILTERS]

    embedding_dim = _embedding_dim(embeddings, vocabulary_size, embedding_dim) or 64
    inputs = _token_input(sequence_length)
    embedding = layers.Embedding(
        vocabulary_size, embedding_dim, trainable=trainable_embeddings, name="embedding"
    )
    x = _embed(inputs, embedding, embeddings)
    if embedding_dropout:
        x = layers.SpatialDropout1D(embedding_dropout, name="embedding_dropout")(x)
    x = layers.Conv1D(filters[0], 3, padding="same", use_bias=False, name="stem_conv")(x)
    if not preact:
        x = make_norm(norm, "stem_norm")(x)
        x = layers.Activation("relu", name="stem_relu")(x)
    total, index = sum(repeats), 0
    for s, (f, r) in enumerate(zip(filters, repeats, strict=True), start=1):
        for b in range(r):
            down = None
            if downsample == "stride" and s > 1 and b == 0:
                down = "stride"
            elif downsample == "pool" and s < len(repeats) and b == r - 1:
                down = "pool"
            x = ResidualConv1DBlock(
                f,
                norm=norm,
                preact=preact,
                shortcut=shortcut,
                downsample=down,
                dropout=block_dropout,
                drop_path=drop_path_rate * index / max(total - 1, 1),
                residual=residual,
                name=f"stage{s}_block{b + 1}",
            )(x)
            index += 1
    if preact:
        x = make_norm(norm, "post_norm")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    if pooling == "kmax":
        x = KMaxPooling1D(k, name="kmax_pool")(x)
    else:
        x = MaskedGlobalPooling1D(pooling, name=f"{pooling}_pool")(x)
    x = _head(x, num_classes, dropout_rate, hidden_units)
    default = f"{'text_resnet' if residual else 'plain_text'}{depth}"
    return keras.Model(inputs, x, name=name or default)


def residual_lstm(
    depth: int,
    num_classes: int = 2,
    sequence_length: int = 64,
    vocabulary_size: int = 20000,
    input_shape: tuple | None = None,
    *,
    units: int = 128,
    embedding_dim: int | None = None,
    cell: str = "lstm",
    bidirectional: bool = False,
    layer_norm: bool = True,
    residual: bool = True,
    pooling: str = "max",
    embedding_dropout: float = 0.0,
    dropout: float = 0.0,
    dropout_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    embeddings: Any = None,
    trainable_embeddings: bool = True,
    name: str | None = None,
) -> keras.Model:
    """Stack of ``depth`` :class:`ResidualRNNBlock` s (GNMT-style residual LSTM/GRU).

    Embedding (``mask_zero=True``) -> ``depth`` RNN blocks of ``units`` -> final LayerNorm
    (with ``layer_norm``) -> masked ``pooling`` over time -> logits. Padding never changes
    the output.

    Args:
        depth: the number of RNN blocks, 1..48.
        num_classes: outputs of the classifier (at least 1).
        sequence_length: token ids per example (the input's length).
        vocabulary_size: rows of the token embedding, padding (0) and ``[UNK]`` (1)
            included; at least 3.
        input_shape: ``None``, ``()`` or ``(sequence_length,)`` (the builders' common
            signature); anything else is an error.
        units: output width of every block (even when ``bidirectional``).
        embedding_dim: width of the token embedding (default ``units``, so the first
            shortcut is an identity; or the width of ``embeddings``).
        cell: ``"lstm"`` or ``"gru"``.
        bidirectional: run each block both ways, ``units // 2`` per direction.
        layer_norm: normalize each block's input, and add a final LayerNorm.
        residual: ``False`` builds the plain twin (a stacked RNN).
        pooling: masked pooling over time, ``"max"`` or ``"avg"``.
        embedding_dropout: dropout after the embedding.
        dropout: dropout on each block's RNN output, before the addition.
        dropout_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, growing linearly over the blocks to this rate.
        embeddings: an initial ``[vocabulary_size, embedding_dim]`` token embedding matrix
            (pretrained word vectors, :func:`reskeras.data.vectors.load_word_vectors`);
            ``None``: random, with the ``[UNK]`` row at zero.
        trainable_embeddings: ``False`` freezes the token embedding.
        name: the model's name (default e.g. ``"residual_lstm2"``, ``"bilstm2"``,
            ``"plain_gru2"``).

    Returns:
        The uncompiled model: ``token_ids`` in, float32 logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    STACK_DEPTHS.check("residual_lstm", depth)
    _check_text_args(num_classes, sequence_length, vocabulary_size, input_shape)
    check_choice("pooling", pooling, RNN_POOLINGS)
    embedding_dim = _embedding_dim(embeddings, vocabulary_size, embedding_dim)
    inputs = _token_input(sequence_length)
    embedding = layers.Embedding(
        vocabulary_size,
        embedding_dim or units,
        mask_zero=True,
        trainable=trainable_embeddings,
        name="embedding",
    )
    x = _embed(inputs, embedding, embeddings)
    if embedding_dropout:
        x = layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
    for b in range(depth):
        x = ResidualRNNBlock(
            units,
            cell=cell,
            bidirectional=bidirectional,
            layer_norm=layer_norm,
            dropout=dropout,
            drop_path=drop_path_rate * b / max(depth - 1, 1),
            residual=residual,
            name=f"rnn_block{b + 1}",
        )(x)
    if layer_norm:
        x = make_layer_norm("final_norm")(x)
    x = MaskedGlobalPooling1D(pooling, name=f"{pooling}_pool")(x)
    x = _head(x, num_classes, dropout_rate)
    prefix = ("bi" if bidirectional else "residual_" if residual else "plain_") + cell
    if bidirectional and not residual:
        prefix = f"plain_bi{cell}"
    return keras.Model(inputs, x, name=name or f"{prefix}{depth}")


def transformer_classifier(
    depth: int,
    num_classes: int = 2,
    sequence_length: int = 64,
    vocabulary_size: int = 20000,
    input_shape: tuple | None = None,
    *,
    width: int = 128,
    heads: int = 4,
    intermediate_dim: int | None = None,
    dropout: float = 0.1,
    normalize_first: bool = True,
    residual: bool = True,
    pooling: str = "avg",
    dropout_rate: float = 0.0,
    embedding_dim: int | None = None,
    embeddings: Any = None,
    trainable_embeddings: bool = True,
    name: str | None = None,
) -> keras.Model:
    """Transformer encoder classifier: :class:`TokenAndPositionEmbedding` (padding masked)
    -> ``depth`` :class:`TransformerEncoderBlock` s (pre-LN by default) -> final LayerNorm
    (pre-LN) -> masked ``pooling`` -> logits.

    Args:
        depth: the number of encoder blocks, 1..48.
        num_classes: outputs of the classifier (at least 1).
        sequence_length: token ids per example (the input's length).
        vocabulary_size: rows of the token embedding, padding (0) and ``[UNK]`` (1)
            included; at least 3.
        input_shape: ``None``, ``()`` or ``(sequence_length,)`` (the builders' common
            signature); anything else is an error.
        width: the model width (of every block's input and output).
        heads: attention heads; a positive divisor of ``width``.
        intermediate_dim: the feed-forward hidden width (default ``2 * width``).
        dropout: dropout after the embedding, of the attention weights and of each
            sub-block's output.
        normalize_first: pre-LN blocks and a final LayerNorm; ``False``: post-LN.
        residual: ``False`` builds the plain twin (no residual additions).
        pooling: masked pooling over time, ``"max"`` or ``"avg"``.
        dropout_rate: dropout before the classifier.
        embedding_dim: width of the embeddings (default ``width``, or the width of
            ``embeddings``); another than ``width`` adds a Dense projection to ``width``.
        embeddings: an initial ``[vocabulary_size, embedding_dim]`` token embedding matrix
            (pretrained word vectors, :func:`reskeras.data.vectors.load_word_vectors`);
            ``None``: random, with the ``[UNK]`` row at zero.
        trainable_embeddings: ``False`` freezes the token embedding.
        name: the model's name (default ``"transformer<depth>"`` or
            ``"plain_transformer<depth>"``).

    Returns:
        The uncompiled model: ``token_ids`` in, float32 logits out.

    Raises:
        ValueError: ``depth`` or an option is invalid.
    """
    STACK_DEPTHS.check("transformer", depth)
    _check_text_args(num_classes, sequence_length, vocabulary_size, input_shape)
    check_choice("pooling", pooling, RNN_POOLINGS)
    check_positive_int("width", width)
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or width % heads:
        raise ValueError(f"`heads` must be a positive divisor of width={width}, got {heads!r}.")
    embedding_dim = _embedding_dim(embeddings, vocabulary_size, embedding_dim) or width
    check_positive_int("embedding_dim", embedding_dim)
    inputs = _token_input(sequence_length)
    embedding = TokenAndPositionEmbedding(
        vocabulary_size,
        sequence_length,
        embedding_dim,
        trainable_tokens=trainable_embeddings,
        name="embedding",
    )
    x = _embed(inputs, embedding, embeddings)
    if embedding_dim != width:
        x = layers.Dense(width, name="embedding_projection")(x)
    if dropout:
        x = layers.Dropout(dropout, name="embedding_dropout")(x)
    for b in range(depth):
        x = TransformerEncoderBlock(
            intermediate_dim or 2 * width,
            heads,
            dropout=dropout,
            normalize_first=normalize_first,
            residual=residual,
            name=f"encoder_block{b + 1}",
        )(x)
    if normalize_first:
        x = make_layer_norm("final_norm")(x)
    x = MaskedGlobalPooling1D(pooling, name=f"{pooling}_pool")(x)
    x = _head(x, num_classes, dropout_rate)
    default = f"{'transformer' if residual else 'plain_transformer'}{depth}"
    return keras.Model(inputs, x, name=name or default)
