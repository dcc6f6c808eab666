"""Serving latency: exported SavedModel signature vs Keras ``predict`` and ``__call__``.

Builds cifar_resnet20 (32x32x3, 10 classes), exports it with ``export_for_serving`` to a temp
dir, loads the ``serving_default`` signature with ``tf.saved_model.load`` and times batch-1 and
batch-64 calls (median of ``--runs`` after ``--warmup``), all in this process. Prints ONE JSON
line (milliseconds). Target: signature at batch 1 <= half of ``predict``'s latency.

    .venv/bin/python bench/serving.py [--runs 50] [--warmup 5] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet start-up (reskeras.console)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from reskeras.models.registry import build_model  # noqa: E402
from reskeras.serve.export import export_for_serving  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(times), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    model = build_model("cifar_resnet20", num_classes=10, input_shape=(32, 32, 3))
    rng = np.random.default_rng(0)
    result: dict[str, object] = {
        "bench": "serving",
        "model": "cifar_resnet20",
        "input_shape": [32, 32, 3],
        "runs": args.runs,
        "tf": tf.__version__,
        "keras": keras.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    with tempfile.TemporaryDirectory(prefix="reskeras-bench-") as tmp:
        t0 = time.perf_counter()
        exported = export_for_serving(model, "bench", tmp)
        result["export_s"] = round(time.perf_counter() - t0, 2)
        signature = tf.saved_model.load(str(exported.path)).signatures["serving_default"]
        for batch in (1, 64):
            x = rng.integers(0, 256, (batch, 32, 32, 3)).astype(np.uint8)
            xt = tf.constant(x)
            xf = x.astype(np.float32)
            max_diff = float(
                np.abs(
                    signature(images=xt)["probabilities"].numpy()
                    - tf.nn.softmax(model(xf, training=False)).numpy()
                ).max()
            )
            result[f"b{batch}"] = {
                "signature_ms": median_ms(
                    lambda xt=xt: signature(images=xt), args.runs, args.warmup
                ),
                "predict_ms": median_ms(
                    lambda xf=xf, b=batch: model.predict(xf, batch_size=b, verbose=0),
                    args.runs,
                    args.warmup,
                ),
                "call_ms": median_ms(
                    lambda xf=xf: model(xf, training=False), args.runs, args.warmup
                ),
                "max_abs_diff": max_diff,
            }
    b1 = result["b1"]
    result["b1_signature_over_predict"] = round(b1["signature_ms"] / b1["predict_ms"], 3)
    result["target_met"] = b1["signature_ms"] <= 0.5 * b1["predict_ms"]
    print(json.dumps(result))
    return 0 if result["target_met"] or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
