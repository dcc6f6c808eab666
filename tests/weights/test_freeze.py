"""Fine-tuning: pretrained weights through train(), the CLI and the app; what stays frozen."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from support import watch_download_timeout
from synthetic import make_idx_dir, make_image_folder

import reskeras as rk
from reskeras import ui
from reskeras.cli import main
from reskeras.training.config import FINETUNE_LR_SCALE, TrainConfig
from reskeras.training.loop import train
from reskeras.training.recipes import RECIPES, default_lr, resolve
from reskeras.weights.freeze import freeze, frozen_layers

keras_hub = pytest.importorskip("keras_hub")

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    """A keras-hub ResNet-18 classifier (resnet_18_imagenet's config, random weights with
    moved batch-norm statistics) saved by keras-hub's own save_to_preset."""
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    )
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=(32, 32), scale=list(1 / (255 * STD)), offset=list(-MEAN / STD)
    )
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    source = keras_hub.models.ResNetImageClassifier(backbone, 1000, preprocessor=preprocessor)
    rng = np.random.default_rng(0)
    for w in source.weights:
        if w.path.endswith(("moving_mean", "beta")):
            w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
        elif w.path.endswith("moving_variance"):
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype("float32"))
    path = tmp_path_factory.mktemp("hub") / "resnet_18"
    source.save_to_preset(str(path))
    return path


def _backbone_weights(model: keras.Model) -> dict[str, np.ndarray]:
    return {
        w.path: keras.ops.convert_to_numpy(w)
        for w in model.weights
        if not w.path.startswith("predictions/")
    }


def test_freeze_parts_and_their_batch_norms():
    model = rk.cifar_resnet(8, num_classes=3, input_shape=(16, 16, 3))
    assert frozen_layers(model, "none") == []
    assert frozen_layers(model, "stem") == ["stem_conv", "stem_bn"]
    assert frozen_layers(model, "stage2")[-1] == "stage2_block1"
    assert "stage3_block1" not in frozen_layers(model, "stage2")
    frozen = freeze(model, "backbone")
    assert "stem_conv" in frozen and "stage3_block1" in frozen and "predictions" not in frozen
    assert [w.path for w in model.trainable_weights] == ["predictions/kernel", "predictions/bias"]
    before = keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_mean)
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("float32")
    model(x, training=True)  # frozen norms normalize with, and keep, their statistics
    np.testing.assert_array_equal(model.get_layer("stem_bn").moving_mean, before)
    freeze(model, "none")
    model(x, training=True)
    assert not np.array_equal(model.get_layer("stem_bn").moving_mean, before)
    with pytest.raises(ValueError, match=r"freeze='stage4'.*3 stages.*'stage3', 'backbone'"):
        freeze(model, "stage4")
    with pytest.raises(ValueError, match=r"Invalid freeze 'head'"):
        freeze(model, "head")


def test_phases_train_the_head_first_then_all_at_a_lower_rate():
    config = TrainConfig(epochs=5, lr=0.1, head_epochs=2, freeze="stem")

    def phases(config: TrainConfig) -> list[tuple[int, str, float]]:
        return [(p.end, p.frozen, p.lr) for p in resolve(config).phases]

    assert phases(config) == [(2, "backbone", 0.1), (5, "stem", 0.1 * FINETUNE_LR_SCALE)]
    assert phases(config.replace(head_epochs=0)) == [(5, "stem", 0.1)]
    assert phases(config.replace(head_epochs=9)) == [(5, "backbone", 0.1)]


def test_pretrained_weights_select_the_finetune_recipe():
    tuned = resolve(TrainConfig(weights="imagenet")).config
    recipe = RECIPES["image_finetune"]
    assert (tuned.model, tuned.head_epochs, tuned.augment) == ("resnet50", 1, True)
    assert tuned.optimizer == recipe.optimizer and tuned.batch_size == recipe.batch_size
    own = resolve(TrainConfig(weights="mine.weights.h5")).config
    assert own.model == RECIPES["image"].model and own.head_epochs == 0
    assert default_lr("image_finetune", "sgd", 64) == recipe.lr


@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_cli_fine_tunes_a_frozen_backbone_and_the_export_still_matches(preset, tmp_path, capsys):
    """A ported model fine-tuned with freeze="backbone" (the CLI's --weights and --freeze):
    neither the frozen weights nor the batch-norm statistics move; the classifier does. The
    SavedModel then gives the same probabilities in a TensorFlow-only process."""
    folder = make_image_folder(tmp_path / "pets", size=32)
    run = tmp_path / "run"
    argv = ["train", "--task", "image_folder", "--data", str(folder), "--model", "resnet18",
            "--weights", str(preset), "--freeze", "backbone", "--head-epochs", "0",
            "--epochs", "1", "--batch-size", "8", "--out", str(run), "--no-xla"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())["train"]
    assert config["weights"] == str(preset) and config["freeze"] == "backbone"
    ported = rk.build_model("resnet18", weights=str(preset), num_classes=2, input_shape=(32, 32, 3))
    tuned = keras.saving.load_model(run / "model.keras")
    before, after = _backbone_weights(ported), _backbone_weights(tuned)
    assert before.keys() == after.keys()
    for path, value in before.items():  # moving means and variances included
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    assert not np.array_equal(
        keras.ops.convert_to_numpy(tuned.get_layer("predictions").kernel),
        keras.ops.convert_to_numpy(ported.get_layer("predictions").kernel),
    )

    base = tmp_path / "saved_models"
    assert main(["export", "--run", str(run), "--name", "pets", "--base", str(base)]) == 0
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    np.save(tmp_path / "x.npy", images)
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(base / "pets/1")!r})
        out = loaded.signatures["serving_default"](images=tf.constant(np.load(sys.argv[1])))
        np.save(sys.argv[2], out["probabilities"].numpy())
        assert not [m for m in sys.modules if m.split(".")[0] in ("reskeras", "keras_hub")]
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "x.npy"), str(tmp_path / "p.npy")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(tuned(images.astype("float32"))))
    assert np.abs(np.load(tmp_path / "p.npy") - expected).max() <= 1e-5


@pytest.mark.slow  # a whole training run
def test_head_epochs_then_all_but_the_stem(tmp_path):
    """Two phases: epoch 1 moves only the classifier, epoch 2 everything but the stem; the
    model resizes the data's 28x28 images to 16x16 inside."""
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def _take(self):
            snapshots.append({w.path: keras.ops.convert_to_numpy(w) for w in self.model.weights})

        def on_train_begin(self, logs=None):
            if not snapshots:
                self._take()  # before any training

        def on_epoch_end(self, epoch, logs=None):
            self._take()

    data = make_idx_dir(tmp_path / "fm", n_train=64, n_test=16)
    result = train(
        "fashion_mnist", model="cifar_resnet8", data=str(data), epochs=2, head_epochs=1,
        freeze="stem", input_size=16, batch_size=16, jit_compile=False,
        out=tmp_path / "run", callbacks=[Snapshot()],
    )  # fmt: skip
    model = result.model
    assert model.input_shape == (None, 28, 28, 1)
    assert model.get_layer("resize").output.shape[1:3] == (16, 16)
    start, first, second = snapshots

    def moved(a, b, prefix=""):
        return [p for p in a if p.startswith(prefix) and not np.array_equal(a[p], b[p])]

    # Epoch 1: the classifier alone (the backbone's statistics included stay put).
    assert moved(start, first) == ["predictions/kernel", "predictions/bias"]
    # Epoch 2: everything but the stem.
    assert moved(first, second, "stage1_block1/") and moved(first, second, "predictions/")
    assert not moved(first, second, "stem_")
    assert result.config.head_epochs == 1 and len(result.history) == 2


def test_app_offers_the_weights_that_exist(monkeypatch, tmp_path):
    app = ui.TrainerApp(task="image_folder", family="resnet", depth=50, build=False, debounce_s=0)
    offered = list(app.weights.options)
    assert "imagenet" in offered and "resnet_50_imagenet" in offered
    assert "resnet_v2_50_imagenet" in offered and "resnet_vd_50_imagenet" in offered
    app.set(preset="resnet50v2")
    assert "resnet_v2_50_imagenet" in app.weights.options
    assert "resnet_50_imagenet" not in app.weights.options
    app.set(family="cifar_resnet")
    assert list(app.weights.options) == []
    # Pretrained weights switch the training settings to the fine-tuning recipe.
    app.set(family="resnet", depth=18)
    assert "resnet_18_imagenet" in app.weights.options and "imagenet" not in app.weights.options
    assert app.head_epochs.value == 0
    app.weights.value = "resnet_18_imagenet"
    recipe = RECIPES["image_finetune"]
    assert app.head_epochs.value == recipe.head_epochs and app.batch_size.value == recipe.batch_size
    assert app.lr.value == pytest.approx(default_lr("image_finetune", "sgd", app.batch_size.value))
    config = ui.train_config(app.values())
    assert config["weights"] == "resnet_18_imagenet" and config["head_epochs"] == 1
    app.weights.value = ""
    assert app.head_epochs.value == 0 and ui.train_config(app.values())["weights"] is None


def test_app_says_in_one_line_when_weights_are_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path / "keras"))
    timeouts = watch_download_timeout(monkeypatch, 2.5)
    folder = make_image_folder(tmp_path / "pets", size=32)
    app = ui.TrainerApp(
        task="image_folder", data=str(folder), family="resnet", depth=101, build=False,
        debounce_s=0, runs_dir=tmp_path / "runs",
    )  # fmt: skip
    app.set(preset="resnet101v2", epochs=1, xla=False)
    app.weights.value = "imagenet"
    app.set(batch_size=8)
    app.train()
    assert app.wait(300)
    failed = "Training failed: WeightsError: keras.applications ResNet101V2"
    assert app.status_text.startswith(failed)
    assert "not available (offline?)" in app.status_text
    assert "\n" not in app.status_text
    assert 2.5 in timeouts  # the download ran under reskeras.weights.named.DOWNLOAD_TIMEOUT


@pytest.mark.slow  # a whole training run
def test_resume_at_the_phase_boundary_unfreezes(tmp_path):
    """A run that ended with its head phase, resumed for one more epoch, trains the rest."""
    data = make_idx_dir(tmp_path / "fm", n_train=64, n_test=16)
    run = tmp_path / "run"
    first = train(
        "fashion_mnist", model="cifar_resnet8", data=str(data), epochs=1, head_epochs=1,
        batch_size=16, jit_compile=False, out=run,
    )  # fmt: skip
    assert [w.path for w in first.model.trainable_weights] == [
        "predictions/kernel",
        "predictions/bias",
    ]
    kernel = keras.ops.convert_to_numpy(first.model.get_layer("stem_conv").kernel)
    second = train(resume=run, epochs=2)
    assert len(second.history) == 2 and len(second.model.trainable_weights) > 2
    assert not np.array_equal(second.model.get_layer("stem_conv").kernel, kernel)
