"""Image augmentation on and off, across data sizes, image kinds, models and short budgets.
Prints ONE JSON line.

    python bench/augmentation.py                                  # the whole table
    python bench/augmentation.py --sizes 1000,5000 --models cifar_resnet14_fast
    python bench/augmentation.py --sizes 0 --budgets 30,100,300   # only the short runs

Every cell is ``reskeras.train(task, data=..., limit_train=N, augment=A, model=M)`` with
nothing else set: the recipe and every rule of ``reskeras.training.recipes.resolve``,
what ``reskeras train`` runs. Two kinds of image: Fashion-MNIST as it is (28x28 grey,
``fashion_mnist``) and the same images as 32x32 colour photos in class folders
(``image_folder``: the grey channel replicated to three and resized, written as PNG
files, as a user's folder would be). Each cell reports the test accuracy, the best
validation accuracy and the test accuracy of that epoch's model, whether the final model
collapsed onto one class, and what the rule (``augment`` left unset) would have chosen.
Short-budget cells (``--budgets``: 30, 100, 300 steps at 2,000 examples) train exactly that
many steps. ``--seeds 1,2`` repeats every cell with other seeds (initialization, sample,
split and data order).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def colour_folder(root: Path) -> Path:
    """Fashion-MNIST as 32x32 RGB PNGs in train/ and test/ class folders."""
    import numpy as np
    import tensorflow as tf

    from reskeras.data import load_task

    task = load_task("fashion_mnist")
    for split, ds in (("train", task.train), ("test", task.test)):
        counts = {}
        for x, y in ds.batch(1024).as_numpy_iterator():
            rgb = tf.image.resize(np.repeat(x, 3, axis=-1), (32, 32)).numpy()
            for image, label in zip(rgb.round().clip(0, 255).astype("uint8"), y, strict=True):
                name = task.class_names[int(label)].replace("/", "-")
                folder = root / split / name
                folder.mkdir(parents=True, exist_ok=True)
                i = counts[name] = counts.get(name, 0) + 1
                tf.io.write_file(str(folder / f"{i:05d}.png"), tf.io.encode_png(image))
    return root


def _test_each_epoch(task: str, data: str | None):
    """A callback scoring the test split after every epoch's validation (and its batch-norm
    recomputation): whether the best validation epoch's model beats the last one."""
    import keras

    from reskeras.data import load_task, make_pipeline

    test = make_pipeline(load_task(task, data).test, 256, training=False)

    class TestEachEpoch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.scores: list[float] = []

        def on_epoch_end(self, epoch, logs=None):
            self.scores.append(
                float(self.model.evaluate(test, verbose=0, return_dict=True)["accuracy"])
            )

    return TestEachEpoch()


def cell(task: str, data: str | None, out: Path, grey: bool, **options) -> dict:
    from reskeras.training.loop import train
    from reskeras.training.recipes import augment_by_rule

    start = time.perf_counter()
    scorer = _test_each_epoch(task, data)
    result = train(task, data=data, out=out, verbose=0, callbacks=[scorer], **options)
    val = [h["val_accuracy"] for h in result.history]
    record = json.loads((out / "config.json").read_text())
    steps = record["steps_per_epoch"] * len(result.history)
    passes = steps * record["global_batch_size"] / options["limit_train"]
    last = result.collapses[-1]["epoch"] if result.collapses else None
    return {
        **{k: v for k, v in options.items() if k != "limit_train"},
        "train_examples": options["limit_train"],
        "test_accuracy": round(float(result.test_accuracy), 4),
        "best_val_accuracy": round(max(val), 4),
        # the test accuracy of the epoch with the best validation accuracy (the first of ties)
        "test_accuracy_at_best_val": round(scorer.scores[val.index(max(val))], 4),
        "epochs": len(result.history),
        "steps": steps,
        "passes": round(passes, 1),
        "collapsed": last == len(result.history),
        "grey": grey,
        "rule_augment": augment_by_rule(passes, grey),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="training examples")
    parser.add_argument("--kinds", default="grey,colour", help="grey (28x28), colour (32x32)")
    parser.add_argument("--models", default="cifar_resnet14_fast,cifar_resnet20")
    parser.add_argument("--budgets", default="30,100,300", help="short runs: steps in all")
    parser.add_argument("--seeds", default="0", help="one run per seed and cell")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from reskeras.data import grey_images, load_task

    tmp = Path(tempfile.mkdtemp(prefix="bench-augmentation-"))
    kinds = [k for k in args.kinds.split(",") if k]
    sources = {"grey": ("fashion_mnist", None)}
    if "colour" in kinds:
        sources["colour"] = ("image_folder", str(colour_folder(tmp / "colour")))
    cells = []
    for kind in kinds:
        task, data = sources[kind]
        grey = grey_images(load_task(task, data).train)  # what the rule sees (both: grey)
        for seed in _ints(args.seeds):
            for steps in _ints(args.budgets):
                for augment in (False, True):
                    name = f"{kind}-budget{steps}-{augment}-{seed}"
                    row = cell(
                        task, data, tmp / name, grey, limit_train=2000, augment=augment, epochs=1,
                        min_steps=steps, batch_size=128, seed=seed,
                    )  # fmt: skip
                    cells.append({"kind": kind, "budget_steps": steps, **row})
                    print(json.dumps(cells[-1]), file=sys.stderr, flush=True)
            for size in [s for s in _ints(args.sizes) if s]:
                for model in [m for m in args.models.split(",") if m]:
                    for augment in (False, True):
                        name = f"{kind}-{size}-{model}-{augment}-{seed}"
                        row = cell(
                            task, data, tmp / name, grey, limit_train=size, model=model,
                            augment=augment, seed=seed,
                        )  # fmt: skip
                        cells.append({"kind": kind, **row})
                        print(json.dumps(cells[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"bench": "augmentation", "cpus": os.cpu_count(), "cells": cells}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
