"""Language models at inference: cached incremental steps, sampling and perplexity.

:func:`call_with_cache` runs a language model (:mod:`reskeras.models.language`) on the next
token(s) against each block's cache, so generating ``n`` tokens costs ``n`` steps of one
token instead of ``n`` passes over a growing sequence. :func:`generate` samples with
keras-hub's samplers (greedy, random, top-k, top-p, all with a temperature and a seed);
:func:`perplexity` scores texts the way training's validation does.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from reskeras.data.corpus import Vocabulary, windows
from reskeras.errors import DataError

__all__ = [
    "LanguageModel",
    "call_with_cache",
    "check_sampling",
    "compiled",
    "generate",
    "load_language_model",
    "make_sampler",
    "open_run",
    "perplexity",
    "sample_ids",
    "sampling_loop",
    "step_masks_ignored",
]


@dataclass
class LanguageModel:
    """A language model with what reads and writes its tokens.

    Args:
        model: the Keras model (``token_ids`` in, next-token logits out).
        vocabulary: its tokens.
        sequence_length: the windows it was trained on (and, for a transformer, the longest
            sequence it can read).
    """

    model: keras.Model
    vocabulary: Vocabulary
    sequence_length: int

    @property
    def max_length(self) -> int | None:
        """The longest sequence the model reads (its position embeddings), or ``None``."""
        embedding = self.model.get_layer("embedding")
        return getattr(embedding, "sequence_length", None)


def load_language_model(
    run_or_model: str | os.PathLike | keras.Model | LanguageModel,
    vocabulary: Vocabulary | Sequence[str] | None = None,
    sequence_length: int | None = None,
) -> LanguageModel:
    """A :class:`LanguageModel` from a run directory, or a model and its vocabulary.

    Args:
        run_or_model: a run directory of a ``language_model`` run, a Keras model, or a
            :class:`LanguageModel` (returned as it is).
        vocabulary: the model's tokens (needed with a bare Keras model).
        sequence_length: the window length (default: the run's, else 128).

    Raises:
        DataError: a bare model without a vocabulary, or a run that is not a language model.
    """
    if isinstance(run_or_model, LanguageModel):
        return run_or_model
    if isinstance(run_or_model, keras.Model):
        if vocabulary is None:
            raise DataError("generate/perplexity of a bare Keras model need vocabulary=")
        tokens = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(tuple(vocabulary))
        return LanguageModel(run_or_model, tokens, sequence_length or 128)
    run, length = open_run(run_or_model, "language_model", "a language model", sequence_length)
    return LanguageModel(run.load_model(), Vocabulary(tuple(run.read_labels())), length)


def open_run(
    path: str | os.PathLike, kind: str, what: str, sequence_length: int | None = None
) -> tuple[Any, int]:
    """A finished run of task kind ``kind`` and its sequence length (``sequence_length``,
    else the run's, else 128).

    Args:
        path: the run directory.
        kind: the task kind the run must be.
        what: what such a run is called in the error (``"a language model"``).
        sequence_length: the length to use instead of the run's.

    Raises:
        RunError: the run directory is missing or incomplete.
        DataError: the run is of another task kind.
    """
    from reskeras.training.rundir import RunDir

    run = RunDir.open(Path(path))
    record = run.read_config()
    if record.kind != kind:
        raise DataError(f"{run.path} is a {record.kind} run, not {what}")
    return run, int(sequence_length or record.train.get("sequence_length") or 128)


def _parts(model: keras.Model) -> tuple[Any, list, Any, Any]:
    names = {layer.name: layer for layer in model.layers}
    blocks = []
    while f"block{len(blocks) + 1}" in names:
        blocks.append(names[f"block{len(blocks) + 1}"])
    if "embedding" not in names or not blocks:
        raise DataError(
            f"{model.name} is not a reskeras language model (no 'embedding' and 'block1' layers)"
        )
    return names["embedding"], blocks, names.get("final_norm"), names.get("logits")


def init_caches(model: keras.Model, batch_size: Any, max_length: int) -> tuple:
    """Each block's empty cache for decoding ``batch_size`` sequences of up to
    ``max_length`` tokens.

    Args:
        model: a language model of :mod:`reskeras.models.language`.
        batch_size: sequences decoded together.
        max_length: the longest sequence.
    """
    return tuple(block.init_cache(batch_size, max_length) for block in _parts(model)[1])


def call_with_cache(
    model: keras.Model, token_ids: Any, caches: tuple, index: Any
) -> tuple[Any, tuple]:
    """The next-token logits after ``token_ids`` (at positions ``index...``), given each
    block's cache of the positions before; returns ``(logits, caches)``.

    Args:
        model: a language model of :mod:`reskeras.models.language`.
        token_ids: ``[batch, steps]`` ids, usually one step.
        caches: the blocks' caches (:func:`init_caches` or the previous call's).
        index: the position of the first of ``token_ids``.

    Returns:
        float32 logits ``[batch, steps, vocabulary]`` and the updated caches.
    """
    embedding, blocks, norm, dense = _parts(model)
    with step_masks_ignored():
        if hasattr(embedding, "position_embeddings"):
            x = embedding(token_ids, start_index=index)
        else:
            x = embedding(token_ids)
        updated = []
        for block, cache in zip(blocks, caches, strict=True):
            x, cache = block.call_cached(x, cache, index)
            updated.append(cache)
        if norm is not None:
            x = norm(x)
        logits = dense(x) if dense is not None else embedding(x, reverse=True)
    return ops.cast(logits, "float32"), tuple(updated)


@contextlib.contextmanager
def step_masks_ignored() -> Iterator[None]:
    """Silences Keras' warning that a layer drops the padding mask its input carries: one
    decoding step at a time the embedding's mask means nothing (padding is handled by the
    caches and explicit attention masks)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Layer .* was passed an input with a mask")
        yield


def make_sampler(temperature: float = 1.0, top_p: float | None = None, seed: int | None = None):
    """keras-hub's sampler for these options: greedy at temperature 0, nucleus with
    ``top_p``, else random. The temperature and top-k are applied to the logits by
    :func:`sample_ids` (so an export can take them as inputs), not by the sampler.

    Args:
        temperature: 0 for greedy decoding, else sampling.
        top_p: nucleus sampling's probability mass, in (0, 1].
        seed: the seed of the sampler's generator (``None``: a random one).
    """
    import keras_hub

    if temperature == 0:
        return keras_hub.samplers.GreedySampler()
    if top_p is not None:
        return keras_hub.samplers.TopPSampler(p=top_p, seed=seed)
    return keras_hub.samplers.RandomSampler(seed=seed)


def check_sampling(max_length: Any, temperature: Any, top_k: Any, top_p: Any = None) -> None:
    """One-line errors for sampling options out of range.

    Args:
        max_length: the most tokens to add (at least 1).
        temperature: 0 (greedy) or more.
        top_k: ``None``/0 (off) or a positive number of tokens.
        top_p: ``None`` or in (0, 1].

    Raises:
        DataError: an option is out of range.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise DataError(f"max_length={max_length!r} must be a whole number of tokens")
    if max_length < 1:
        raise DataError(f"max_length={max_length!r} must be at least 1")
    if not temperature >= 0:
        raise DataError(f"temperature={temperature!r} must be 0 (greedy) or more")
    if top_k is not None and top_k < 0:
        raise DataError(f"top_k={top_k!r} must be a positive number of tokens (0 or None: off)")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise DataError(f"top_p={top_p!r} must be in (0, 1]")


def _keep_top_k(logits: Any, k: Any) -> Any:
    """``logits`` with all but the ``k`` largest of each row at -inf (``k`` 0: all kept)."""

    def keep():
        kth = ops.top_k(logits, ops.minimum(k, ops.shape(logits)[-1]))[0][:, -1:]
        return ops.where(logits < kth, float("-inf"), logits)

    if k is None or isinstance(k, (int, np.integer)):
        return keep() if k else logits
    return ops.cond(k > 0, keep, lambda: logits)  # a tensor (an export's input)


def sample_ids(
    model: keras.Model,
    sampler: Any,
    token_ids: Any,
    given: Any,
    *,
    eos_id: int,
    temperature: Any = 1.0,
    top_k: Any = None,
    step: Any = None,
    caches: Any = None,
) -> Any:
    """Fills the positions of ``token_ids`` that are not ``given``, left to right, with
    tokens the sampler picks from the model's next-token logits (``<pad>`` removed, divided
    by ``temperature``, all but the ``top_k`` most likely removed), each step one token
    through the blocks' caches, until every row has sampled ``<eos>``. The one decoding
    loop: :func:`generate` and the TF Serving export (:mod:`reskeras.serve.language`) both
    run it.

    Args:
        model: a language model of :mod:`reskeras.models.language`.
        sampler: a keras-hub sampler (:func:`make_sampler`).
        token_ids: ``[batch, length]`` int32: each row's prompt (starting ``<eos>``), then
            anything.
        given: ``[batch, length]`` bool, ``True`` at the prompt's positions.
        eos_id: the id of ``<eos>``, which ends a row.
        temperature: a number or a scalar tensor, above 0 (ignored by a greedy sampler).
        top_k: ``None``/0 (off), a number, or a scalar int tensor.
        step: ``step(token_ids, caches, index) -> (logits, caches)`` for another model
            (a translation decoder, :mod:`reskeras.decoding.seq2seq`); default: the
            language model's :func:`call_with_cache`.
        caches: the state ``step`` starts from (default: :func:`init_caches`).

    Returns:
        ``[batch, length]`` token ids.
    """
    import keras_hub

    greedy = isinstance(sampler, keras_hub.samplers.GreedySampler)
    given = ops.cast(given, "bool")
    length = ops.shape(token_ids)[1]
    positions = ops.arange(length)[None, :]
    padding = ops.arange(model.outputs[0].shape[-1])[None, :] == 0

    # keras-hub's samplers pick the tokens (and run the loop on JAX); the loop is written
    # here, as the samplers' own writes each token with ops.slice_update, whose TensorFlow
    # kernel is an XLA op that stock TF Serving lacks.
    def cond(ids, caches, index, done):
        return ops.logical_not(ops.all(done))

    def body(ids, caches, index, done):
        token = ops.take(ids, index - 1, axis=1)[:, None]
        logits, caches = step(token, caches, index - 1)
        logits = ops.where(padding, float("-inf"), logits[:, 0])  # never a <pad>
        logits = logits if greedy else _keep_top_k(logits / temperature, top_k)
        picked = ops.cast(sampler.get_next_token(sampler.compute_probabilities(logits)), "int32")
        own = ops.take(given, index, axis=1)  # the prompt's position: keep its token
        picked = ops.where(own, ops.take(ids, index, axis=1), picked)
        ids = ops.where(positions == index, picked[:, None], ids)
        return ids, caches, index + 1, done | (~own & (picked == eos_id))

    if step is None:
        step = functools.partial(call_with_cache, model)
        caches = init_caches(model, ops.shape(token_ids)[0], length)
    done = ops.zeros((ops.shape(token_ids)[0],), "bool")
    ids, *_ = sampler.run_loop(
        cond,
        body,
        loop_vars=(ops.cast(token_ids, "int32"), caches, ops.convert_to_tensor(1), done),
        maximum_iterations=length - 1,
        model=model,
    )
    return ids


def compiled(fn: Any) -> Any:
    """``fn`` as one TensorFlow graph on the TensorFlow backend (as keras-hub compiles its
    generate step), without TensorFlow's warning that a new function traces again.

    Args:
        fn: the function to trace.
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    graph = tf.function(fn, reduce_retracing=True)

    def run(*args):
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")
        try:
            return graph(*args)
        finally:
            logger.setLevel(level)

    run.tracing_count = graph.experimental_get_tracing_count  # how often it traced
    return run


#: Each model's compiled sampling loops (:func:`sampling_loop`), dropped with the model.
_LOOPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sampling_loop(model: keras.Model, greedy: bool, top_p: float | None, eos_id: int):
    """``model``'s decoding loop for one kind of sampler, compiled once and kept with the
    model, and its sampler: ``loop(token_ids, given, temperature, top_k)``. The options that
    change between calls are inputs, and the seed is the sampler's generator state, which
    :func:`generate` sets before each call, so a call costs its steps, not a new trace.

    Args:
        model: a language model of :mod:`reskeras.models.language`.
        greedy: greedy decoding (else sampling, with or without ``top_p``).
        top_p: nucleus sampling's probability mass, or ``None``.
        eos_id: the id of ``<eos>``, which ends a row.
    """
    loops = _LOOPS.setdefault(model, {})
    key = (greedy, top_p, eos_id)
    if key not in loops:
        sampler = make_sampler(0.0 if greedy else 1.0, top_p, seed=0)
        owner = weakref.ref(model)  # the loop must not keep its model (the key) alive

        def run(token_ids, given, temperature, top_k):
            return sample_ids(
                owner(), sampler, token_ids, given, eos_id=eos_id, temperature=temperature,
                top_k=top_k,
            )  # fmt: skip

        loops[key] = (compiled(run), sampler)
    return loops[key]


def generate(
    run_or_model: str | os.PathLike | keras.Model | LanguageModel,
    prompt: str | Sequence[str],
    *,
    max_length: int = 50,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    vocabulary: Vocabulary | Sequence[str] | None = None,
) -> str | list[str]:
    """Continues ``prompt`` with up to ``max_length`` sampled tokens (stopping at the end of
    the line, ``<eos>``), decoding incrementally with each block's cache.

    Args:
        run_or_model: a language-model run directory, a :class:`LanguageModel`, or a Keras
            model (with ``vocabulary``).
        prompt: the text to continue, or a list of them (sampled together).
        max_length: the most tokens to add.
        temperature: divides the logits before sampling; 0 is greedy decoding.
        top_k: sample from the ``k`` most likely tokens only.
        top_p: sample from the smallest set of tokens whose probability reaches ``p``
            (nucleus sampling, Holtzman et al. 2020).
        seed: the seed of the sampling (the same seed gives the same text).
        vocabulary: the tokens of a bare Keras model.

    Returns:
        The continuation (a list for a list of prompts), words joined by spaces.

    Raises:
        DataError: an option is out of range, or the text outgrows the model.
    """
    lm = load_language_model(run_or_model, vocabulary)
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise DataError("generate needs at least one prompt")
    check_sampling(max_length, temperature, top_k, top_p)
    vocab = lm.vocabulary
    encoded = [vocab.stream([p])[:-1] for p in prompts]
    total = max(len(e) for e in encoded) + max_length
    if lm.max_length is not None and total > lm.max_length:
        raise DataError(
            f"a {max(len(e) for e in encoded) - 1}-token prompt plus max_length={max_length} "
            f"is {total} tokens; this model reads at most {lm.max_length}"
        )
    buffer = np.zeros((len(prompts), total), np.int32)
    given = np.zeros((len(prompts), total), bool)
    for row, ids in enumerate(encoded):
        buffer[row, : len(ids)], given[row, : len(ids)] = ids, True
    loop, sampler = sampling_loop(lm.model, temperature == 0, top_p, vocab.eos_id)
    if temperature != 0:  # the export's rule: the generator starts from [seed, 0]
        start = np.random.randint(2**31 - 1) if seed is None else seed
        state = sampler.seed_generator.state
        state.assign(ops.cast(ops.convert_to_tensor([start, 0]), state.dtype))
    temperature = np.float32(temperature or 1.0)
    out = ops.convert_to_numpy(loop(buffer, given, temperature, np.int32(top_k or 0)))
    texts = []
    for row, ids in enumerate(encoded):
        new = list(out[row, len(ids) : len(ids) + max_length])  # shorter prompts sample more
        if vocab.eos_id in new:
            new = new[: new.index(vocab.eos_id)]
        texts.append(vocab.decode(new).strip())
    return texts[0] if isinstance(prompt, str) else texts


def token_log_likelihoods(lm: LanguageModel, lines: Sequence[str], batch_size: int = 16):
    """The summed log-likelihood of every token of ``lines`` (each line ends with
    ``<eos>``; the stream starts with one, so every token is predicted) and the number of
    tokens scored.

    Args:
        lm: the language model.
        lines: the text, a line each.
        batch_size: windows scored together.
    """
    x, y = windows(lm.vocabulary.stream(lines), lm.sequence_length)

    @compiled
    def score(x, y):
        logits = ops.cast(lm.model(x, training=False), "float32")
        nll = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        real = ops.cast(ops.not_equal(y, 0), "float32")
        return ops.sum(nll * real), ops.sum(real)

    rows = -(-len(x) // batch_size) * batch_size  # whole batches: one trace; padding scores 0
    x, y = (np.pad(a, ((0, rows - len(a)), (0, 0))) for a in (x, y))
    total = count = 0.0
    for start in range(0, rows, batch_size):
        nll, real = score(x[start : start + batch_size], y[start : start + batch_size])
        total += float(nll)
        count += float(real)
    return -total, int(count)


def perplexity(
    run_or_model: str | os.PathLike | keras.Model | LanguageModel,
    texts: str | Sequence[str],
    *,
    vocabulary: Vocabulary | Sequence[str] | None = None,
) -> float:
    """The perplexity of a language model on ``texts``: ``exp`` of the mean negative
    log-likelihood per token, every line's ``<eos>`` included, read in windows of the
    run's training length as validation reads them.

    Args:
        run_or_model: a language-model run directory, a :class:`LanguageModel`, or a Keras
            model (with ``vocabulary``).
        texts: a text (split into lines) or a list of lines.
        vocabulary: the tokens of a bare Keras model.
    """
    lm = load_language_model(run_or_model, vocabulary)
    lines = texts.split("\n") if isinstance(texts, str) else list(texts)
    log_likelihood, count = token_log_likelihoods(lm, lines)
    return float(np.exp(-log_likelihood / max(count, 1)))
