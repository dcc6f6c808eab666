"""Evaluation of finished runs on data given by the user, and the collapse guard.

The runs here are built by hand with known predictions, so the tests can assert the exact
number of examples scored and the exact accuracy: a text model that says "positive" exactly
when the word "good" occurs, and an image model that says "bright" exactly when the mean pixel
is above 128.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from synthetic import make_idx_dir

from reskeras.cli import main
from reskeras.data import DataError
from reskeras.data.text import adapt_vectorizer, preprocessor_model
from reskeras.evaluation.collapse import find_collapse
from reskeras.evaluation.scores import evaluate
from reskeras.training.config import TrainConfig
from reskeras.training.loop import train


def _write_run(run: Path, model, labels, kind, input_shape=None, preprocessor=None, **train):
    run.mkdir(parents=True)
    model.save(run / "model.keras")
    if preprocessor is not None:
        preprocessor.save(run / "preprocessor.keras")
    (run / "labels.json").write_text(json.dumps(labels))
    config = {
        "train": TrainConfig(**train).to_dict(),
        "kind": kind,
        "input_shape": input_shape,
        "num_classes": len(labels),
    }
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory) -> Path:
    """negative/positive, trained on sst2: positive iff the text contains "good"."""
    texts = tf.data.Dataset.from_tensor_slices(["good", "bad"])
    vectorizer = adapt_vectorizer(texts, vocabulary_size=10, sequence_length=8)
    vocab = vectorizer.get_vocabulary()
    inputs = keras.Input((8,), dtype="int32")
    embedding = keras.layers.Embedding(len(vocab), 2)
    logits = keras.layers.GlobalMaxPooling1D()(embedding(inputs))
    model = keras.Model(inputs, logits)
    table = np.zeros((len(vocab), 2), "float32")
    table[vocab.index("good")] = [0.0, 1.0]
    table[vocab.index("bad")] = [1.0, 0.0]
    embedding.set_weights([table])
    run = tmp_path_factory.mktemp("runs") / "sentiment"
    return _write_run(
        run,
        model,
        ["negative", "positive"],
        "text",
        preprocessor=preprocessor_model(vectorizer),
        task="sst2",
    )


def _tsv(path: Path, rows) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return path


def _reviews(n_good: int, n_bad: int, n_wrong: int, pos="1", neg="0"):
    """n_good "good" rows labelled positive, n_bad "bad" rows labelled negative, and n_wrong
    "good" rows labelled negative (which the model gets wrong)."""
    rows = [(f"a good film {i}", pos) for i in range(n_good)]
    rows += [(f"a bad film {i}", neg) for i in range(n_bad)]
    rows += [(f"good but {i}", neg) for i in range(n_wrong)]
    return rows


def test_evaluate_scores_every_row_of_a_file(sentiment_run, tmp_path):
    # Issue 12, item 1: a 1,821-row file was scored as 182 rows (a 10 % validation split).
    f = _tsv(tmp_path / "test.tsv", _reviews(900, 900, 21))
    report = evaluate(sentiment_run, data=f)
    assert report["num_examples"] == 1821
    assert report["accuracy"] == pytest.approx(1800 / 1821)
    assert report["per_class_recall"] == {"negative": round(900 / 921, 6), "positive": 1.0}
    assert "collapsed" not in report


def test_evaluate_reads_labels_with_the_runs_classes(sentiment_run, tmp_path):
    # Issue 12, item 2: ids 0/1 for a run trained on negative/positive were refused.
    ids = _tsv(tmp_path / "ids.tsv", _reviews(30, 20, 5))
    report = evaluate(sentiment_run, task="text_file", data=ids)
    assert report["num_examples"] == 55 and report["accuracy"] == pytest.approx(50 / 55)
    # Names map by name, whatever the case and surrounding whitespace.
    names = _tsv(tmp_path / "names.csv", _reviews(30, 20, 5, pos=" Positive", neg="NEGATIVE "))
    names.write_text(names.read_text().replace("\t", ","))
    assert evaluate(sentiment_run, task="text_file", data=names) == report
    # Anything else names the value and its line.
    bad = _tsv(tmp_path / "bad.tsv", [("good", "1"), ("bad", "0"), ("meh", "neutral")])
    with pytest.raises(DataError, match=r"label 'neutral' in '.*bad.tsv' line 4.*negative, pos"):
        evaluate(sentiment_run, task="text_file", data=bad)
    out_of_range = _tsv(tmp_path / "range.tsv", [("good", "1"), ("bad", "2")])
    with pytest.raises(DataError, match=r"label 2 in '.*range.tsv' line 3.*\(or 0..1\)"):
        evaluate(sentiment_run, data=out_of_range)


def test_cli_evaluate_file_and_bad_label(sentiment_run, tmp_path, capsys):
    f = _tsv(tmp_path / "test.tsv", _reviews(10, 10, 0))
    assert main(["evaluate", "--run", str(sentiment_run), "--task", "text_file", "--data",
                 str(f)]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["num_examples"] == 20 and report["accuracy"] == 1.0
    _tsv(f, [("good", "1"), ("bad", "maybe")])
    assert main(["evaluate", "--run", str(sentiment_run), "--data", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reskeras: error: ") and "\n" not in err
    assert "'maybe'" in err and "line 3" in err
    # An image task for a text run is refused before anything is read.
    assert main(["evaluate", "--run", str(sentiment_run), "--task", "cifar10"]) == 2
    assert "takes text inputs but task 'cifar10' is image" in capsys.readouterr().err


@pytest.fixture(scope="module")
def brightness_run(tmp_path_factory) -> Path:
    """dark/bright 8x8x1 images: bright iff the mean pixel is above 128."""
    inputs = keras.Input((8, 8, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(mean))
    dense.set_weights([np.array([[-1.0, 1.0]], "float32"), np.array([128.0, -128.0], "float32")])
    run = tmp_path_factory.mktemp("runs") / "brightness"
    return _write_run(run, model, ["dark", "bright"], "image", [8, 8, 1], task="image_folder")


def _images(folder: Path, n: int, level: int, size: int = 8, channels: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.full((size, size, channels), level, np.uint8)
        (folder / f"{level}_{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def test_evaluate_scores_every_image_of_a_folder(brightness_run, tmp_path):
    root = tmp_path / "photos"
    _images(root / "bright", 7, 220)
    _images(root / "bright", 2, 30)  # misfiled: predicted dark
    _images(root / "dark", 5, 20, size=16, channels=3)  # other size, RGB: resized, grey
    report = evaluate(brightness_run, data=root)
    assert report["num_examples"] == 14 and report["accuracy"] == pytest.approx(12 / 14)
    assert report["per_class_recall"] == {"dark": 1.0, "bright": round(7 / 9, 6)}
    # Folders may name classes by id; a train/test layout scores test/.
    split = tmp_path / "split"
    _images(split / "train" / "0", 3, 10)
    _images(split / "test" / "1", 4, 250)
    _images(split / "test" / "0", 1, 5)
    report = evaluate(brightness_run, data=split)
    assert report["num_examples"] == 5 and report["accuracy"] == 1.0
    _images(root / "grey", 1, 128)
    with pytest.raises(DataError, match=r"class folder 'grey' in '.*photos'.*dark, bright"):
        evaluate(brightness_run, data=root)


def test_find_collapse_thresholds():
    names = ["a", "b", "c"]
    assert find_collapse([95, 5, 0], [34, 33, 33], names) == {
        "class": "a", "predicted_share": 0.95, "true_share": 0.34, "examples": 100,
    }  # fmt: skip
    assert find_collapse([94, 6, 0], [34, 33, 33], names) is None  # not one class enough
    assert find_collapse([99, 1, 0], [80, 10, 10], names) is None  # the data is that skewed
    assert find_collapse([0, 0, 0], [0, 0, 0], names) is None


class _Collapse(keras.callbacks.Callback):
    """Makes every validation prediction class 0, as a collapsed model would."""

    def on_test_begin(self, logs=None):
        dense = self.model.get_layer("predictions")
        kernel, bias = dense.get_weights()
        bias = np.zeros_like(bias)
        bias[0] = 100.0
        dense.set_weights([np.zeros_like(kernel), bias])


@pytest.mark.slow  # a whole training run
def test_collapse_guard_says_so_records_it_and_evaluate_repeats_it(tmp_path, capsys):
    fmnist = make_idx_dir(tmp_path / "fmnist", n_train=128, n_test=40)
    lines = []
    result = train(
        "fashion_mnist", "cifar_resnet8", data=str(fmnist), epochs=2, batch_size=32,
        jit_compile=False, callbacks=[_Collapse()], report=lines.append, out=tmp_path / "run",
    )  # fmt: skip
    assert len(lines) == 2 and "\n" not in lines[0]
    # Validation is held out of the 128 training images (10 %: 13), not the 40 test images.
    assert "epoch 1 validation" in lines[0] and "'T-shirt/top' for 100% of the 13" in lines[0]
    assert "collapsed to one class" in lines[0]
    assert [c["epoch"] for c in result.collapses] == [1, 2]
    with open(result.run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["collapsed"]) for r in rows] == [1.0, 1.0]
    assert [float(r["val_top_class_share"]) for r in rows] == [1.0, 1.0]
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["collapsed_epochs"] == [1, 2] and config["collapse"]["class"] == "T-shirt/top"
    assert evaluate(result.run_dir)["collapsed"]["predicted_share"] == 1.0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(result.run_dir)]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("reskeras: warning: evaluation: the model predicts 'T-shirt/top'")
    assert "\n" not in err


def _read_report(folder: Path) -> tuple[dict, str]:
    assert (folder / "report.html").is_file() and (folder / "report.json").is_file()
    return json.loads((folder / "report.json").read_text()), (folder / "report.html").read_text()


def test_cli_evaluate_report_for_a_text_run(sentiment_run, tmp_path, capsys):
    f = _tsv(tmp_path / "test.tsv", _reviews(30, 20, 5))
    out = tmp_path / "report"
    argv = ["evaluate", "--run", str(sentiment_run), "--data", str(f), "--report", str(out)]
    assert main(argv) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report, page = _read_report(out)
    # Totals equal the test set's size; rows are true classes, columns predictions.
    assert report["num_examples"] == line["num_examples"] == 55
    assert report["confusion"] == [[20, 5], [0, 30]]
    assert sum(v["support"] for v in report["per_class"].values()) == 55
    assert report["per_class"]["positive"] == {
        "precision": round(30 / 35, 6), "recall": 1.0, "f1": round(60 / 65, 6), "support": 30,
    }  # fmt: skip
    assert report["classes"] == ["negative", "positive"]
    # The gallery: the five "good but ..." rows labelled negative, as text.
    wrong = report["most_confident_mistakes"]
    assert len(wrong) == 5 and {w["index"] for w in wrong} == set(range(50, 55))
    assert all(w["text"].startswith("good but") and w["predicted"] == "positive" for w in wrong)
    assert wrong[0]["confidence"] == pytest.approx(1 / (1 + np.exp(-1)), abs=1e-6)
    for name in ("negative", "positive"):
        assert f"<td>{name}</td>" in page
    assert "class='reskeras-confusion'" in page and "data:image/png;base64," in page
    assert "class='reskeras-gallery'" in page and "good but 3" in page


def test_evaluate_report_for_an_image_run(brightness_run, tmp_path):
    root = tmp_path / "photos"
    _images(root / "bright", 7, 220)
    _images(root / "bright", 2, 30)  # misfiled: predicted dark
    _images(root / "dark", 5, 20)
    out = tmp_path / "report"
    report = evaluate(brightness_run, data=root, report_dir=out)
    saved, page = _read_report(out)
    assert saved["num_examples"] == report["num_examples"] == 14
    assert np.sum(saved["confusion"]) == 14 and saved["confusion"] == [[5, 0], [2, 7]]
    wrong = saved["most_confident_mistakes"]
    assert [(w["true"], w["predicted"]) for w in wrong] == [("bright", "dark")] * 2
    assert "text" not in wrong[0]
    for name in ("dark", "bright"):
        assert f"<td>{name}</td>" in page
    assert page.count("data:image/png;base64,") == 2  # the confusion matrix and the gallery
    assert "img class='reskeras-gallery'" in page


def test_mistake_collector_keeps_the_most_confident():
    from reskeras.evaluation.report import MistakeCollector

    keep = MistakeCollector(size=2)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    keep.add(np.arange(4), np.array([1, 0, 1, 1]), probs[:4])  # rows 0, 1, 2 are wrong
    keep.add(np.arange(2), np.array([1, 1]), np.array([[0.99, 0.01], [0.1, 0.9]]))
    assert [(m.index, m.confidence) for m in keep.mistakes] == [(4, 0.99), (0, 0.9)]
