"""Training on several replicas and processes.

Two workers of ``MultiWorkerMirroredStrategy`` run on 127.0.0.1 as ordinary
``reskeras train ... --strategy multi_worker`` processes, each with its own ``TF_CONFIG``
(free ports) and its own ``TMPDIR`` (where a non-chief worker keeps its scratch run
directory); MirroredStrategy on two logical CPUs runs in a pytest process of its own
(``two_replicas.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import FASHION_DIR, REPO

from reskeras.cli import main
from reskeras.training.distributed import localhost_tf_configs
from reskeras.training.loop import TrainingError, train

pytestmark = pytest.mark.slow
needs_fmnist = pytest.mark.usefixtures("real_fashion_mnist")

# A small Fashion-MNIST subset and a tiny model; a constant learning rate keeps runs that
# differ only in how the batch is split close (see LOSS_RTOL).
DATA = ["--task", "fashion_mnist", "--data", str(FASHION_DIR), "--model", "cifar_resnet8",
        "--limit-train", "512", "--limit-test", "256", "--lr", "0.05", "--schedule", "constant",
        "--no-augment", "--strategy", "multi_worker"]  # fmt: skip
# Each worker normalizes its half of the global batch with its own batch-norm statistics,
# one process the whole batch; that keeps the per-epoch training loss within 5% (measured:
# 0.1% and 0.6% for this run, at most 3.1% over three seeds on two replicas, two_replicas.py).
LOSS_RTOL = 0.05
# How long a survivor may take to notice a killed worker: at once when the connection is
# reset (localhost), within TensorFlow's 10 s heartbeat timeout otherwise (README).
NOTICE_S = 30


def _env() -> dict[str, str]:
    """The environment of a CLI process that imports this checkout's reskeras."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}


class Workers:
    """``reskeras train`` in ``n`` worker processes of one cluster, started in ``base``."""

    def __init__(self, base: Path, args: list[str], n: int = 2, tag: str = "run"):
        self.base = base
        self.logs = [(base / f"{tag}{i}.out", base / f"{tag}{i}.err") for i in range(n)]
        self.tmpdirs = [base / f"tmp{i}" for i in range(n)]
        self.procs = []
        for i, tf_config in enumerate(localhost_tf_configs(n)):
            self.tmpdirs[i].mkdir(exist_ok=True)
            env = {**_env(), "TF_CONFIG": tf_config, "TMPDIR": str(self.tmpdirs[i])}
            out, err = (open(p, "w") for p in self.logs[i])  # noqa: SIM115
            with out, err:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "reskeras.cli", "train", *args],
                        env=env,
                        cwd=base,
                        stdout=out,
                        stderr=err,
                    )  # fmt: skip
                )

    def wait(self, timeout: float = 300) -> list[int]:
        deadline = time.time() + timeout
        try:
            return [p.wait(timeout=max(deadline - time.time(), 1)) for p in self.procs]
        finally:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def stdout(self, i: int) -> str:
        return self.logs[i][0].read_text()

    def stderr(self, i: int) -> str:
        return self.logs[i][1].read_text()

    def result(self, i: int) -> dict:
        return json.loads(self.stdout(i).strip().splitlines()[-1])

    def scratch(self) -> list[Path]:
        return [p for d in self.tmpdirs for p in d.iterdir() if p.name.startswith("reskeras-")]


def _files(run: Path) -> set[str]:
    """The run directory's files; TensorBoard's and atomic writes' temporary files left out."""
    return {
        str(p.relative_to(run))
        for p in run.rglob("*")
        if p.is_file() and "tb" not in p.parts and not p.name.startswith(".")
    }


def _metric_rows(run: Path) -> int:
    return len((run / "metrics.csv").read_text().strip().splitlines()) - 1


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> Workers:
    base = tmp_path_factory.mktemp("cluster")
    workers = Workers(base, [*DATA, "--epochs", "2", "--batch-size", "32", "--out", "run"])
    codes = workers.wait()
    assert codes == [0, 0], [workers.stderr(i)[-3000:] for i in range(2)]
    return workers


@needs_fmnist
def test_two_workers_write_one_complete_run(two_workers):
    base, run = two_workers.base, two_workers.base / "run"
    # Both workers report the same finished run; exactly one run directory exists.
    assert two_workers.result(0) == two_workers.result(1)
    assert two_workers.result(0)["run_dir"] == "run"
    assert two_workers.result(0)["epochs_done"] == 2
    assert {p.name for p in base.iterdir() if p.is_dir()} == {"run", "tmp0", "tmp1"}
    assert two_workers.scratch() == []  # worker 1's scratch directory is gone
    assert _files(run) == {"config.json", "labels.json", "metrics.csv", "model.keras",
                           "checkpoints/epoch-0002.keras", "checkpoints/state.json"}  # fmt: skip
    assert any((run / "tb").iterdir())
    config = json.loads((run / "config.json").read_text())
    # --batch-size is per replica: one replica per worker, a global batch of 2 x 32.
    assert (config["workers"], config["replicas"], config["global_batch_size"]) == (2, 2, 64)
    assert config["steps_per_epoch"] == 512 // 64 and config["epochs_done"] == 2
    assert config["train"]["strategy"] == "multi_worker"
    state = json.loads((run / "checkpoints/state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2] and _metric_rows(run) == 2
    # jit_compile="auto" knows XLA cannot compile a step spanning two workers: no XLA, and
    # no warning either (one comes only when --xla asked for it).
    assert config["xla"] == {"jit_compile": False, "reason": "2 replicas: no XLA step"}
    assert "XLA is off" not in two_workers.stderr(0)


@needs_fmnist
def test_two_workers_train_like_one_process(two_workers, tmp_path):
    state = json.loads((two_workers.base / "run/checkpoints/state.json").read_text())
    single = train("fashion_mnist", "cifar_resnet8", data=str(FASHION_DIR), limit_train=512,
                   limit_test=256, lr=0.05, schedule="constant", augment=False, epochs=2,
                   batch_size=64, jit_compile=False, out=tmp_path / "one", verbose=0)  # fmt: skip
    for worker, alone in zip(state["history"], single.history, strict=True):
        assert worker["loss"] == pytest.approx(alone["loss"], rel=LOSS_RTOL), (worker, alone)


@needs_fmnist
def test_evaluate_and_export_the_workers_run(two_workers, tmp_path, capsys):
    run = str(two_workers.base / "run")
    assert main(["evaluate", "--run", run]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # The workers validated with the same (averaged) batch-norm statistics they saved.
    assert report["num_examples"] == 256
    assert round(report["accuracy"], 4) == two_workers.result(0)["test_accuracy"]
    assert main(["export", "--run", run, "--name", "mw", "--base", str(tmp_path)]) == 0
    assert (tmp_path / "mw/1/saved_model.pb").exists()


@needs_fmnist
def test_killed_worker_stops_the_other_and_both_resume(tmp_path):
    run = tmp_path / "run"
    args = [*DATA, "--batch-size", "8", "--epochs", "3", "--out", "run"]  # 32 steps an epoch
    workers = Workers(tmp_path, args)
    chief, other = workers.procs
    state = run / "checkpoints/state.json"
    seen_before_epoch_1 = set()
    deadline = time.time() + 240
    while not state.exists() and chief.poll() is None and time.time() < deadline:
        seen_before_epoch_1 |= _files(run) if run.exists() else set()
        time.sleep(0.02)
    # What the chief writes, and when: the options and labels before training starts, then
    # nothing until the first epoch ends: its checkpoint, then the state.json that commits it
    # (a metrics row after that) ...
    assert {"config.json", "labels.json"} <= seen_before_epoch_1
    assert seen_before_epoch_1 <= {"config.json", "labels.json", "metrics.csv",
                                   "checkpoints/epoch-0001.keras"}  # fmt: skip
    time.sleep(0.3)  # ... into epoch 2
    assert chief.poll() is None, "training finished before it could be killed"
    os.kill(chief.pid, signal.SIGKILL)
    killed = time.time()
    # The survivor notices within seconds, says so in one line and exits 2.
    code = other.wait(timeout=NOTICE_S + 60)
    assert code == 2 and time.time() - killed < NOTICE_S, workers.stderr(1)[-2000:]
    last = workers.stderr(1).strip().splitlines()[-1]
    assert last.startswith("reskeras: error: worker 1 lost the cluster"), last
    assert "--resume run" in last or "no epoch had completed" in last
    workers.wait()
    # ... and after each completed epoch the checkpoint, its state and a metrics row; the
    # epoch in flight left nothing, and there is no model.keras before the end.
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 3
    assert _files(run) == {"config.json", "labels.json", "metrics.csv", "checkpoints/state.json",
                           f"checkpoints/epoch-{done:04d}.keras"}  # fmt: skip
    assert _metric_rows(run) == done
    assert workers.scratch() == []  # the survivor removed its scratch directory

    resumed = Workers(tmp_path, ["--resume", "run"], tag="resume")
    assert resumed.wait() == [0, 0], resumed.stderr(0)[-3000:]
    assert resumed.result(0)["epochs_done"] == 3 == resumed.result(1)["epochs_done"]
    history = json.loads(state.read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3] and _metric_rows(run) == 3
    assert _files(run) == {"config.json", "labels.json", "metrics.csv", "model.keras",
                           "checkpoints/state.json", "checkpoints/epoch-0003.keras"}  # fmt: skip
    assert f"Epoch {done + 1}/3" in resumed.stdout(0)  # from the last completed epoch
    assert resumed.scratch() == []


def test_multi_worker_needs_a_shared_run_directory(monkeypatch):
    # Checked before any cluster is formed: each worker would pick its own timestamped name.
    monkeypatch.setenv("TF_CONFIG", localhost_tf_configs(2)[0])
    with pytest.raises(TrainingError, match="needs --out: every worker must name the same"):
        train("fashion_mnist", "cifar_resnet8", strategy="multi_worker")


def test_a_missing_worker_is_not_waited_for(tmp_path):
    # Worker 1 of a two-worker cluster whose worker 0 never starts.
    env = {**_env(), "TF_CONFIG": localhost_tf_configs(2)[1]}
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "reskeras.cli", "train", "--strategy", "multi_worker",
         "--worker-timeout", "3", "--out", "run"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert time.time() - start < 60
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("reskeras: error: no progress for 3 s while joining the cluster")
    assert "no epoch had completed" in last
    assert not (tmp_path / "run").exists()


def test_mirrored_on_two_logical_cpus():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
         str(Path(__file__).with_name("two_replicas.py"))],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "4 passed" in proc.stdout
