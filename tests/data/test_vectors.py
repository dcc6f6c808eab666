"""Pretrained word vectors: reading vector files, the builders' embeddings, and training."""

from __future__ import annotations

import gzip
import json

import keras
import numpy as np
import pytest
from harness import run_layer_test

from reskeras.cli import main
from reskeras.data import DataError
from reskeras.data.vectors import load_word_vectors
from reskeras.layers.transformer import TokenAndPositionEmbedding
from reskeras.models.registry import build_model

VOCAB = ["", "[UNK]", "the", "good", "bad", "film", "zzz"]
GOOD, BAD = ["great", "superb", "lovely", "fun"], ["awful", "dull", "boring", "bad"]


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_glove_fasttext_and_gzip(tmp_path):
    glove = _write(
        tmp_path / "glove.txt",
        "the 1 2 3\nThe 7 7 7\ngood 0.5 0.5 0.5 \nBad -1 -1 -1\nfilm 4 5 6\nother 0 0 0\n",
    )
    v = load_word_vectors(glove, VOCAB)
    assert v.matrix.shape == (7, 3) and v.matrix.dtype == np.float32
    assert v.summary() == {
        "path": str(glove), "dim": 3, "file_words": 6, "vocabulary_words": 5, "found": 4,
        "coverage": 0.8,
    }  # fmt: skip
    np.testing.assert_array_equal(v.matrix[:2], 0.0)  # padding and [UNK]
    np.testing.assert_array_equal(v.matrix[2], [1, 2, 3])  # exact match beats "The"
    np.testing.assert_array_equal(v.matrix[4], [-1, -1, -1])  # lower-cased lookup
    # "zzz" is not in the file: a random row at the scale of the rows found.
    found = v.matrix[2:6]
    assert 0 < np.abs(v.matrix[6]).max() < np.abs(found).max() + 6 * found.std()
    again = load_word_vectors(glove, VOCAB)
    np.testing.assert_array_equal(again.matrix, v.matrix)  # seeded

    # fastText .vec: a "count dim" header line; gzip decided by content, not by name.
    with gzip.open(tmp_path / "wiki.vec", "wt", encoding="utf-8") as f:
        f.write("2 3\nfilm 1 1 1\nthe 2 2 2\n")
    v = load_word_vectors(tmp_path / "wiki.vec", VOCAB)
    assert (v.dim, v.found, v.file_words) == (3, 2, 2)
    np.testing.assert_array_equal(v.matrix[5], [1, 1, 1])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"the 1 2 3\ngood 1 2\n", r"bad\.txt: line 2 has 2 values where the file has 3"),
        (b"the 1 2\ngood 1 2\n\xff\xfe 1 2\n", r"bad\.txt: line 3 is not UTF-8 text"),
        (b"cat 1 2\ndog 3 4\n", r"bad\.txt: none of its 2 words is in the vocabulary of 5"),
        (b"the 1 x2\n", r"bad\.txt: line 1: 'x2' is not a number"),
        (b"3 2\nthe 1 2 3\n", r"bad\.txt: line 2 has 3 values where the file has 2"),
        (b"the\n", r"bad\.txt: line 1 has a word but no values"),
        (b"\n\n", r"bad\.txt: holds no word vectors"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        load_word_vectors(tmp_path / "bad.txt", VOCAB)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="word-vector file .*nope.txt' not found"):
        load_word_vectors(tmp_path / "nope.txt", VOCAB)


@pytest.mark.parametrize(
    "family, trainable",
    [
        ("text_resnet", False),
        ("residual_lstm", True),
        ("transformer", True),
        ("transformer", False),
    ],
)
@pytest.mark.slow  # a whole training run
def test_builders_start_from_the_vectors(family, trainable, tmp_path):
    matrix = np.random.default_rng(0).normal(size=(len(VOCAB), 6)).astype("float32")
    matrix[:2] = 0
    kwargs = {"width": 8, "heads": 2} if family == "transformer" else {}
    depth = 9 if family == "text_resnet" else 1
    model = build_model(
        family, depth=depth, num_classes=2, sequence_length=8, vocabulary_size=len(VOCAB),
        embeddings=matrix, trainable_embeddings=trainable, **kwargs,
    )  # fmt: skip
    layer = model.get_layer("embedding")
    table = getattr(layer, "token_embedding", layer).embeddings
    np.testing.assert_array_equal(table.numpy(), matrix)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=loss)
    x = np.array([[2, 3, 4, 5, 0, 0, 0, 0], [6, 5, 1, 0, 0, 0, 0, 0]], "int32")
    model.fit(x, np.array([0, 1]), epochs=1, verbose=0)
    assert np.array_equal(table.numpy(), matrix) is not trainable
    # The frozen flag survives a save (a resumed run must not start training them).
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    names = {w.path for w in loaded.trainable_weights}
    assert any(n.endswith("/embeddings") for n in names) is trainable


def test_builder_embedding_errors():
    with pytest.raises(ValueError, match=r"\[vocabulary_size, dim\] = \[7, dim\] matrix"):
        build_model("text_resnet9", num_classes=2, vocabulary_size=7, embeddings=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="`embedding_dim`=8 does not match the 4-wide"):
        build_model(
            "residual_lstm1", num_classes=2, vocabulary_size=7, embedding_dim=8,
            embeddings=np.zeros((7, 4)),
        )  # fmt: skip


def test_frozen_token_embedding_through_harness(tmp_path):
    layer = run_layer_test(
        TokenAndPositionEmbedding, {"vocabulary_size": 50, "sequence_length": 8,
        "embedding_dim": 6, "trainable_tokens": False}, (8,), (8, 6), tmp_path, text_vocab=50,
    )  # fmt: skip
    assert [w.name for w in layer.trainable_weights] == ["position_embeddings"]
    with pytest.raises(ValueError, match="`trainable_tokens` must be True or False, got 'no'"):
        TokenAndPositionEmbedding(50, 8, 6, trainable_tokens="no")


def _reviews(tmp_path, n: int = 96):
    rng = np.random.default_rng(0)
    lines = [
        f"a {rng.choice(GOOD if i % 2 else BAD)} film\t{'pos' if i % 2 else 'neg'}"
        for i in range(n)
    ]
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    return tsv


@pytest.mark.slow  # a whole training run
def test_train_with_vectors_cli(tmp_path, capsys):
    """--embeddings: coverage in config.json and the output; frozen vectors stay put; a
    resumed run keeps the report; a bad file fails before a run directory exists."""
    tsv = _reviews(tmp_path)
    rng = np.random.default_rng(1)
    words = ["film", "a"] + GOOD[:3] + BAD[:2] + ["unrelated"]
    rows = [f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=5)) for w in words]
    vec = _write(tmp_path / "vectors.txt", "\n".join(rows) + "\n")
    run = tmp_path / "run"
    argv = ["train", "--task", "text_file", "--data", str(tsv), "--model", "residual_lstm1",
            "--epochs", "1", "--batch-size", "16", "--no-xla", "--embeddings", str(vec),
            "--no-trainable-embeddings", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = json.loads((run / "config.json").read_text())
    # The vocabulary: a, film and the 8 adjectives (a few may fall in the test split).
    report = config["embeddings"]
    assert out["embeddings"] == report
    assert report["dim"] == 5 and report["file_words"] == 8 and report["found"] == 7
    assert report["coverage"] == pytest.approx(7 / report["vocabulary_words"], abs=1e-4)
    assert config["train"]["embeddings"] == str(vec)
    assert config["train"]["trainable_embeddings"] is False

    from reskeras.data.text import find_vectorizer
    from reskeras.training.rundir import RunDir

    saved = RunDir(run)
    vocab = find_vectorizer(saved.load_preprocessor()).get_vocabulary()
    table = saved.load_model().get_layer("embedding").embeddings.numpy()
    np.testing.assert_array_equal(table, load_word_vectors(vec, vocab).matrix)

    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert json.loads((run / "config.json").read_text())["embeddings"] == report

    (tmp_path / "ragged.txt").write_text("film 1 2\ngreat 1\n")
    capsys.readouterr()
    argv[argv.index(str(vec))] = str(tmp_path / "ragged.txt")
    argv[-1] = str(tmp_path / "never")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("ragged.txt: line 2 has 1 values where the file has 2 (word 'great')")
    assert len(err.splitlines()) == 1 and not (tmp_path / "never").exists()
