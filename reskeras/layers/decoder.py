"""The transformer decoder block and the cached attention incremental decoding needs.

A decoder block is causal self-attention, then (given an encoder's output) cross-attention,
then a feed-forward network, each a residual sub-block; without an encoder sequence it is the
block of a decoder-only language model. :meth:`TransformerDecoderBlock.call_cached` runs it
one step (or a few) at a time against a cache of the keys and values seen so far, which is
what makes sampling and beam search linear in the output length
(:mod:`reskeras.decoding`). Only ``keras.layers`` and ``keras.ops`` are used; the argument
names follow ``keras_hub.layers.TransformerDecoder``, whose parameters it has one for one.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from reskeras.checks import check_fraction, check_positive_int
from reskeras.layers.norm import make_layer_norm

__all__ = ["CachedMultiHeadAttention", "TransformerDecoderBlock", "causal_mask"]

_register = keras.saving.register_keras_serializable(package="reskeras")


def causal_mask(query_length: Any, key_length: Any, start_index: Any = 0) -> Any:
    """A ``[query_length, key_length]`` boolean mask: query ``i`` (at position
    ``start_index + i``) may attend to keys ``0..start_index + i``.

    Args:
        query_length: the number of query positions.
        key_length: the number of key positions (the cache's length when decoding).
        start_index: the position of the first query.
    """
    rows = ops.arange(query_length)[:, None] + start_index
    return rows >= ops.arange(key_length)[None, :]


def _write_at(cache: Any, update: Any, index: Any) -> Any:
    """``cache`` ``[batch, length, ...]`` with ``update`` ``[batch, steps, ...]`` written at
    positions ``index ...``: a one-hot product, not ``ops.slice_update``, whose TensorFlow
    kernel is an XLA op that stock TF Serving lacks (the cache is decoded in exports)."""
    length, steps = ops.shape(cache)[1], ops.shape(update)[1]
    onehot = ops.one_hot(index + ops.arange(steps), length, dtype=update.dtype)  # [steps, L]
    placed = ops.einsum("sl,bs...->bl...", onehot, update)
    written = ops.reshape(ops.any(onehot > 0, axis=0), (1, -1) + (1,) * (len(cache.shape) - 2))
    return ops.where(written, placed, cache)


@_register
class CachedMultiHeadAttention(layers.MultiHeadAttention):
    """``keras.layers.MultiHeadAttention`` that can also attend against a key/value cache.

    Without ``cache`` it is the Keras layer. With ``cache`` (``[batch, 2, length, heads,
    key_dim]``: keys then values) and ``cache_update_index``, the keys and values of
    ``value`` are written into the cache at that position and the query attends to the
    whole cache (mask it with ``attention_mask``); with ``cache_update_index=None`` the cache
    is used as it is (an encoder's keys and values, computed once). Returns ``(output,
    cache)`` when given a cache.

    Args:
        num_heads: number of attention heads.
        key_dim: width of each head.
        **kwargs: passed to ``keras.layers.MultiHeadAttention``.
    """

    def __init__(self, num_heads: int, key_dim: int, **kwargs: Any):
        super().__init__(num_heads, key_dim, **kwargs)

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        cache=None,
        cache_update_index=None,
        training=None,
        use_causal_mask: bool = False,
    ):
        if cache is None:
            return super().call(
                query,
                value,
                key=key,
                attention_mask=attention_mask,
                training=training,
                use_causal_mask=use_causal_mask,
            )
        if cache_update_index is None:
            keys, values = cache[:, 0], cache[:, 1]
        else:
            key = value if key is None else key
            keys = _write_at(cache[:, 0], self._key_dense(key), cache_update_index)
            values = _write_at(cache[:, 1], self._value_dense(value), cache_update_index)
            cache = ops.stack((keys, values), axis=1)
        output, _ = self._compute_attention(
            self._query_dense(query), keys, values, attention_mask, training=training
        )
        return self._output_dense(output), cache

    def project_memory(self, value: Any) -> Any:
        """The cache of an encoder's output for cross-attention: ``[batch, 2, length, heads,
        key_dim]``, computed once per source sentence.

        Args:
            value: the encoder's output ``[batch, length, width]``.
        """
        return ops.stack((self._key_dense(value), self._value_dense(value)), axis=1)


@_register
class TransformerDecoderBlock(layers.Layer):
    """A transformer decoder block: causal self-attention, cross-attention to an encoder's
    output (when one is given), then a feed-forward network; each a residual sub-block
    ``x + dropout(f(norm(x)))`` (pre-LN, ``normalize_first=True``) or ``norm(x +
    dropout(f(x)))`` (post-LN, the default, as in Vaswani et al. 2017).

    ``residual=False`` is the plain twin (the same sublayers, additions removed). Padding
    (Keras masks) is never attended to, and no position attends to a later one. Call it on
    a whole sequence to train; :meth:`call_cached` decodes incrementally, giving the same
    outputs. The cross-attention sublayers exist when the block is first called with an
    ``encoder_sequence`` (a translation decoder) and not otherwise (a language model).

    Args:
        intermediate_dim: width of the feed-forward network's hidden layer.
        num_heads: number of attention heads; the width must be divisible by it.
        dropout: dropout rate in ``[0, 1)`` of the attention weights and each sub-block's
            output.
        activation: activation of the feed-forward hidden layer (any Keras activation name).
        normalize_first: pre-LN instead of post-LN.
        residual: keep the residual additions; ``False`` builds the plain twin.
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

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        width = decoder_sequence_shape[-1]
        if width % self.num_heads:
            raise ValueError(
                f"The model width {width} must be divisible by num_heads={self.num_heads}."
            )
        shape = tuple(decoder_sequence_shape)
        self.width, self.head_dim = width, width // self.num_heads

        def attention(name: str, memory_shape: tuple) -> CachedMultiHeadAttention:
            layer = CachedMultiHeadAttention(
                self.num_heads, self.head_dim, dropout=self.dropout, name=name,
                dtype=self.dtype_policy,
            )  # fmt: skip
            layer.build(shape, memory_shape)
            return layer

        def norm(name: str) -> layers.Layer:
            layer = make_layer_norm(name, dtype=self.dtype_policy)
            layer.build(shape)
            return layer

        self.self_attention = attention("self_attention", shape)
        self.self_attention_norm = norm("self_attention_layer_norm")
        self.cross_attention = self.cross_attention_norm = None
        if encoder_sequence_shape is not None:
            self.cross_attention = attention("cross_attention", tuple(encoder_sequence_shape))
            self.cross_attention_norm = norm("cross_attention_layer_norm")
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
        self.feedforward_norm = norm("feedforward_layer_norm")
        self.dropout_layer = layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def _sub_block(self, x, f, norm, training):
        h = norm(x) if self.normalize_first else x
        h = self.dropout_layer(f(h), training=training)
        h = x + h if self.residual else h
        return h if self.normalize_first else norm(h)

    def _check_memory(self, encoder_sequence) -> None:
        if (encoder_sequence is None) != (self.cross_attention is None):
            built = "without" if self.cross_attention is None else "with"
            raise ValueError(
                f"{self.name} was built {built} an encoder sequence (cross-attention) and must "
                f"be called {built} one."
            )

    def _cross_and_feed_forward(self, x, memory, memory_mask, training, cross_cache=None):
        if self.cross_attention is not None:
            query_mask = None if memory_mask is None else memory_mask[:, None, :]

            def cross(h):
                if cross_cache is None:
                    return self.cross_attention(
                        h, memory, attention_mask=query_mask, training=training
                    )
                return self.cross_attention(
                    h, None, attention_mask=query_mask, cache=cross_cache, training=training
                )[0]

            x = self._sub_block(x, cross, self.cross_attention_norm, training)

        def feed_forward(h):
            return self.output_dense(self.intermediate(h))

        return self._sub_block(x, feed_forward, self.feedforward_norm, training)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        training=None,
    ):
        self._check_memory(encoder_sequence)
        mask = decoder_padding_mask
        if mask is None:
            mask = getattr(decoder_sequence, "_keras_mask", None)
        if encoder_padding_mask is None and encoder_sequence is not None:
            encoder_padding_mask = getattr(encoder_sequence, "_keras_mask", None)
        length = ops.shape(decoder_sequence)[1]
        allowed = causal_mask(length, length)[None]
        if mask is not None:
            allowed = ops.logical_and(allowed, ops.cast(mask, "bool")[:, None, :])

        def attend(h):
            return self.self_attention(h, h, attention_mask=allowed, training=training)

        x = self._sub_block(decoder_sequence, attend, self.self_attention_norm, training)
        return self._cross_and_feed_forward(x, encoder_sequence, encoder_padding_mask, training)

    def init_cache(self, batch_size: Any, max_length: int) -> Any:
        """An empty self-attention cache for decoding up to ``max_length`` positions:
        zeros of shape ``[batch, 2, max_length, heads, head_dim]``.

        Args:
            batch_size: the number of sequences decoded together.
            max_length: the longest sequence decoded.
        """
        shape = (batch_size, 2, max_length, self.num_heads, self.head_dim)
        return ops.zeros(shape, dtype=self.compute_dtype)

    def project_memory(self, encoder_sequence: Any) -> Any:
        """The cross-attention cache of an encoder's output (computed once per source).

        Args:
            encoder_sequence: the encoder's output ``[batch, length, width]``.
        """
        self._check_memory(encoder_sequence)
        return self.cross_attention.project_memory(encoder_sequence)

    def call_cached(
        self,
        inputs: Any,
        cache: Any,
        index: Any,
        cross_cache: Any = None,
        encoder_padding_mask: Any = None,
    ) -> tuple[Any, Any]:
        """The block on ``inputs`` at positions ``index, index+1, ...`` given the cache of
        the positions before; returns ``(outputs, cache)`` with the new keys and values
        written in. Inference only (no dropout).

        Args:
            inputs: ``[batch, steps, width]``, usually one step.
            cache: the self-attention cache (:meth:`init_cache`).
            index: the position of the first step.
            cross_cache: the cross-attention cache (:meth:`project_memory`), for a block
                built with an encoder sequence.
            encoder_padding_mask: ``[batch, source_length]``, ``True`` at real tokens.
        """
        if (cross_cache is None) != (self.cross_attention is None):
            raise ValueError(
                f"{self.name} decodes with a cross-attention cache exactly when it was built "
                f"with an encoder sequence ({self.cross_attention is not None})."
            )
        steps = ops.shape(inputs)[1]
        allowed = causal_mask(steps, ops.shape(cache)[2], index)[None]

        def attend(h):
            out, new = self.self_attention(
                h, h, attention_mask=allowed, cache=cache, cache_update_index=index
            )
            attend.cache = new
            return out

        x = self._sub_block(inputs, attend, self.self_attention_norm, False)
        x = self._cross_and_feed_forward(x, None, encoder_padding_mask, False, cross_cache)
        return x, attend.cache

    def compute_mask(self, decoder_sequence: Any, mask: Any = None, **kwargs: Any):
        """The decoder sequence's mask, unchanged (the block keeps the sequence length).

        Args:
            decoder_sequence: the block's input.
            mask: the incoming padding mask(s), or ``None``.
            **kwargs: the call's other arguments (unused).
        """
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape

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
