"""MirroredStrategy with two replicas on one CPU, split into two logical devices.

Not collected by the main suite (the name does not start with ``test_``):
``test_distributed.py`` runs it in a pytest process of its own, because the split must happen
before TensorFlow initializes its devices and no other test should train on two replicas.
``pytest tests/training/two_replicas.py`` runs it directly.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from support import FASHION_DIR
from synthetic import make_idx_dir

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from reskeras.evaluation.scores import evaluate  # noqa: E402
from reskeras.training.distributed import make_strategy  # noqa: E402
from reskeras.training.loop import train  # noqa: E402
from reskeras.training.recipes import RECIPES  # noqa: E402

# Two replicas normalize each half of the global batch with its own batch-norm statistics
# where one replica normalizes the whole batch. That is the whole difference, and it keeps the
# per-epoch training loss within 5% of the one-replica run's (measured over seeds 0-2 with the
# settings below: at most 3.1%, 2.2% and 0.6% for the seed used).
LOSS_RTOL = 0.05
TINY = {"model": "cifar_resnet8", "augment": False, "verbose": 0}

pytestmark = pytest.mark.slow  # like test_distributed.py, which runs this file


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    return str(make_idx_dir(tmp_path_factory.mktemp("fmnist"), n_train=256, n_test=64))


def test_mirrored_uses_both_logical_cpus():
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    assert [d.rsplit(":", 2)[-2:] for d in strategy.extended.worker_devices] == [
        ["CPU", "0"],
        ["CPU", "1"],
    ]


@pytest.mark.usefixtures("real_fashion_mnist")
def test_two_replicas_train_like_one_on_the_global_batch(tmp_path):
    # Real images: the synthetic ones are told apart by their brightness, which batch norm
    # over 16 rather than 32 of them distorts far more than it does real pictures.
    # A constant rate: the warm-up of the one-cycle schedule amplifies small differences.
    data = {"data": str(FASHION_DIR), "limit_train": 512, "limit_test": 256, "lr": 0.05,
            "schedule": "constant", **TINY}  # fmt: skip
    warnings = []
    two = train("fashion_mnist", epochs=2, batch_size=32, strategy="mirrored",
                out=tmp_path / "two", report=warnings.append, **data)  # fmt: skip
    config = json.loads((two.run_dir / "config.json").read_text())
    # The batch size is per replica: the global batch is twice it.
    assert (config["replicas"], config["workers"], config["global_batch_size"]) == (2, 1, 64)
    assert int(two.model.optimizer.iterations.numpy()) == 2 * 512 // 64
    # XLA cannot compile a step across two devices: "auto" trains without it and says why.
    assert config["train"]["jit_compile"] == "auto"
    assert config["xla"] == {"jit_compile": False, "reason": "2 replicas: no XLA step"}
    assert not any("XLA is off" in w for w in warnings)

    one = train("fashion_mnist", epochs=2, batch_size=64, strategy="default", jit_compile=False,
                out=tmp_path / "one", **data)  # fmt: skip
    for h2, h1 in zip(two.history, one.history, strict=True):
        assert h2["loss"] == pytest.approx(h1["loss"], rel=LOSS_RTOL), (h2, h1)

    # Each replica updated the batch-norm moving statistics from its own half; they were
    # averaged before validation, so both copies agree, and the saved model holds them.
    moving = [v for v in two.model.non_trainable_variables if "moving" in v.path]
    assert moving
    for variable in moving:
        first, second = (np.asarray(copy) for copy in variable.value.values)
        np.testing.assert_array_equal(first, second, err_msg=variable.path)
    report = evaluate(two.run_dir)
    assert report["accuracy"] == pytest.approx(two.test_accuracy, abs=1e-6)


def test_two_replicas_checkpoint_and_resume(fmnist, tmp_path):
    first = train("fashion_mnist", data=fmnist, epochs=1, batch_size=16, strategy="mirrored",
                  limit_train=128, limit_test=32, out=tmp_path / "run", **TINY)  # fmt: skip
    state = json.loads((first.run_dir / "checkpoints/state.json").read_text())
    assert state["epochs_done"] == 1 and state["checkpoint"] == "epoch-0001.keras"
    # SGD's default learning rate follows the global batch, 2 x 16.
    recipe = RECIPES["image"]
    assert first.config.lr == pytest.approx(recipe.lr * 32 / recipe.batch_size)
    resumed = train(resume=first.run_dir, epochs=2, verbose=0)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    # The optimizer state came back: two epochs of 128 / 32 steps.
    assert int(resumed.model.optimizer.iterations.numpy()) == 2 * 128 // 32
    assert resumed.model.distribute_strategy.num_replicas_in_sync == 2
    assert (first.run_dir / "model.keras").exists()
    assert json.loads((first.run_dir / "config.json").read_text())["epochs_done"] == 2


def test_two_replicas_train_a_translation_model(tmp_path):
    # Length buckets leave uneven batches (45 validation pairs in batches of 2 x 16): each
    # replica takes its share of a short batch; the collapse guard decodes on the replicas'
    # shared weights.
    from synthetic import make_parallel_dir

    from reskeras.decoding.seq2seq import translate

    data, held_out = make_parallel_dir(tmp_path / "data", n_train=300, n_val=45)
    result = train("translation", "transformer_seq2seq1", data=str(data), languages="xx-yy",
                   epochs=1, min_steps=0, batch_size=16, vocabulary_size=64, sequence_length=16,
                   model_kwargs={"width": 32, "num_heads": 2}, strategy="mirrored",
                   out=tmp_path / "run", verbose=0, report=lambda _: None)  # fmt: skip
    config = json.loads((result.run_dir / "config.json").read_text())
    assert (config["replicas"], config["global_batch_size"]) == (2, 32)
    assert [h["epoch"] for h in result.history] == [1]
    assert all(np.isfinite(h["val_perplexity"]) and "collapsed" in h for h in result.history)
    translations = translate(result.run_dir, [s for s, _ in held_out[:3]], beam_width=1)
    assert len(translations) == 3 and all(isinstance(t, str) for t in translations)
