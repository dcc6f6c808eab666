"""The training engine and CLI: run directories, resume after SIGKILL, errors."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from synthetic import make_idx_dir, make_image_folder

from reskeras.cli import main
from reskeras.data import DataError
from reskeras.evaluation.scores import evaluate
from reskeras.training.distributed import make_strategy
from reskeras.training.loop import TrainingError, train
from reskeras.training.optim import OneCycle, make_optimizer, make_schedule
from reskeras.training.recipes import RECIPES, WEIGHT_DECAY
from reskeras.training.rundir import RunDir

# Tiny runs pin their schedule (cosine with a warm-up epoch, crop augmentation) so that their
# accuracy bars do not move with the default recipe.
TINY = {
    "model": "cifar_resnet8",
    "batch_size": 32,
    "limit_test": 64,
    "lr": 0.05,
    "schedule": "cosine",
    "warmup_epochs": 1,
    "augment": True,
}


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory) -> Path:
    return make_idx_dir(tmp_path_factory.mktemp("fmnist"), n_train=256, n_test=64)


@pytest.mark.slow  # a whole training run
def test_train_writes_a_complete_run_directory(fmnist, tmp_path):
    result = train("fashion_mnist", data=str(fmnist), epochs=3, out=tmp_path / "run", **TINY)
    run = result.run_dir
    for name in ("config.json", "labels.json", "metrics.csv", "model.keras", "tb"):
        assert (run / name).exists(), name
    assert [p.name for p in (run / "checkpoints").glob("*.keras")] == ["epoch-0003.keras"]
    config = json.loads((run / "config.json").read_text())
    assert config["epochs_done"] == 3 and config["train"]["jit_compile"] == "auto"
    # "auto" on a CPU: a probe timed both ways and the faster one trained.
    xla = config["xla"]
    assert xla["reason"] == "cpu probe" and set(xla["seconds_per_step"]) == {"xla", "no_xla"}
    times = xla["seconds_per_step"]
    assert xla["jit_compile"] == (times["xla"] < times["no_xla"])
    assert result.model.jit_compile == xla["jit_compile"]
    assert json.loads((run / "labels.json").read_text())[0] == "T-shirt/top"
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch") and len(rows) == 4
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    # The synthetic classes are learnable: well above chance after three short epochs.
    assert result.test_accuracy > 0.3
    assert result.history[-1]["accuracy"] > result.history[0]["accuracy"]
    assert config["collapsed_epochs"] == [] and config["collapse"] is None

    report = evaluate(run)
    assert set(report) == {
        "loss", "accuracy", "per_class_recall", "macro_f1", "num_examples", "per_class",
        "confusion", "checkpoint",
    }  # fmt: skip
    assert report["checkpoint"] == {"file": "model.keras", "epoch": 3}
    assert sum(map(sum, report["confusion"])) == 64
    assert report["num_examples"] == 64
    assert abs(report["accuracy"] - result.test_accuracy) < 1e-6
    assert list(report["per_class_recall"])[-1] == "Ankle boot"


@pytest.mark.slow  # a whole training run
def test_mixed_precision_run_keeps_float32_logits(fmnist, tmp_path):
    result = train(
        "fashion_mnist",
        data=str(fmnist),
        epochs=1,
        precision="mixed_float16",
        jit_compile=False,
        out=tmp_path / "mp",
        limit_train=128,  # float16 convolutions are slow on a CPU
        **{**TINY, "limit_test": 32},
    )
    model = RunDir.open(result.run_dir).load_model()
    assert model.get_layer("stage1_block1").compute_dtype == "float16"
    logits = model(np.zeros((1, 28, 28, 1), "float32"))
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert type(result.model.optimizer).__name__ == "LossScaleOptimizer"
    # Resuming restores the loss-scaled optimizer with all its state.
    resumed = train(resume=result.run_dir, epochs=2)
    assert type(resumed.model.optimizer).__name__ == "LossScaleOptimizer"
    # 128 of the training images left after holding out a validation split: 4 steps an epoch.
    assert int(resumed.model.optimizer.iterations) == 2 * (128 // 32)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "reskeras.cli", *args]


@pytest.mark.slow  # a `python -m reskeras.cli train` process
def test_sigkill_mid_epoch_then_resume(fmnist, tmp_path):
    run = tmp_path / "killed"
    args = ["--task", "fashion_mnist", "--data", str(fmnist), "--model", "cifar_resnet8",
            "--batch-size", "8", "--limit-test", "32", "--no-xla"]  # fmt: skip
    proc = subprocess.Popen(
        _cli("train", *args, "--epochs", "4", "--out", str(run)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = run / "checkpoints" / "state.json"
    deadline = time.time() + 240
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well into epoch 2 (of 32 steps)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 4 and not (run / "model.keras").exists()

    assert main(["train", "--resume", str(run)]) == 0
    state_after = json.loads(state.read_text())
    assert state_after["epochs_done"] == 4
    assert [h["epoch"] for h in state_after["history"]] == [1, 2, 3, 4]
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 5
    model = keras.saving.load_model(run / "model.keras")
    # Optimizer state (and with it the schedule position) came back: 4 epochs of steps.
    assert int(model.optimizer.iterations) == 4 * (230 // 8)  # 26 of 256 held out


@pytest.mark.slow  # a whole training run
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(fmnist, tmp_path):
    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                kernel = self.model.get_layer("predictions").kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    with pytest.raises(TrainingError, match=r"Loss became nan at epoch 2.*epoch 1\) is kept"):
        train(
            "fashion_mnist",
            data=str(fmnist),
            epochs=3,
            jit_compile=False,
            callbacks=[Poison()],
            out=tmp_path / "nan",
            **TINY,
        )
    state = json.loads((tmp_path / "nan/checkpoints/state.json").read_text())
    assert state["epochs_done"] == 1
    good = keras.saving.load_model(tmp_path / "nan/checkpoints" / state["checkpoint"])
    assert np.isfinite(keras.ops.convert_to_numpy(good.get_layer("predictions").kernel)).all()


@pytest.mark.slow  # a whole training run
def test_cli_train_evaluate_and_list(fmnist, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["train", "--task", "fashion_mnist", "--data", str(fmnist), "--model",
                 "cifar_resnet", "--depth", "8", "--epochs", "1", "--batch-size", "64",
                 "--out", str(out), "--no-xla"])  # fmt: skip
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["run_dir"] == str(out) and line["epochs_done"] == 1
    assert main(["evaluate", "--run", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"accuracy", "loss", "per_class_recall", "macro_f1"} <= set(report)
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "cifar_resnet56" in listing and "fashion_mnist" in listing and "6n+2" in listing


@pytest.mark.slow  # a whole training run
def test_cli_image_folder_train_and_export(tmp_path, capsys):
    folder = make_image_folder(tmp_path / "pets")
    run = tmp_path / "pets_run"
    argv = ["train", "--task", "image_folder", "--data", str(folder), "--model", "cifar_resnet8",
            "--epochs", "1", "--batch-size", "8", "--out", str(run), "--no-xla"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((run / "labels.json").read_text()) == ["cat", "dog"]
    record = json.loads((run / "config.json").read_text())
    assert record["input_shape"] == [12, 12, 3]
    assert "colour training images" in record["reasons"]["augment"]  # the rule saw colour
    capsys.readouterr()
    base = tmp_path / "saved_models"
    assert main(["export", "--run", str(run), "--name", "pets", "--base", str(base)]) == 0
    exported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert exported["version"] == 1 and (base / "pets/1/saved_model.pb").exists()
    assert set(exported["signatures"]) == {"serving_default", "serve_bytes"}
    assert main(["export", "--run", str(run), "--name", "pets", "--base", str(base),
                 "--version", "1"]) == 2  # fmt: skip
    assert "exists" in capsys.readouterr().err
    assert main(["export", "--run", str(run), "--name", "../evil", "--base", str(base)]) == 2
    assert "../evil" in capsys.readouterr().err


@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_cli_text_file_train_evaluate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    good, bad = ["great", "superb", "lovely", "fun"], ["awful", "dull", "boring", "bad"]
    lines = ["review\tsentiment"]
    for i in range(160):
        words = good if i % 2 else bad
        lines.append(f"a {rng.choice(words)} film , {rng.choice(words)} acting\t"
                     f"{'pos' if i % 2 else 'neg'}")  # fmt: skip
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    run = tmp_path / "text_run"
    argv = ["train", "--task", "text_file", "--data", str(tsv), "--text-column", "review",
            "--label-column", "sentiment", "--model", "text_resnet9", "--epochs", "2",
            "--batch-size", "16", "--sequence-length", "16", "--no-xla",
            "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((run / "labels.json").read_text()) == ["neg", "pos"]
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "text" and config["train"]["optimizer"] == "adamw"
    assert (run / "preprocessor.keras").exists()
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["num_examples"] == 16 and set(report["per_class_recall"]) == {"neg", "pos"}
    assert report["accuracy"] > 0.6
    # Resuming reuses the saved vocabulary: the ids the checkpoint learned keep their meaning.
    before = (run / "preprocessor.keras").read_bytes()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    assert (run / "preprocessor.keras").read_bytes() == before
    assert json.loads((run / "config.json").read_text())["epochs_done"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--task", "fashion_mnst"], r"unknown task 'fashion_mnst'.*fashion_mnist"),
        (["train", "--model", "resnet51"], r"resnet depth 51.*\[18, 34, 50, 101, 152\]"),
        (["train", "--model", "densenet121"], r"Unknown model 'densenet121'.*resnet50"),
        (["train", "--model", "cifar_resnet", "--depth", "21"], r"21.*6n\+2"),
        (["train", "--precision", "float8"], r"float8.*mixed_bfloat16"),
        (["train", "--optimizer", "adam"], r"adam'.*adamw"),
        (["train", "--task", "image_folder"], r"image_folder.*data"),
        (["train", "--task", "sst2", "--model", "cifar_resnet20"], r"image data.*text_resnet"),
        (["train", "--task", "image_folder", "--data", "/nonexistent"], r"/nonexistent"),
        (["evaluate", "--run", "/nonexistent/run"], r"/nonexistent/run.*model.keras"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reskeras: error: ") and "\n" not in err
    assert __import__("re").search(message, err), err


def test_existing_run_is_never_overwritten(fmnist, tmp_path):
    (tmp_path / "busy/checkpoints").mkdir(parents=True)
    (tmp_path / "busy/checkpoints/state.json").write_text("{}")
    with pytest.raises(TrainingError, match="--resume"):
        train("fashion_mnist", data=str(fmnist), out=tmp_path / "busy", **TINY)


def test_batch_larger_than_dataset_is_explained(fmnist, tmp_path):
    with pytest.raises(DataError, match="no full batch of 512"):
        train("fashion_mnist", data=str(fmnist), batch_size=512, out=tmp_path / "b")


def test_schedules_and_optimizers():
    # Keras' CosineDecay: linear warm-up from 0 to the peak, then cosine decay to 0.
    cosine = make_schedule("cosine", 0.1, total_steps=100, warmup_steps=10)
    values = [float(cosine(s)) for s in (0, 5, 10, 55, 100)]
    np.testing.assert_allclose(values, [0.0, 0.05, 0.1, 0.05, 0.0], atol=1e-6)
    plain = make_schedule("cosine", 0.1, total_steps=100)
    np.testing.assert_allclose([float(plain(s)) for s in (0, 50, 100)], [0.1, 0.05, 0.0], atol=1e-6)
    assert make_schedule("constant", 0.1, 100) == 0.1
    cycle = OneCycle(1.0, total_steps=100, pct_start=0.25)
    np.testing.assert_allclose(
        [float(cycle(s)) for s in (0, 25, 100)], [0.04, 1.0, 1e-4], atol=1e-6
    )
    sgd = make_optimizer("sgd", cosine, 5e-4)
    assert sgd.nesterov and sgd.weight_decay == 5e-4
    assert isinstance(make_optimizer("adamw", 1e-3, 0.05), keras.optimizers.AdamW)
    assert make_strategy("auto").num_replicas_in_sync == 1
    assert make_strategy("mirrored").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    with pytest.raises(ValueError, match="'gpu'.*mirrored"):
        make_strategy("gpu")


def test_package_train_is_always_the_function():
    # The engine's module used to be `reskeras.train`: importing it replaced the lazily
    # loaded `reskeras.train` function with the module, so a second `rk.train(...)` failed.
    import reskeras as rk
    import reskeras.training.loop

    assert rk.train is reskeras.training.loop.train
    assert callable(rk.train) and rk.train is rk.train
    assert rk.training is reskeras.training  # the sub-package, beside the function


@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_cli_train_without_model_uses_the_recipe_of_the_task_kind(fmnist, tmp_path, capsys):
    # Issue 12: --model defaulted to cifar_resnet20 whatever the task, so `--task sst2` alone
    # was a kind-mismatch error. Now each kind has one recipe, also for the CLI.
    out = tmp_path / "image"
    assert main(["train", "--task", "fashion_mnist", "--data", str(fmnist), "--epochs", "1",
                 "--limit-test", "32", "--no-xla", "--out", str(out)]) == 0  # fmt: skip
    cfg = json.loads((out / "config.json").read_text())["train"]
    image = RECIPES["image"]
    assert (cfg["model"], cfg["optimizer"], cfg["schedule"]) == (
        image.model, image.optimizer, image.schedule,
    )  # fmt: skip
    assert cfg["batch_size"] == image.batch_size and cfg["lr"] == pytest.approx(image.lr)
    assert cfg["weight_decay"] == WEIGHT_DECAY["sgd"]
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("".join(f"{'good' if i % 2 else 'bad'} film {i}\t{i % 2}\n" for i in range(80)))
    out = tmp_path / "text"
    assert main(["train", "--task", "text_file", "--data", str(tsv), "--epochs", "1",
                 "--batch-size", "16", "--no-xla", "--out", str(out)]) == 0  # fmt: skip
    cfg = json.loads((out / "config.json").read_text())["train"]
    text = RECIPES["text"]
    assert (cfg["model"], cfg["optimizer"]) == (text.model, text.optimizer)
    # No recipe length: it was chosen from the data (80 rows of 4 tokens -> 8, the minimum).
    assert text.sequence_length is None and cfg["sequence_length"] == 8
    assert cfg["weight_decay"] == WEIGHT_DECAY["adamw"] and cfg["lr"] == pytest.approx(text.lr)


@pytest.mark.slow  # a whole training run
def test_recipe_epochs_are_long_enough_for_small_data(fmnist, tmp_path, monkeypatch):
    # Without --epochs, small data gets the recipe's epochs of at least min_steps / epochs
    # steps (several passes each); a resumed run keeps that epoch length.
    small = dataclasses.replace(RECIPES["image"], epochs=2, min_steps=12, batch_size=32)
    monkeypatch.setitem(RECIPES, "image", small)
    result = train("fashion_mnist", "cifar_resnet8", data=str(fmnist), limit_train=64,
                   limit_test=32, jit_compile=False, out=tmp_path / "run", verbose=0)  # fmt: skip
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["steps_per_epoch"] == 6 and config["train"]["epochs"] == 2  # 3 passes each
    assert config["reasons"]["augment"].startswith("off: 6.0 passes over 64 grey training")
    assert int(result.model.optimizer.iterations) == 12
    resumed = train(resume=result.run_dir, epochs=3, verbose=0)
    assert int(resumed.model.optimizer.iterations) == 18
    # An explicit --epochs is that many passes over the data.
    exact = train("fashion_mnist", "cifar_resnet8", data=str(fmnist), limit_train=64, epochs=2,
                  limit_test=32, jit_compile=False, out=tmp_path / "exact", verbose=0)  # fmt: skip
    assert int(exact.model.optimizer.iterations) == 4


@pytest.mark.slow  # fresh interpreters
def test_a_runs_model_loads_with_plain_keras_after_import_reskeras(fmnist, tmp_path):
    # The image recipe's schedule (OneCycle), loss and TopClassShare metric are in the file;
    # reskeras imported before Keras, and after it.
    out = tmp_path / "run"
    train(
        "fashion_mnist", data=str(fmnist), epochs=1, out=out, model="cifar_resnet8",
        batch_size=32, limit_train=64, limit_test=32, schedule="onecycle", jit_compile=False,
    )  # fmt: skip
    expected = keras.saving.load_model(out / "model.keras").count_params()
    for order in ("import reskeras, keras", "import keras, reskeras"):
        code = (
            f"{order}\n"
            f"model = keras.saving.load_model({str(out / 'model.keras')!r})\n"
            "print(model.count_params(), type(model.optimizer).__name__, "
            "type(model.loss).__name__)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
            cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, f"{order}: {proc.stderr[-2000:]}"
        assert proc.stdout.split()[-3:] == [str(expected), "SGD", "SparseSmoothedCrossentropy"]
