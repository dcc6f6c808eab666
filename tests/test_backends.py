"""Blocks and builders (image and text) are pure Keras: they build and train on PyTorch
without TensorFlow."""

import importlib.util
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter on the PyTorch backend

SCRIPT = textwrap.dedent(
    """
    import importlib.machinery, os, sys
    os.environ["KERAS_BACKEND"] = "torch"

    class NoTensorFlow:
        # Makes TensorFlow unimportable, as on a machine that does not have it.
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                return importlib.machinery.ModuleSpec(name, self, origin=None)

        def create_module(self, spec):
            raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, NoTensorFlow())
    import keras, numpy as np
    import reskeras as rk

    assert keras.backend.backend() == "torch"
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("float32")
    y = np.arange(4) % 3
    for model in (
        rk.cifar_resnet(8, "A", 3, (16, 16, 3), drop_path_rate=0.2, se_ratio=0.25),
        rk.resnet(18, "v2", 3, (16, 16, 3), avg_down=True),
        rk.resnet(50, "v1", 3, (16, 16, 3), zero_init_last=True),
        rk.wide_resnet(10, 2, 3, (16, 16, 3), dropout=0.3),
    ):
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        loss = model.fit(x, y, epochs=1, verbose=0).history["loss"][-1]
        assert np.isfinite(loss), model.name
    ids = np.random.default_rng(0).integers(1, 50, (4, 16)).astype("int32")
    for name in ("text_resnet9", "bilstm2", "transformer2", "plain_text9"):
        model = rk.build_model(name, num_classes=3, sequence_length=16, vocabulary_size=50)
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        loss = model.fit(ids, y, epochs=1, verbose=0).history["loss"][-1]
        assert np.isfinite(loss), name
    assert not [m for m in sys.modules if m.split(".")[0] == "tensorflow"]
    print("ok")
    """
)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed (the dev extra pins torch==2.13.0, the CPU build)",
)
def test_blocks_and_builders_run_on_pytorch_without_tensorflow():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
