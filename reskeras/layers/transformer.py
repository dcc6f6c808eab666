"""Transformer blocks: token-and-position embeddings, a reversible (tied) embedding and a
(residual) encoder block; the decoder block is :mod:`reskeras.layers.decoder`.

Same conventions as :mod:`reskeras.layers.blocks`: arguments validated in ``__init__``, sublayers
built in ``build()`` with ``dtype=self.dtype_policy``, every argument in ``get_config``,
``residual=False`` for the plain twin and ``flops()`` after build. Only ``keras.layers`` and
``keras.ops`` are used (the argument names follow keras-hub's ``TransformerEncoder``).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from reskeras.checks import check_fraction, check_positive_int
from reskeras.layers.norm import make_layer_norm

__all__ = ["ReversibleEmbedding", "TokenAndPositionEmbedding", "TransformerEncoderBlock"]

_register = keras.saving.register_keras_serializable(package="reskeras")


@_register
class ReversibleEmbedding(layers.Embedding):
    """A ``keras.layers.Embedding`` that also maps vectors back to token logits: called with
    ``reverse=True`` it multiplies by the transposed embedding matrix, so a language model's
    output layer shares (ties) the input embedding's weights (Press & Wolf 2017), as
    ``keras_hub.layers.ReversibleEmbedding`` does.

    Args:
        input_dim: number of token ids.
        output_dim: width of the embedding.
        **kwargs: passed to ``keras.layers.Embedding`` (``mask_zero``, ``name``, ``dtype`` ...).
    """

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any):
        super().__init__(input_dim, output_dim, **kwargs)

    def call(self, inputs, reverse: bool = False):
        if not reverse:
            return super().call(inputs)
        kernel = ops.cast(self.embeddings, self.compute_dtype)
        return ops.matmul(ops.cast(inputs, self.compute_dtype), ops.transpose(kernel))

    def compute_mask(self, inputs: Any, mask: Any = None):
        """The padding mask of token ids (``mask_zero``), or ``None``.

        Args:
            inputs: the token ids (or, reversed, vectors: no mask is made for those).
            mask: the incoming mask.
        """
        if inputs is not None and len(inputs.shape) > 2:  # reverse: vectors in, logits out
            return mask
        return super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse: bool = False):
        if reverse:
            return (*input_shape[:-1], self.input_dim)
        return super().compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, reverse: bool = False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)


@_register
class TokenAndPositionEmbedding(layers.Layer):
    """Token embeddings plus learned position embeddings (the transformer's input).

    ``token_embedding`` is a :class:`ReversibleEmbedding` (``mask_zero=True`` by default, so
    padding id 0 is masked); positions ``0..sequence_length-1`` each add a learned vector.
    ``start_index`` offsets the positions (one step of incremental decoding); ``reverse=True``
    maps vectors back to token logits through the token embedding (a tied output layer).
    ``trainable_tokens=False`` freezes the token embeddings (pretrained word vectors) while
    the position embeddings still learn.

    Args:
        vocabulary_size: number of token ids (rows of the token embedding).
        sequence_length: longest input; one position vector is learned for each position.
        embedding_dim: width of both embeddings and of the output.
        mask_zero: treat token id 0 as padding and emit a mask for it.
        trainable_tokens: train the token embeddings (``False`` freezes them; must be a bool).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int,
        embedding_dim: int,
        *,
        mask_zero: bool = True,
        trainable_tokens: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.mask_zero = bool(mask_zero)
        if not isinstance(trainable_tokens, bool):
            raise ValueError(f"`trainable_tokens` must be True or False, got {trainable_tokens!r}.")
        self.trainable_tokens = trainable_tokens
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        self.token_embedding = ReversibleEmbedding(
            self.vocabulary_size,
            self.embedding_dim,
            mask_zero=self.mask_zero,
            trainable=self.trainable_tokens,
            name="token_embedding",
            dtype=self.dtype_policy,
        )
        self.token_embedding.build(input_shape)
        self.position_embeddings = self.add_weight(
            shape=(self.sequence_length, self.embedding_dim),
            initializer="glorot_uniform",
            name="position_embeddings",
        )

    def call(self, inputs, start_index: Any = 0, reverse: bool = False):
        if reverse:
            return self.token_embedding(inputs, reverse=True)
        length = ops.shape(inputs)[-1]
        positions = ops.slice(
            self.position_embeddings, (start_index, 0), (length, self.embedding_dim)
        )
        return self.token_embedding(inputs) + ops.cast(positions, self.compute_dtype)

    def compute_mask(self, inputs: Any, mask: Any = None):
        """The padding mask (``inputs != 0``), or ``None`` when ``mask_zero=False``.

        Args:
            inputs: the token ids (reversed: vectors, which get no new mask).
            mask: the incoming mask; ignored for token ids.
        """
        if not self.mask_zero or (inputs is not None and len(inputs.shape) > 2):
            return None if not self.mask_zero else mask
        return self.token_embedding.compute_mask(inputs)

    def compute_output_shape(self, input_shape, start_index: Any = 0, reverse: bool = False):
        if reverse:
            return (*input_shape[:-1], self.vocabulary_size)
        return (*input_shape, self.embedding_dim)

    def compute_output_spec(self, inputs, start_index: Any = 0, reverse: bool = False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "mask_zero": self.mask_zero,
            "trainable_tokens": self.trainable_tokens,
        }


@_register
class TransformerEncoderBlock(layers.Layer):
    """A transformer encoder block: self-attention, then a feed-forward network, each a
    residual sub-block ``x + dropout(f(norm(x)))`` (pre-LN, ``normalize_first=True``) or
    ``norm(x + dropout(f(x)))`` (post-LN, the default, as in Vaswani et al. 2017).

    ``residual=False`` is the plain twin: the same sublayers and weights with both additions
    removed, so a plain and a residual stack are a like-for-like degradation experiment.
    Padding (a Keras mask, e.g. from ``Embedding(mask_zero=True)``) is never attended to.
    The argument names follow ``keras_hub.layers.TransformerEncoder``.

    Args:
        intermediate_dim: width of the feed-forward network's hidden layer.
        num_heads: number of attention heads; the input width must be divisible by it
            (checked in ``build``).
        dropout: dropout rate in ``[0, 1)`` of the attention weights and of each sub-block's
            output.
        activation: activation of the feed-forward hidden layer (any Keras activation name).
        normalize_first: pre-LN (normalize each sub-block's input) instead of post-LN.
        residual: keep the two residual additions; ``False`` builds the plain twin.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).
    """

    def __init__(
        self,
        intermediate_dim: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        activation: str = "relu",
        normalize_first: bool = False,
        residual: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.dropout = check_fraction("dropout", dropout)
        self.activation = activation
        self.normalize_first = bool(normalize_first)
        self.residual = bool(residual)
        self.supports_masking = True
        self.depth = 4  # q/k/v + output projection and two feed-forward layers, weighted

    def build(self, input_shape):
        width = input_shape[-1]
        if width % self.num_heads:
            raise ValueError(
                f"The model width {width} must be divisible by num_heads={self.num_heads}."
            )
        shape = tuple(input_shape)
        self.attention = layers.MultiHeadAttention(
            self.num_heads,
            width // self.num_heads,
            dropout=self.dropout,
            name="self_attention",
            dtype=self.dtype_policy,
        )
        self.attention.build(shape, shape)
        self.attention_norm = make_layer_norm("self_attention_layer_norm", dtype=self.dtype_policy)
        self.attention_norm.build(shape)
        self.intermediate = layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            name="feedforward_intermediate_dense",
            dtype=self.dtype_policy,
        )
        self.intermediate.build(shape)
        self.output_dense = layers.Dense(
            width, name="feedforward_output_dense", dtype=self.dtype_policy
        )
        self.output_dense.build((*shape[:-1], self.intermediate_dim))
        self.feedforward_norm = make_layer_norm("feedforward_layer_norm", dtype=self.dtype_policy)
        self.feedforward_norm.build(shape)
        self.dropout_layer = layers.Dropout(self.dropout, dtype=self.dtype_policy)
        steps = input_shape[1] or 0
        projections = 4 * steps * width * width  # query, key, value, output
        attention = 2 * steps * steps * width  # scores and weighted sum
        feedforward = 2 * steps * width * self.intermediate_dim
        self._flops = 2 * (projections + attention + feedforward)

    def _sub_block(self, x, f, norm, training):
        h = norm(x) if self.normalize_first else x
        h = self.dropout_layer(f(h), training=training)
        h = x + h if self.residual else h
        return h if self.normalize_first else norm(h)

    def call(self, inputs, mask=None, training=None):
        def attend(h):
            return self.attention(h, h, value_mask=mask, training=training)

        def feed_forward(h):
            return self.output_dense(self.intermediate(h))

        x = self._sub_block(inputs, attend, self.attention_norm, training)
        return self._sub_block(x, feed_forward, self.feedforward_norm, training)

    def compute_mask(self, inputs: Any, mask: Any = None):
        """The incoming mask, unchanged (the block keeps the sequence length).

        Args:
            inputs: the block's input.
            mask: the incoming padding mask, or ``None``.
        """
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def flops(self) -> int:
        """Floating-point operations (2 x multiply-adds) per example (needs a fixed length)."""
        return self._flops

    def get_config(self):
        return {
            **super().get_config(),
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "activation": self.activation,
            "normalize_first": self.normalize_first,
            "residual": self.residual,
        }
