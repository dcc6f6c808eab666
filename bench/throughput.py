"""Training throughput with and without XLA, and what ``jit_compile="auto"`` picks. Prints
ONE JSON line (``--markdown`` also prints the README's tables).

    python bench/throughput.py                         # the whole matrix (long on 2 cores)
    python bench/throughput.py --rows fmnist_recipe,cifar_resnet20 --batches 32

Rows: every image family at its default depth (``resnet`` 18 at 64x64, ``cifar_resnet`` 20
and ``wide_resnet`` 16 at 32x32), the Fashion-MNIST default recipe's model at 28x28x1, the
default text recipe's model (64 tokens), and ResNet-50 v1 against keras.applications'
ResNet50 (the same architecture) at 64x64.

Each cell (row x batch) compiles the model with XLA off and on, warms each up for
``--warmup`` steps (the first step's seconds are reported as ``compile_s``), then times
``--steps`` steps ``--repeats`` times, alternating the modes (and, for the ResNet-50 pair,
the two models) within every repeat, so a slow moment on a shared machine hits both sides of
a comparison. It reports the median examples/s, the spread (max - min) / median, and the
share of the CPU's fp32 peak (training FLOPs = 3 x forward FLOPs from
``reskeras.describe_model``). ``auto`` is what
``reskeras.training.xla.resolve_jit_compile`` picks for the cell and ``auto_loss`` how much slower
than the better mode that pick is (0 when it picked
the better one). ``busy`` is the median share of the cores the process kept busy while timed:
well under 1 means it waited (on the machine, not on the model). The reskeras/keras.applications
ratio is the median of the per-repeat ratios.

fp32 peak = cores x clock x 2 FMA pipes x SIMD lanes x 2 FLOPs/FMA (lanes: 16 with AVX-512,
8 with AVX2, 4 otherwise), clock from /proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet start-up (reskeras.console)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import reskeras as rk  # noqa: E402
from reskeras.training.recipes import resolve  # noqa: E402
from reskeras.training.xla import resolve_jit_compile  # noqa: E402

VOCABULARY, TOKENS = 20_000, 64
MODES = {"no_xla": False, "xla": True}


def _image(name: str, shape: tuple[int, int, int]) -> Callable[[], keras.Model]:
    return lambda: rk.build_model(name, num_classes=10, input_shape=shape)


ROWS: dict[str, Callable[[], keras.Model]] = {
    "resnet18": _image("resnet18", (64, 64, 3)),
    "cifar_resnet20": _image("cifar_resnet20", (32, 32, 3)),
    "wide_resnet16": _image("wide_resnet16", (32, 32, 3)),
    "fmnist_recipe": _image(resolve({"task": "fashion_mnist"}).config.model, (28, 28, 1)),
    "text_recipe": lambda: rk.build_model(
        resolve({"task": "sst2"}).config.model,
        num_classes=2,
        sequence_length=TOKENS,
        vocabulary_size=VOCABULARY,
    ),
    "resnet50_v1": lambda: rk.resnet(50, "v1", num_classes=10, input_shape=(64, 64, 3)),
    "keras_applications_resnet50": lambda: keras.applications.ResNet50(
        weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None
    ),
}
#: Rows measured together (interleaved) so their ratio is taken under the same conditions.
PAIRS = {"resnet50_v1": "keras_applications_resnet50"}
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _batch(model: keras.Model, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = model.input_shape[1:]
    if model.inputs[0].dtype.startswith("int"):
        x = rng.integers(2, VOCABULARY, (batch, *shape)).astype("int32")
    else:
        x = rng.integers(0, 256, (batch, *shape)).astype("float32")
    return x, np.arange(batch) % model.output_shape[-1]


class Contender:
    """One model compiled one way, warmed up, ready to be timed."""

    def __init__(self, build, batch: int, jit: bool, warmup: int):
        self.model, self.batch = build(), batch
        # tf.data's autotuning thread wakes at 10 ms x (2^k - 1) after the iterator starts, and
        # fit() returns only after its next wake-up, so timings snap to 2.56 / 5.12 / 10.24 /
        # 20.48 / 40.96 s (up to 2x the work); one repeated batch has nothing to tune.
        options = tf.data.Options()
        options.autotune.enabled = False
        self.ds = tf.data.Dataset.from_tensors(_batch(self.model, batch)).repeat()
        self.ds = self.ds.with_options(options)
        self.model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=LOSS, jit_compile=jit
        )
        start = time.perf_counter()
        self.fit(1)  # traces and compiles
        self.compile_s = time.perf_counter() - start
        self.fit(warmup)
        self.rates: list[float] = []
        self.busy: list[float] = []  # CPU seconds per wall second and core, per repeat

    def fit(self, steps: int) -> None:
        self.model.fit(self.ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)

    def time(self, steps: int) -> None:
        cpu, start = _cpu_seconds(), time.perf_counter()
        self.fit(steps)
        wall = time.perf_counter() - start
        self.rates.append(self.batch * steps / wall)
        self.busy.append((_cpu_seconds() - cpu) / wall / len(os.sched_getaffinity(0)))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(contenders: dict[str, Contender], steps: int, repeats: int) -> None:
    """Times every contender ``repeats`` times, rotating the order every repeat."""
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            contenders[name].time(steps)


def summary(c: Contender, peak: float, flops: float) -> dict:
    median = statistics.median(c.rates)
    return {
        "median": round(median, 1),
        "spread": round((max(c.rates) - min(c.rates)) / median, 3),
        "share_of_peak": round(median * 3 * flops / 1e9 / peak, 3),
        "compile_s": round(c.compile_s, 1),
        "busy": round(statistics.median(c.busy), 2),
    }


def auto_pick(build, batch: int, cell: dict) -> None:
    model = build()
    auto, why = resolve_jit_compile("auto", model, _batch(model, batch), LOSS)
    keras.backend.clear_session()
    best = max(cell["no_xla"]["median"], cell["xla"]["median"])
    cell["auto"] = {"xla": auto, "probe": why.get("seconds_per_step")}
    cell["auto_loss"] = round(1 - cell["xla" if auto else "no_xla"]["median"] / best, 3)


def cpu_peak_gflops() -> tuple[float, str]:
    info = open("/proc/cpuinfo").read()
    flags = next(line for line in info.splitlines() if line.startswith("flags")).split()
    mhz = max(float(line.split(":")[1]) for line in info.splitlines() if "cpu MHz" in line)
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    cores = len(os.sched_getaffinity(0))
    peak = cores * mhz * 1e6 * 2 * lanes * 2 / 1e9
    method = f"{cores} cores x {mhz:.0f} MHz x 2 FMA pipes x {lanes} fp32 lanes x 2 FLOPs/FMA"
    return peak, method


def markdown(result: dict) -> None:
    print("| row | batch | no XLA: img/s (spread, % peak, busy) | XLA | XLA compile s "
          "| auto picks | auto loss |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for name, row in result["rows"].items():
        for b, c in ((k, v) for k, v in row.items() if k.isdigit()):
            n, x = c["no_xla"], c["xla"]
            print(
                f"| {name} | {b} | {n['median']} ({n['spread']:.0%}, {n['share_of_peak']:.1%}, "
                f"{n['busy']:.0%}) | {x['median']} ({x['spread']:.0%}, {x['share_of_peak']:.1%}, "
                f"{x['busy']:.0%}) "
                f"| {x['compile_s']} | {'XLA' if c['auto']['xla'] else 'no XLA'} "
                f"| {c['auto_loss']:.1%} |"
            )
    for pair, ratios in result.get("ratios", {}).items():
        print(
            f"\n{pair}: " + ", ".join(f"{k} {v['median']} ({v['all']})" for k, v in ratios.items())
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    names = args.rows.split(",")
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    peak, method = cpu_peak_gflops()
    result: dict = {"bench": "throughput", "steps": args.steps, "repeats": args.repeats,
                    "peak_gflops": round(peak, 1), "peak_method": method, "rows": {}}  # fmt: skip
    # Each group is timed together: a row alone, or a row and its pair.
    groups = [
        [n] + ([PAIRS[n]] if PAIRS.get(n) in names else [])
        for n in names
        if not any(PAIRS.get(m) == n for m in names)
    ]
    for group in groups:
        flops = {}
        for name in group:
            flops[name] = rk.describe_model(ROWS[name]())["flops"]
            keras.backend.clear_session()
            result["rows"][name] = {"forward_mflops": round(flops[name] / 1e6, 1)}
        for b in (int(b) for b in args.batches.split(",")):
            contenders = {
                (name, mode): Contender(ROWS[name], b, jit, args.warmup)
                for name in group
                for mode, jit in MODES.items()
            }
            measure(contenders, args.steps, args.repeats)
            for name in group:
                cell = {m: summary(contenders[name, m], peak, flops[name]) for m in MODES}
                result["rows"][name][str(b)] = cell
            if len(group) == 2:
                result.setdefault("ratios", {})[f"{group[0]}/{group[1]} batch {b}"] = {
                    m: ratio(contenders[group[0], m].rates, contenders[group[1], m].rates)
                    for m in MODES
                }
            del contenders
            keras.backend.clear_session()
            for name in group:
                auto_pick(ROWS[name], b, result["rows"][name][str(b)])
    result["worst_auto_loss"] = max(
        (c["auto_loss"] for r in result["rows"].values() for k, c in r.items() if k.isdigit()),
        default=0,
    )
    print(json.dumps(result))
    if args.markdown:
        markdown(result)


def ratio(ours: list[float], theirs: list[float]) -> dict:
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return {"median": round(statistics.median(ratios), 3), "all": [round(r, 3) for r in ratios]}


if __name__ == "__main__":
    main()
