"""What a user sees in the terminal: no TensorFlow start-up chatter, one device line, the
TensorBoard command and the demo's summary (issue 17)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

pytestmark = pytest.mark.slow  # every test runs the `reskeras` command or a fresh interpreter

CHATTER = re.compile(r"^[IWE]\d{4} |absl::InitializeLog|cuInit", re.M)


def _quiet_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.pop("RESKERAS_VERBOSE", None)
    env["PYTHONPATH"] = str(REPO)
    return env


def _reskeras(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "reskeras"  # the console script, as users run it
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    return subprocess.run(
        [str(script), *args],
        capture_output=True, text=True, cwd=cwd, env=env or _quiet_env(), timeout=600,
    )  # fmt: skip


@pytest.fixture
def fmnist(real_fashion_mnist):
    return real_fashion_mnist


def test_train_prints_no_tensorflow_chatter(fmnist, tmp_path):
    args = ["train", "--task", "fashion_mnist", "--model", "cifar_resnet8", "--epochs", "1",
            "--limit-train", "128", "--limit-test", "64", "--batch-size", "32", "--no-xla",
            "--out", str(tmp_path / "run")]  # fmt: skip
    proc = _reskeras(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not CHATTER.search(proc.stderr), proc.stderr[:2000]
    assert not CHATTER.search(proc.stdout)
    # One line about the device, and the TensorBoard command for this run.
    assert proc.stdout.count("no GPU found") <= 1
    assert f"tensorboard --logdir {tmp_path / 'run'}" in proc.stdout


def test_verbose_and_a_users_log_level_are_honoured(tmp_path):
    # `import reskeras` changes no process-wide state; the quiet console is called where the
    # CLI, the app and the notebooks start.
    plain = "import reskeras, os; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    untouched = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True,
                               env=_quiet_env(), cwd=tmp_path)  # fmt: skip
    assert untouched.stdout.strip() == "None"
    code = (
        "from reskeras.console import quiet_tensorflow; quiet_tensorflow(); import os, "
        "reskeras; reskeras.cifar_resnet(8); print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=_quiet_env(), cwd=tmp_path)  # fmt: skip
    assert quiet.stdout.strip() == "3" and not CHATTER.search(quiet.stderr)
    env = {**_quiet_env(), "TF_CPP_MIN_LOG_LEVEL": "1"}
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path)  # fmt: skip
    assert chosen.stdout.strip() == "1"  # the user's choice stands
    assert not CHATTER.search(_reskeras("list", cwd=tmp_path).stderr)
    verbose = _reskeras("list", "--verbose", cwd=tmp_path)
    assert verbose.returncode == 0 and "cifar_resnet56" in verbose.stdout
    assert CHATTER.search(verbose.stderr)  # TensorFlow's own lines are back


def test_demo_prints_a_one_screen_summary(fmnist, tmp_path):
    proc = _reskeras("demo", "--limit-train", "256", "--limit-test", "128", "--out",
                     str(tmp_path / "demo"), "--export-base", str(tmp_path / "models"),
                     cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not CHATTER.search(proc.stderr + proc.stdout), proc.stderr[:2000]
    summary = proc.stdout[proc.stdout.index("reskeras demo:") :]
    assert len(summary.splitlines()) <= 14
    assert re.search(r"test accuracy  0\.\d{4} on 128 test images", summary)
    exported = tmp_path / "models" / "fashion_mnist_demo" / "1"
    assert "images/s" in summary and str(exported) in summary
    request = tmp_path / "demo" / "request.json"
    url = "http://localhost:8501/v1/models/fashion_mnist_demo:predict"
    assert f"curl -s -d @{request} {url}" in summary
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
    assert (tmp_path / "models" / "fashion_mnist_demo" / "1" / "saved_model.pb").is_file()
