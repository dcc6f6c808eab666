"""SST-2 benchmark: train the default text recipe from scratch and print ONE JSON line.

    nice python bench/sst2.py                      # the default text recipe
    nice python bench/sst2.py --compare --epochs 1 # also residual vs plain at depth 29
    nice python bench/sst2.py --model bilstm2 --embeddings glove.6B.300d.txt.gz  # word vectors

The recipe is what ``reskeras.training.recipes.resolve`` decides for ``--task sst2``.
Embeddings are randomly initialised unless ``--embeddings`` names a word-vector file.
Anchors on SST-2 dev: Kim's CNN with random embeddings 83.7 %, an LSTM with GloVe 86.3 %.
The JSON line holds the dev accuracy, wall time (seconds, data loading included), training
examples/s, the word vectors' coverage and, with ``--compare``, the dev accuracy and final
training loss of ``text_resnet<depth>`` and its plain twin ``plain_text<depth>`` trained with
the same recipe.
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
DEFAULT_DATA = REPO.parent / "shared/data/sst2"


def run(data: Path, out: Path, **overrides) -> dict:
    """Trains the default text recipe (plus overrides) on SST-2; returns its figures."""
    from reskeras.training.loop import train
    from reskeras.training.recipes import resolve

    start = time.perf_counter()
    result = train(task="sst2", data=str(data), out=out, verbose=0, **overrides)
    wall = time.perf_counter() - start
    train_seconds = sum(h["seconds"] for h in result.history)
    config = json.loads((result.run_dir / "config.json").read_text())
    examples = config["steps_per_epoch"] * config["global_batch_size"] * len(result.history)
    return {
        "model": overrides.get("model", resolve({"task": "sst2"}).config.model),
        "dev_accuracy": round(result.test_accuracy, 4),
        "epochs": len(result.history),
        "train_loss": round(result.history[-1]["loss"], 4),
        "wall_s": round(wall, 1),
        "examples_per_s": round(examples / train_seconds, 1) if train_seconds else None,
        "per_epoch_dev_accuracy": [
            round(h.get("val_accuracy", float("nan")), 4) for h in result.history
        ],
        "embeddings": result.embeddings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SST-2 directory")
    parser.add_argument("--model", help="another model, trained with the same recipe")
    parser.add_argument("--epochs", type=int, help="passes over the data (default: the recipe)")
    parser.add_argument("--embeddings", help="a GloVe/word2vec/fastText text file to start from")
    parser.add_argument("--compare", action="store_true", help="also residual vs plain at depth")
    parser.add_argument("--compare-depth", type=int, default=29, choices=(9, 17, 29, 49))
    parser.add_argument("--compare-epochs", type=int, default=1)
    parser.add_argument("--skip-main", action="store_true", help="only run --compare")
    args = parser.parse_args(argv)
    if not (args.data / "train.tsv").exists():
        print(f"SST-2 not found: {args.data}/train.tsv (pass --data DIR)", file=sys.stderr)
        return 2
    import tensorflow as tf

    threads = os.cpu_count()
    line: dict = {"bench": "sst2", "cpu_threads": threads, "tf": tf.__version__}
    with tempfile.TemporaryDirectory(prefix="reskeras-bench-") as tmp:
        if not args.skip_main:
            given = (
                ("model", args.model),
                ("epochs", args.epochs),
                ("embeddings", args.embeddings),
            )
            main_run = {k: v for k, v in given if v}
            line.update(run(args.data, Path(tmp) / "main", **main_run))
        if args.compare:
            line["compare"] = {
                name: run(args.data, Path(tmp) / name, model=name, epochs=args.compare_epochs)
                for name in (f"text_resnet{args.compare_depth}", f"plain_text{args.compare_depth}")
            }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
