"""Translation on Multi30k: the default recipe's validation BLEU at several data sizes,
residual against plain GNMT, and speed against keras-hub. Prints ONE JSON line per
sub-command (``--markdown`` also prints the README's table).

    nice -n 19 python bench/translation.py --quick recipe           # tiny: check it runs
    nice -n 19 python bench/translation.py recipe --sizes all --markdown
    nice -n 19 python bench/translation.py recipe --sizes 3000,10000,all --languages en-de
    nice -n 19 python bench/translation.py residual --markdown      # gnmt 2/4/8 x residual
    nice -n 19 python bench/translation.py speed --markdown         # vs keras-hub
    nice -n 19 python bench/translation.py subwords                 # SentencePiece vs WordPiece
    nice -n 19 python bench/translation.py recipe --sizes 10000 --keep runs/mt
    nice -n 19 python bench/translation.py latency --run runs/mt/run-10000 --markdown

``recipe`` trains through ``reskeras.train`` on task ``multi30k`` with the ``translation``
recipe as ``resolve()`` decides it (only the first ``limit_train`` pairs change), then scores
the whole validation set (1,014 pairs) with ``reskeras.evaluate``: sacrebleu's corpus BLEU
and chrF on detokenized, cased text, beam search with ``translate()``'s defaults, and greedy
decoding. Wall times include the vocabulary, tracing and every validation.

``residual`` trains ``gnmt{2,4,8}`` and ``plain_gnmt{2,4,8}`` through ``reskeras.train`` on
the same first ``--pairs`` pairs for the same epochs (the recipe otherwise, ``--units``
wide) and reports each one's validation perplexity per epoch and its wall time.

``speed`` times training steps (tokens/s of source and target together) of
``transformer_seq2seq`` against the same architecture assembled from keras-hub's
``TokenAndPositionEmbedding`` (tied), ``TransformerEncoder`` and ``TransformerDecoder``
layers, same shapes, batch, loss and optimizer, the two alternating within every repeat; then
beam-4 decoding sentences/s of reskeras' beam search against keras-hub's ``BeamSampler``
driving the same model's cached decoding step.

``subwords`` learns an 8,000-piece vocabulary from both sides of Multi30k's training pairs
with SentencePiece (``reskeras.data.subword``) and with keras-hub's WordPiece
(``compute_word_piece_vocabulary``, cased), and counts the validation sentences (both sides)
that come back exactly from ``detokenize(tokenize(sentence))``: what a translation's
detokenized output can be.

``latency`` exports a translation run (``--run``) for TF Serving and, in a fresh process that
imports only TensorFlow and tensorflow-text (as TF Serving links its ops), times batch-1
requests of a 15-word Multi30k validation sentence through the ``greedy`` and the
``serving_default`` (beam 4) signatures: the median of ``--repeats`` after a warm-up.

On a shared machine run it under ``nice -n 19``: fixed-step comparisons hold, wall times are
upper bounds.
"""

from __future__ import annotations

import argparse
import functools
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
from reskeras.decoding.causal import compiled  # noqa: E402
from reskeras.decoding.seq2seq import beam_search, decode_step, encode  # noqa: E402
from reskeras.evaluation.translation import evaluate_translation  # noqa: E402
from reskeras.training.config import TrainConfig  # noqa: E402
from reskeras.training.objectives import make_loss  # noqa: E402
from reskeras.training.optim import make_optimizer  # noqa: E402
from reskeras.training.recipes import RECIPES, WEIGHT_DECAY, resolve  # noqa: E402

RECIPE = RECIPES["translation"]
EOS = 2
MULTI30K = Path(__file__).resolve().parents[2] / "shared/data/multi30k"


# --------------------------------------------------------------------------- recipe


def recipe_cell(size: int | None, args, tmp: Path, vocabulary: int | None = None) -> dict:
    options = {"task": "multi30k", "languages": args.languages, "limit_train": size}
    if vocabulary:  # an alternative to the recipe's vocabulary for this size
        options["vocabulary_size"] = vocabulary
    if args.quick:
        options |= {"model": "transformer_seq2seq1", "epochs": 1, "min_steps": 0,
                    "model_kwargs": {"width": 32, "num_heads": 2}}  # fmt: skip
    start = time.perf_counter()
    name = f"run-{size or 'all'}" + (f"-v{vocabulary}" if vocabulary else "")
    result = rk.train(**options, out=str(tmp / name), verbose=0)
    seconds = time.perf_counter() - start
    record = json.loads((result.run_dir / "config.json").read_text())
    beam = evaluate_translation(result.run_dir)
    greedy = evaluate_translation(result.run_dir, beam_width=1)
    return {
        "train_pairs": size or "all",
        "vocabulary": record["train"]["vocabulary_size"],
        "epochs": len(result.history),
        "train_seconds": round(seconds, 1),
        "val_perplexity": round(result.history[-1]["val_perplexity"], 3),
        "bleu": round(beam["bleu"], 2),
        "chrf": round(beam["chrf"], 2),
        "bleu_greedy": round(greedy["bleu"], 2),
        "sentences": beam["sentences"],
        "bleu_signature": beam["bleu_signature"],
    }


def run_recipe(args) -> dict:
    sizes = (
        [1_000] if args.quick else [None if s == "all" else int(s) for s in args.sizes.split(",")]
    )
    recipe = resolve(TrainConfig(task="multi30k", languages=args.languages)).config
    line = {"bench": "translation.recipe", "languages": args.languages, "cpus": os.cpu_count(),
            "recipe": {k: v for k, v in recipe.to_dict().items() if v not in (None, {}, False)},
            "cells": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for vocabulary in [int(v) for v in args.vocabularies.split(",") if v] or [None]:
                cell = recipe_cell(size, args, Path(args.keep or tmp), vocabulary)
                line["cells"].append(cell)
                print(json.dumps(cell), file=sys.stderr, flush=True)
    return line


def markdown_recipe(line: dict) -> None:
    print(f"\nMulti30k {line['languages']}, validation (1,014 pairs)\n")
    print("| training pairs | vocabulary | epochs | training s | val perplexity | BLEU (beam 4) "
          "| BLEU (greedy) | chrF |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in line["cells"]:
        print(
            f"| {c['train_pairs']} | {c['vocabulary']:,} | {c['epochs']} "
            f"| {c['train_seconds']:.0f} | "
            f"{c['val_perplexity']:.2f} | {c['bleu']:.2f} | {c['bleu_greedy']:.2f} | "
            f"{c['chrf']:.2f} |"
        )


# --------------------------------------------------------------------------- residual


def run_residual(args) -> dict:
    depths = [int(d) for d in args.depths.split(",")]
    if args.quick:
        depths, args.pairs, args.epochs, args.units, args.vocabulary = [2], 500, 1, 32, 500
    line = {"bench": "translation.residual", "pairs": args.pairs, "epochs": args.epochs,
            "units": args.units, "cells": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for depth in depths:
            for residual in (True, False):
                start = time.perf_counter()
                result = rk.train(
                    task="multi30k", model="gnmt", depth=depth, limit_train=args.pairs,
                    epochs=args.epochs, min_steps=0, vocabulary_size=args.vocabulary,
                    model_kwargs={"units": args.units, "residual": residual},
                    out=str(Path(tmp) / f"gnmt{depth}-{residual}"), verbose=0,
                )  # fmt: skip
                line["cells"].append({
                    "depth": depth,
                    "residual": residual,
                    "val_perplexity": [round(h["val_perplexity"], 2) for h in result.history],
                    "seconds": round(time.perf_counter() - start, 1),
                })  # fmt: skip
    return line


def markdown_residual(line: dict) -> None:
    print(f"\ngnmt on the first {line['pairs']:,} Multi30k pairs, {line['units']} units, "
          f"{line['epochs']} epochs: validation perplexity after each epoch\n")  # fmt: skip
    print("| depth | residual | validation perplexity by epoch | s |")
    print("|---:|---|---|---:|")
    for c in line["cells"]:
        ppl = ", ".join(f"{p:.1f}" for p in c["val_perplexity"])
        print(f"| {c['depth']} | {'yes' if c['residual'] else 'no'} | {ppl} | {c['seconds']:.0f} |")


# --------------------------------------------------------------------------- speed


def keras_hub_seq2seq(depth: int, vocabulary: int, length: int, width: int, heads: int):
    """``transformer_seq2seq``'s architecture from keras-hub's layers."""
    import keras_hub

    source = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    target = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary, length, width, mask_zero=True, tie_weights=True
    )
    x = keras.layers.Dropout(0.1)(embedding(source))
    for _ in range(depth):
        x = keras_hub.layers.TransformerEncoder(4 * width, heads, 0.1, normalize_first=True)(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    y = keras.layers.Dropout(0.1)(embedding(target))
    for _ in range(depth):
        y = keras_hub.layers.TransformerDecoder(4 * width, heads, 0.1, normalize_first=True)(y, x)
    y = keras.layers.LayerNormalization(epsilon=1e-5)(y)
    logits = keras.layers.Activation("linear", dtype="float32")(
        embedding.token_embedding(y, reverse=True)
    )
    return keras.Model([source, target], logits, name="keras_hub_seq2seq")


class Stepper:
    """A translation model compiled with the recipe's loss and AdamW, fed one repeated batch
    of random ids, warmed up, ready to time training steps."""

    def __init__(self, model: keras.Model, batch: int, length: int, warmup: int):
        self.model, self.tokens = model, 2 * batch * length
        vocabulary = int(model.outputs[0].shape[-1])
        rng = np.random.default_rng(0)
        src, tgt = (rng.integers(3, vocabulary, (batch, length)).astype("int32") for _ in "st")
        options = tf.data.Options()
        options.autotune.enabled = False  # bench/README.md: tf.data's wake-ups snap timings
        self.ds = tf.data.Dataset.from_tensors(((src, tgt), tgt)).repeat().with_options(options)
        optimizer = make_optimizer("adamw", RECIPE.lr, WEIGHT_DECAY["adamw"], None)
        model.compile(optimizer, make_loss("translation", RECIPE.label_smoothing))
        self.fit(1 + warmup)
        self.seconds: list[float] = []

    def fit(self, steps: int) -> None:
        self.model.fit(self.ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)

    def time(self, steps: int) -> None:
        start = time.perf_counter()
        self.fit(steps)
        self.seconds.append((time.perf_counter() - start) / steps)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / statistics.median(self.seconds)


def hub_beam_search(model, source, max_length: int, beam_width: int):
    """keras-hub's ``BeamSampler`` driving reskeras' cached decoding step of ``model``."""
    import keras_hub

    state = encode(model, source, max_length + 1)
    batch = tf.shape(source)[0]
    prompt = tf.concat([tf.fill([batch, 1], EOS), tf.zeros([batch, max_length], tf.int32)], axis=1)

    def next_token(prompt, cache, index):
        logits, cache = decode_step(model, prompt[:, index - 1 : index], cache, index - 1)
        return logits[:, 0], None, cache

    given = tf.sequence_mask(tf.ones([batch], tf.int32), max_length + 1)  # the start token
    sampler = keras_hub.samplers.BeamSampler(num_beams=beam_width)
    return sampler(next_token, prompt, cache=state, index=1, mask=given, stop_token_ids=[EOS])


def run_speed(args) -> dict:
    depth, width, heads, vocab = args.depth, args.width, args.heads, args.vocabulary
    batch, length = (8, 12) if args.quick else (args.batch, args.length)
    if args.quick:
        width, vocab = 32, 500
    ours = rk.transformer_seq2seq(
        depth, source_vocabulary_size=vocab, target_vocabulary_size=vocab,
        sequence_length=RECIPE.sequence_length, width=width, num_heads=heads,
    )  # fmt: skip
    hub = keras_hub_seq2seq(depth, vocab, RECIPE.sequence_length, width, heads)
    steppers = {
        "reskeras": Stepper(ours, batch, length, 2),
        "keras_hub": Stepper(hub, batch, length, 2),
    }
    for r in range(args.repeats):
        for name in list(steppers)[r % 2 :] + list(steppers)[: r % 2]:
            steppers[name].time(args.steps)
    train = {k: round(s.tokens_per_s) for k, s in steppers.items()}
    rng = np.random.default_rng(1)
    source = tf.constant(rng.integers(3, vocab, (args.sentences, length)).astype("int32"))
    limit = length + 10
    ours_beam = compiled(functools.partial(beam_search, ours, max_length=limit, eos_id=EOS,
                                           beam_width=4, length_penalty=0.0))  # fmt: skip
    hub_beam = compiled(functools.partial(hub_beam_search, ours, max_length=limit, beam_width=4))
    decode = {}
    for name, fn in (("reskeras", ours_beam), ("keras_hub_beam_sampler", hub_beam)):
        fn(source)  # trace and warm up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn(source)
            times.append(time.perf_counter() - start)
        decode[name] = round(args.sentences / statistics.median(times), 2)
    return {
        "bench": "translation.speed", "depth": depth, "width": width, "vocabulary": vocab,
        "batch": batch, "length": length, "cpus": os.cpu_count(),
        "train_tokens_per_s": train,
        "train_ratio": round(train["reskeras"] / train["keras_hub"], 3),
        "beam4_sentences_per_s": decode, "max_length": limit,
        "beam4_ratio": round(decode["reskeras"] / decode["keras_hub_beam_sampler"], 3),
    }  # fmt: skip


def markdown_speed(line: dict) -> None:
    print(
        f"\ntransformer_seq2seq{line['depth']}, width {line['width']}, vocabulary "
        f"{line['vocabulary']:,}, batch {line['batch']} x {line['length']} tokens a side\n"
    )
    print("| | reskeras | keras-hub | ratio |")
    print("|---|---:|---:|---:|")
    t, d = line["train_tokens_per_s"], line["beam4_sentences_per_s"]
    print(f"| training tokens/s | {t['reskeras']:,} | {t['keras_hub']:,} | {line['train_ratio']} |")
    print(f"| beam-4 sentences/s | {d['reskeras']} | {d['keras_hub_beam_sampler']} "
          f"| {line['beam4_ratio']} |")  # fmt: skip


# --------------------------------------------------------------------------- latency

#: The fresh process of ``latency``: no reskeras, no keras-hub.
TIMED = """
import json, statistics, sys, time
import tensorflow as tf, tensorflow_text  # noqa: F401  (TF Serving links its ops)
path, sentence, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
loaded = tf.saved_model.load(path)
line = {"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("reskeras", "keras_hub"))}
for name in ("greedy", "serving_default"):
    fn = loaded.signatures[name]
    out = fn(text=tf.constant([sentence]))["translation"].numpy()[0].decode()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(text=tf.constant([sentence]))
        times.append(time.perf_counter() - start)
    line[name] = {"ms": round(1000 * statistics.median(times), 1), "translation": out}
print(json.dumps(line))
"""


def run_latency(args) -> dict:
    import gzip
    import subprocess
    import sys

    with gzip.open(MULTI30K / "val.de.gz", "rt", encoding="utf-8") as f:
        sentence = next(s for s in f.read().split("\n") if len(s.split()) == 15)
    run = args.run
    with tempfile.TemporaryDirectory() as tmp:
        if run is None:  # --quick: a tiny model, to check the bench runs
            run = rk.train(
                task="multi30k", model="transformer_seq2seq1", limit_train=500, epochs=1,
                min_steps=0, vocabulary_size=500, model_kwargs={"width": 32, "num_heads": 2},
                out=str(Path(tmp) / "run"), verbose=0,
            ).run_dir  # fmt: skip
        exported = rk.export_for_serving(run, "latency", base_dir=str(Path(tmp) / "saved"))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            [sys.executable, "-c", TIMED, str(exported.path), sentence, str(args.repeats)],
            capture_output=True, text=True, env=env, cwd=tmp, check=True,
        )  # fmt: skip
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"bench": "translation.latency", "run": str(run), "sentence": sentence,
            "words": 15, "cpus": os.cpu_count(), **line}  # fmt: skip


def markdown_latency(line: dict) -> None:
    print(f"\nbatch 1, a 15-word sentence: {line['sentence']}\n")
    print("| signature | ms | translation |\n|---|---:|---|")
    for name in ("greedy", "serving_default"):
        print(f"| `{name}` | {line[name]['ms']} | {line[name]['translation']} |")


# --------------------------------------------------------------------------- subwords


def run_subwords(args) -> dict:
    import gzip

    import keras_hub

    from reskeras.data.subword import SubwordVocabulary

    def read(name: str) -> list[str]:
        with gzip.open(args.data / name, "rt", encoding="utf-8") as f:
            return f.read().rstrip("\n").split("\n")

    train = read("train.de.gz") + read("train.en.gz")
    val = read("val.en.gz") + read("val.de.gz")
    if args.quick:
        train, val = train[:2000], val[:200]
    start = time.perf_counter()
    words = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(train).batch(1000), args.size,
        reserved_tokens=["[PAD]", "[UNK]"], lowercase=False, strip_accents=False,
    )  # fmt: skip
    wordpiece = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=words, lowercase=False, strip_accents=False
    )
    back = wordpiece.detokenize(wordpiece.tokenize(tf.constant(val)))
    back = [b.decode() if isinstance(b, bytes) else str(b) for b in back]
    wordpiece_s = time.perf_counter() - start
    start = time.perf_counter()
    pieces = SubwordVocabulary.train(train, args.size)
    again = [pieces.decode(ids) for ids in pieces.encode(val)]
    return {
        "bench": "translation.subwords", "size": args.size, "sentences": len(val),
        "sentencepiece_exact": sum(a == b for a, b in zip(again, val, strict=True)),
        "wordpiece_exact": sum(a == b for a, b in zip(back, val, strict=True)),
        "sentencepiece_learn_s": round(time.perf_counter() - start, 1),
        "wordpiece_learn_s": round(wordpiece_s, 1),
    }  # fmt: skip


def markdown_subwords(line: dict) -> None:
    print(f"\n{line['size']:,} pieces, {line['sentences']:,} validation sentences\n")
    print("| vocabulary | round trips exactly | learning s |\n|---|---:|---:|")
    for name in ("sentencepiece", "wordpiece"):
        print(f"| {name} | {line[name + '_exact']:,} | {line[name + '_learn_s']} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes: check the bench runs")
    p.add_argument("--markdown", action="store_true", help="also print the README's table")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("recipe")
    r.add_argument("--sizes", default="all", help="training pairs per cell, 'all' for 29,000")
    r.add_argument("--languages", default="de-en")
    r.add_argument("--keep", type=Path, help="keep the runs in this folder (default: deleted)")
    r.add_argument("--vocabularies", default="", help="pieces to try instead of the recipe's")
    g = sub.add_parser("residual")
    g.add_argument("--depths", default="2,4,8")
    g.add_argument("--pairs", type=int, default=10_000)
    g.add_argument("--epochs", type=int, default=3)
    g.add_argument("--units", type=int, default=256)
    g.add_argument("--vocabulary", type=int, default=RECIPE.vocabulary_size)
    s = sub.add_parser("speed")
    s.add_argument("--depth", type=int, default=3)
    s.add_argument("--width", type=int, default=256)
    s.add_argument("--heads", type=int, default=4)
    s.add_argument("--vocabulary", type=int, default=RECIPE.vocabulary_size)
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--length", type=int, default=24, help="tokens a side (Multi30k: ~15-30)")
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--sentences", type=int, default=32)
    lat = sub.add_parser("latency")
    lat.add_argument("--run", type=Path, help="a translation run (--quick: a tiny one)")
    lat.add_argument("--repeats", type=int, default=20)
    w = sub.add_parser("subwords")
    w.add_argument("--data", type=Path, default=MULTI30K)
    w.add_argument("--size", type=int, default=RECIPE.vocabulary_size)
    args = p.parse_args()
    run, table = {
        "recipe": (run_recipe, markdown_recipe),
        "residual": (run_residual, markdown_residual),
        "speed": (run_speed, markdown_speed),
        "subwords": (run_subwords, markdown_subwords),
        "latency": (run_latency, markdown_latency),
    }[args.command]
    line = run(args)
    print(json.dumps(line))
    if args.markdown:
        table(line)


if __name__ == "__main__":
    main()
