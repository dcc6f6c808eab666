"""Corpora for language models: reading, vocabularies, windows, splits and bad input."""

import gzip

import numpy as np
import pytest

from reskeras.data import load_task
from reskeras.data.corpus import EOS, Vocabulary, read_lines, split_tail, windows
from reskeras.errors import DataError


def test_vocabulary_encodes_lines_with_eos_and_unknown_words():
    vocab = Vocabulary.from_lines(["a b a", "c a b", "d"], max_size=5)
    assert vocab.tokens == ("<pad>", "<unk>", "<eos>", "a", "b")
    np.testing.assert_array_equal(vocab.encode(["a c", "b"]), [3, 1, 2, 4, 2])
    assert vocab.decode([3, 4, 2, 3]) == "a b\na"
    assert Vocabulary.from_lines(["x y", "y"]).size == 5  # every word without a cap


def test_windows_predict_every_token_once_and_pad_the_last():
    stream = np.arange(1, 11, dtype=np.int32)  # 10 tokens: 9 are predicted
    x, y = windows(stream, 4)
    assert x.shape == y.shape == (3, 4)
    np.testing.assert_array_equal(y[y != 0], stream[1:])
    np.testing.assert_array_equal(x[:, 1:][y[:, :-1] != 0], y[:, :-1][y[:, :-1] != 0])
    with pytest.raises(DataError, match="at least 2 tokens"):
        windows(stream[:1], 4)


def test_bad_text_gets_one_line(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read_lines(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="has no text"):
        read_lines(empty)
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="holds no text files"):
        read_lines(tmp_path / "images")
    with pytest.raises(DataError, match="between 0 and 1"):
        split_tail(["a", "b"], 1.5)


def test_a_file_a_gz_and_a_folder_split_into_train_and_validation(tmp_path):
    lines = [f"line {i} of text" for i in range(20)]
    with gzip.open(tmp_path / "text.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    task = load_task("language_model", tmp_path / "text.txt.gz")
    train = [s.decode() for s in task.train.as_numpy_iterator()]
    valid = [s.decode() for s in task.validation.as_numpy_iterator()]
    assert train == lines[:18] and valid == lines[18:]  # the last 0.1, kept in order
    assert "last 2 lines" in task.validation_source and "test = the validation" in task.source
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(lines[:15]))
    (folder / "valid.txt").write_text("\n".join(lines[15:]))
    task = load_task("language_model", folder)
    assert (task.num_train, task.num_validation) == (15, 5)


@pytest.mark.slow  # reads all of WikiText-2
def test_wikitext2_has_its_standard_vocabulary_and_token_counts(real_wikitext2):
    task = load_task("wikitext2")
    train = [s.decode() for s in task.train.as_numpy_iterator()]
    valid = [s.decode() for s in task.validation.as_numpy_iterator()]
    vocab = Vocabulary.from_lines(train, max_size=50_000)
    # The figures of ../shared/data/wikitext2/README.md (pytorch/examples' word_language_model).
    assert (len(train), len(valid)) == (36_718, 3_760)
    assert vocab.size - 1 == 33_278  # less <pad>; <unk> and <eos> are WikiText's own
    assert len(vocab.encode(train)) == 2_088_628 and len(vocab.encode(valid)) == 217_646
    assert EOS in vocab.tokens and (vocab.encode(valid) == 1).sum() > 0  # <unk> kept as a word
