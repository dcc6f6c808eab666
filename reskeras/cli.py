"""The ``reskeras`` command line: list, train, evaluate, export, demo.

Every error a user can cause ends as one line on stderr (``reskeras: error: ...``) and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reskeras", description="Residual networks for Keras: train, evaluate, export."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list models, families and tasks")

    t = sub.add_parser("train", help="train a model on a task and write a run directory")
    t.add_argument("--task", default="fashion_mnist")
    t.add_argument("--model", default="cifar_resnet20", help="a model or family name")
    t.add_argument("--depth", type=int, help="depth, for a family name (or to change a model's)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int, help="per replica")
    t.add_argument("--lr", type=float, help="peak learning rate (default: 0.1 x batch/256)")
    t.add_argument("--optimizer", help="sgd (Nesterov; image default) or adamw (text default)")
    t.add_argument("--schedule", help="cosine, onecycle or constant")
    t.add_argument("--weight-decay", type=float, help="decoupled (default 5e-4 SGD, 0.05 AdamW)")
    t.add_argument("--warmup-epochs", type=int, help="linear warm-up (default 1 image, 0 text)")
    t.add_argument("--label-smoothing", type=float)
    t.add_argument("--precision", help="float32, mixed_bfloat16, mixed_float16")
    t.add_argument("--no-xla", action="store_true", help="compile without XLA (jit_compile)")
    t.add_argument("--strategy", help="auto, default, mirrored, multi_worker, tpu")
    t.add_argument("--seed", type=int)
    t.add_argument("--deterministic", action="store_true", help="deterministic TF ops")
    t.add_argument("--data", help="dataset path (required for image_folder and text_file)")
    t.add_argument("--data-dir", help="tensorflow-datasets data_dir")
    t.add_argument("--text-column", help="text column name or index (text_file)")
    t.add_argument("--label-column", help="label column name or index (text_file)")
    t.add_argument("--sequence-length", type=int, help="text: tokens per example (64)")
    t.add_argument("--vocabulary-size", type=int, help="text: vocabulary cap (20000)")
    t.add_argument("--limit-train", type=int, help="use only the first N training examples")
    t.add_argument("--limit-test", type=int, help="use only the first N test examples")
    t.add_argument("--early-stopping", type=int, metavar="PATIENCE")
    t.add_argument("--no-residual", action="store_true", help="build the plain twin")
    t.add_argument("--out", help="run directory (default runs/<task>-<model>-<time>)")
    t.add_argument("--resume", help="continue the run in this directory")

    e = sub.add_parser("evaluate", help="evaluate a run; prints one JSON line")
    e.add_argument("--run", required=True)
    e.add_argument("--task")
    e.add_argument("--data")

    x = sub.add_parser("export", help="export a run as a SavedModel for TF Serving")
    x.add_argument("--run", required=True)
    x.add_argument("--name", required=True)
    x.add_argument("--base", default="saved_models")
    x.add_argument("--version", type=int)

    d = sub.add_parser("demo", help="train the default briefly on Fashion-MNIST and export it")
    d.add_argument("--epochs", type=int, default=1)
    d.add_argument("--limit-train", type=int, default=20_000)
    d.add_argument("--out", default="runs/demo")
    return parser


def _column(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


def _cmd_list(_args) -> None:
    from reskeras.data import describe_tasks
    from reskeras.models import FAMILIES, MODELS

    print("Families (use --model FAMILY --depth D):")
    for f in FAMILIES.values():
        print(f"  {f.name:<24} {f.kind:<5} depths {f.depth_rule:<30} {f.description}")
    print("Models:")
    for name in sorted(MODELS):
        e = MODELS[name]
        extra = " ".join(f"{k}={v}" for k, v in e.kwargs.items())
        print(f"  {name:<24} {FAMILIES[e.family].kind:<5} {e.family} depth {e.depth} {extra}")
    print("Tasks:")
    for t in describe_tasks():
        classes = t.get("num_classes") or "from data"
        print(f"  {t['name']:<24} {t['kind']:<5} classes: {classes}")


def _cmd_train(args) -> None:
    from reskeras.training import train

    options = {
        "depth": args.depth,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "schedule": args.schedule,
        "weight_decay": args.weight_decay,
        "warmup_epochs": args.warmup_epochs,
        "sequence_length": args.sequence_length,
        "vocabulary_size": args.vocabulary_size,
        "label_smoothing": args.label_smoothing,
        "precision": args.precision,
        "jit_compile": False if args.no_xla else None,
        "strategy": args.strategy,
        "seed": args.seed,
        "deterministic": args.deterministic or None,
        "data": args.data,
        "data_dir": args.data_dir,
        "text_column": _column(args.text_column),
        "label_column": _column(args.label_column),
        "limit_train": args.limit_train,
        "limit_test": args.limit_test,
        "early_stopping_patience": args.early_stopping,
        "model_kwargs": {"residual": False} if args.no_residual else None,
    }
    # Unset options take train()'s defaults; a resumed run keeps its own, bar --epochs.
    options = {k: v for k, v in options.items() if v is not None}
    if args.resume:
        options = {k: v for k, v in options.items() if k == "epochs"}
    result = train(args.task, args.model, out=args.out, resume=args.resume, **options)
    print(
        json.dumps(
            {
                "run_dir": str(result.run_dir),
                "epochs_done": len(result.history),
                "test_accuracy": round(result.test_accuracy, 4),
                "test_loss": round(result.test_loss, 4),
            }
        )
    )


def _cmd_evaluate(args) -> None:
    from reskeras.training import evaluate

    print(json.dumps(evaluate(args.run, task=args.task, data=args.data)))


def _cmd_export(args) -> None:
    from reskeras.export import export_for_serving

    result = export_for_serving(args.run, args.name, base_dir=args.base, version=args.version)
    summary = {"path": str(result.path), "version": result.version}
    print(json.dumps({**summary, "signatures": result.signatures}))


def _cmd_demo(args) -> None:
    import shutil
    from pathlib import Path

    from reskeras.export import export_for_serving
    from reskeras.training import train

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)  # the demo's own scratch run, recreated every time
    result = train(
        "fashion_mnist",
        "cifar_resnet20",
        epochs=args.epochs,
        limit_train=args.limit_train,
        schedule="onecycle",
        lr=0.2,
        out=out,
    )
    exported = export_for_serving(result.run_dir, "fashion_mnist_demo")
    print(f"test accuracy {result.test_accuracy:.4f} after {len(result.history)} epoch(s)")
    print(f"run directory: {result.run_dir}")
    print(f"SavedModel for TF Serving: {exported.path}")


COMMANDS = {
    "list": _cmd_list,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "export": _cmd_export,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reskeras`` console script."""
    args = _parser().parse_args(argv)
    from reskeras.data import DataError
    from reskeras.training import TrainingError

    try:
        COMMANDS[args.command](args)
    except (ValueError, DataError, TrainingError, FileNotFoundError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"reskeras: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reskeras: interrupted; completed epochs are checkpointed.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
