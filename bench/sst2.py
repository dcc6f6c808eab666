"""SST-2 benchmark: train the default text recipe from scratch and print ONE JSON line.

    nice python bench/sst2.py                      # default recipe, ~10 min on 2 CPU cores
    nice python bench/sst2.py --compare --epochs 1 # also residual vs plain at depth 29

Embeddings are randomly initialised (no pre-trained vectors). Anchors on SST-2 dev: Kim's CNN
with random embeddings 83.7 %, an LSTM with GloVe 86.3 %. The JSON line holds the dev
accuracy, wall time (seconds, data loading included), training examples/s and, with
``--compare``, the dev accuracy and final training loss of ``text_resnet<depth>`` and its plain
twin ``plain_text<depth>`` trained with the same recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared/data/sst2"

# The default text recipe (what the README quotes): a VDCNN-style residual CNN over word ids.
RECIPE = {
    "model": "text_resnet9",
    "epochs": 3,
    "batch_size": 64,
    "optimizer": "adamw",
    "lr": 2e-3,
    "weight_decay": 0.05,
    "schedule": "cosine",
    "warmup_epochs": 0,
    "label_smoothing": 0.1,
    "sequence_length": 48,
    "vocabulary_size": 20000,
    "model_kwargs": {
        "width": 0.25,
        "embedding_dim": 128,
        "pooling": "max",
        "downsample": None,
        "embedding_dropout": 0.25,
        "dropout_rate": 0.5,
    },
}


def run(data: Path, out: Path, **overrides) -> dict:
    """Trains one model with the recipe (plus overrides); returns its figures."""
    import reskeras.text_models  # noqa: F401  (registers the text families)
    from reskeras.training import train

    cfg = {**RECIPE, **overrides}
    start = time.perf_counter()
    result = train(task="sst2", data=str(data), out=out, verbose=0, **cfg)
    wall = time.perf_counter() - start
    train_seconds = sum(h["seconds"] for h in result.history)
    examples = 67349 * len(result.history)
    return {
        "model": cfg["model"],
        "dev_accuracy": round(result.test_accuracy, 4),
        "epochs": len(result.history),
        "train_loss": round(result.history[-1]["loss"], 4),
        "wall_s": round(wall, 1),
        "examples_per_s": round(examples / train_seconds, 1) if train_seconds else None,
        "per_epoch_dev_accuracy": [
            round(h.get("val_accuracy", float("nan")), 4) for h in result.history
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SST-2 directory")
    parser.add_argument("--model", default=RECIPE["model"])
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
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
            line.update(run(args.data, Path(tmp) / "main", model=args.model, epochs=args.epochs))
        if args.compare:
            line["compare"] = {
                name: run(args.data, Path(tmp) / name, model=name, epochs=args.compare_epochs)
                for name in (f"text_resnet{args.compare_depth}", f"plain_text{args.compare_depth}")
            }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
