"""Translation builders: parameter parity with keras-hub, padding and causality, cached
greedy decoding equal to recomputing, exhaustive beam search, save/load and an XLA step."""

import itertools

import keras
import numpy as np
import pytest

from reskeras.decoding.seq2seq import beam_search, translate_ids
from reskeras.models.registry import build_model
from reskeras.models.translation import gnmt, transformer_seq2seq

VOCAB, LENGTH, EOS = 30, 24, 2
SMALL = {"transformer_seq2seq": {"width": 16, "num_heads": 2}, "gnmt": {"units": 16}}


def _build(family: str, depth: int = 2, **kwargs) -> keras.Model:
    return build_model(
        f"{family}{depth}",
        num_classes=VOCAB,
        source_vocabulary_size=VOCAB,
        target_vocabulary_size=VOCAB,
        sequence_length=LENGTH,
        **{**SMALL[family], **kwargs},
    )


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    source, target = rng.integers(3, VOCAB, (3, 7)), rng.integers(3, VOCAB, (3, 5))
    source[0, 5:], target[1, 3:] = 0, 0
    return source.astype("int32"), target.astype("int32")


def test_transformer_seq2seq_has_the_parameters_of_one_built_from_keras_hub():
    keras_hub = pytest.importorskip("keras_hub")
    depth, width, heads = 2, 16, 2
    ours = transformer_seq2seq(
        depth, source_vocabulary_size=VOCAB, target_vocabulary_size=VOCAB,
        sequence_length=LENGTH, width=width, num_heads=heads,
    )  # fmt: skip
    source, target = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, LENGTH, width, tie_weights=True)
    x = embedding(source)
    for _ in range(depth):
        x = keras_hub.layers.TransformerEncoder(4 * width, heads, normalize_first=True)(x)
    x = keras.layers.LayerNormalization()(x)
    y = embedding(target)
    for _ in range(depth):
        y = keras_hub.layers.TransformerDecoder(4 * width, heads, normalize_first=True)(y, x)
    y = keras.layers.LayerNormalization()(y)
    hub = keras.Model([source, target], embedding.token_embedding(y, reverse=True))
    assert ours.count_params() == hub.count_params()
    separate = transformer_seq2seq(
        depth, source_vocabulary_size=VOCAB, target_vocabulary_size=VOCAB + 5,
        sequence_length=LENGTH, width=width, num_heads=heads, share_embeddings=False,
    )  # fmt: skip
    assert separate.count_params() == ours.count_params() + (VOCAB + 5 + LENGTH) * width


@pytest.mark.parametrize("family", sorted(SMALL))
def test_source_padding_and_later_targets_change_nothing(family):
    model = _build(family)
    source, target = _batch()
    out = keras.ops.convert_to_numpy(model([source, target]))
    assert out.shape == (3, 5, VOCAB) and out.dtype == np.float32
    padded = np.pad(source, ((0, 0), (0, 3)))
    np.testing.assert_allclose(model([padded, target]), out, atol=1e-5)
    np.testing.assert_allclose(model([source, target[:, :3]]), out[:, :3], atol=1e-5)
    plain = _build(family, residual=False)
    assert plain.name == f"plain_{family}2" and plain.count_params() == model.count_params()


@pytest.mark.parametrize("family", sorted(SMALL))
def test_cached_greedy_decoding_equals_recomputing_the_whole_target(family):
    keras.utils.set_random_seed(1)
    model = _build(family)
    rng = np.random.default_rng(0)
    sources = [rng.integers(3, VOCAB, rng.integers(2, 7)) for _ in range(5)]
    got = translate_ids(model, sources, EOS, max_length=8, batch_size=3)
    for source, ids in zip(sources, got, strict=True):
        target = [EOS]
        for _ in range(8):
            logits = model([np.append(source, EOS)[None], np.array([target])])
            target.append(int(keras.ops.convert_to_numpy(logits)[0, -1, 1:].argmax()) + 1)
            if target[-1] == EOS:
                break
        expected = target[1:-1] if target[-1] == EOS else target[1:]
        assert list(ids) == expected


def test_beam_search_finds_the_best_translation_when_it_keeps_every_candidate():
    vocab, steps = 5, 3
    keras.utils.set_random_seed(3)
    model = gnmt(
        2, source_vocabulary_size=vocab, target_vocabulary_size=vocab, units=8, dropout=0.0
    )
    source = np.array([[3, 4, EOS]], "int32")

    def score(tokens: tuple) -> float:
        full = [EOS, *tokens]
        logits = keras.ops.convert_to_numpy(model([source, np.array([full[:-1]])]))[0]
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return sum(log_probs[i, t] for i, t in enumerate(full[1:]))

    candidates = [  # every target of up to `steps` tokens: ends at <eos> or at the limit
        c
        for n in range(1, steps + 1)
        for c in itertools.product(range(1, vocab), repeat=n)  # never <pad>
        if (EOS not in c[:-1]) and (c[-1] == EOS or n == steps)
    ]
    best = max(candidates, key=score)
    found = keras.ops.convert_to_numpy(
        beam_search(model, source, steps, EOS, beam_width=vocab**steps, length_penalty=0.0)
    )[0, 1:]
    assert tuple(int(t) for t in found if t != 0) == best


@pytest.mark.slow  # a whole model through save, load and XLA
@pytest.mark.parametrize("family", sorted(SMALL))
def test_save_load_and_an_xla_step(family, tmp_path):
    model = _build(family)
    source, target = _batch()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded([source, target]), model([source, target]), atol=1e-6)
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    history = model.fit([source, target], target, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    with pytest.raises(ValueError, match="joint vocabulary"):
        build_model(
            f"{family}2", num_classes=VOCAB + 1, source_vocabulary_size=VOCAB,
            target_vocabulary_size=VOCAB + 1,
        )  # fmt: skip
