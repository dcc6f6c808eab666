"""Translation on Multi30k: the default recipe's validation BLEU within its training time, at
several data sizes. Prints ONE JSON line (``--markdown`` also prints the README's table).

    nice -n 19 python bench/translation.py --quick                  # tiny: check it runs
    nice -n 19 python bench/translation.py --sizes all --markdown   # the target cell (de-en)
    nice -n 19 python bench/translation.py --sizes 3000,10000,all --languages en-de

Each cell trains through ``reskeras.train`` on task ``multi30k`` with the ``translation``
recipe as ``resolve()`` decides it (only the first ``limit_train`` pairs change), then scores
the whole validation set (1,014 pairs) with ``reskeras.evaluate``: sacrebleu's corpus BLEU
and chrF on detokenized, cased text, beam search with ``translate()``'s defaults, and
greedy decoding. Wall times include the vocabulary, tracing and every validation; on a
shared machine they are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet start-up (reskeras.console)

import reskeras as rk  # noqa: E402
from reskeras.evaluation.translation import evaluate_translation  # noqa: E402
from reskeras.training.config import TrainConfig  # noqa: E402
from reskeras.training.recipes import resolve  # noqa: E402


def cell(size: int | None, args, tmp: Path) -> dict:
    options = {"task": "multi30k", "languages": args.languages, "limit_train": size}
    if args.quick:
        options |= {"model": "transformer_seq2seq1", "epochs": 1, "min_steps": 0,
                    "model_kwargs": {"width": 32, "num_heads": 2}}  # fmt: skip
    start = time.perf_counter()
    result = rk.train(**options, out=str(tmp / f"run-{size or 'all'}"), verbose=0)
    seconds = time.perf_counter() - start
    beam = evaluate_translation(result.run_dir)
    greedy = evaluate_translation(result.run_dir, beam_width=1)
    last = result.history[-1]
    return {
        "train_pairs": size or "all",
        "epochs": len(result.history),
        "train_seconds": round(seconds, 1),
        "val_perplexity": round(last["val_perplexity"], 3),
        "bleu": round(beam["bleu"], 2),
        "chrf": round(beam["chrf"], 2),
        "bleu_greedy": round(greedy["bleu"], 2),
        "sentences": beam["sentences"],
        "bleu_signature": beam["bleu_signature"],
    }


def markdown(line: dict) -> None:
    print(f"\nMulti30k {line['languages']}, validation (1,014 pairs), recipe {line['recipe']}\n")
    print("| training pairs | epochs | training s | val perplexity | BLEU (beam) | BLEU (greedy) "
          "| chrF |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for c in line["cells"]:
        print(
            f"| {c['train_pairs']} | {c['epochs']} | {c['train_seconds']:.0f} | "
            f"{c['val_perplexity']:.2f} | {c['bleu']:.2f} | {c['bleu_greedy']:.2f} | "
            f"{c['chrf']:.2f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="all", help="training pairs per cell, 'all' for 29,000")
    p.add_argument("--languages", default="de-en")
    p.add_argument("--quick", action="store_true", help="tiny model, one epoch, 1,000 pairs")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes = [1_000]
    recipe = resolve(TrainConfig(task="multi30k", languages=args.languages)).config
    line = {"bench": "translation", "languages": args.languages, "cpus": os.cpu_count(),
            "recipe": {k: v for k, v in recipe.to_dict().items() if v not in (None, {}, False)},
            "cells": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            line["cells"].append(cell(size, args, Path(tmp)))
    print(json.dumps(line))
    if args.markdown:
        markdown(line)


if __name__ == "__main__":
    main()
