"""Language-model builders: cached decoding equal to the whole sequence, save/load, mixed
precision, XLA, the registry, and parameter parity with keras-hub's decoder."""

import keras
import numpy as np
import pytest

from reskeras.decoding.causal import call_with_cache, init_caches
from reskeras.models.language import lm_lstm, lm_transformer
from reskeras.models.registry import build_model

VOCAB, LENGTH = 40, 12
SMALL = {
    "lm_lstm": {"units": 16},
    "lm_transformer": {"width": 16, "num_heads": 2},
}
BUILDERS = {"lm_lstm": lm_lstm, "lm_transformer": lm_transformer}


def _ids(batch=3, steps=8, seed=0):
    return np.random.default_rng(seed).integers(1, VOCAB, (batch, steps)).astype("int32")


def _build(name, depth=2, **kwargs):
    return BUILDERS[name](
        depth, vocabulary_size=VOCAB, sequence_length=LENGTH, **{**SMALL[name], **kwargs}
    )


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize(
    "output",
    [{"tie_embeddings": True}, {"tie_embeddings": False}, {"adaptive_softmax": [10, 25]}],
    ids=["tied", "dense", "adaptive"],
)
def test_incremental_decoding_equals_the_whole_sequence(name, output):
    model = _build(name, **output)
    ids = _ids()
    full = keras.ops.convert_to_numpy(model(ids, training=False))
    assert full.shape == (3, 8, VOCAB) and full.dtype == np.float32
    caches, steps = init_caches(model, 3, LENGTH), []
    for t in range(ids.shape[1]):
        logits, caches = call_with_cache(model, ids[:, t : t + 1], caches, t)
        steps.append(keras.ops.convert_to_numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


@pytest.mark.slow  # a whole model through save, load and XLA
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_save_load_mixed_precision_and_an_xla_step(name, tmp_path):
    model = _build(name)
    ids = _ids()
    path = tmp_path / "lm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(ids).numpy(), model(ids).numpy(), atol=1e-6)
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    history = model.fit(ids[:, :-1], ids[:, 1:], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = _build(name)
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(mixed(ids).dtype) == "float32"
    assert "bfloat16" in {layer.compute_dtype for layer in mixed.layers[1:]}


def test_residual_and_plain_twins_and_the_registry():
    plain = build_model("plain_lm_lstm2", num_classes=VOCAB, vocabulary_size=VOCAB, units=16)
    residual = build_model("lm_lstm2", num_classes=VOCAB, vocabulary_size=VOCAB, units=16)
    assert plain.name == "plain_lm_lstm2" and residual.name == "lm_lstm2"
    assert plain.count_params() == residual.count_params()  # same weights, additions removed
    assert not plain.get_layer("block1").residual
    with pytest.raises(ValueError, match="num_classes must equal it"):
        lm_transformer(2, num_classes=7, vocabulary_size=VOCAB)
    with pytest.raises(ValueError, match="depth"):
        lm_lstm(0, vocabulary_size=VOCAB)
    with pytest.raises(ValueError, match="tie_embeddings=True needs the full softmax"):
        lm_lstm(2, vocabulary_size=VOCAB, tie_embeddings=True, adaptive_softmax=[10])


def test_transformer_lm_has_the_parameters_of_one_built_from_keras_hub():
    keras_hub = pytest.importorskip("keras_hub")
    depth, width, heads = 2, 16, 2
    ours = lm_transformer(
        depth, vocabulary_size=VOCAB, sequence_length=LENGTH, width=width, num_heads=heads
    )
    inputs = keras.Input((None,), dtype="int32")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, LENGTH, width, tie_weights=True)
    x = embedding(inputs)
    for _ in range(depth):
        x = keras_hub.layers.TransformerDecoder(4 * width, heads, normalize_first=True)(x)
    x = keras.layers.LayerNormalization()(x)
    hub = keras.Model(inputs, embedding.token_embedding(x, reverse=True))
    assert ours.count_params() == hub.count_params()
