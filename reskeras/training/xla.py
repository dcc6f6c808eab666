"""``jit_compile="auto"``: XLA where it is measured to pay on the device at hand.

On GPUs and TPUs XLA is on. On a CPU it depends on the model: XLA:CPU fuses the many small
element-wise ops of a narrow network (batch norm, ReLU, residual adds) and can win, but its
convolution gradients run slower than TensorFlow's oneDNN kernels (forward passes tie), so
convolution-heavy training loses (measured by ``bench/xla_ops.py`` and ``bench/throughput.py``;
figures in bench/README.md). So on a CPU :func:`resolve_jit_compile` probes: a throw-away copy
of the model trains a few steps on one real batch each way, in alternating bursts, and the
faster way wins. Compilation is excluded
from the timings.
"""

from __future__ import annotations

import time
from typing import Any

import keras

__all__ = ["accelerator", "probe_jit_compile", "resolve_jit_compile"]

#: The probe alternates PROBE_ROUNDS bursts per mode (each at least one step and about
#: PROBE_SECONDS / PROBE_ROUNDS long, at most MAX_BURST_STEPS) and keeps each mode's fastest
#: burst: another job slowing the machine for a moment then slows one burst, not one mode.
#: While the two are within CLOSE of each other it adds rounds, up to MAX_ROUNDS.
PROBE_ROUNDS, MAX_ROUNDS, PROBE_SECONDS, MAX_BURST_STEPS, CLOSE = 3, 9, 2.0, 10, 0.1


def accelerator() -> str | None:
    """``"GPU"``/``"TPU"`` when Keras' backend sees one, else None (a CPU)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("TPU", "GPU"):
            if tf.config.list_logical_devices(kind):
                return kind
        return None
    if backend == "jax":
        import jax

        platform = jax.devices()[0].platform
        return platform.upper() if platform in ("gpu", "tpu") else None
    if backend == "torch":
        import torch

        return "GPU" if torch.cuda.is_available() else None
    return None


def _compiled_clone(model: keras.Model, x: Any, y: Any, loss: Any, jit: bool) -> keras.Model:
    clone = keras.models.clone_model(model)
    clone.compile(optimizer=keras.optimizers.SGD(1e-4), loss=loss, jit_compile=jit)
    clone.train_on_batch(x, y)  # builds and compiles: not timed
    return clone


def _burst(clone: keras.Model, x: Any, y: Any) -> float:
    """Seconds per step of one burst of training steps."""
    steps, start = 0, time.perf_counter()
    while steps < 1 or (
        steps < MAX_BURST_STEPS and time.perf_counter() - start < PROBE_SECONDS / PROBE_ROUNDS
    ):
        clone.train_on_batch(x, y)
        steps += 1
    return (time.perf_counter() - start) / steps


def probe_jit_compile(model: keras.Model, x: Any, y: Any, loss: Any) -> dict[str, float]:
    """Seconds per training step of a copy of ``model`` on the batch ``(x, y)``, without and
    with XLA: ``{"no_xla": s, "xla": s}`` (``inf`` when XLA cannot compile it), each the
    fastest of ``PROBE_ROUNDS`` alternating bursts, or up to ``MAX_ROUNDS`` while the two are
    within ``CLOSE``. ``model`` itself is not touched.

    Args:
        model: the model to time; clones of it are compiled with SGD.
        x: one batch of inputs.
        y: the batch's labels.
        loss: the loss to compile the clones with.

    Returns:
        Seconds per step, keyed ``"no_xla"`` and ``"xla"``.
    """
    clones = {"no_xla": _compiled_clone(model, x, y, loss, jit=False)}
    try:
        clones["xla"] = _compiled_clone(model, x, y, loss, jit=True)
    except Exception:  # an op XLA cannot compile: train without it
        pass
    timings = {"no_xla": float("inf"), "xla": float("inf")}
    for rounds in range(1, MAX_ROUNDS + 1):
        for key, clone in clones.items():
            timings[key] = min(timings[key], _burst(clone, x, y))
        fast, slow = sorted(timings.values())
        if rounds >= PROBE_ROUNDS and slow > fast * (1 + CLOSE):
            break
    return timings


def resolve_jit_compile(
    value: bool | str, model: keras.Model, batch: tuple[Any, Any], loss: Any, probe: bool = True
) -> tuple[bool, dict[str, Any]]:
    """The ``jit_compile`` to train with, and why: ``(use_xla, {"reason": ..., ...})``.

    ``True``/``False`` stand. ``"auto"``: on with a GPU/TPU; on a CPU the faster of the two in
    :func:`probe_jit_compile` (``probe=False``, e.g. with several workers that must agree:
    off).

    Args:
        value: the ``jit_compile`` option: ``True``, ``False`` or ``"auto"``.
        model: the model to train (only copies of it are probed).
        batch: one ``(x, y)`` batch of training data, for the probe.
        loss: the training loss, for the probe.
        probe: whether ``"auto"`` on a CPU may probe; if not, XLA is off.

    Returns:
        Whether to use XLA, and a dict with the ``"reason"`` (and the probe's
            ``"seconds_per_step"``, when it ran).
    """
    if value != "auto":
        return bool(value), {"reason": "set"}
    device = accelerator()
    if device is not None:
        return True, {"reason": device}
    if not probe:
        return False, {"reason": "cpu, no probe"}
    try:
        timings = probe_jit_compile(model, batch[0], batch[1], loss)
    except Exception as err:  # a model the probe cannot copy: train as Keras would
        return False, {"reason": f"cpu, probe failed: {type(err).__name__}"}
    use = timings["xla"] < timings["no_xla"]
    rounded = {k: round(v, 5) if v != float("inf") else None for k, v in timings.items()}
    return use, {"reason": "cpu probe", "seconds_per_step": rounded}
