"""``jit_compile="auto"``: explicit values stand, accelerators get XLA, a CPU probes."""

from __future__ import annotations

import keras
import numpy as np

from reskeras import xla


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
    fake = {False: 0.2, True: 0.1}
    monkeypatch.setattr(xla, "_seconds_per_step", lambda m, x, y, loss, jit: fake[jit])
    assert xla.resolve_jit_compile("auto", model, BATCH, LOSS)[0] is True
    fake[True] = 0.3
    assert xla.resolve_jit_compile("auto", model, BATCH, LOSS)[0] is False

    def no_xla(m, x, y, loss, jit):
        if jit:
            raise RuntimeError("XLA cannot compile this")
        return 0.1

    monkeypatch.setattr(xla, "_seconds_per_step", no_xla)
    use, why = xla.resolve_jit_compile("auto", model, BATCH, LOSS)
    assert use is False and why["seconds_per_step"] == {"no_xla": 0.1, "xla": None}
