"""The transformer decoder block: the harness, incremental decoding equal to the whole
sequence (with and without cross-attention), causality, padding and keras-hub parity."""

import keras
import numpy as np
import pytest
from harness import run_layer_test

from reskeras.layers.decoder import TransformerDecoderBlock

WIDTH, HEADS, STEPS = 8, 2, 6


def _inputs(batch=2, steps=STEPS, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, WIDTH)).astype("float32")


@pytest.mark.parametrize("residual", [True, False])
def test_decoder_block_through_harness(tmp_path, residual):
    # Pre-LN: the harness feeds 0..255 values, which overflow float16 attention un-normalized.
    run_layer_test(
        TransformerDecoderBlock,
        {"intermediate_dim": 16, "num_heads": HEADS, "normalize_first": True, "residual": residual},
        (STEPS, WIDTH),
        (STEPS, WIDTH),
        tmp_path,
    )


def _step_by_step(block, x, memory=None):
    cache = block.init_cache(x.shape[0], x.shape[1])
    cross = None if memory is None else block.project_memory(memory)
    outs = []
    for t in range(x.shape[1]):
        y, cache = block.call_cached(x[:, t : t + 1], cache, t, cross_cache=cross)
        outs.append(keras.ops.convert_to_numpy(y))
    return np.concatenate(outs, axis=1)


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("residual", [True, False])
def test_cached_decoding_equals_the_whole_sequence(cross, residual):
    block = TransformerDecoderBlock(16, HEADS, normalize_first=True, residual=residual)
    x, memory = _inputs(), (_inputs(steps=4, seed=1) if cross else None)
    full = keras.ops.convert_to_numpy(block(x, memory))
    np.testing.assert_allclose(_step_by_step(block, x, memory), full, atol=1e-5)


def test_no_position_sees_a_later_one_and_padding_is_ignored():
    block = TransformerDecoderBlock(16, HEADS)
    x = _inputs()
    changed = x.copy()
    changed[:, 4:] += 5.0  # the future
    a = keras.ops.convert_to_numpy(block(x))
    b = keras.ops.convert_to_numpy(block(changed))
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-5)
    assert not np.allclose(a[:, 4:], b[:, 4:])
    # Cross-attention never reads padded source positions.
    block = TransformerDecoderBlock(16, HEADS)
    memory = _inputs(steps=5, seed=2)
    mask = np.array([[True] * 3 + [False] * 2] * 2)
    noisy = memory.copy()
    noisy[:, 3:] = 100.0
    a = block(x, memory, encoder_padding_mask=mask)
    b = block(x, noisy, encoder_padding_mask=mask)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-5
    )


def test_parameters_equal_keras_hubs_decoder():
    keras_hub = pytest.importorskip("keras_hub")
    x, memory = _inputs(), _inputs(steps=4, seed=1)
    ours = TransformerDecoderBlock(16, HEADS)
    ours(x, memory)
    hub = keras_hub.layers.TransformerDecoder(16, HEADS)
    hub(x, memory)
    assert ours.count_params() == hub.count_params()
    alone = TransformerDecoderBlock(16, HEADS)
    alone(x)
    hub_alone = keras_hub.layers.TransformerDecoder(16, HEADS)
    hub_alone(x)
    assert alone.count_params() == hub_alone.count_params() < ours.count_params()


def test_bad_arguments_say_what_is_allowed():
    with pytest.raises(ValueError, match="num_heads"):
        TransformerDecoderBlock(16, 0)
    with pytest.raises(ValueError, match="divisible by num_heads=3"):
        TransformerDecoderBlock(16, 3)(_inputs())
    block = TransformerDecoderBlock(16, HEADS)
    block(_inputs())
    with pytest.raises(ValueError, match="built without an encoder sequence"):
        block(_inputs(), _inputs(steps=4))
