"""Translation data: the three layouts of parallel text, the direction, bad input in one line,
the subword vocabulary, and Multi30k from ../shared."""

import gzip

import numpy as np
import pytest
from support import MULTI30K_DIR, require_data

from reskeras.data import load_task
from reskeras.data.load import parse_languages
from reskeras.data.subword import EOS_ID, PAD_ID, UNK_ID, SubwordVocabulary
from reskeras.errors import DataError

DE = ["ein hund läuft", "zwei katzen schlafen", "ein mann liest", "eine frau singt"]
EN = ["a dog runs", "two cats sleep", "a man reads", "a woman sings"]


def _write(path, lines, gz=False):
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _pairs(split):
    return [(s.decode(), t.decode()) for s, t in split.as_numpy_iterator()]


def test_a_folder_of_split_files_in_either_direction(tmp_path):
    _write(tmp_path / "train.de.gz", DE * 5, gz=True)
    _write(tmp_path / "train.en.gz", EN * 5, gz=True)
    _write(tmp_path / "val.de", DE[:2])
    _write(tmp_path / "val.en", EN[:2])
    task = load_task("translation", tmp_path, languages="de-en")
    assert (task.num_train, task.num_validation, task.num_test) == (20, 2, 2)
    assert task.languages == ("de", "en")
    assert _pairs(task.train)[:2] == list(zip(DE[:2], EN[:2], strict=True))
    assert _pairs(task.validation) == list(zip(DE[:2], EN[:2], strict=True))
    assert "test = validation" in task.source
    back = load_task("translation", tmp_path, languages=("en", "de"))
    assert _pairs(back.validation)[0] == (EN[0], DE[0])
    with pytest.raises(DataError, match=r"say which way to translate with languages='de-en'"):
        load_task("translation", tmp_path)
    with pytest.raises(DataError, match="no fr file"):
        load_task("translation", tmp_path, languages="de-fr")


def test_a_source_file_finds_its_target_and_holds_out_a_tail(tmp_path):
    _write(tmp_path / "news.de", DE * 5)
    _write(tmp_path / "news.en", EN * 5)
    task = load_task("translation", tmp_path / "news.de", validation_split=0.2)
    assert task.languages == ("de", "en")
    assert (task.num_train, task.num_validation) == (16, 4)
    assert _pairs(task.validation) == list(zip(DE, EN, strict=True))  # the last 4 lines
    with pytest.raises(DataError, match="ends in its language"):
        load_task("translation", _write(tmp_path / "plain.txt", DE))


def test_a_two_column_tsv(tmp_path):
    tsv = _write(tmp_path / "pairs.tsv", [f"{d}\t{e}" for d, e in zip(DE * 5, EN * 5, strict=True)])
    task = load_task("translation", tsv, languages="de-en")
    assert task.num_train + task.num_validation == 20
    assert _pairs(task.train)[0] == (DE[0], EN[0])
    bad = _write(tmp_path / "bad.tsv", ["one\ttwo", "only one column"])
    with pytest.raises(DataError, match=r"bad.tsv line 2: 1 tab-separated columns"):
        load_task("translation", bad)


def test_bad_parallel_text_gets_one_line(tmp_path):
    _write(tmp_path / "a.de", DE + ["", "noch eine"])
    _write(tmp_path / "a.en", EN + ["one more"])
    with pytest.raises(DataError) as err:
        load_task("translation", tmp_path / "a.de")
    message = str(err.value)
    assert "has 6 lines but" in message and "has 5" in message
    assert "line 6 has no partner" in message and "empty line at line 5" in message
    assert "\n" not in message
    (tmp_path / "b.de").write_bytes("caf\xe9\n".encode("latin-1"))
    _write(tmp_path / "b.en", ["cafe"])
    with pytest.raises(DataError, match="is not UTF-8 text"):
        load_task("translation", tmp_path / "b.de")
    _write(tmp_path / "c.de", ["", ""])
    _write(tmp_path / "c.en", ["x", "y"])
    with pytest.raises(DataError, match="has no text"):
        load_task("translation", tmp_path / "c.de")
    for bad in ("de", "de-de", "de-en-fr", ("de",)):
        with pytest.raises(DataError, match="must name two different languages"):
            parse_languages(bad)


def test_subwords_round_trip_and_keep_their_reserved_ids(tmp_path):
    text = [f"{d} {e}" for d, e in zip(DE, EN, strict=True)] * 20
    vocab = SubwordVocabulary.train(text, 60)
    assert 16 <= vocab.size <= 60
    assert vocab.pieces[:3] == ["<pad>", "<unk>", "</s>"]
    assert (PAD_ID, UNK_ID, EOS_ID) == (0, 1, vocab.eos_id)
    ids = vocab.encode(["ein hund singt", "Zebra!"])
    assert all(i.dtype == np.int32 and (i > EOS_ID).any() for i in ids)
    assert vocab.decode(ids[0]) == "ein hund singt"
    assert vocab.decode([*ids[0], EOS_ID, PAD_ID]) == "ein hund singt"
    vocab.save(tmp_path / "v.model")
    again = SubwordVocabulary.load(tmp_path / "v.model")
    assert [list(i) for i in again.encode(DE)] == [list(i) for i in vocab.encode(DE)]
    with pytest.raises(DataError, match="at least 16"):
        SubwordVocabulary.train(text, 8)
    with pytest.raises(DataError, match="no subword vocabulary"):
        SubwordVocabulary.load(tmp_path / "missing.model")


def test_multi30k_is_found_in_shared_both_ways():
    require_data(MULTI30K_DIR, "Multi30k")
    task = load_task("multi30k")
    assert (task.num_train, task.num_validation) == (29_000, 1_014)
    assert task.languages == ("de", "en")
    source, target = next(iter(task.train.as_numpy_iterator()))
    assert source.decode().startswith("Zwei junge") and target.decode().startswith("Two young")
    back = load_task("multi30k", languages="en-de")
    assert next(iter(back.validation.as_numpy_iterator()))[1].decode().split()[0] in (
        "Eine", "Ein", "Zwei", "Der", "Die", "Mehrere",
    )  # fmt: skip


def test_wmt14_comes_from_tensorflow_datasets_in_either_direction():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        task = load_task("wmt14")
        assert task.source.startswith("tfds:wmt14_translate/de-en")
        assert (task.num_train, task.num_validation, task.num_test) == (5, 5, 5)
        assert task.languages == ("de", "en")
        source, target = next(iter(task.train.as_numpy_iterator()))
        back = next(iter(load_task("wmt14", languages="en-de").train.as_numpy_iterator()))
        assert back == (target, source)
        with pytest.raises(DataError, match=r"has languages \['de', 'en'\], not fr-en"):
            load_task("wmt14", languages="fr-en")
