"""Text preprocessing: a vocabulary adapted on the training split, and the tf.data mapping.

The vectorizer is a stock ``keras.layers.TextVectorization`` (lower-case, strip punctuation,
split on whitespace, int ids: 0 = padding, 1 = ``[UNK]``, fixed ``output_sequence_length``),
so an exported model that takes raw strings needs only stock TensorFlow ops (no
tensorflow-text) at serving time.

Typical use (what ``reskeras.train()`` does for text tasks)::

    data = load_task("sst2")
    vectorizer = adapt_vectorizer(data.train.map(lambda x, y: x), vocabulary_size=20000,
                                  sequence_length=64)
    train = vectorize_dataset(make_pipeline(data.train, 64, training=True), vectorizer)
    model = build_model("text_resnet9", num_classes=2, sequence_length=64,
                        vocabulary_size=vectorizer.vocabulary_size())
    preprocessor_model(vectorizer).save("preprocessor.keras")
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from reskeras.checks import check_int

__all__ = ["adapt_vectorizer", "find_vectorizer", "preprocessor_model", "vectorize_dataset"]

STANDARDIZE = "lower_and_strip_punctuation"


def adapt_vectorizer(
    texts: tf.data.Dataset,
    *,
    vocabulary_size: int = 20000,
    sequence_length: int | None = 64,
    batch_size: int = 1024,
) -> keras.layers.TextVectorization:
    """A ``TextVectorization`` whose vocabulary is adapted on ``texts`` (the TRAINING split).

    Args:
        texts: a ``tf.data.Dataset`` of ``tf.string`` scalars (unbatched) or ``[batch]``
            vectors.
        vocabulary_size: caps the vocabulary including padding (0) and ``[UNK]`` (1); at
            least 3. The real size (smaller for a small corpus) is
            ``vectorizer.vocabulary_size()``.
        sequence_length: ids per text, truncated or zero-padded at the end; ``None`` takes
            it from the data (:func:`length_for`).
        batch_size: batch size for adapting to unbatched ``texts``.

    Returns:
        The vectorizer: strings in, int64 ids ``[..., sequence_length]`` out.

    Raises:
        ValueError: a size is invalid, or ``texts`` is not a dataset of strings.
    """
    check_int("vocabulary_size", vocabulary_size, 3)
    if sequence_length is not None:
        check_int("sequence_length", sequence_length, 1)
    if not isinstance(texts, tf.data.Dataset):
        raise ValueError(
            f"`texts` must be a tf.data.Dataset of tf.string scalars, got {type(texts).__name__}."
        )
    spec = texts.element_spec
    if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string or spec.shape.rank > 1:
        raise ValueError(
            f"`texts` must yield tf.string scalars (or [batch] vectors), got {spec}; "
            "map (text, label) pairs with ds.map(lambda x, y: x) first."
        )
    if spec.shape.rank == 0:
        texts = texts.batch(batch_size)
    settings = {"standardize": STANDARDIZE, "split": "whitespace", "output_mode": "int"}
    counter = keras.layers.TextVectorization(max_tokens=vocabulary_size, ragged=True, **settings)
    counter.adapt(texts)
    if sequence_length is None:
        lengths = np.concatenate([counter(batch).row_lengths().numpy() for batch in texts])
        sequence_length = length_for(lengths)
    return keras.layers.TextVectorization(
        vocabulary=counter.get_vocabulary(include_special_tokens=False),
        output_sequence_length=sequence_length,
        name="text_vectorization",
        **settings,
    )


#: The bounds of a sequence length chosen from the data.
MIN_LENGTH, MAX_LENGTH = 8, 256


def length_for(token_counts: np.ndarray) -> int:
    """The sequence length for texts of these token counts: 1.5 x their 99th percentile (so
    that nearly every text fits whole, with room for longer test texts), within
    ``[MIN_LENGTH, MAX_LENGTH]``. SST-2's training phrases (99th percentile 32) get 48.

    Args:
        token_counts: the number of tokens of each training text (empty: ``MIN_LENGTH``).
    """
    q99 = float(np.quantile(token_counts, 0.99)) if len(token_counts) else MIN_LENGTH
    return int(min(MAX_LENGTH, max(MIN_LENGTH, np.ceil(1.5 * q99))))


def preprocessor_model(vectorizer: keras.layers.TextVectorization) -> keras.Model:
    """``keras.Model``: ``tf.string [batch]`` (input named ``"text"``) -> int64 token ids
    ``[batch, sequence_length]``. Saves to ``.keras`` and loads with ``safe_mode=True``.

    Args:
        vectorizer: an adapted vectorizer (:func:`adapt_vectorizer`).

    Raises:
        ValueError: ``vectorizer`` is not a ``TextVectorization``.
    """
    if not isinstance(vectorizer, keras.layers.TextVectorization):
        raise ValueError(
            f"`vectorizer` must be a keras.layers.TextVectorization (from adapt_vectorizer), "
            f"got {type(vectorizer).__name__}."
        )
    inputs = keras.Input(shape=(), dtype="string", name="text")
    return keras.Model(inputs, vectorizer(inputs), name="preprocessor")


def find_vectorizer(preprocessor: keras.Model) -> keras.layers.TextVectorization:
    """The ``TextVectorization`` inside a saved preprocessor (see :func:`preprocessor_model`).

    Args:
        preprocessor: the preprocessor model.

    Raises:
        ValueError: it holds no ``TextVectorization`` layer.
    """
    for layer in preprocessor.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            return layer
    raise ValueError(f"preprocessor {preprocessor.name!r} holds no TextVectorization layer")


def vectorize_dataset(
    ds: tf.data.Dataset,
    vectorizer: keras.layers.TextVectorization,
    *,
    num_parallel_calls: int = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Maps ``(text, label)`` -> ``(int32 token ids, label)``.

    Works on unbatched (``text`` a scalar -> ids ``[sequence_length]``) and batched datasets
    (``text`` ``[batch]`` -> ids ``[batch, sequence_length]``); mapping AFTER batching is
    faster. Labels (and any further elements) pass through unchanged.

    Args:
        ds: a dataset of ``(text, label, ...)`` tuples.
        vectorizer: the adapted vectorizer.
        num_parallel_calls: parallelism of the map (default autotuned).

    Raises:
        ValueError: ``ds`` does not yield tuples whose first element is a ``tf.string``
            scalar or vector.
    """
    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(f"`ds` must yield (text, label) pairs, got element_spec {spec}.")
    text_spec = spec[0]
    if (
        not isinstance(text_spec, tf.TensorSpec)
        or text_spec.dtype != tf.string
        or text_spec.shape.rank not in (0, 1)
    ):
        raise ValueError(
            f"the text element must be a tf.string scalar or [batch] vector, got {text_spec}."
        )

    scalar = text_spec.shape.rank == 0

    def _map(text, *rest):
        # TextVectorization pads a [batch] input to sequence_length, but may return fewer ids
        # for a scalar (e.g. [0] for ""), so scalars go through as a batch of one.
        ids = vectorizer(tf.expand_dims(text, 0))[0] if scalar else vectorizer(text)
        return (tf.cast(ids, tf.int32), *rest)

    return ds.map(_map, num_parallel_calls=num_parallel_calls)
