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

#: What ``reskeras demo`` trains: the default image recipe, two passes over 45,000 of the
#: Fashion-MNIST training images (chosen with the demo's own runs: bench/README.md, "The demo").
DEMO_TASK, DEMO_NAME = "fashion_mnist", "fashion_mnist_demo"
DEMO_EPOCHS, DEMO_LIMIT_TRAIN = 2, 45_000


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one ``reskeras: error:`` line, like all others."""

    def error(self, message: str):
        print(f"reskeras: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    from reskeras.training.config import add_arguments

    parser = _Parser(
        prog="reskeras", description="Residual networks for Keras: train, evaluate, export."
    )
    # Read by reskeras.console before TensorFlow is imported (it must be, to take effect).
    common = _Parser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list models, families and tasks", parents=[common])

    t = sub.add_parser(
        "train", help="train a model on a task and write a run directory", parents=[common]
    )
    add_arguments(t)  # one flag per reskeras.training.config.TrainConfig option
    t.add_argument("--no-residual", action="store_true", help="build the plain twin")
    t.add_argument("--out", help="run directory (default runs/<task>-<model>-<time>)")
    t.add_argument("--resume", help="continue the run in this directory")

    e = sub.add_parser("evaluate", help="evaluate a run; prints one JSON line", parents=[common])
    e.add_argument("--run", required=True)
    e.add_argument("--task", help="score on this task's test split instead")
    e.add_argument("--data", help="a file or folder to score whole (labels: class names or ids)")
    e.add_argument("--text-column", type=_column, help="text column name or index (text files)")
    e.add_argument("--label-column", type=_column, help="label column name or index")
    e.add_argument(
        "--reference", help="translation runs: the reference translations of --data, a line each"
    )
    e.add_argument(
        "--report",
        metavar="DIR",
        help="also write DIR/report.html (confusion matrix, per-class table, the most "
        "confidently wrong examples) and DIR/report.json",
    )

    x = sub.add_parser(
        "export", help="export a run as a SavedModel for TF Serving", parents=[common]
    )
    x.add_argument("--run", required=True)
    x.add_argument("--name", required=True)
    x.add_argument("--base", default="saved_models")
    x.add_argument("--version", type=int)
    x.add_argument(
        "--raw-text",
        action=argparse.BooleanOptionalAction,
        help="hub: runs: serving_default on raw strings (default: when TF Serving has the "
        "tokenizer's ops); --no-raw-text: token ids only, stock TensorFlow ops only",
    )

    d = sub.add_parser(
        "demo",
        help="train the default image recipe briefly on Fashion-MNIST and export it",
        parents=[common],
    )
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--export-base", default="saved_models")
    d.add_argument(
        "--limit-train", type=int, help=f"train on this many images (default {DEMO_LIMIT_TRAIN})"
    )
    d.add_argument("--limit-test", type=int, help="test on this many images (default: all)")
    return parser


def _column(value: str) -> str | int:
    return int(value) if value.strip().isdigit() else value


def _cmd_list(_args) -> None:
    from reskeras.data import describe_tasks
    from reskeras.models.registry import FAMILIES, MODELS

    print("Families (use --model FAMILY --depth D):")
    for f in FAMILIES.values():
        print(f"  {f.name:<24} {f.kind:<5} depths {f.depth_rule:<30} {f.description}")
    print("Models:")
    for name in sorted(MODELS):
        e = MODELS[name]
        extra = " ".join(f"{k}={v}" for k, v in e.kwargs.items())
        print(f"  {name:<24} {FAMILIES[e.family].kind:<5} {e.family} depth {e.depth} {extra}")
    from reskeras.models.keras_hub import HUB_PREFIX, text_classifier_presets

    print(f"Pretrained text classifiers (--model {HUB_PREFIX}PRESET, or {HUB_PREFIX}DIRECTORY):")
    print("  " + " ".join(text_classifier_presets()))
    print("Tasks:")
    for t in describe_tasks():
        classes = t.get("num_classes") or "from data"
        print(f"  {t['name']:<24} {t['kind']:<5} classes: {classes}")


def _cmd_train(args) -> None:
    from reskeras.training.config import from_arguments
    from reskeras.training.loop import train

    # Unset options take the recipe's values; a resumed run keeps its own, bar --epochs.
    options = from_arguments(args)
    if args.no_residual:
        options["model_kwargs"] = {"residual": False}
    if args.resume:
        options = {k: v for k, v in options.items() if k == "epochs"}
    result = train(out=args.out, resume=args.resume, **options)
    print(
        json.dumps(
            {
                "run_dir": str(result.run_dir),
                "epochs_done": len(result.history),
                "test_accuracy": round(result.test_accuracy, 4),
                "test_loss": round(result.test_loss, 4),
                "collapsed_epochs": [c["epoch"] for c in result.collapses],
                **({"embeddings": result.embeddings} if result.embeddings else {}),
            }
        )
    )


def _cmd_evaluate(args) -> None:
    from reskeras.evaluation.collapse import collapse_message
    from reskeras.evaluation.scores import evaluate

    report = evaluate(
        args.run,
        task=args.task,
        data=args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        reference=args.reference,
        report_dir=args.report,
    )
    print(json.dumps(report))
    if args.report:
        from reskeras.evaluation.report import REPORT_HTML

        print(f"report: {os.path.join(args.report, REPORT_HTML)}", file=sys.stderr)
    if "collapsed" in report:
        print(
            f"reskeras: warning: {collapse_message(report['collapsed'], 'evaluation')}",
            file=sys.stderr,
        )


def _cmd_export(args) -> None:
    import warnings

    from reskeras.serve.export import export_for_serving

    with warnings.catch_warnings():  # each is in result.warnings, printed below
        warnings.simplefilter("ignore", UserWarning)
        result = export_for_serving(
            args.run, args.name, base_dir=args.base, version=args.version, raw_text=args.raw_text
        )
    for note in result.warnings:
        print(f"reskeras: warning: {note}", file=sys.stderr)
    summary = {"path": str(result.path), "version": result.version}
    print(json.dumps({**summary, "signatures": result.signatures}))


def _cmd_demo(args) -> None:
    import shutil
    from pathlib import Path

    from reskeras.console import device_line
    from reskeras.data import load_task
    from reskeras.evaluation.report import REPORT_HTML
    from reskeras.evaluation.scores import score_run
    from reskeras.serve import client as serving
    from reskeras.serve.export import export_for_serving
    from reskeras.training.loop import train
    from reskeras.training.rundir import atomic_write

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)  # the demo's own scratch run, recreated every time
    result = train(
        DEMO_TASK,
        epochs=DEMO_EPOCHS,
        limit_train=args.limit_train or DEMO_LIMIT_TRAIN,
        limit_test=args.limit_test,
        out=out,
    )
    results = score_run(result.run_dir)
    results.write(out / "report")
    exported = export_for_serving(result.run_dir, DEMO_NAME, base_dir=args.export_base)
    images = [x.numpy() for x, _ in load_task(DEMO_TASK).test.take(2)]
    request = out / "request.json"
    atomic_write(request, json.dumps(serving.image_request(images)))

    cfg = result.config
    seconds = sum(h["train_seconds"] for h in result.history)
    rate = sum(h.get("examples_per_s", 0) * h["train_seconds"] for h in result.history) / seconds
    models = Path(exported.path).parent.resolve()
    r = results.report
    rule = "-" * 78
    print(
        f"\n{rule}\n"
        f"reskeras demo: {cfg.model} on Fashion-MNIST, {len(result.history)} epoch(s) of the "
        f"default image recipe\n"
        f"  test accuracy  {r['accuracy']:.4f} on {r['num_examples']:,} test images "
        f"(macro-F1 {r['macro_f1']:.4f})\n"
        f"  training time  {seconds:.0f} s, {rate:,.0f} images/s ({device_line()})\n"
        f"  run directory  {result.run_dir}\n"
        f"  report         {out / 'report' / REPORT_HTML} (confusion matrix, worst mistakes)\n"
        f"  SavedModel     {exported.path}\n"
        f"serve it with TF Serving:\n"
        f"  docker run --rm -p 8501:8501 -v {models}:/models/{DEMO_NAME} "
        f"-e MODEL_NAME={DEMO_NAME} tensorflow/serving\n"
        f"query it (two test images):\n"
        f"  curl -s -d @{request} http://localhost:8501/v1/models/{DEMO_NAME}:predict\n"
        f"{rule}"
    )


COMMANDS = {
    "list": _cmd_list,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "export": _cmd_export,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reskeras`` console script.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0, 2 for an error (one line on stderr), 130 when interrupted.
    """
    from reskeras.console import quiet_tensorflow

    quiet_tensorflow()  # before anything imports TensorFlow: no start-up chatter
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already reported in one line
        return int(stop.code or 0)
    from reskeras.errors import ReskerasError, one_line

    try:
        COMMANDS[args.command](args)
    except (ValueError, ReskerasError, FileNotFoundError) as exc:
        print(f"reskeras: error: {one_line(exc, typed=False)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reskeras: interrupted; completed epochs are checkpointed.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
