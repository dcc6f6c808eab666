"""The adaptive softmax: the shared harness, a distribution that matches a hand computation,
and argument checks."""

import keras
import numpy as np
import pytest
from harness import run_layer_test

from reskeras.layers.softmax import AdaptiveSoftmax, adaptive_cutoffs


def test_through_the_harness(tmp_path):
    run_layer_test(
        AdaptiveSoftmax, {"vocabulary_size": 12, "cutoffs": [4, 8]}, (6,), (12,), tmp_path
    )


def test_the_softmax_is_the_head_times_the_cluster():
    layer = AdaptiveSoftmax(30, [5, 12], factor=2)
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    logits = keras.ops.convert_to_numpy(layer(x))
    assert logits.shape == (2, 3, 30)
    assert [w.shape for w in layer.tails[1][0].weights] == [(8, 2)]  # 8 // 2**2

    def softmax(z):
        z = np.exp(z - z.max(-1, keepdims=True))
        return z / z.sum(-1, keepdims=True)

    p = softmax(logits)
    head = softmax(keras.ops.convert_to_numpy(layer.head(x)))
    projection, output = layer.tails[0]
    tail = softmax(keras.ops.convert_to_numpy(output(projection(x))))
    np.testing.assert_allclose(p[..., :5], head[..., :5], rtol=1e-5)
    np.testing.assert_allclose(p[..., 5:12], head[..., 5:6] * tail, rtol=1e-5)
    np.testing.assert_allclose(p[..., 12:].sum(-1), head[..., 6], rtol=1e-5)


def test_cutoffs_are_checked():
    with pytest.raises(ValueError, match=r"cutoffs must increase.*got cutoffs=\[8, 4\]"):
        AdaptiveSoftmax(12, [8, 4])
    with pytest.raises(ValueError, match="cutoffs must increase"):
        AdaptiveSoftmax(12, [4, 12])
    assert adaptive_cutoffs(33_278) == [2_000, 10_000]
    with pytest.raises(ValueError, match="vocabulary_size=1,500"):
        adaptive_cutoffs(1_500)
