"""Serving signatures of language models: tokenizing, sampling and scoring inside the graph.

A language model's export (:func:`reskeras.serve.export.export_for_serving` of a
``language_model`` run) answers with text for text, on stock TensorFlow ops only (a lookup
table for the words, a ``while`` loop for the sampling):

* ``serving_default``: ``prompt`` (string ``[batch]``) -> ``text``, the continuation, sampled
  with :data:`SERVING_DEFAULTS` (those of :func:`~reskeras.decoding.causal.generate`, seed 0;
  fewer tokens where a transformer's positions run out);
* ``generate``: ``prompt`` plus scalar ``max_length`` (int32), ``temperature`` (float32; 0 is
  greedy), ``top_k`` (int32; 0 is off) and ``seed`` (int32) -> ``text``;
* ``score``: ``text`` (string ``[batch]``, a sentence each) -> ``log_likelihood`` (float32,
  summed over the sentence's tokens and its ``<eos>``), ``perplexity`` (float32) and
  ``tokens`` (int32).

The loop is :func:`~reskeras.decoding.causal.sample_ids`, the one :func:`generate` runs, with
the same keras-hub samplers, whose seed generator the signature resets to ``[seed, 0]``
first, so a served sample equals ``rk.generate(..., seed=seed)``; ``score`` reads each
sentence as :func:`~reskeras.decoding.causal.perplexity` reads ``[sentence]`` (in windows of
the training length). Words are split on ASCII whitespace (``tf.strings.split``).
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
import tensorflow as tf

from reskeras.data.corpus import UNK
from reskeras.decoding.causal import LanguageModel, generate, make_sampler, sample_ids
from reskeras.serve.archive import add_signatures
from reskeras.serve.keys import (
    INPUT_MAX_LENGTH,
    INPUT_PROMPT,
    INPUT_SEED,
    INPUT_TEMPERATURE,
    INPUT_TEXT,
    INPUT_TOP_K,
    SIGNATURE_DEFAULT,
    SIGNATURE_GENERATE,
    SIGNATURE_SCORE,
)

__all__ = ["SERVING_DEFAULTS", "language_archive"]

_GENERATE = inspect.signature(generate).parameters
#: What ``serving_default`` samples with: :func:`generate`'s defaults, no top-k, seed 0.
SERVING_DEFAULTS = {
    INPUT_MAX_LENGTH: _GENERATE["max_length"].default,
    INPUT_TEMPERATURE: _GENERATE["temperature"].default,
    INPUT_TOP_K: 0,
    INPUT_SEED: 0,
}


def language_archive(lm: LanguageModel) -> tuple[Any, dict[str, Any], str, dict]:
    """A ``keras.export.ExportArchive`` with the signatures of the module docstring.

    Args:
        lm: the language model and its vocabulary.

    Returns:
        The archive, its concrete functions by signature, the kind (``"language_model"``)
        and what the warm-up requests need (nothing).

    Raises:
        ExportError: the graph cannot be traced.
    """
    model, vocab = lm.model, lm.vocabulary
    tokens = tf.constant(vocab.tokens, dtype=tf.string)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(vocab.size, dtype=tf.int32)),
        default_value=vocab.tokens.index(UNK),
    )
    eos = vocab.eos_id
    greedy, sampler = make_sampler(0.0), make_sampler(1.0, seed=0)
    seed_state = sampler.seed_generator.state
    window, longest = lm.sequence_length, lm.max_length

    def words(text: tf.Tensor) -> tf.RaggedTensor:
        """Each string's word ids, after one ``<eos>`` (as ``Vocabulary.stream`` reads)."""
        ids = tf.ragged.map_flat_values(table.lookup, tf.strings.split(text))
        start = tf.fill([tf.shape(text)[0], 1], eos)
        return tf.concat([tf.RaggedTensor.from_tensor(start), ids], axis=1)

    def sample(prompt, max_length, temperature, top_k, seed, fit=False):
        prompts = words(prompt)
        lengths = tf.cast(prompts.row_lengths(), tf.int32)
        if fit and longest is not None:  # serving_default: as many tokens as the model reads
            max_length = tf.minimum(max_length, longest - tf.reduce_max(lengths))
        total = tf.reduce_max(lengths) + max_length
        checks = [tf.debugging.assert_positive(max_length, message="max_length must be >= 1")]
        if longest is not None:
            checks.append(
                tf.debugging.assert_less_equal(
                    total, longest, message=f"prompt plus max_length exceeds {longest} tokens"
                )
            )
        with tf.control_dependencies(checks):
            buffer = prompts.to_tensor(0, shape=tf.stack([tf.shape(prompt)[0], total]))
        given = tf.sequence_mask(lengths, total)
        seed_state.assign(tf.cast(tf.stack([seed, 0]), seed_state.dtype))
        out = tf.cond(
            temperature > 0,
            lambda: sample_ids(
                model,
                sampler,
                buffer,
                given,
                eos_id=eos,
                temperature=temperature,
                top_k=top_k,
            ),
            lambda: sample_ids(model, greedy, buffer, given, eos_id=eos),
        )
        position = tf.range(total)[None, :]
        after = position >= lengths[:, None]  # a row's own continuation: max_length tokens
        ended = tf.cumsum(tf.cast((out == eos) & after, tf.int32), axis=1) > 0
        keep = after & (position < lengths[:, None] + max_length) & ~ended & (out != 0)
        picked = tf.ragged.boolean_mask(tf.gather(tokens, out), keep)
        return {"text": tf.strings.reduce_join(picked, axis=1, separator=" ")}

    scalar = tf.TensorSpec([], tf.int32)
    prompt_spec = tf.TensorSpec([None], tf.string, name=INPUT_PROMPT)

    @tf.function(
        input_signature=[
            prompt_spec,
            tf.TensorSpec([], tf.int32, name=INPUT_MAX_LENGTH),
            tf.TensorSpec([], tf.float32, name=INPUT_TEMPERATURE),
            tf.TensorSpec([], tf.int32, name=INPUT_TOP_K),
            tf.TensorSpec([], tf.int32, name=INPUT_SEED),
        ]
    )
    def serve_generate(prompt, max_length, temperature, top_k, seed):
        return sample(prompt, max_length, temperature, top_k, seed)

    @tf.function(input_signature=[prompt_spec])
    def serve_default(prompt):
        d = SERVING_DEFAULTS
        return sample(
            prompt,
            tf.constant(d[INPUT_MAX_LENGTH], scalar.dtype),
            tf.constant(d[INPUT_TEMPERATURE], tf.float32),
            tf.constant(d[INPUT_TOP_K], scalar.dtype),
            tf.constant(d[INPUT_SEED], scalar.dtype),
            fit=True,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_TEXT)])
    def serve_score(text):
        stream = tf.concat([words(text), tf.RaggedTensor.from_tensor(
            tf.fill([tf.shape(text)[0], 1], eos))], axis=1)  # fmt: skip
        inputs, targets = stream[:, :-1], stream[:, 1:]
        rows = tf.shape(text)[0]
        windows = (tf.reduce_max(inputs.row_lengths()) + window - 1) // window
        width = tf.cast(windows, tf.int32) * window
        x = tf.reshape(inputs.to_tensor(0, shape=tf.stack([rows, width])), [-1, window])
        y = targets.to_tensor(0, shape=tf.stack([rows, width]))
        logits = tf.cast(model(x, training=False), tf.float32)
        nll = tf.reshape(
            tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.reshape(y, [-1, window]), logits=logits
            ),
            [rows, width],
        )
        real = tf.cast(y != 0, tf.float32)
        log_likelihood = -tf.reduce_sum(nll * real, axis=1)
        count = tf.reduce_sum(real, axis=1)
        return {
            "log_likelihood": log_likelihood,
            "perplexity": tf.exp(-log_likelihood / tf.maximum(count, 1.0)),
            "tokens": tf.cast(count, tf.int32),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(table)
    archive.add_variable_collection("sampler_seed", [seed_state])
    fns = {
        SIGNATURE_DEFAULT: serve_default,
        SIGNATURE_GENERATE: serve_generate,
        SIGNATURE_SCORE: serve_score,
    }
    concrete = add_signatures(archive, fns, "language-model", model)
    return archive, concrete, "language_model", {}
