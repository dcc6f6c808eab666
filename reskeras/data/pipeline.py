"""tf.data input pipelines: cache, seeded shuffle, batch, batch-wise augmentation, prefetch."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from reskeras.data.spec import DataError

__all__ = [
    "LENGTH_BUCKETS",
    "MAX_SHUFFLE_BUFFER",
    "augment_batch",
    "bucketed_pairs",
    "make_pipeline",
    "sample_batches",
]

AUTOTUNE = tf.data.AUTOTUNE
MAX_SHUFFLE_BUFFER = 60_000
#: The lengths sentence-pair batches are padded to (:func:`bucketed_pairs`): a batch holds
#: sentences of similar length, and a model compiled with XLA meets a handful of shapes
#: (``bench/translation.py`` measures what it saves against padding to the longest).
LENGTH_BUCKETS = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def augment_batch(
    images: tf.Tensor, seed: tf.Tensor, *, pad: int = 4, flip: bool = False
) -> tf.Tensor:
    """Per-example random crop (after ``pad`` px of zero padding) and optional horizontal flip.

    Vectorized over the batch with index arithmetic (two gathers); keeps dtype and shape.

    Args:
        images: a batch ``[batch, H, W, C]``.
        seed: a stateless seed (shape ``[2]`` int), so results are reproducible.
        pad: pixels of zero padding on every side before the crop (0: no crop).
        flip: flip each image horizontally with probability 1/2.

    Returns:
        The augmented batch.
    """
    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    rows = tf.range(h)[None, :]
    cols = tf.range(w)[None, :]
    if pad > 0:
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        off_y = tf.random.stateless_uniform([b, 1], seeds[0], 0, 2 * pad + 1, dtype=tf.int32)
        off_x = tf.random.stateless_uniform([b, 1], seeds[1], 0, 2 * pad + 1, dtype=tf.int32)
    else:
        padded = images
        off_y = tf.zeros([b, 1], tf.int32)
        off_x = tf.zeros([b, 1], tf.int32)
    row_idx = off_y + rows  # [B, H]
    if flip:
        do_flip = tf.random.stateless_uniform([b, 1], seeds[2]) < 0.5
        col_idx = off_x + tf.where(do_flip, w - 1 - cols, cols)  # [B, W]
    else:
        col_idx = off_x + cols
    out = tf.gather(padded, row_idx, axis=1, batch_dims=1)  # [B, H, W + 2p, C]
    out = tf.gather(out, col_idx, axis=2, batch_dims=1)  # [B, H, W, C]
    return tf.ensure_shape(out, images.shape)


def make_pipeline(
    ds: tf.data.Dataset,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: bool = True,
    flip: bool = False,
    pad: int = 4,
    cache: bool = True,
) -> tf.data.Dataset:
    """cache -> seeded shuffle (training) -> batch -> augmentation (training, images) -> prefetch.

    Image augmentation runs on whole batches and keeps uint8. Text passes through.

    Args:
        ds: an unbatched dataset (``(x, y)`` pairs, or bare ``x``).
        batch_size: a positive batch size; training batches drop the remainder.
        training: shuffle and augment (the training split).
        seed: seed of the shuffle (reshuffled every epoch, reproducibly) and augmentation.
        augment: augment training images (:func:`augment_batch`).
        flip: include random horizontal flips in the augmentation.
        pad: pixels of padding of the random crop (0 with ``flip=False``: no augmentation).
        cache: cache the examples (in memory) after the first pass.

    Returns:
        The batched, prefetched dataset.

    Raises:
        DataError: ``batch_size`` is below 1 or ``pad`` negative.
    """
    if int(batch_size) < 1:
        raise DataError(f"batch_size={batch_size!r} must be a positive integer")
    if int(pad) < 0:
        raise DataError(f"pad={pad!r} must be >= 0")
    batch_size, pad, seed = int(batch_size), int(pad), int(seed)
    if cache:
        ds = ds.cache()
    if training:
        n = int(ds.cardinality())
        buffer = min(n, MAX_SHUFFLE_BUFFER) if n > 0 else 10_000
        ds = ds.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    x_spec = ds.element_spec[0] if isinstance(ds.element_spec, tuple) else ds.element_spec
    is_image = (  # a translation's x is a (source, decoder input) pair: not an image
        isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank == 4 and x_spec.dtype != tf.string
    )
    if training and augment and is_image and (pad > 0 or flip):
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds)

        def _aug(batch: Any, s: tf.Tensor) -> Any:
            if isinstance(batch, tuple):
                return (augment_batch(batch[0], s, pad=pad, flip=flip),) + tuple(batch[1:])
            return augment_batch(batch, s, pad=pad, flip=flip)

        ds = ds.map(_aug, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def sample_batches(
    ds: tf.data.Dataset, batch_size: int, examples: int, *, seed: int = 0
) -> tf.data.Dataset:
    """The same seeded sample of ``examples`` examples (or all, if fewer) on every pass, in
    batches, not augmented: e.g. the training inputs batch norms recompute their statistics
    on (:func:`reskeras.layers.norm.precise_batch_statistics`).

    Args:
        ds: an unbatched dataset (``(x, y)`` pairs, or bare ``x``).
        batch_size: examples per batch (the last batch may be smaller).
        examples: how many examples to sample.
        seed: seed of the sample.

    Returns:
        The batched, cached sample.
    """
    n = int(ds.cardinality())
    buffer = min(n, MAX_SHUFFLE_BUFFER) if n > 0 else 10_000
    ds = ds.shuffle(max(buffer, 1), seed=int(seed), reshuffle_each_iteration=False)
    return ds.take(int(examples)).batch(int(batch_size)).cache()


def bucketed_pairs(
    ds: tf.data.Dataset, batch_size: int, *, max_length: int, training: bool, seed: int = 0
) -> tf.data.Dataset:
    """Batches of sentence pairs of similar length: each batch is padded with 0 to the first
    of :data:`LENGTH_BUCKETS` (or ``max_length``) that holds its longest side.

    Training: cache -> seeded shuffle (reshuffled every pass) -> repeated without end ->
    whole batches -> prefetch. Otherwise every pair once, in length buckets.

    Args:
        ds: ``((source, decoder input), labels)`` int32 vectors of their own lengths, none
            longer than ``max_length`` (:func:`reskeras.data.subword.sentence_pairs`).
        batch_size: pairs per batch.
        max_length: the longest side.
        training: shuffle, repeat, and drop the batches a bucket leaves unfilled.
        seed: seed of the shuffle.

    Returns:
        The batched, prefetched dataset.
    """

    def longest(x, y):
        return tf.maximum(tf.shape(x[0])[0], tf.shape(x[1])[0])

    ds, batch_size = ds.cache(), int(batch_size)
    bounds = sorted({b for b in LENGTH_BUCKETS if b < max_length} | {int(max_length)})
    batches = None
    if training:
        n = int(ds.cardinality())
        buffer = min(n, MAX_SHUFFLE_BUFFER) if n > 0 else 10_000
        ds = ds.shuffle(max(buffer, 1), seed=int(seed), reshuffle_each_iteration=True).repeat()
    else:  # Keras warns of "running out of data" where it does not know the batches
        lengths = np.fromiter(ds.map(longest).as_numpy_iterator(), np.int64)
        per_bucket = np.bincount(np.searchsorted(bounds, lengths), minlength=len(bounds))
        batches = int(sum(-(-count // batch_size) for count in per_bucket))
    ds = ds.bucket_by_sequence_length(
        longest,
        [b + 1 for b in bounds],  # a bucket holds lengths up to b and pads to b
        [batch_size] * (len(bounds) + 1),
        pad_to_bucket_boundary=True,
        drop_remainder=training,
    )
    if batches is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(AUTOTUNE)
