"""Paths and helpers shared by the test modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Real offline data: Debian's dataset-fashion-mnist, and SST-2 in ../shared beside the repo.
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SST2_DIR = REPO.parent / "shared/data/sst2"


def write_kernelspec(root: Path) -> Path:
    """A ``python3`` kernelspec for this interpreter under ``root/kernels``; returns ``root``
    (put it on ``JUPYTER_PATH`` so nothing is written to ``~``)."""
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (reskeras test)",
        "language": "python",
        "env": {"PYTHONPATH": str(REPO)},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root
