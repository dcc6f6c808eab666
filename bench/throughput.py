"""Training throughput: reskeras ResNet-50 vs keras.applications ResNet-50, and
CIFAR ResNet-20 against the CPU's fp32 peak. Prints one JSON line.

    python bench/throughput.py [--steps 10] [--batch 32] [--size 64]

The ResNet-50s (reskeras' default v1.5, reskeras v1 — the same architecture as
keras.applications, stride on the first 1x1 — and keras.applications) train on the same
random batches (uint8-range pixels, 10 classes, logits,
SGD) in the same process, with and without XLA (``jit_compile``). Images/s are measured over
``--steps`` steps after two warm-up steps that include compilation.

fp32 peak = cores x clock x FLOPs/cycle/core, with FLOPs/cycle = 2 FMA pipes x SIMD lanes x 2
(lanes: 16 with AVX-512, 8 with AVX2, 4 otherwise), clock from /proc/cpuinfo. Training
FLOPs per image are taken as 3x the forward FLOPs (forward, and backward for inputs and for
weights), forward FLOPs from ``reskeras.describe_model``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import reskeras as rk  # noqa: E402


def images_per_second(model: keras.Model, batch: int, steps: int, jit: bool) -> float:
    shape = model.input_shape[1:]
    x = np.random.default_rng(0).integers(0, 256, (batch, *shape)).astype("float32")
    y = np.arange(batch) % model.output_shape[-1]
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    model.fit(ds, steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)  # compile + warm up
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return batch * steps / (time.perf_counter() - start)


def cpu_peak_gflops() -> tuple[float, str]:
    info = open("/proc/cpuinfo").read()
    flags = next(line for line in info.splitlines() if line.startswith("flags")).split()
    mhz = max(float(line.split(":")[1]) for line in info.splitlines() if "cpu MHz" in line)
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    cores = len(os.sched_getaffinity(0))
    peak = cores * mhz * 1e6 * 2 * lanes * 2 / 1e9
    method = f"{cores} cores x {mhz:.0f} MHz x 2 FMA pipes x {lanes} fp32 lanes x 2 FLOPs/FMA"
    return peak, method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cifar-batch", type=int, default=128)
    args = parser.parse_args()
    shape = (args.size, args.size, 3)

    def ours(version="v1.5"):
        return rk.resnet(50, version, num_classes=10, input_shape=shape)

    def reference():
        return keras.applications.ResNet50(
            weights=None, input_shape=shape, classes=10, classifier_activation=None
        )

    result = {"bench": "throughput", "batch": args.batch, "input_shape": list(shape)}
    for jit in (False, True):
        key = "xla" if jit else "no_xla"
        a = images_per_second(ours(), args.batch, args.steps, jit)
        keras.backend.clear_session()
        v1 = images_per_second(ours("v1"), args.batch, args.steps, jit)
        keras.backend.clear_session()
        b = images_per_second(reference(), args.batch, args.steps, jit)
        keras.backend.clear_session()
        result[key] = {
            "reskeras_resnet50": round(a, 1),
            "reskeras_resnet50_v1": round(v1, 1),
            "keras_applications_resnet50": round(b, 1),
            "ratio": round(a / b, 3),
            "ratio_v1": round(v1 / b, 3),
        }

    cifar = rk.cifar_resnet(20, num_classes=10, input_shape=(32, 32, 3))
    forward = rk.describe_model(cifar)["flops"]
    rate = images_per_second(cifar, args.cifar_batch, args.steps * 3, jit=True)
    peak, method = cpu_peak_gflops()
    achieved = rate * 3 * forward / 1e9
    result["cifar_resnet20"] = {
        "images_per_s": round(rate, 1),
        "forward_mflops_per_image": round(forward / 1e6, 1),
        "achieved_gflops": round(achieved, 1),
        "peak_gflops": round(peak, 1),
        "share_of_peak": round(achieved / peak, 3),
        "peak_method": method,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
