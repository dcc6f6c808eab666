"""An adaptive softmax output layer (Grave et al. 2017) for large vocabularies.

A language model's output layer over tens of thousands of words is most of a training step on a
CPU (``bench/language_model.py softmax``). The adaptive softmax gives the most frequent tokens
(a *head*) a full-width projection and the rarer ones *tail clusters* behind narrower
projections, so most of the vocabulary costs a fraction of the width. Token ids must run from
the most frequent to the least (reskeras' vocabularies do).

The layer returns logits over the whole vocabulary whose softmax is the adaptive softmax's
distribution, so every consumer of a language model's logits — the loss, perplexity, sampling
and the export — uses them unchanged. Only ``keras.layers`` and ``keras.ops`` are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from reskeras.checks import check_int

__all__ = ["DEFAULT_CUTOFFS", "AdaptiveSoftmax", "adaptive_cutoffs"]

#: Cluster boundaries used when a model asks for the default: each cluster holds five times
#: the tokens of the one before (2,000 head tokens; then up to 10,000, 50,000, 250,000).
DEFAULT_CUTOFFS = (2_000, 10_000, 50_000, 250_000)


def adaptive_cutoffs(vocabulary_size: int) -> list[int]:
    """The default cluster boundaries for ``vocabulary_size`` tokens (those below it).

    Args:
        vocabulary_size: number of token ids, padding included.

    Raises:
        ValueError: the vocabulary is too small to split (at most the first cutoff).
    """
    cutoffs = [c for c in DEFAULT_CUTOFFS if c < vocabulary_size]
    if not cutoffs:
        raise ValueError(
            f"An adaptive softmax splits a vocabulary of more than {DEFAULT_CUTOFFS[0]:,} "
            f"tokens; got vocabulary_size={vocabulary_size:,} (use the full softmax)."
        )
    return cutoffs


@keras.saving.register_keras_serializable(package="reskeras")
class AdaptiveSoftmax(layers.Layer):
    """Hidden states ``[..., width]`` -> logits ``[..., vocabulary_size]`` whose softmax is an
    adaptive softmax (Grave et al. 2017), computed densely (every cluster for every position,
    which keeps shapes static for XLA and incremental decoding).

    The head is a softmax over tokens ``0..cutoffs[0]-1`` plus one entry per tail cluster;
    tail cluster ``i`` (tokens ``cutoffs[i]..cutoffs[i+1]-1``, the last ending at the
    vocabulary's end) projects the hidden state to ``width // factor**(i+1)`` dimensions and
    takes a softmax over its tokens. A token's probability is its head probability, or its
    cluster's head probability times its probability within the cluster. The logits are
    float32 under mixed precision.

    Args:
        vocabulary_size: number of token ids (the output's last dimension).
        cutoffs: increasing cluster boundaries, each between 1 and ``vocabulary_size - 1``.
        factor: how much narrower each tail cluster's projection is than the one before
            (Grave et al. use 4).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype`` ...).

    Raises:
        ValueError: ``cutoffs`` are not increasing inside the vocabulary, or ``factor`` < 1.
    """

    def __init__(
        self, vocabulary_size: int, cutoffs: Sequence[int], factor: int = 4, **kwargs: Any
    ):
        super().__init__(**kwargs)
        check_int("vocabulary_size", vocabulary_size, 3)
        check_int("factor", factor, 1)
        cutoffs = [int(c) for c in cutoffs]
        bounds = [0, *cutoffs, vocabulary_size]
        if not cutoffs or any(lo >= hi for lo, hi in zip(bounds, bounds[1:], strict=False)):
            raise ValueError(
                f"cutoffs must increase strictly between 0 and vocabulary_size="
                f"{vocabulary_size}; got cutoffs={cutoffs}."
            )
        self.vocabulary_size, self.cutoffs, self.factor = vocabulary_size, cutoffs, factor
        self.supports_masking = True  # padding positions stay masked for the loss

    def build(self, input_shape: tuple) -> None:
        width = int(input_shape[-1])
        tails = len(self.cutoffs)
        self.head = layers.Dense(self.cutoffs[0] + tails, dtype=self.dtype_policy, name="head")
        self.head.build(input_shape)
        self.tails = []
        bounds = [*self.cutoffs, self.vocabulary_size]
        for i in range(tails):
            dim = max(1, width // self.factor ** (i + 1))
            projection = layers.Dense(
                dim, use_bias=False, dtype=self.dtype_policy, name=f"tail{i + 1}_projection"
            )
            projection.build(input_shape)
            output = layers.Dense(
                bounds[i + 1] - bounds[i], dtype=self.dtype_policy, name=f"tail{i + 1}"
            )
            output.build((*input_shape[:-1], dim))
            self.tails.append((projection, output))

    def call(self, inputs: Any) -> Any:
        # Logits, not log-probabilities: a tail token's is its cluster's head logit plus its
        # log-probability within the cluster, so the softmax over the whole row (the loss's,
        # the sampler's) is the head's softmax times the cluster's. Normalizing the head here
        # too would add passes over the vocabulary-wide row, the cost on a CPU.
        head = ops.cast(self.head(inputs), "float32")
        shortlist = self.cutoffs[0]
        parts = [head[..., :shortlist]]
        for i, (projection, output) in enumerate(self.tails):
            tail = ops.cast(output(projection(inputs)), "float32")
            offset = head[..., shortlist + i : shortlist + i + 1]
            parts.append(tail + (offset - ops.logsumexp(tail, axis=-1, keepdims=True)))
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.vocabulary_size)

    def compute_output_spec(self, inputs: Any) -> keras.KerasTensor:
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size, cutoffs=list(self.cutoffs), factor=self.factor
        )
        return config
