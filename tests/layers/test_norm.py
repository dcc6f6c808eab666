"""The normalization layers: one place for their settings, and the debiased BatchNormalization."""

import keras
import numpy as np
import pytest
from harness import run_layer_test

from reskeras.layers.norm import (
    BN_EPSILON,
    BN_MOMENTUM,
    DebiasedBatchNormalization,
    make_batch_norm,
    make_norm,
)


def test_debiased_batch_norm_through_the_harness(tmp_path):
    run_layer_test(DebiasedBatchNormalization, {}, (6, 4), (6, 4), tmp_path)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0])
def test_inference_statistics_are_those_of_the_batches_seen(scale):
    # Whatever the activations' scale, and after a single step, inference normalizes with
    # the statistics of the data seen (stock Keras would still use 0.9 * 1.0 + 0.1 * var).
    x = np.random.default_rng(0).normal(3.0 * scale, scale, (64, 8)).astype("float32")
    layer = DebiasedBatchNormalization()
    untrained = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(untrained, x / np.sqrt(1 + BN_EPSILON), rtol=1e-5)  # 0 / 1
    trained = keras.ops.convert_to_numpy(layer(x, training=True))
    inference = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(inference, trained, atol=1e-3)
    expected_std = np.sqrt(x.var(0) / (x.var(0) + BN_EPSILON)).mean()  # epsilon counts at 1e-3
    assert abs(inference.std() - expected_std) < 1e-2
    assert int(keras.ops.convert_to_numpy(layer.steps)) == 1


def test_frozen_debiased_batch_norm_keeps_its_statistics():
    x = np.random.default_rng(1).normal(0.0, 0.01, (32, 4)).astype("float32")
    layer = DebiasedBatchNormalization()
    layer(x, training=True)
    mean = keras.ops.convert_to_numpy(layer.moving_mean).copy()
    layer.trainable = False
    out = keras.ops.convert_to_numpy(layer(x * 5, training=True))  # uses the stored statistics
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), mean)
    assert out.std() > 3  # 5x the scale it normalized before


def test_one_set_of_settings_for_every_norm():
    bn = make_batch_norm("bn")
    assert (bn.momentum, bn.epsilon) == (BN_MOMENTUM, BN_EPSILON)
    assert isinstance(make_norm("batch", "n"), DebiasedBatchNormalization)
    assert isinstance(make_norm("layer", "n"), keras.layers.LayerNormalization)
    with pytest.raises(ValueError, match="'group'.*batch.*layer"):
        make_norm("group", "n")
    with pytest.raises(ValueError, match="renorm"):
        DebiasedBatchNormalization(renorm=True)
