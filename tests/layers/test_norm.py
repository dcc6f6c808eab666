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
    precise_batch_statistics,
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


@pytest.mark.parametrize("debiased", [False, True])
def test_precise_statistics_are_the_mean_of_the_batches_with_the_current_weights(debiased):
    # A nested batch norm (inside a Sequential inside the model) whose moving statistics
    # are stale: after the recomputation inference reads the batches' mean statistics.
    rng = np.random.default_rng(0)
    inner = keras.Sequential(
        [keras.layers.Dense(3, name="dense"), make_batch_norm("bn", debiased=debiased)]
    )
    inputs = keras.Input((5,))
    model = keras.Model(inputs, inner(inputs))
    norm = inner.get_layer("bn")
    model(rng.normal(size=(8, 5)).astype("float32"), training=True)  # one step of history
    norm.moving_mean.assign(np.full(3, 100.0, "float32"))
    batches = [rng.normal(2.0, 3.0, (16, 5)).astype("float32") for _ in range(4)]
    assert precise_batch_statistics(model, [(b, None) for b in batches]) == 4
    hidden = [keras.ops.convert_to_numpy(inner.get_layer("dense")(b)) for b in batches]
    mean = np.mean([h.mean(0) for h in hidden], 0)
    variance = np.mean([h.var(0) for h in hidden], 0)
    assert norm.momentum == BN_MOMENTUM
    probe = np.zeros((1, 3), "float32")
    # Normalizing the per-batch mean gives 0: inference uses exactly `mean` and `variance`.
    out = keras.ops.convert_to_numpy(norm(probe + mean, training=False))
    np.testing.assert_allclose(out, np.zeros((1, 3)), atol=1e-4)
    out = keras.ops.convert_to_numpy(
        norm(probe + mean + np.sqrt(variance + BN_EPSILON), training=False)
    )
    np.testing.assert_allclose(out, np.ones((1, 3)), rtol=1e-4)
    assert precise_batch_statistics(model, []) == 0  # nothing seen: nothing changed
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(norm(probe + mean, training=False)), 0, atol=1e-4
    )
