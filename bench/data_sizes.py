"""The default recipe of each task kind across training-set sizes. Prints ONE JSON line.

    python bench/data_sizes.py                       # SST-2 1k/3k/9k/all, Fashion-MNIST 1k/5k/all
    python bench/data_sizes.py --text 1000 --image 1000   # a quick look

Every run is ``reskeras.train(task, limit_train=N)`` with nothing else set: the recipe of the
task's kind (``reskeras.training.recipes.resolve``), exactly what ``reskeras train --task T``
runs. Each
cell reports the test accuracy (SST-2: the GLUE dev set, 872 sentences; Fashion-MNIST: the 10k
test images) next to the majority-class baseline of that test set, the margin over it, the
wall time, and whether the final model collapsed onto one class. ``ok`` says whether every
cell is at least ``--margin`` (0.15) above its baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared/data/sst2"
TASKS = {"text": ("sst2", str(SST2)), "image": ("fashion_mnist", None)}


def _sizes(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def majority_baseline(task: str, data: str | None) -> float:
    """Accuracy of always predicting the test set's most frequent class."""
    import numpy as np

    from reskeras.data import load_task

    labels = np.array([int(y) for _, y in load_task(task, data).test])
    return float(np.bincount(labels).max() / len(labels))


def cell(task: str, data: str | None, size: int, baseline: float, tmp: Path) -> dict:
    from reskeras.training.loop import train

    start = time.perf_counter()
    result = train(task, data=data, limit_train=size or None, out=tmp / f"{task}-{size}", verbose=0)
    accuracy = float(result.test_accuracy)
    last = result.collapses[-1]["epoch"] if result.collapses else None
    return {
        "train_examples": size or "all",
        "accuracy": round(accuracy, 4),
        "baseline": round(baseline, 4),
        "margin": round(accuracy - baseline, 4),
        "epochs": len(result.history),
        "collapsed": last == len(result.history),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="1000,3000,9000,0", help="SST-2 sizes (0 = all)")
    parser.add_argument("--image", default="1000,5000,0", help="Fashion-MNIST sizes (0 = all)")
    parser.add_argument("--margin", type=float, default=0.15)
    args = parser.parse_args(argv)
    if args.text and not (SST2 / "train.tsv").exists():
        print(f"SST-2 not found at {SST2} (pass --text '' to skip it)", file=sys.stderr)
        return 2
    from reskeras.training.recipes import recipe_options, resolve

    line: dict = {"bench": "data_sizes", "cpus": len(os.sched_getaffinity(0))}
    with tempfile.TemporaryDirectory(prefix="reskeras-sizes-") as tmp:
        for kind, sizes in (("text", _sizes(args.text)), ("image", _sizes(args.image))):
            if not sizes:
                continue
            task, data = TASKS[kind]
            baseline = majority_baseline(task, data)
            line[task] = {
                "recipe": recipe_options(resolve({"task": task}).config),
                "cells": [cell(task, data, n, baseline, Path(tmp)) for n in sizes],
            }
    cells = [c for v in line.values() if isinstance(v, dict) for c in v["cells"]]
    line["ok"] = all(c["margin"] >= args.margin and not c["collapsed"] for c in cells)
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
