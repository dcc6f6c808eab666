"""One test harness for every layer and model (after keras-hub's ``run_layer_test``).

``run_layer_test`` wraps a layer in a tiny classifier and hands it to ``run_model_test``,
which checks: output shape and float32 logits; ``get_config``/``from_config``; a ``.keras``
save and ``load_model(safe_mode=True)`` round trip with identical outputs; a training step
fed by ``tf.data`` under ``jit_compile=True`` (unless ``xla=False``); and, under
``mixed_float16`` and ``mixed_bfloat16``, float32 logits from low-precision layers and a
training step (eager: one step traces faster than it runs; graph-mode mixed precision is
trained in tests/training/test_loop.py).
A layer without weights of its own gets the mixed-precision forward checks but not the two
mixed-precision training steps (nothing of its own would be trained; the tiny classifier's
Dense head is trained by every other layer's test).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


@contextlib.contextmanager
def dtype_policy(name: str):
    """Temporarily sets Keras' global dtype policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def sample_inputs(input_shape, batch: int = 2, seed: int = 0, text_vocab: int | None = None):
    """Deterministic raw inputs: 0..255 pixels for images, token ids for text."""
    rng = np.random.default_rng(seed)
    if text_vocab is not None:
        return rng.integers(1, text_vocab, size=(batch, *input_shape)).astype("int32")
    return rng.integers(0, 256, size=(batch, *input_shape)).astype("float32")


def _fit_one_step(model, x, y, jit_compile: bool) -> float:
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
        run_eagerly=not jit_compile,
    )
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x))
    history = model.fit(ds, epochs=1, shuffle=False, verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), f"non-finite loss {loss} (jit_compile={jit_compile})"
    return loss


def run_model_test(
    build: Callable[[], keras.Model],
    input_shape: tuple,
    num_classes: int,
    tmp_path,
    *,
    text_vocab: int | None = None,
    mixed_precision: bool = True,
    mixed_fit: bool = True,
    atol: float = 1e-5,
    xla: bool = True,
) -> keras.Model:
    """Runs a freshly built model through the whole harness; returns the float32 model.
    ``mixed_fit=False`` keeps the mixed-precision forward checks but skips their training
    steps; ``xla=False`` takes the float32 training step eagerly, for a variant of a model
    compiled elsewhere whose blocks the layer harness compiles with XLA."""
    model = build()
    x = sample_inputs(input_shape, text_vocab=text_vocab)
    y = np.arange(len(x)) % num_classes

    logits = model(x, training=False)
    assert tuple(logits.shape) == (len(x), num_classes)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"

    config = model.get_config()
    clone = model.__class__.from_config(copy.deepcopy(config))  # from_config pops keys
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(logits),
        atol=atol,
        rtol=atol,
    )

    _fit_one_step(model, x, y, jit_compile=xla)

    if mixed_precision:
        for policy in MIXED_POLICIES:
            with dtype_policy(policy):
                mixed = build()
            out = mixed(x, training=False)
            assert keras.backend.standardize_dtype(out.dtype) == "float32", policy
            compute = {
                layer.compute_dtype
                for layer in mixed.layers
                if not isinstance(layer, keras.layers.InputLayer)
            }
            assert policy.split("_")[1] in compute, f"{policy}: no layer computes in low precision"
            if mixed_fit:
                _fit_one_step(mixed, x, y, jit_compile=False)
    return model


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict,
    input_shape: tuple,
    expected_output_shape: tuple,
    tmp_path,
    *,
    text_vocab: int | None = None,
    mixed_precision: bool = True,
    mixed_fit: bool | None = None,
    num_classes: int = 3,
) -> keras.layers.Layer:
    """Checks a layer's output shape and config, then runs it inside a tiny classifier
    through :func:`run_model_test`. ``input_shape`` excludes the batch dimension.
    ``mixed_fit`` defaults to whether the layer has weights."""
    layer = layer_cls(**init_kwargs)
    x = sample_inputs(input_shape, text_vocab=text_vocab)
    out = layer(x)
    assert tuple(out.shape) == (len(x), *expected_output_shape)
    config = layer.get_config()
    assert layer_cls.from_config(copy.deepcopy(config)).get_config() == config
    if mixed_fit is None:
        mixed_fit = bool(layer.weights)

    def build():
        dtype = "int32" if text_vocab is not None else "float32"
        inputs = keras.Input(input_shape, dtype=dtype)
        h = layer_cls(**init_kwargs)(inputs)
        h = keras.layers.Flatten()(h) if len(h.shape) > 2 else h
        logits = keras.layers.Dense(num_classes, dtype="float32")(h)
        return keras.Model(inputs, logits)

    run_model_test(
        build,
        input_shape,
        num_classes,
        tmp_path,
        text_vocab=text_vocab,
        mixed_precision=mixed_precision,
        mixed_fit=mixed_fit,
    )
    return layer
