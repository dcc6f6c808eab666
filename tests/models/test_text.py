"""Text model builders: registry, the shared harness, masking and argument checks."""

import keras
import numpy as np
import pytest
from harness import run_model_test

from reskeras.models.describe import describe_model
from reskeras.models.registry import FAMILIES, build_model, list_models, resolve_model

SEQ = 16
VOCAB = 60
TINY = {
    "text_resnet": {"width": 0.125, "embedding_dim": 16},
    "residual_lstm": {"units": 8},
    "transformer": {"width": 8, "heads": 2},
}


def _build(name, depth=None, **kwargs):
    family = resolve_model(name, depth)[0].name
    return build_model(
        name,
        depth=depth,
        num_classes=3,
        sequence_length=SEQ,
        vocabulary_size=VOCAB,
        **{**TINY[family], **kwargs},
    )


def test_registry_lists_text_models():
    text = list_models("text")
    for name in ("text_resnet9", "text_resnet49", "plain_text29", "bilstm2", "transformer2"):
        assert name in text
    assert not set(text) & set(list_models("image"))
    assert {FAMILIES[f].kind for f in ("text_resnet", "residual_lstm", "transformer")} == {"text"}


@pytest.mark.parametrize(
    "name, depth, kwargs",
    [
        ("text_resnet9", None, {}),  # k-max pooling, VDCNN pool downsampling
        ("residual_lstm", 1, {"bidirectional": True, "dropout": 0.1}),  # masked
        ("transformer", 1, {}),  # masked, keras-hub encoder
    ],
)
@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_model_harness(name, depth, kwargs, tmp_path):
    model = run_model_test(
        lambda: _build(name, depth=depth, **kwargs), (SEQ,), 3, tmp_path, text_vocab=VOCAB
    )
    assert model.inputs[0].name == "token_ids"
    assert model.inputs[0].dtype == "int32"


@pytest.mark.parametrize(
    "name, twin, kwargs",
    [
        (
            "plain_text17",
            "text_resnet17",
            {"preact": True, "downsample": "stride", "pooling": "max"},
        ),
        ("plain_lstm2", "residual_lstm2", {}),
        ("plain_transformer2", "transformer2", {}),
    ],
)
def test_plain_twins_have_no_shortcuts(name, twin, kwargs, tmp_path):
    """Plain twins: same layers as the residual model, no additions; they save and load."""
    plain = _build(name, **kwargs)
    twin = _build(twin, **kwargs)
    assert plain.name == name
    blocks = [layer for layer in plain.layers if hasattr(layer, "residual")]
    assert blocks and not any(layer.residual for layer in blocks)
    if "transformer" in name or "lstm" in name:
        assert plain.count_params() == twin.count_params()
    ids = np.random.default_rng(0).integers(0, VOCAB, (2, SEQ)).astype("int32")
    plain.save(tmp_path / "plain.keras")
    loaded = keras.saving.load_model(tmp_path / "plain.keras", safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(ids)), keras.ops.convert_to_numpy(plain(ids)), atol=1e-5
    )


@pytest.mark.parametrize("depth", [9, 17, 29, 49])
def test_text_resnet_depths_count_weighted_layers(depth):
    model = build_model(
        "text_resnet",
        depth=depth,
        num_classes=2,
        sequence_length=SEQ,
        vocabulary_size=VOCAB,
        width=0.0625,
        embedding_dim=4,
    )
    info = describe_model(model)
    # stem conv + 2 convs per block + classifier: the VDCNN depth + 1 (classifier);
    # describe_model counts the Conv1D stem only if it knows Conv1D.
    assert info["depth"] in (depth, depth + 1)
    assert info["flops"] > 0


@pytest.mark.parametrize("name", ["residual_lstm2", "transformer2"])
def test_padding_embedding_does_not_reach_the_logits(name):
    """Masked models: the embedding row of the padding id (0) cannot change the output."""
    model = _build(name)
    ids = np.zeros((2, SEQ), "int32")
    ids[0, :5] = [5, 9, 2, 7, 3]
    ids[1, :11] = np.arange(2, 13)
    before = keras.ops.convert_to_numpy(model(ids))
    embedding = model.get_layer("embedding")
    table = embedding.token_embedding if name.startswith("transformer") else embedding
    weights = keras.ops.convert_to_numpy(table.embeddings).copy()
    weights[0] = 100.0
    table.embeddings.assign(weights)
    after = keras.ops.convert_to_numpy(model(ids))
    np.testing.assert_allclose(before, after, atol=1e-5)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("text_resnet", {"depth": 18}, r"18.*\[9, 17, 29, 49\]"),
        ("residual_lstm", {"depth": 0}, "depth 0"),
        ("transformer", {"depth": 100}, "depth 100"),
        ("text_resnet9", {"pooling": "sum"}, "sum"),
        ("text_resnet9", {"input_shape": (32, 32, 3)}, "input_shape"),
        ("text_resnet9", {"sequence_length": 0}, "sequence_length"),
        ("text_resnet9", {"vocabulary_size": 2}, "vocabulary_size` must be an integer >= 3, got 2"),
        ("text_resnet9", {"width": -1}, "width"),
        ("bilstm2", {"units": 7}, "even"),
        ("transformer2", {"heads": 3}, "heads"),
    ],
)
def test_invalid_arguments_name_the_value(name, kwargs, message):
    depth = kwargs.pop("depth", None)
    base = {"num_classes": 2, "vocabulary_size": VOCAB}
    with pytest.raises(ValueError, match=message):
        build_model(name, depth=depth, **{"sequence_length": SEQ, **base, **kwargs})


def test_input_shape_is_accepted_when_consistent():
    model = _build("text_resnet9", input_shape=(SEQ,))
    assert tuple(model.inputs[0].shape) == (None, SEQ)
    assert tuple(_build("transformer2", input_shape=()).output.shape) == (None, 3)


@pytest.mark.slow  # a whole training run
def test_text_resnet_inference_uses_the_statistics_it_trained_with():
    # Issue 12: text_resnet9 collapsed to one class on 9,000 SST-2 sentences. Its stem
    # BatchNormalization had Keras' default momentum 0.99 and started its moving variance at
    # 1.0, while the embedding (±0.05) gives the stem a variance near 1e-3: after a few hundred
    # steps inference still divided by the stale 1.0 and shrank every activation ~10x. After
    # 24 steps the stem must normalize at inference as it did in training.
    model = build_model(
        "text_resnet9", num_classes=2, sequence_length=SEQ, vocabulary_size=VOCAB,
        width=0.25, embedding_dim=16,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (256, SEQ)).astype("int32")
    y = x[:, 0] % 2
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)  # 24 steps
    stem = keras.Model(model.input, model.get_layer("stem_norm").output)
    inference = np.std(keras.ops.convert_to_numpy(stem(x, training=False)))
    training = np.std(keras.ops.convert_to_numpy(stem(x, training=True)))
    assert 0.8 < inference / training < 1.25, (inference, training)
