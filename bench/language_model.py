"""Language models on WikiText-2: the default recipe, residual vs plain, speed against
keras-hub, cached sampling, and the output softmax's share of a training step. Prints ONE JSON
line per sub-command (``--markdown`` also prints the README's tables).

    python bench/language_model.py recipe --markdown               # the recipe, ~an hour
    nice -n 19 python bench/language_model.py --quick all          # everything, ~3 minutes
    nice -n 19 python bench/language_model.py residual --markdown  # lm_lstm 2/4/8 x residual
    nice -n 19 python bench/language_model.py speed --markdown     # vs keras-hub; cached sampling
    nice -n 19 python bench/language_model.py softmax --markdown   # step time by vocabulary, width

``recipe`` is ``reskeras train --task wikitext2`` with every default (the ``language_model``
recipe as ``resolve()`` decides it; ``--epochs`` overrides only the epochs, ``--lines`` trains
on the first N lines too): validation perplexity on the whole validation file after each
epoch, and the wall time of the whole run (vocabulary, tracing and validations included).
Time it on an otherwise idle machine.

``residual`` trains ``lm_lstm{2,4,8}`` and ``plain_lm_lstm{2,4,8}`` through
``reskeras.train`` on task ``wikitext2`` (the ``language_model`` recipe from ``resolve()``,
with only what the bench sets: the first ``--lines`` training lines, ``--steps`` optimizer
steps in ``--epochs`` epochs, ``units``, the window and the vocabulary cap), and reports each
epoch's ``val_perplexity`` on the **whole** validation file, the wall time and training
tokens/s. Every cell sees the same lines in the same order for the same number of steps.

``speed`` times training tokens/s of ``lm_transformer`` against the same architecture
assembled from ``keras_hub.layers`` (``TokenAndPositionEmbedding`` with its tied
``ReversibleEmbedding``, pre-LN ``TransformerDecoder`` blocks, a final LayerNorm), same
shapes, batch, loss and optimizer, the two alternating within every repeat; then greedy
sampling tokens/s for the same random model and length (``--length``, the model's
positions): re-running the full model on the growing sequence each step (uncached), a
``reskeras.generate`` call (cached: one token a step through each block's cache, in a loop
traced on the model's first call), and that loop compiled with XLA, checking that all three
produce the same tokens.

``softmax`` times a training step (the recipe's loss and AdamW) of ``lm_lstm2`` (and
``--models``) at each width and vocabulary size, with the full softmax and the adaptive one
(``--outputs``); a vocabulary of ``--tiny`` (256) tokens costs
next to nothing in the output layer, so ``1 - t(tiny) / t(V)`` (medians of the repeats,
which time every vocabulary of a width in turn) is the output layer's (tied projection +
softmax + their gradients) share of the step at vocabulary ``V``.

Timed steps exclude compilation (each model is traced and warmed up first) and run without
XLA unless ``--xla``. On a shared machine run it under ``nice -n 19``: fixed-step comparisons
hold, wall times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet start-up (reskeras.console)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import reskeras as rk  # noqa: E402
from reskeras.data.corpus import Vocabulary  # noqa: E402
from reskeras.training.objectives import make_loss  # noqa: E402
from reskeras.training.optim import make_optimizer  # noqa: E402
from reskeras.training.recipes import RECIPES, WEIGHT_DECAY, recipe_options  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WIKITEXT2 = REPO.parent / "shared/data/wikitext2"
FULL_VOCABULARY = 33_278  # WikiText-2's types, <pad> <unk> <eos> included
RECIPE = RECIPES["language_model"]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights))


# --------------------------------------------------------------------------- residual


def wikitext_cell(args, out: Path, **options) -> tuple[dict, object]:
    """One ``reskeras.train`` run on task ``wikitext2`` with ``options`` (the test split is the
    validation file again, scored every epoch already, so it is cut to one window): what
    every part reports of it, and the :class:`~reskeras.training.loop.TrainResult`."""
    start = time.perf_counter()
    result = rk.train("wikitext2", data=str(args.data), limit_test=1, out=out, verbose=0, **options)
    wall = time.perf_counter() - start
    record = json.loads((result.run_dir / "config.json").read_text())
    cell = {
        "model": record["train"]["model"],
        "params": result.model.count_params(),
        "vocabulary": len(json.loads((result.run_dir / "labels.json").read_text())),
        "epochs": len(result.history),
        "steps": record["steps_per_epoch"] * len(result.history),
        "val_perplexity": [round(h["val_perplexity"], 2) for h in result.history],
        "train_perplexity": round(result.history[-1]["perplexity"], 1),
        "epoch_seconds": [round(h["seconds"], 1) for h in result.history],
        "xla": (record.get("xla") or {}).get("jit_compile"),
        "seconds": round(wall, 1),
    }
    return cell, result


def residual_cell(name: str, args, tmp: Path) -> dict:
    """One run of ``name`` at the bench's budget."""
    cell, result = wikitext_cell(
        args, tmp / name, model=name, epochs=args.epochs, min_steps=args.steps,
        limit_train=args.lines, sequence_length=args.length, vocabulary_size=args.vocabulary,
        model_kwargs={"units": args.units},
    )  # fmt: skip
    tokens = cell["steps"] * result.config.batch_size * args.length
    return {**cell, "train_tokens_per_s": round(tokens / cell["seconds"], 1)}


def run_residual(args) -> dict:
    names = [f"{p}lm_lstm{d}" for d in _ints(args.depths) for p in ("", "plain_")]
    line = {
        "bench": "language_model",
        "part": "residual",
        "recipe": recipe_options(RECIPE),
        "lines": args.lines,
        "steps": args.steps,
        "epochs": args.epochs,
        "units": args.units,
        "sequence_length": args.length,
        "vocabulary_cap": args.vocabulary,
        "cells": [],
    }
    with tempfile.TemporaryDirectory(prefix="reskeras-lm-") as tmp:
        for name in names:
            line["cells"].append(residual_cell(name, args, Path(tmp)))
            print(json.dumps(line["cells"][-1]), file=sys.stderr, flush=True)
            keras.backend.clear_session()
    return line


def markdown_residual(line: dict) -> None:
    print(
        "| depth | residual: val perplexity per epoch | s | plain: val perplexity per epoch | s |"
        "\n|---|---|---|---|---|"
    )
    cells = {c["model"]: c for c in line["cells"]}
    for name, cell in cells.items():
        if name.startswith("plain_"):
            continue
        plain = cells.get("plain_" + name, {})
        ppl = lambda c: " → ".join(f"{p:,.1f}" for p in c.get("val_perplexity", []))  # noqa: E731
        print(
            f"| {name.removeprefix('lm_lstm')} | {ppl(cell)} | {cell['seconds']:.0f} "
            f"| {ppl(plain)} | {plain.get('seconds', 0):.0f} |"
        )


# --------------------------------------------------------------------------- recipe


def recipe_cell(lines: int | None, args, out: Path) -> dict:
    """One ``reskeras train --task wikitext2`` run: the recipe as ``resolve()`` decides it
    (``--epochs`` overrides its epochs), validation perplexity on the whole file each epoch."""
    options = {} if args.epochs is None else {"epochs": args.epochs}
    cell, _ = wikitext_cell(args, out, limit_train=lines, **options)
    return {"lines": lines or "all", **cell}


def run_recipe(args) -> dict:
    line = {
        "bench": "language_model",
        "part": "recipe",
        "recipe": recipe_options(RECIPE),
        "epochs": args.epochs,
        "cells": [],
    }
    sizes = [None if v == "all" else int(v) for v in args.lines.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="reskeras-lm-") as tmp:
        for lines in sizes:
            out = (args.keep or Path(tmp)) / f"run-{lines or 'all'}"
            line["cells"].append(recipe_cell(lines, args, out))
            print(json.dumps(line["cells"][-1]), file=sys.stderr, flush=True)
            keras.backend.clear_session()
    return line


def markdown_recipe(line: dict) -> None:
    print(
        "| training lines | model | vocabulary | epochs | s | val perplexity by epoch |"
        "\n|---:|---|---:|---:|---:|---|"
    )
    for c in line["cells"]:
        lines = c["lines"] if c["lines"] == "all" else f"{c['lines']:,}"
        ppl = ", ".join(f"{p:,.1f}" for p in c["val_perplexity"][:-1])
        ppl = f"{ppl}, **{c['val_perplexity'][-1]:,.1f}**".lstrip(", ")
        print(
            f"| {lines} | `{c['model']}` | {c['vocabulary']:,} | {c['epochs']} "
            f"| {c['seconds']:,.0f} | {ppl} |"
        )


# --------------------------------------------------------------------------- timing


class Stepper:
    """A language model compiled with the recipe's loss and AdamW, fed one repeated batch
    of random token ids, warmed up, ready to time training steps."""

    def __init__(self, model: keras.Model, batch: int, length: int, xla: bool, warmup: int):
        self.model, self.tokens = model, batch * length
        vocabulary = int(model.outputs[0].shape[-1])
        rng = np.random.default_rng(0)
        ids = rng.integers(3, vocabulary, (batch, length + 1)).astype("int32")
        options = tf.data.Options()
        options.autotune.enabled = False  # bench/README.md: tf.data's wake-ups snap timings
        self.ds = tf.data.Dataset.from_tensors((ids[:, :-1], ids[:, 1:])).repeat()
        self.ds = self.ds.with_options(options)
        optimizer = make_optimizer("adamw", RECIPE.lr, WEIGHT_DECAY["adamw"], None)
        model.compile(optimizer, make_loss("language_model", 0.0), jit_compile=xla)
        start = time.perf_counter()
        self.fit(1)
        self.compile_s = time.perf_counter() - start
        self.fit(warmup)
        self.seconds: list[float] = []  # per step, per repeat

    def fit(self, steps: int) -> None:
        self.model.fit(self.ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)

    def time(self, steps: int) -> None:
        start = time.perf_counter()
        self.fit(steps)
        self.seconds.append((time.perf_counter() - start) / steps)

    @property
    def step_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / statistics.median(self.seconds)


def interleave(steppers: list[Stepper], steps: int, repeats: int) -> None:
    """Times each stepper ``repeats`` times, rotating the order every repeat."""
    for r in range(repeats):
        for s in steppers[r % len(steppers) :] + steppers[: r % len(steppers)]:
            s.time(steps)


# --------------------------------------------------------------------------- speed


def keras_hub_lm(depth: int, vocabulary: int, length: int, width: int, heads: int) -> keras.Model:
    """``lm_transformer``'s architecture from keras-hub's layers."""
    import keras_hub

    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary, length, width, mask_zero=True, name="embedding"
    )
    x = keras.layers.Dropout(0.1)(embedding(inputs))
    for b in range(depth):
        x = keras_hub.layers.TransformerDecoder(
            4 * width, heads, dropout=0.1, normalize_first=True, name=f"block{b + 1}"
        )(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = embedding.token_embedding(x, reverse=True)
    logits = keras.layers.Activation("linear", dtype="float32")(logits)
    return keras.Model(inputs, logits, name="keras_hub_lm")


def _vocabulary(size: int) -> Vocabulary:
    return Vocabulary(("<pad>", "<unk>", "<eos>", *(f"w{i}" for i in range(3, size))))


def sampling(model: keras.Model, vocab: Vocabulary, new: int, repeats: int) -> dict:
    """Greedy sampling of ``new`` tokens after a one-word prompt, three ways: a
    ``reskeras.generate`` call (cached: one token a step through each block's cache; its
    loop is traced on the model's first call and reused), the same loop compiled with XLA,
    and the full model re-run on the growing sequence every step (uncached; its forward
    pass traced once, any length)."""
    from reskeras.decoding.causal import make_sampler, sample_ids

    embedding = model.get_layer("embedding")
    table = getattr(embedding, "token_embedding", embedding).embeddings
    rows = table.numpy()
    rows[vocab.eos_id] = 0.0  # <eos> scores 0: a random model then never ends the line early
    table.assign(rows)
    prompt = "w7"
    start_ids = vocab.stream([prompt])[:-1].astype("int32")  # <eos> w7
    buffer = np.zeros((1, len(start_ids) + new), np.int32)
    buffer[0, : len(start_ids)] = start_ids
    given = buffer != 0

    def generate() -> list[int]:
        text = rk.generate(model, prompt, max_length=new, temperature=0, vocabulary=vocab)
        return [vocab.tokens.index(w) for w in text.split()]

    sampler = make_sampler(0.0)
    xla_loop = tf.function(
        lambda ids, given: sample_ids(model, sampler, ids, given, eos_id=vocab.eos_id),
        jit_compile=True,
    )

    def cached_loop_xla() -> list[int]:
        return [int(t) for t in xla_loop(buffer, given)[0, len(start_ids) :]]

    forward = tf.function(
        lambda ids: model(ids, training=False)[:, -1],
        input_signature=[tf.TensorSpec((1, None), tf.int32)],
    )

    def uncached() -> list[int]:
        ids, out = start_ids[None], []
        for _ in range(new):
            token = int(np.argmax(forward(ids)[0]))
            out.append(token)
            ids = np.concatenate([ids, [[token]]], axis=1).astype("int32")
        return out

    ways = {"generate": generate, "cached_loop_xla": cached_loop_xla, "uncached": uncached}
    first = {}
    for name, fn in ways.items():  # the first call of each traces
        start = time.perf_counter()
        fn()
        first[name] = round(time.perf_counter() - start, 2)
    times: dict[str, list[float]] = {name: [] for name in ways}
    tokens = {}
    for _ in range(repeats):
        for name, fn in ways.items():
            start = time.perf_counter()
            tokens[name] = fn()
            times[name].append(time.perf_counter() - start)
    rate = {k: new / statistics.median(v) for k, v in times.items()}
    return {
        "new_tokens": new,
        "generated": {k: len(v) for k, v in tokens.items()},
        "same_tokens": all(t == tokens["uncached"] for t in tokens.values()),
        **{f"{k}_tokens_per_s": round(v, 1) for k, v in rate.items()},
        "generate_vs_uncached": round(rate["generate"] / rate["uncached"], 2),
        "cached_loop_xla_vs_uncached": round(rate["cached_loop_xla"] / rate["uncached"], 2),
        "first_call_s": first,
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
    }


def run_speed(args) -> dict:
    shape = {"depth": args.depth, "width": args.width, "heads": args.heads}
    line = {
        "bench": "language_model",
        "part": "speed",
        **shape,
        "vocabulary": args.vocabulary,
        "batch": args.batch,
        "length": args.length,
        "xla": args.xla,
    }
    reskeras_model = rk.lm_transformer(
        args.depth, vocabulary_size=args.vocabulary, sequence_length=args.length,
        width=args.width, num_heads=args.heads,
    )  # fmt: skip
    hub_model = keras_hub_lm(args.depth, args.vocabulary, args.length, args.width, args.heads)
    steppers = [
        Stepper(m, args.batch, args.length, args.xla, args.warmup)
        for m in (reskeras_model, hub_model)
    ]
    interleave(steppers, args.steps, args.repeats)
    for key, s in zip(("reskeras", "keras_hub"), steppers, strict=True):
        line[key] = {
            "params": _params(s.model),
            "train_tokens_per_s": round(s.tokens_per_s, 1),
            "step_ms": round(s.step_ms, 1),
            "all_step_ms": [round(t * 1e3, 1) for t in s.seconds],
            "compile_s": round(s.compile_s, 1),
        }
    line["reskeras_vs_keras_hub"] = round(steppers[0].tokens_per_s / steppers[1].tokens_per_s, 3)
    vocab = _vocabulary(args.vocabulary)
    new = args.length - 2  # <eos> + one prompt word, then as many tokens as positions remain
    line["sampling"] = {"lm_transformer": sampling(reskeras_model, vocab, new, args.repeats)}
    lstm = rk.lm_lstm(2, vocabulary_size=args.vocabulary, units=args.width)
    line["sampling"]["lm_lstm2"] = sampling(lstm, vocab, new, args.repeats)
    return line


def markdown_speed(line: dict) -> None:
    r, h = line["reskeras"], line["keras_hub"]
    print(
        "| model | parameters | training tokens/s | ms per step (each repeat) |\n|---|---|---|---|"
    )
    for name, c in (("`lm_transformer`", r), ("keras-hub layers", h)):
        steps = ", ".join(f"{t:,.0f}" for t in c["all_step_ms"])
        print(f"| {name} | {c['params']:,} | {c['train_tokens_per_s']:,.0f} | {steps} |")
    print(f"\nreskeras / keras-hub: {line['reskeras_vs_keras_hub']}×\n")
    print(
        "| model | tokens | uncached tokens/s | `generate()` (first call s) "
        "| the same loop with XLA (compile s) | same tokens |\n|---|---|---|---|---|---|"
    )
    for name, s in line["sampling"].items():
        first = s["first_call_s"]
        print(
            f"| `{name}` | {s['new_tokens']} | {s['uncached_tokens_per_s']:,.1f} "
            f"| {s['generate_tokens_per_s']:,.1f} = **{s['generate_vs_uncached']}×** "
            f"({first['generate']}) | {s['cached_loop_xla_tokens_per_s']:,.1f} = "
            f"**{s['cached_loop_xla_vs_uncached']}×** ({first['cached_loop_xla']}) "
            f"| {s['same_tokens']} |"
        )


# --------------------------------------------------------------------------- softmax


def run_softmax(args) -> dict:
    line = {
        "bench": "language_model",
        "part": "softmax",
        "batch": args.batch,
        "length": args.length,
        "xla": args.xla,
        "tiny": args.tiny,
        "cells": [],
    }
    for model_name in args.models.split(","):
        for width in _ints(args.widths):
            outputs = [o for o in args.outputs.split(",") if o]
            cells = [(v, o) for v in _ints(args.vocabularies) for o in outputs]
            cells.append((args.tiny, "full"))
            steppers = []
            for v, output in cells:
                kwargs = {"units": width} if "lstm" in model_name else {"width": width}
                if "transformer" in model_name:
                    kwargs["sequence_length"] = args.length
                model = rk.build_model(
                    model_name, num_classes=v, vocabulary_size=v,
                    adaptive_softmax=output == "adaptive", **kwargs,
                )  # fmt: skip
                steppers.append(Stepper(model, args.batch, args.length, args.xla, args.warmup))
            interleave(steppers, args.steps, args.repeats)
            tiny_ms = steppers[-1].step_ms
            for (v, output), s in zip(cells, steppers, strict=True):
                line["cells"].append(
                    {
                        "model": model_name,
                        "width": width,
                        "vocabulary": v,
                        "output": output,
                        "params": _params(s.model),
                        "step_ms": round(s.step_ms, 1),
                        "all_step_ms": [round(t * 1e3, 1) for t in s.seconds],
                        "train_tokens_per_s": round(s.tokens_per_s, 1),
                        "output_share": round(1 - tiny_ms / s.step_ms, 3),
                    }
                )
                print(json.dumps(line["cells"][-1]), file=sys.stderr, flush=True)
            keras.backend.clear_session()
    return line


def markdown_softmax(line: dict) -> None:
    print(
        "| model | width | vocabulary | output | parameters | ms per step | training tokens/s "
        "| output layer's share |\n|---|---|---|---|---|---|---|---|"
    )
    for c in line["cells"]:
        share = "—" if c["vocabulary"] == line["tiny"] else f"{c['output_share']:.0%}"
        print(
            f"| `{c['model']}` | {c['width']} | {c['vocabulary']:,} | {c.get('output', 'full')} "
            f"| {c['params']:,} "
            f"| {c['step_ms']:,.0f} | {c['train_tokens_per_s']:,.0f} | {share} |"
        )


# --------------------------------------------------------------------------- main

PARTS = {
    "recipe": (run_recipe, markdown_recipe),
    "residual": (run_residual, markdown_residual),
    "speed": (run_speed, markdown_speed),
    "softmax": (run_softmax, markdown_softmax),
}
#: ``--quick``: every part at tiny shapes, to check the bench runs (~2 minutes).
QUICK = {
    "recipe": {"lines": "300", "epochs": 1},
    "residual": {"depths": "2", "lines": 200, "steps": 20, "epochs": 1, "units": 32,
                 "vocabulary": 2000, "length": 32},
    "speed": {"depth": 1, "width": 32, "heads": 2, "vocabulary": 2000, "batch": 4, "length": 24,
              "steps": 3, "repeats": 2},
    "softmax": {"widths": "32", "vocabularies": "3000", "batch": 4, "length": 16, "steps": 3,
                "repeats": 2},
}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes: check the bench runs")
    p.add_argument("--markdown", action="store_true", help="also print the README's tables")
    p.add_argument("--xla", action="store_true", help="time speed/softmax steps with XLA")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--data", type=Path, default=WIKITEXT2)
    sub = p.add_subparsers(dest="part", required=True)
    sub.add_parser("all", help="every part, each with its defaults")
    c = sub.add_parser("recipe", help="the default recipe on WikiText-2 (and fewer lines)")
    c.add_argument("--lines", default="all", help="training lines: 'all' and/or counts")
    c.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    c.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    r = sub.add_parser("residual", help="lm_lstm residual vs plain at depths 2, 4, 8")
    r.add_argument("--depths", default="2,4,8")
    r.add_argument("--lines", type=int, default=4000, help="the first N WikiText-2 lines")
    r.add_argument("--steps", type=int, default=300, help="optimizer steps, all epochs")
    r.add_argument("--epochs", type=int, default=2, help="validations on the full file")
    r.add_argument("--units", type=int, default=128)
    r.add_argument("--vocabulary", type=int, default=RECIPE.vocabulary_size)
    r.add_argument("--length", type=int, default=RECIPE.sequence_length)
    s = sub.add_parser("speed", help="lm_transformer vs keras-hub layers; cached sampling")
    s.add_argument("--depth", type=int, default=2)
    s.add_argument("--width", type=int, default=256)
    s.add_argument("--heads", type=int, default=4)
    s.add_argument("--vocabulary", type=int, default=10_000)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--length", type=int, default=128, help="window; sampling fills it")
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--repeats", type=int, default=3)
    m = sub.add_parser("softmax", help="step time by vocabulary and width")
    m.add_argument("--models", default=f"{RECIPE.model},lm_transformer2")
    m.add_argument("--widths", default="128,256")
    m.add_argument("--vocabularies", default=f"{FULL_VOCABULARY},10000")
    m.add_argument("--outputs", default="full,adaptive", help="full and/or adaptive softmax")
    m.add_argument("--tiny", type=int, default=256, help="the no-softmax reference vocabulary")
    m.add_argument("--batch", type=int, default=RECIPE.batch_size)
    m.add_argument("--length", type=int, default=RECIPE.sequence_length)
    m.add_argument("--steps", type=int, default=10)
    m.add_argument("--repeats", type=int, default=3)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    parts = list(PARTS) if args.part == "all" else [args.part]
    if {"recipe", "residual"} & set(parts) and not args.data.exists():
        print(f"WikiText-2 not found at {args.data} (--data DIR)", file=sys.stderr)
        return 2
    for part in parts:
        # Each part's own defaults (``all`` parses them), then --quick's tiny shapes.
        part_args = args if args.part == part else p.parse_args([part])
        vars(part_args).update(quick=args.quick, markdown=args.markdown, xla=args.xla,
                               warmup=args.warmup, data=args.data)  # fmt: skip
        if args.quick:
            vars(part_args).update(QUICK[part])
        run, table = PARTS[part]
        start = time.perf_counter()
        line = run(part_args)
        line["wall_s"] = round(time.perf_counter() - start, 1)
        line["cpus"] = len(os.sched_getaffinity(0))
        print(json.dumps(line), flush=True)
        if args.markdown:
            table(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
