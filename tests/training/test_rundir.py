"""The run directory's models load in a process that never built one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import REPO

BUILD = """
import sys
import reskeras as rk
from reskeras.training.optim import SparseSmoothedCrossentropy
model = rk.build_model("cifar_resnet8", num_classes=3, input_shape=(16, 16, 3))
model.compile(optimizer="sgd", loss=SparseSmoothedCrossentropy(0.1))
model.save(sys.argv[1])
"""
LOAD = """
import sys
from reskeras.training.rundir import load_keras
print(load_keras(sys.argv[1], compile=True).name)
"""


@pytest.mark.slow
def test_a_saved_model_loads_in_a_fresh_process(tmp_path):
    # `import reskeras` loads nothing; load_keras registers every class a run can name.
    path = str(tmp_path / "model.keras")
    env = {"PYTHONPATH": str(REPO)}
    for code in (BUILD, LOAD):
        proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "cifar_resnet8"
