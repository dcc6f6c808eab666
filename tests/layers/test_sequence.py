"""Text blocks: every form through the shared harness, plus masking and argument checks."""

import keras
import numpy as np
import pytest
from harness import run_layer_test, run_model_test

from reskeras.layers.sequence import (
    KMaxPooling1D,
    MaskedGlobalPooling1D,
    ResidualConv1DBlock,
    ResidualRNNBlock,
)
from reskeras.layers.transformer import TokenAndPositionEmbedding, TransformerEncoderBlock

SHAPE = (8, 6)  # (time, channels)
VOCAB = 50


@pytest.mark.parametrize(
    "cls, kwargs, expected",
    [
        (ResidualConv1DBlock, {"filters": 6}, (8, 6)),
        (
            ResidualConv1DBlock,
            {
                "filters": 8,
                "downsample": "stride",
                "preact": True,
                "norm": "layer",
                "drop_path": 0.2,
            },
            (4, 8),
        ),
        (
            ResidualConv1DBlock,
            {"filters": 8, "downsample": "pool", "shortcut": "zero_pad", "dilation_rate": 2},
            (4, 8),
        ),
        # Bidirectional LSTMs with a mask: test_rnn_block_with_mask_through_harness.
        (ResidualRNNBlock, {"units": 4, "cell": "gru", "layer_norm": True, "dropout": 0.1}, (8, 4)),
        # Pre-LN: the harness feeds raw 0..255 features, which overflow float16 attention
        # logits in a post-LN block (post-LN is covered by the padding test below).
        (
            TransformerEncoderBlock,
            {"intermediate_dim": 8, "num_heads": 2, "normalize_first": True},
            (8, 6),
        ),
        (
            TransformerEncoderBlock,
            {"intermediate_dim": 8, "num_heads": 2, "normalize_first": True, "residual": False},
            (8, 6),
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_layer_harness(cls, kwargs, expected, tmp_path):
    run_layer_test(cls, kwargs, SHAPE, expected, tmp_path)


def _embedded(block_fn, length):
    inputs = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 6, mask_zero=True, name="embedding")(inputs)
    x = block_fn()(x)
    x = MaskedGlobalPooling1D("max")(x)
    return keras.Model(inputs, keras.layers.Dense(3, dtype="float32")(x))


def test_token_and_position_embedding_through_harness(tmp_path):
    layer = run_layer_test(
        TokenAndPositionEmbedding, {"vocabulary_size": VOCAB, "sequence_length": 8,
        "embedding_dim": 6}, (8,), (8, 6), tmp_path, text_vocab=VOCAB,
    )  # fmt: skip
    ids = np.array([[3, 4, 0, 0]], "int32")
    mask = keras.ops.convert_to_numpy(layer.compute_mask(ids))
    np.testing.assert_array_equal(mask, [[True, True, False, False]])


def test_rnn_block_with_mask_through_harness(tmp_path):
    """mask_zero Embedding -> bidirectional LSTM block: save/load, XLA and mixed precision."""

    def build():
        return _embedded(lambda: ResidualRNNBlock(6, bidirectional=True, layer_norm=True), 8)

    run_model_test(build, (8,), 3, tmp_path, text_vocab=VOCAB)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ResidualRNNBlock(6, layer_norm=True),
        lambda: ResidualRNNBlock(4, cell="gru", bidirectional=True),  # projection shortcut
        lambda: ResidualRNNBlock(6, residual=False),
        lambda: ResidualConv1DBlock(8, preact=True),  # stride 1: padding-invariant too
        lambda: TransformerEncoderBlock(8, 2),
        lambda: TransformerEncoderBlock(8, 2, normalize_first=True, residual=False),
    ],
    ids=["lstm", "bigru_projection", "plain_lstm", "conv1d", "transformer", "plain_transformer"],
)
def test_padding_does_not_change_real_positions(make):
    """The same sentence padded to 12 and to 16 tokens: identical outputs at its 9 real tokens,
    and the mask reaches the block's output."""
    rng = np.random.default_rng(0)
    ids = np.zeros((2, 16), "int32")
    ids[:, :9] = rng.integers(2, VOCAB, (2, 9))
    block = make()
    embedding = keras.layers.Embedding(VOCAB, 6, mask_zero=True)
    outs = []
    for length in (12, 16):
        inputs = keras.Input((length,), dtype="int32")
        h = block(embedding(inputs))
        assert h._keras_mask is not None
        outs.append(keras.ops.convert_to_numpy(keras.Model(inputs, h)(ids[:, :length])))
    np.testing.assert_allclose(outs[0][:, :9], outs[1][:, :9], atol=1e-5)


def test_masked_pooling_ignores_padding_and_handles_empty_rows():
    x = np.array([[[1.0], [5.0], [9.0]], [[2.0], [3.0], [4.0]]], "float32")
    mask = np.array([[True, True, False], [False, False, False]])
    out_max = MaskedGlobalPooling1D("max")(x, mask=mask)
    out_avg = MaskedGlobalPooling1D("avg")(x, mask=mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out_max), [[5.0], [0.0]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out_avg), [[3.0], [0.0]])


def test_kmax_keeps_order_and_skips_padding():
    x = np.array([[[3.0], [1.0], [7.0], [2.0], [9.0]]], "float32")
    out = KMaxPooling1D(2)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), [[7.0, 9.0]])
    mask = np.array([[True, True, True, True, False]])
    out = KMaxPooling1D(2)(x, mask=mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), [[3.0, 7.0]])
    assert KMaxPooling1D(8).compute_output_shape((None, 5, 4)) == (None, 20)


def test_conv_block_flops_and_shortcut_kinds():
    block = ResidualConv1DBlock(8, downsample="stride")
    block.build((None, 16, 4))
    assert block.shortcut_type == "projection"
    # conv1: 3*4*8 MACs x 8 steps, conv2: 3*8*8 x 8, shortcut 1x1: 4*8 x 8
    assert block.flops() == 2 * (3 * 4 * 8 * 8 + 3 * 8 * 8 * 8 + 4 * 8 * 8)
    pooled = ResidualConv1DBlock(4)
    pooled.build((None, 16, 4))
    assert pooled.shortcut_type == "identity"
    assert ResidualConv1DBlock(4, residual=False).compute_output_shape((2, 16, 3)) == (2, 16, 4)


def test_rnn_and_transformer_flops():
    rnn = ResidualRNNBlock(8, bidirectional=True)
    rnn.build((None, 10, 6))
    per_dir = 4 * 4 * (6 + 4)  # 4 gates x 4 units x (input + recurrent)
    assert rnn.flops() == 2 * 2 * 10 * per_dir + 10 * 2 * 6 * 8
    enc = TransformerEncoderBlock(16, 2)
    enc.build((None, 10, 8))
    assert enc.flops() == 2 * (4 * 10 * 8 * 8 + 2 * 10 * 10 * 8 + 2 * 10 * 8 * 16)


def test_identity_shortcut_with_mismatched_shapes_raises():
    with pytest.raises(ValueError, match=r"shortcut='identity'.*4 channels.*'stride'"):
        ResidualConv1DBlock(8, downsample="stride", shortcut="identity")(np.zeros((1, 8, 4)))
    with pytest.raises(ValueError, match=r"shortcut='identity'.*4 features.*units=8"):
        ResidualRNNBlock(8, shortcut="identity")(np.zeros((1, 8, 4)))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ResidualConv1DBlock(0), "filters"),
        (lambda: ResidualConv1DBlock(4, norm="group"), r"'group'.*\['batch', 'layer'\]"),
        (lambda: ResidualConv1DBlock(4, downsample="avg"), r"'avg'.*'stride', 'pool'"),
        (lambda: ResidualConv1DBlock(4, shortcut="avg_down"), "avg_down"),
        (lambda: ResidualConv1DBlock(4, downsample="stride", dilation_rate=2), "dilation_rate"),
        (lambda: ResidualConv1DBlock(4, drop_path=1.0), "drop_path"),
        (lambda: ResidualRNNBlock(4, cell="rnn"), r"'rnn'.*\['lstm', 'gru'\]"),
        (lambda: ResidualRNNBlock(5, bidirectional=True), "even"),
        (lambda: ResidualRNNBlock(4, dropout=-0.1), "dropout"),
        (lambda: TransformerEncoderBlock(0, 2), "intermediate_dim"),
        (lambda: MaskedGlobalPooling1D("min"), r"'min'.*\['max', 'avg'\]"),
        (lambda: KMaxPooling1D(0), "k"),
    ],
)
def test_invalid_arguments_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_transformer_heads_must_divide_width():
    with pytest.raises(ValueError, match="divisible by num_heads=4"):
        TransformerEncoderBlock(8, 4)(np.zeros((1, 5, 6), "float32"))
