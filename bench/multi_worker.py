"""Training throughput of one process against two workers on this machine. Prints ONE JSON line.

    python bench/multi_worker.py [--limit-train 4096] [--batch-size 32] [--epochs 3] [--repeats 2]

Every run is the ordinary ``reskeras train`` command on a Fashion-MNIST subset with
``cifar_resnet8``: once in one process (global batch ``2 x --batch-size``, without XLA, and
with XLA, the default), and once as two workers of ``MultiWorkerMirroredStrategy`` on
127.0.0.1, each with its own ``TF_CONFIG`` (free ports) and ``--batch-size`` per worker, so
every run trains on the same global batch. Images/s are training images over the time of
the epochs after the first (which includes tracing), taken from the run's ``state.json``
(an epoch's seconds include validating on ``--limit-test`` images, kept to one batch). The
machine is shared, so the configurations take turns ``--repeats`` times and each reports its
best figure (all of them are printed too). Two workers sharing one machine's cores are not
expected to beat one process; the ratio shows what the cross-process all-reduce costs (with a
tiny model it dominates: the worst case).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reskeras.training.distributed import localhost_tf_configs

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def run(args: list[str], tf_configs: list[str | None], out: Path) -> dict:
    """``reskeras train *args --out out`` in one process per entry of ``tf_configs``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    procs = []
    for i, tf_config in enumerate(tf_configs):
        worker_env = {**env, **({"TF_CONFIG": tf_config} if tf_config else {})}
        with open(out.with_name(f"{out.name}-{i}.log"), "w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "reskeras.cli", "train", *args, "--out", str(out)],
                    env=worker_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - start
    if any(codes):
        log = out.with_name(f"{out.name}-0.log").read_text()
        raise SystemExit(f"multi_worker bench: training failed ({codes}):\n{log[-3000:]}")
    config = json.loads((out / "config.json").read_text())
    history = json.loads((out / "checkpoints/state.json").read_text())["history"]
    timed = history[1:]
    images = len(timed) * config["steps_per_epoch"] * config["global_batch_size"]
    return {
        "images_per_s": round(images / sum(h["seconds"] for h in timed), 1),
        "wall_s": round(wall, 1),
        "global_batch": config["global_batch_size"],
        "replicas": config["replicas"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(FASHION_DIR), help="Fashion-MNIST IDX directory")
    parser.add_argument("--limit-train", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=32, help="per worker")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not timed)")
    common = ["--task", "fashion_mnist", "--data", args.data, "--model", "cifar_resnet8",
              "--limit-train", str(args.limit_train), "--epochs", str(args.epochs),
              "--lr", "0.05", "--schedule", "constant", "--no-augment"]  # fmt: skip
    limit_test = ["--limit-test", str(2 * args.batch_size)]
    one = [*common, *limit_test, "--batch-size", str(2 * args.batch_size), "--strategy", "default"]
    two = [*common, *limit_test, "--batch-size", str(args.batch_size), "--strategy", "multi_worker"]
    configs = {
        "one_process": ([*one, "--no-xla"], [None]),
        "one_process_xla": ([*one, "--xla"], [None]),
        "two_workers": (two, None),
    }
    results: dict[str, list[dict]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="reskeras-mw-bench-") as tmp:
        for repeat in range(args.repeats):
            for name, (train_args, workers) in configs.items():
                out = Path(tmp) / f"{name}-{repeat}"
                results[name].append(run(train_args, workers or localhost_tf_configs(2), out))
    best = {name: max(r["images_per_s"] for r in runs) for name, runs in results.items()}
    print(
        json.dumps(
            {
                "bench": "multi_worker",
                "model": "cifar_resnet8",
                "data": f"fashion_mnist, {args.limit_train} training images",
                "global_batch": results["two_workers"][0]["global_batch"],
                "epochs_timed": args.epochs - 1,
                "cores": len(os.sched_getaffinity(0)),
                "one_process_images_per_s": best["one_process"],
                "one_process_xla_images_per_s": best["one_process_xla"],
                "two_workers_images_per_s": best["two_workers"],
                "two_workers_vs_one_process": round(best["two_workers"] / best["one_process"], 2),
                "all_images_per_s": {
                    name: [r["images_per_s"] for r in runs] for name, runs in results.items()
                },
                "wall_s": {name: [r["wall_s"] for r in runs] for name, runs in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
