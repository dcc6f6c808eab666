"""Why XLA:CPU trains ResNet-50 slower than TensorFlow's own kernels: the measurements behind
the README's answer. Prints ONE JSON line (``--markdown`` also prints the tables).

    python bench/xla_ops.py [--markdown]

1. ``stages``: keras.applications' ResNet50 at 64x64, batch 32, inference time of the model
   cut after each stage, TensorFlow executor vs XLA (where the time goes).
2. ``small_map``: one 3x3, 512-channel convolution at batch 32 on 2x2 maps (ResNet-50's last
   stage at 64x64) and on 4x4 maps, forward and a training step (forward + both gradients),
   as ``keras.layers.Conv2D`` and as ``reskeras.SmallMapConv2D``.
3. ``gradients``: single convolutions at 16x16 (batch 32): forward, gradient with respect to
   the input and with respect to the kernel, each mode.
4. ``cores``: CPU seconds per wall second while training ResNet-50 (both modes), to rule out
   a thread pool that leaves a core idle.

Times are medians of ``--repeats`` runs after two warm-up calls (which compile).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet start-up (reskeras.console)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import reskeras as rk  # noqa: E402

MODES = {"tf": False, "xla": True}


def ms(fn, *args, repeats: int) -> float:
    fn(*args), fn(*args)  # traces and compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(fn(*args))
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 2)


def train_step(fn, variables):
    def step(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            out = fn(*args)
            loss = tf.reduce_mean(tf.square(out))
        grads = tape.gradient(loss, list(args) + list(variables))
        return tf.add_n([tf.reduce_sum(g) for g in grads])

    return step


def stages(repeats: int) -> list[dict]:
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    x = tf.random.uniform((32, 64, 64, 3))
    rows = []
    for name in (
        "pool1_pool",
        *(f"conv{s}_block{b}_out" for s, b in ((2, 3), (3, 4), (4, 6), (5, 3))),
    ):
        cut = keras.Model(model.input, model.get_layer(name).output)
        row = {"up_to": name, "output": list(cut.output_shape[1:])}
        for mode, jit in MODES.items():
            row[mode] = ms(
                tf.function(lambda t, c=cut: c(t, training=False), jit_compile=jit),
                x,
                repeats=repeats,
            )
        rows.append(row)
    return rows


def small_map(repeats: int) -> list[dict]:
    rows = []
    for size in (2, 4):
        x = tf.random.normal((32, size, size, 512))
        for cls in (keras.layers.Conv2D, rk.SmallMapConv2D):
            layer = cls(512, 3, padding="same", use_bias=False)
            layer.build(x.shape)
            row = {"map": f"{size}x{size}", "layer": cls.__name__}
            for mode, jit in MODES.items():
                row[f"forward_{mode}"] = ms(tf.function(layer, jit_compile=jit), x, repeats=repeats)
                step = tf.function(train_step(layer, layer.trainable_variables), jit_compile=jit)
                row[f"train_{mode}"] = ms(step, x, repeats=repeats)
            rows.append(row)
    return rows


def gradients(repeats: int) -> list[dict]:
    rows = []
    for name, size, cin, cout, k, s in (
        ("3x3, 64 -> 64, 16x16", 16, 64, 64, 3, 1),
        ("3x3 stride 2, 64 -> 128, 16x16", 16, 64, 128, 3, 2),
        ("1x1, 256 -> 64, 16x16", 16, 256, 64, 1, 1),
        ("7x7 stride 2, 3 -> 64, 64x64 (stem)", 64, 3, 64, 7, 2),
    ):
        x, w = tf.random.normal((32, size, size, cin)), tf.random.normal((k, k, cin, cout))
        row = {"conv": name}
        for part in ("forward", "d_input", "d_kernel"):
            for mode, jit in MODES.items():
                row[f"{part}_{mode}"] = ms(
                    tf.function(_conv_part(part, s), jit_compile=jit), x, w, repeats=repeats
                )
        rows.append(row)
    return rows


def _conv_part(part: str, strides: int):
    def fn(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = tf.nn.conv2d(x, w, strides, "SAME")
        if part == "forward":
            return y
        return tape.gradient(y, x if part == "d_input" else w)

    return fn


def cores(steps: int) -> dict:
    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    out = {}
    x, y = (
        np.random.default_rng(0).uniform(0, 255, (32, 64, 64, 3)).astype("float32"),
        np.arange(32) % 10,
    )
    for mode, jit in MODES.items():
        model = rk.resnet(50, "v1", num_classes=10, input_shape=(64, 64, 3))
        model.compile(
            "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit
        )
        model.train_on_batch(x, y), model.train_on_batch(x, y)
        c0, w0 = cpu(), time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        wall = time.perf_counter() - w0
        out[mode] = {
            "ms_per_step": round(wall / steps * 1e3, 1),
            "cores_busy": round((cpu() - c0) / wall, 2),
        }
        keras.backend.clear_session()
    out["cores"] = len(os.sched_getaffinity(0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    result = {
        "bench": "xla_ops",
        "stages": stages(args.repeats),
        "small_map": small_map(args.repeats),
        "gradients": gradients(args.repeats),
        "cores": cores(8),
    }
    print(json.dumps(result))
    if args.markdown:
        for key in ("stages", "small_map", "gradients"):
            rows = result[key]
            print(f"\n{key}\n| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
            for row in rows:
                print("| " + " | ".join(str(v) for v in row.values()) + " |")
        print(f"\ncores: {result['cores']}")


if __name__ == "__main__":
    main()
