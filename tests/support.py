"""Paths and helpers shared by the test modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Real offline data: Debian's dataset-fashion-mnist, and SST-2 in ../shared beside the repo.
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SST2_DIR = REPO.parent / "shared/data/sst2"
WIKITEXT2_DIR = REPO.parent / "shared/data/wikitext2"
MULTI30K_DIR = REPO.parent / "shared/data/multi30k"
#: How to get each data set, for the message of a test that needs it.
HOW_TO_GET = {
    FASHION_DIR: "apt-get install dataset-fashion-mnist; `make check` does it as root",
    SST2_DIR: "a checkout of ../shared beside the repository",
    WIKITEXT2_DIR: "a checkout of ../shared beside the repository",
    MULTI30K_DIR: "a checkout of ../shared beside the repository",
}


def in_ci() -> bool:
    """Whether the ``CI`` environment variable says this is a CI run (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_data(path: Path, what: str) -> Path:
    """Returns ``path`` if it exists. Otherwise the test is skipped with the reason, or, with
    ``CI=true``, fails: CI provides every data set, so a missing one is an error there, not a
    silently smaller suite."""
    path = Path(path)
    if path.exists():
        return path
    how = next((h for d, h in HOW_TO_GET.items() if path == d or d in path.parents), None)
    reason = f"{what} not found at {path}" + (f" ({how})" if how else "")
    if in_ci():
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


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


def watch_download_timeout(monkeypatch, seconds: float) -> list[float]:
    """Sets ``reskeras.weights.named.DOWNLOAD_TIMEOUT`` to ``seconds`` and records every
    socket default timeout set from then on, so a test can check downloads honour it."""
    import socket

    from reskeras.weights import named

    seen: list[float] = []
    real = socket.setdefaulttimeout

    def record(value):
        seen.append(value)
        real(value)

    monkeypatch.setattr(named, "DOWNLOAD_TIMEOUT", seconds)
    monkeypatch.setattr(socket, "setdefaulttimeout", record)
    return seen


#: A fresh process with plain TensorFlow (a stand-in for TF Serving) that loads SavedModels
#: and calls their signatures; see :func:`run_fresh`.
FRESH = textwrap.dedent(
    """
    import importlib, json, sys
    import numpy as np
    import tensorflow as tf

    spec = json.loads(sys.argv[1])
    for module in spec.get("imports", []):  # e.g. tensorflow_text: the ops TF Serving links in
        importlib.import_module(module)
    inputs = np.load(spec["inputs"], allow_pickle=True)
    results, exports = {}, {}
    for key, (path, sig, arg) in spec["calls"].items():
        if path not in exports:  # each export loaded once
            exports[path] = tf.saved_model.load(path)
        loaded = exports[path]
        assert type(loaded).__module__.startswith("tensorflow."), type(loaded)
        if isinstance(arg, str):
            feed = {arg: tf.constant(inputs[key])}
        else:  # several inputs, saved as "<key>.<input>"
            feed = {a: tf.constant(inputs[f"{key}.{a}"]) for a in arg}
        out = loaded.signatures[sig](**feed)
        if "probabilities" in out:  # a classifier
            results[key] = out["probabilities"].numpy()
            results[key + "_ids"] = out["class_id"].numpy()
        for name, value in out.items():  # every output, as "<key>.<output>"
            value = value.numpy()
            results[f"{key}.{name}"] = value.astype(str) if value.dtype == object else value
        dtypes = sorted({v.dtype.name for v in loaded.variables})  # ExportArchive tracks them
        results[key + "_vardtypes"] = np.array(dtypes)
    np.savez(spec["out"], **results)
    mods = sorted(sys.modules)
    print(json.dumps({
        "forbidden": [m for m in mods if m.split(".")[0] in
                      ("reskeras", "keras_hub", "tensorflow_text")
                      and m.split(".")[0] not in spec.get("imports", [])],
    }))
    """
)


def run_fresh(spec: dict, tmp_path: Path) -> tuple[dict, dict]:
    """Runs FRESH (plain tensorflow, plus ``spec["imports"]``) in a new process: its report
    and its outputs (``<key>.<output>``; for classifiers ``<key>``: probabilities,
    ``<key>_ids``: class ids)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", FRESH, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), dict(np.load(spec["out"]))
