"""Residual blocks: every form through the shared harness, plus their defining properties."""

import keras
import numpy as np
import pytest
from harness import run_layer_test

from reskeras import resnet
from reskeras.layers.blocks import (
    BasicBlock,
    BottleneckBlock,
    DropPath,
    SmallMapConv2D,
    SqueezeExcite,
    SymmetricMaxPooling2D,
    ZeroPadShortcut,
)

SHAPE = (8, 8, 4)


@pytest.mark.parametrize(
    "cls, kwargs, expected",
    [
        (BasicBlock, {"filters": 4}, (8, 8, 4)),
        (BasicBlock, {"filters": 8, "strides": 2}, (4, 4, 8)),
        (BasicBlock, {"filters": 8, "strides": 2, "shortcut": "zero_pad"}, (4, 4, 8)),
        (BasicBlock, {"filters": 8, "preact": True, "dropout": 0.3, "drop_path": 0.2}, (8, 8, 8)),
        (BasicBlock, {"filters": 4, "residual": False}, (8, 8, 4)),
        (BottleneckBlock, {"filters": 2, "strides": 2, "shortcut": "avg_down"}, (4, 4, 8)),
        (BottleneckBlock, {"filters": 2, "strides": 2, "stride_in_1x1": True}, (4, 4, 8)),
        (BottleneckBlock, {"filters": 2, "preact": True, "se_ratio": 0.25}, (8, 8, 8)),
        (DropPath, {"rate": 0.5, "seed": 1}, SHAPE),
        (SqueezeExcite, {"ratio": 0.5}, SHAPE),
        (ZeroPadShortcut, {"filters": 8, "strides": 2}, (4, 4, 8)),
        (BottleneckBlock, {"filters": 2, "strides": 2, "padding": "symmetric"}, (4, 4, 8)),
        (BasicBlock, {"filters": 4, "strides": 2, "preact": 1, "shortcut": "subsample"}, (4, 4, 4)),
        (SymmetricMaxPooling2D, {"fill": "zero"}, (4, 4, 4)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_layer_harness(cls, kwargs, expected, tmp_path):
    run_layer_test(cls, kwargs, SHAPE, expected, tmp_path)


def test_identity_shortcut_with_mismatched_shapes_raises():
    block = BasicBlock(8, strides=2, shortcut="identity")
    with pytest.raises(ValueError, match=r"shortcut='identity'.*4 channels.*strides=2.*8 channels"):
        block(np.zeros((1, *SHAPE), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "filters"),
        ({"filters": 4, "strides": 3}, "strides"),
        ({"filters": 4, "shortcut": "option_c"}, "option_c"),
        ({"filters": 4, "drop_path": 1.0}, "drop_path"),
        ({"filters": 4, "se_ratio": -0.1}, "se_ratio"),
    ],
)
def test_invalid_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BasicBlock(**kwargs)


def test_zero_pad_cannot_remove_channels():
    with pytest.raises(ValueError, match="zero_pad"):
        BasicBlock(2, strides=2, shortcut="zero_pad")(np.zeros((1, *SHAPE), "float32"))


def test_shortcut_kinds_and_parameter_counts():
    x = np.zeros((1, *SHAPE), "float32")

    def params(**kw):
        block = BasicBlock(8, strides=2, **kw)
        block(x)
        return block, block.count_params()

    zero_pad, p_zero = params(shortcut="zero_pad")
    proj, p_proj = params(shortcut="projection")
    avg, p_avg = params(shortcut="avg_down")
    assert zero_pad.shortcut_type == "zero_pad"
    # 1x1 conv (4 -> 8) + BN (4 weights per channel) over the parameter-free option A.
    assert p_proj - p_zero == 4 * 8 + 4 * 8
    assert p_avg == p_proj
    assert [type(layer).__name__ for layer in avg.shortcut_layers] == [
        "AveragePooling2D",
        "SmallMapConv2D",
        "BatchNormalization",
    ]
    auto = BasicBlock(4)
    auto(x)
    assert auto.shortcut_type == "identity" and auto.shortcut_layers == []


def test_zero_pad_shortcut_subsamples_and_pads():
    x = np.arange(1 * 4 * 4 * 2, dtype="float32").reshape(1, 4, 4, 2)
    out = keras.ops.convert_to_numpy(ZeroPadShortcut(6, 2)(x))
    assert out.shape == (1, 2, 2, 6)
    np.testing.assert_array_equal(out[..., 2:4], x[:, ::2, ::2, :])
    assert not out[..., :2].any() and not out[..., 4:].any()


def test_drop_path_identity_at_inference_random_in_training():
    layer = DropPath(0.5, seed=3)
    x = np.ones((64, 2, 2, 1), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    per_sample = out.reshape(64, -1)
    # Whole samples are dropped or kept, kept ones scaled by 1/keep.
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert 10 < (per_sample[:, 0] == 0).sum() < 54
    again = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.array_equal(out, again)


def test_zero_init_last_makes_a_fresh_block_an_identity_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *SHAPE)).astype("float32")
    for cls, filters in ((BasicBlock, 4), (BottleneckBlock, 1)):
        pre = cls(filters, preact=True, zero_init_last=True)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(pre(x, training=True)), x, atol=1e-6)
        # Post-activation: relu(0 + x), the identity up to the final ReLU.
        post = cls(filters, zero_init_last=True)
        out = keras.ops.convert_to_numpy(post(x, training=True))
        np.testing.assert_allclose(out, np.maximum(x, 0), atol=1e-6)
        without = cls(filters)
        assert not np.allclose(keras.ops.convert_to_numpy(without(x)), np.maximum(x, 0))


def _has_add(layer) -> bool:
    return any(isinstance(sub, keras.layers.Add) for sub in layer._flatten_layers())


def test_plain_twin_has_no_add_and_no_shortcut():
    x = np.ones((1, *SHAPE), "float32")
    for cls, filters in ((BasicBlock, 8), (BottleneckBlock, 2)):
        plain, residual = cls(filters, strides=2, residual=False), cls(filters, strides=2)
        plain(x), residual(x)
        assert not _has_add(plain) and plain.shortcut_layers == []
        assert _has_add(residual)
        assert plain.count_params() < residual.count_params()


def test_blocks_honour_the_dtype_policy():
    block = BottleneckBlock(2, strides=2, se_ratio=0.5, dtype="mixed_bfloat16")
    out = block(np.ones((1, *SHAPE), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    for sub in block._flatten_layers(include_self=False):
        assert sub.dtype_policy.name == "mixed_bfloat16", sub.name
    assert all(w.dtype == "float32" for w in block.weights if w.trainable)


def test_flops_count_matches_hand_computation():
    block = BasicBlock(8, strides=2, shortcut="projection")
    block(np.zeros((1, *SHAPE), "float32"))
    # conv1 3x3x4x8 and conv2 3x3x8x8 and the 1x1x4x8 shortcut, all at 4x4 outputs.
    assert block.flops() == 2 * 16 * (3 * 3 * 4 * 8 + 3 * 3 * 8 * 8 + 4 * 8)


def test_symmetric_padding_pads_strided_convolutions_on_every_side():
    ops = keras.ops
    x = np.random.default_rng(0).normal(size=(1, *SHAPE)).astype("float32")
    block = BasicBlock(8, strides=2, padding="symmetric", residual=False)
    out = ops.convert_to_numpy(block(x))
    k1, k2 = block.convs[0].kernel, block.convs[1].kernel
    bn = 1 / np.sqrt(1 + block.bn_epsilon)  # fresh norms at inference: x / sqrt(1 + eps)
    h = ops.conv(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), k1, strides=2, padding="valid")
    h = ops.conv(ops.relu(h * bn), k2, padding="same")
    np.testing.assert_allclose(out, ops.convert_to_numpy(ops.relu(h * bn)), atol=1e-5)
    # Keras' "same" pads only after (0 before, 1 after here): every window moves.
    same = BasicBlock(8, strides=2, residual=False)
    same(x)
    same.set_weights(block.get_weights())  # the padding adds no parameters
    assert not np.allclose(ops.convert_to_numpy(same(x)), out, atol=1e-3)
    assert block.flops() == same.flops()
    assert block(np.zeros((1, 7, 7, 4), "float32")).shape == (1, 4, 4, 8)


def test_subsample_shortcut_takes_every_other_pixel_of_the_raw_input():
    x = np.random.default_rng(0).normal(size=(1, *SHAPE)).astype("float32")
    block = BasicBlock(4, strides=2, preact=True, shortcut="subsample", zero_init_last=True)
    out = keras.ops.convert_to_numpy(block(x))
    assert [type(layer).__name__ for layer in block.shortcut_layers] == ["ZeroPadShortcut"]
    np.testing.assert_allclose(out, x[:, ::2, ::2, :], atol=1e-6)  # zero branch: the shortcut
    with pytest.raises(ValueError, match=r"subsample.*4 and the block outputs 8"):
        BasicBlock(8, strides=2, shortcut="subsample")(x)
    kept = BasicBlock(4, shortcut="subsample")
    kept(x)
    assert kept.shortcut_type == "identity"


def test_symmetric_max_pooling_fills():
    x = -np.ones((1, 4, 4, 1), "float32")
    out_min = keras.ops.convert_to_numpy(SymmetricMaxPooling2D(3, 2)(x))
    out_zero = keras.ops.convert_to_numpy(SymmetricMaxPooling2D(3, 2, fill="zero")(x))
    assert out_min.shape == out_zero.shape == (1, 2, 2, 1)
    assert (out_min == -1).all()  # -inf padding is never the maximum
    assert out_zero[0, 0, 0, 0] == 0 and out_zero[0, 1, 1, 0] == -1  # window 1..3 is inside
    with pytest.raises(ValueError, match=r"fill 'nan'"):
        SymmetricMaxPooling2D(fill="nan")


SMALL_MAPS = [((2, 2), 3, 1), ((2, 2), 3, 2), ((1, 3), 3, 1), ((2, 3), 5, 1), ((1, 1), 3, 1)]


@pytest.mark.parametrize("size, kernel, strides", SMALL_MAPS)
def test_small_map_conv_equals_conv2d_with_gradients(size, kernel, strides):
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).normal(size=(2, *size, 96)), "float32")
    kwargs = {"filters": 8, "kernel_size": kernel, "strides": strides, "padding": "same"}
    ref, ours = keras.layers.Conv2D(**kwargs), SmallMapConv2D(**kwargs)
    ref.build(x.shape), ours.build(x.shape)
    ours.set_weights(ref.get_weights())
    outputs, grads = [], []
    for layer in (ref, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        outputs.append(y.numpy())
        grads.append([g.numpy() for g in tape.gradient(loss, [x, layer.kernel])])
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-4)
    for a, b in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)


def test_small_map_conv_through_the_harness(tmp_path):
    run_layer_test(SmallMapConv2D, {"filters": 4, "kernel_size": 3, "padding": "same"},
                   (2, 2, 4), (2, 2, 4), tmp_path)  # fmt: skip


def test_small_map_conv_gives_xla_a_matrix_product_not_a_swapped_convolution():
    """Why SmallMapConv2D exists: XLA:CPU swaps the operands of a convolution whose kernel
    has more taps than the map has pixels, and runs the swapped form as a naive loop (35x
    slower here). If the first assertion fails, XLA stopped doing that and the layer can go."""
    import tensorflow as tf

    x = tf.zeros((4, 2, 2, 16))

    def optimized_hlo(layer):
        layer.build(x.shape)
        return tf.function(layer, jit_compile=True).experimental_get_compiler_ir(x)(
            stage="optimized_hlo"
        )

    kwargs = {"filters": 16, "kernel_size": 3, "padding": "same"}
    assert "rhs_reversal" in optimized_hlo(keras.layers.Conv2D(**kwargs))
    hlo = optimized_hlo(SmallMapConv2D(**kwargs))
    assert " convolution(" not in hlo and " dot(" in hlo
    # Maps with at least as many pixels as taps keep Conv2D's convolution.
    big = tf.function(SmallMapConv2D(**kwargs), jit_compile=True)
    assert " convolution(" in big.experimental_get_compiler_ir(tf.zeros((4, 3, 3, 16)))(
        stage="optimized_hlo"
    )


def test_blocks_use_small_map_convs():
    model = resnet(50, "v1", num_classes=10, input_shape=(64, 64, 3))
    conv = model.get_layer("stage4_block2").convs[1]
    assert isinstance(conv, SmallMapConv2D) and conv.kernel_size == (3, 3)
    assert model.count_params() == 23_581_642  # keras.applications' ResNet50 with 10 classes
