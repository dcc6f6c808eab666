"""Training throughput with and without XLA, and what ``jit_compile="auto"`` picks. Prints
ONE JSON line (``--markdown`` also prints the README's table).

    python bench/throughput.py                         # the whole matrix (long on 2 cores)
    python bench/throughput.py --rows fmnist_recipe,cifar_resnet20 --batches 32

Rows: two micro-models that separate kernels from fusion (one wide 3x3 convolution; twelve BN +
ReLU + add blocks), every image family at its default depth (``resnet`` 18 at 64x64,
``cifar_resnet`` 20 and ``wide_resnet`` 16 at 32x32), the Fashion-MNIST default recipe's model
at 28x28x1, the default text recipe's model (64 tokens), and ResNet-50 v1 against
keras.applications' ResNet50 (the same architecture) at 64x64. Each cell (row x XLA on/off x
batch) compiles the model once, warms up for ``--warmup`` steps, then times ``--steps`` steps
``--repeats`` times; it reports the median examples/s, the spread (max - min) / median, and the
share of the CPU's fp32 peak (training FLOPs = 3 x forward FLOPs from
``reskeras.describe_model``). ``auto`` is what ``reskeras.xla.resolve_jit_compile`` picks for
the row, and ``auto_loss`` how much slower than the better mode that pick is (0 when it picked
the better one).

fp32 peak = cores x clock x 2 FMA pipes x SIMD lanes x 2 FLOPs/FMA (lanes: 16 with AVX-512,
8 with AVX2, 4 otherwise), clock from /proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet start-up (reskeras.console)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import reskeras as rk  # noqa: E402
from reskeras.config import RECIPES  # noqa: E402
from reskeras.xla import resolve_jit_compile  # noqa: E402

VOCABULARY, TOKENS = 20_000, 64


def _image(name: str, shape: tuple[int, int, int], **kwargs) -> Callable[[], keras.Model]:
    return lambda: rk.build_model(name, num_classes=10, input_shape=shape, **kwargs)


def micro_conv() -> keras.Model:
    """One wide 3x3 convolution (like ResNet-50's last stage): kernel-bound."""
    inputs = keras.Input((8, 8, 256))
    x = keras.layers.Conv2D(256, 3, padding="same")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))


def micro_elementwise() -> keras.Model:
    """Twelve BN + ReLU + add blocks, no convolution: bound by small element-wise ops."""
    inputs = x = keras.Input((28, 28, 16))
    for _ in range(12):
        x = keras.layers.Add()([x, keras.layers.ReLU()(keras.layers.BatchNormalization()(x))])
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))


ROWS: dict[str, Callable[[], keras.Model]] = {
    "micro_conv": micro_conv,
    "micro_elementwise": micro_elementwise,
    "resnet18": _image("resnet18", (64, 64, 3)),
    "cifar_resnet20": _image("cifar_resnet20", (32, 32, 3)),
    "wide_resnet16": _image("wide_resnet16", (32, 32, 3)),
    "fmnist_recipe": _image(RECIPES["image"].model, (28, 28, 1)),
    "text_recipe": lambda: rk.build_model(
        RECIPES["text"].model, num_classes=2, sequence_length=TOKENS, vocabulary_size=VOCABULARY
    ),
    "resnet50_v1": lambda: rk.resnet(50, "v1", num_classes=10, input_shape=(64, 64, 3)),
    "keras_applications_resnet50": lambda: keras.applications.ResNet50(
        weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None
    ),
}
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _batch(model: keras.Model, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = model.input_shape[1:]
    if model.inputs[0].dtype.startswith("int"):
        x = rng.integers(2, VOCABULARY, (batch, *shape)).astype("int32")
    else:
        x = rng.integers(0, 256, (batch, *shape)).astype("float32")
    return x, np.arange(batch) % model.output_shape[-1]


def rates(build, batch: int, jit: bool, steps: int, warmup: int, repeats: int) -> list[float]:
    """Examples/s of ``repeats`` timed runs of ``steps`` training steps each."""
    model = build()
    x, y = _batch(model, batch)
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=LOSS, jit_compile=jit)
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)  # compiles
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        out.append(batch * steps / (time.perf_counter() - start))
    keras.backend.clear_session()
    return out


def cpu_peak_gflops() -> tuple[float, str]:
    info = open("/proc/cpuinfo").read()
    flags = next(line for line in info.splitlines() if line.startswith("flags")).split()
    mhz = max(float(line.split(":")[1]) for line in info.splitlines() if "cpu MHz" in line)
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    cores = len(os.sched_getaffinity(0))
    peak = cores * mhz * 1e6 * 2 * lanes * 2 / 1e9
    method = f"{cores} cores x {mhz:.0f} MHz x 2 FMA pipes x {lanes} fp32 lanes x 2 FLOPs/FMA"
    return peak, method


def cell(build, batch: int, args, peak: float, flops: float) -> dict:
    row: dict = {}
    for key, jit in (("no_xla", False), ("xla", True)):
        r = rates(build, batch, jit, args.steps, args.warmup, args.repeats)
        median = statistics.median(r)
        row[key] = {
            "median": round(median, 1),
            "spread": round((max(r) - min(r)) / median, 3),
            "share_of_peak": round(median * 3 * flops / 1e9 / peak, 3),
        }
    model = build()
    auto, why = resolve_jit_compile("auto", model, _batch(model, batch), LOSS)
    keras.backend.clear_session()
    best = max(row["no_xla"]["median"], row["xla"]["median"])
    picked = row["xla" if auto else "no_xla"]["median"]
    row["auto"] = {"xla": auto, "probe": why.get("seconds_per_step")}
    row["auto_loss"] = round(1 - picked / best, 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    peak, method = cpu_peak_gflops()
    result: dict = {
        "bench": "throughput",
        "steps": args.steps,
        "repeats": args.repeats,
        "peak_gflops": round(peak, 1),
        "peak_method": method,
        "rows": {},
    }
    batches = [int(b) for b in args.batches.split(",")]
    for name in args.rows.split(","):
        build = ROWS[name]
        flops = rk.describe_model(build())["flops"]
        keras.backend.clear_session()
        result["rows"][name] = {
            "forward_mflops": round(flops / 1e6, 1),
            **{str(b): cell(build, b, args, peak, flops) for b in batches},
        }
    rows = result["rows"]
    if "resnet50_v1" in rows and "keras_applications_resnet50" in rows:
        b = str(batches[0])
        result["resnet50_v1_vs_keras_applications"] = {
            key: round(
                rows["resnet50_v1"][b][key]["median"]
                / rows["keras_applications_resnet50"][b][key]["median"],
                3,
            )
            for key in ("no_xla", "xla")
        }
    result["worst_auto_loss"] = max(
        (c["auto_loss"] for r in rows.values() for k, c in r.items() if k.isdigit()), default=0
    )
    print(json.dumps(result))
    if args.markdown:
        print("| row | batch | no XLA (img/s, spread, % peak) | XLA | auto picks | auto loss |")
        print("|---|---|---|---|---|---|")
        for name, r in rows.items():
            for b, c in ((k, v) for k, v in r.items() if k.isdigit()):
                n, x = c["no_xla"], c["xla"]
                print(
                    f"| {name} | {b} | {n['median']} ({n['spread']:.0%}, "
                    f"{n['share_of_peak']:.1%}) | {x['median']} ({x['spread']:.0%}, "
                    f"{x['share_of_peak']:.1%}) | {'XLA' if c['auto']['xla'] else 'no XLA'} "
                    f"| {c['auto_loss']:.1%} |"
                )


if __name__ == "__main__":
    main()
