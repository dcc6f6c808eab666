"""``jit_compile="auto"``: explicit values stand, accelerators get XLA, a CPU probes."""

from __future__ import annotations

import keras
import numpy as np

from reskeras.training import xla


def _tiny():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(8, "relu")(inputs)))


BATCH = (np.ones((8, 4), "float32"), np.arange(8) % 2)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_explicit_values_stand_and_accelerators_get_xla(monkeypatch):
    assert xla.resolve_jit_compile(True, None, BATCH, LOSS) == (True, {"reason": "set"})
    assert xla.resolve_jit_compile(False, None, BATCH, LOSS) == (False, {"reason": "set"})
    monkeypatch.setattr(xla, "accelerator", lambda: "GPU")
    assert xla.resolve_jit_compile("auto", None, BATCH, LOSS) == (True, {"reason": "GPU"})


def test_cpu_probe_picks_the_faster_and_leaves_the_model_alone(monkeypatch):
    model = _tiny()
    before = [w.copy() for w in model.get_weights()]
    use, why = xla.resolve_jit_compile("auto", model, BATCH, LOSS)
    assert why["reason"] == "cpu probe"
    assert use == (why["seconds_per_step"]["xla"] < why["seconds_per_step"]["no_xla"])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert xla.resolve_jit_compile("auto", model, BATCH, LOSS, probe=False) == (
        False, {"reason": "cpu, no probe"},
    )  # fmt: skip
    # Whichever way is faster wins; XLA that cannot compile the model loses.
    assert _with_bursts(monkeypatch, model, {False: [0.2] * 3, True: [0.1] * 3}) is True
    assert _with_bursts(monkeypatch, model, {False: [0.2] * 3, True: [0.3] * 3}) is False
    # The modes alternate and each keeps its fastest burst, so a moment of contention
    # (another job slowing one burst by 3x) does not flip the choice; the mean would have.
    bursts = {False: [0.2, 0.2, 0.2], True: [0.45, 0.15, 0.15]}
    assert sum(bursts[True]) / 3 > 0.2
    assert _with_bursts(monkeypatch, model, bursts) is True
    # A close call (within 10 %) gets more rounds, up to MAX_ROUNDS.
    bursts = {False: [0.2] * 3 + [0.2, 0.16], True: [0.19] * 5}
    assert _with_bursts(monkeypatch, model, bursts, rounds=5) is False
    assert _with_bursts(monkeypatch, model, {False: [0.2] * 9, True: [0.19] * 9}, rounds=9)

    def cannot_compile(m, x, y, loss, jit):
        if jit:
            raise RuntimeError("XLA cannot compile this")
        return jit

    monkeypatch.setattr(xla, "_compiled_clone", cannot_compile)
    monkeypatch.setattr(xla, "_burst", lambda clone, x, y: 0.1)
    use, why = xla.resolve_jit_compile("auto", model, BATCH, LOSS)
    assert use is False and why["seconds_per_step"] == {"no_xla": 0.1, "xla": None}


def _with_bursts(monkeypatch, model, bursts: dict[bool, list[float]], rounds: int = 3) -> bool:
    """resolve_jit_compile's pick when the probe's bursts take these seconds per step."""
    order = []
    monkeypatch.setattr(xla, "_compiled_clone", lambda m, x, y, loss, jit: jit)

    def burst(clone, x, y):
        order.append(clone)
        return bursts[clone].pop(0)

    monkeypatch.setattr(xla, "_burst", burst)
    use = xla.resolve_jit_compile("auto", model, BATCH, LOSS)[0]
    assert order == [False, True] * rounds  # alternating
    return use
