"""Tests for reskeras.data: task registry, every loader, the pickle guard and the pipelines."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from support import FASHION_DIR, SST2_DIR
from synthetic import IDX_FILES, write_idx

from reskeras import data as D
from reskeras.data import DataError


@pytest.fixture(autouse=True)
def _no_local_search(monkeypatch, tmp_path_factory):
    """By default search no well-known locations, so tests never depend on the machine."""
    empty = tmp_path_factory.mktemp("_empty_search")
    monkeypatch.setenv("RESKERAS_DATA_SEARCH", str(empty))
    monkeypatch.delenv("RESKERAS_DATA", raising=False)


# ---------------------------------------------------------------------------------------------
# helpers that write data in the real on-disk formats
# ---------------------------------------------------------------------------------------------


def make_idx_dir(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def cifar_batch(n: int, label_key: bytes, seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    hwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    flat = hwc.transpose(0, 3, 1, 2).reshape(n, 3072)  # row-major CHW, as in the real files
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return {b"batch_label": b"batch", label_key: labels, b"data": flat}, hwc


def make_cifar10_dir(root: Path, protocol: int = 2) -> tuple[Path, list[np.ndarray]]:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    images = []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch, hwc = cifar_batch(3, b"labels", seed=i)
        images.append(hwc)
        (d / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return d, images


def png(path: Path, shape=(6, 5, 3), value: int | None = None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, shape, dtype=np.uint8) if value is None else np.full(shape, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(arr.astype(np.uint8)).numpy())
    return path


def first(ds: tf.data.Dataset, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds.take(n)], strict=True)
    return np.stack(xs), np.array(ys)


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------


def test_registry_and_describe():
    names = D.list_tasks()
    for n in ("fashion_mnist", "mnist", "cifar10", "cifar100", "sst2", "imdb", "ag_news"):
        assert n in names
    assert {"image_folder", "text_file"} <= set(names)
    assert D.get_task("cifar100").num_classes == 100
    assert D.get_task("cifar100").class_names[:3] == ("apple", "aquarium_fish", "baby")
    assert D.get_task("ag_news").class_names == ("World", "Sports", "Business", "Sci/Tech")
    assert D.get_task("fashion_mnist").flip and D.get_task("cifar10").flip
    assert not D.get_task("mnist").flip
    assert D.get_task("mnist").input_shape == (28, 28, 1)
    assert D.get_task("sst2").kind == "text" and D.get_task("sst2").input_shape == ()
    rows = {r["name"]: r for r in D.describe_tasks()}
    assert rows["image_folder"]["num_classes"] is None
    assert rows["fashion_mnist"]["sources"][0] == "data=PATH"
    assert rows["fashion_mnist"]["sources"][-1] == "tfds:fashion_mnist"


def test_unknown_task():
    with pytest.raises(DataError, match="'nope'.*fashion_mnist.*text_file"):
        D.get_task("nope")
    with pytest.raises(DataError, match="nope"):
        D.load_task("nope")


def test_search_dirs_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("RESKERAS_DATA_SEARCH")
    monkeypatch.setenv("RESKERAS_DATA", str(tmp_path))
    dirs = D.local_search_dirs()
    assert dirs[0] == tmp_path and Path("/usr/share/datasets") in dirs
    monkeypatch.setenv("RESKERAS_DATA_SEARCH", "")
    assert D.local_search_dirs() == []


# ---------------------------------------------------------------------------------------------
# IDX: fashion_mnist / mnist
# ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("real_fashion_mnist")
def test_fashion_mnist_real_debian_files(monkeypatch):
    monkeypatch.setenv("RESKERAS_DATA_SEARCH", str(FASHION_DIR.parent))
    ds = D.load_task("fashion_mnist")
    assert ds.source == str(FASHION_DIR)
    assert (ds.num_train, ds.num_test) == (60000, 10000)
    x, y = first(ds.train, 4)
    assert x.shape == (4, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int32
    assert ds.class_names[9] == "Ankle boot"


def test_fashion_mnist_generated_idx(tmp_path, monkeypatch):
    root = make_idx_dir(tmp_path / "fashion-mnist")
    monkeypatch.setenv("RESKERAS_DATA", str(tmp_path))
    monkeypatch.delenv("RESKERAS_DATA_SEARCH")
    ds = D.load_task("fashion_mnist")  # found through $RESKERAS_DATA/fashion-mnist
    assert ds.source == str(root) and (ds.num_train, ds.num_test) == (12, 5)
    x, y = first(ds.train)
    assert x.shape == (12, 28, 28, 1) and x.dtype == np.uint8
    assert y.tolist() == [i % 10 for i in range(12)]


def test_mnist_via_path_uncompressed(tmp_path):
    root = tmp_path / "digits"
    root.mkdir()
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (7, 28, 28))
    write_idx(root / "train-images-idx3-ubyte", imgs, compress=False)
    write_idx(root / "train-labels-idx1-ubyte", np.arange(7), compress=False)
    write_idx(root / "t10k-images-idx3-ubyte", imgs[:3], compress=False)
    write_idx(root / "t10k-labels-idx1-ubyte", np.arange(3), compress=False)
    ds = D.load_task("mnist", data=root)
    x, y = first(ds.train)
    np.testing.assert_array_equal(x[..., 0], imgs)
    assert ds.class_names == [str(i) for i in range(10)] and not ds.spec.flip


def test_idx_truncated_and_corrupt(tmp_path):
    root = make_idx_dir(tmp_path / "fm")
    bad = root / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(raw[:-100]))  # valid gzip, short payload
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        D.load_task("fashion_mnist", data=root)
    bad.write_bytes(gzip.compress(raw)[:200])  # truncated gzip stream
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        D.load_task("fashion_mnist", data=root)
    bad.write_bytes(gzip.compress(b"\x00\x00\x09\x03" + raw[4:]))  # wrong magic
    with pytest.raises(DataError, match="magic"):
        D.load_task("fashion_mnist", data=root)


def test_idx_labels_out_of_range(tmp_path):
    root = make_idx_dir(tmp_path / "fm")
    write_idx(root / "train-labels-idx1-ubyte.gz", np.full(12, 11))
    with pytest.raises(DataError, match="label 11.*0..9"):
        D.load_task("fashion_mnist", data=root)


def test_missing_dataset_message(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        D.load_task("mnist", data=tmp_path / "nowhere")
    assert "nowhere" in str(e.value)
    with pytest.raises(DataError, match="lacks train-images"):
        D.load_task("mnist", data=tmp_path)


def test_tfds_failure_is_wrapped(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    def boom(*args, **kwargs):
        raise tfds.core.registered.DatasetNotFoundError("no internet\nlong traceback text")

    monkeypatch.setattr(tfds, "load", boom)
    with pytest.raises(DataError) as e:
        D.load_task("fashion_mnist", data_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert "_empty_search" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "'fashion_mnist'" in msg and "needs internet" in msg


# ---------------------------------------------------------------------------------------------
# tfds (mocked)
# ---------------------------------------------------------------------------------------------


def test_tfds_mock_fashion_mnist_and_sst2():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        ds = D.load_task("fashion_mnist")
        assert ds.source.startswith("tfds:fashion_mnist") and ds.num_train == 6
        x, y = first(ds.train)
        assert x.shape == (6, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int32
        text = D.load_task("sst2")
        assert text.source.startswith("tfds:glue/sst2") and text.num_test == 6
        x, y = next(iter(text.test))
        assert x.dtype == tf.string and x.shape == () and y.dtype == tf.int32
        for name in ("imdb", "ag_news", "cifar100"):
            other = D.load_task(name)
            assert other.num_train == 6 and other.train.element_spec[1].dtype == tf.int32


# ---------------------------------------------------------------------------------------------
# CIFAR pickles
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_batches(tmp_path, protocol):
    d, images = make_cifar10_dir(tmp_path, protocol)
    ds = D.load_task("cifar10", data=tmp_path)  # parent dir also works
    assert ds.source == str(d) and (ds.num_train, ds.num_test) == (15, 3)
    x, _ = first(ds.train)
    np.testing.assert_array_equal(x, np.concatenate(images[:5]))  # CHW rows -> HWC
    xt, _ = first(ds.test)
    np.testing.assert_array_equal(xt, images[5])
    assert ds.class_names[0] == "airplane"


def test_cifar100_fine_labels_and_local_search(tmp_path, monkeypatch):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name, seed in (("train", 1), ("test", 2)):
        batch, _ = cifar_batch(4, b"fine_labels", seed)
        batch[b"coarse_labels"] = [0] * 4
        batch[b"fine_labels"] = [99, 0, 42, 7]
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
    monkeypatch.setenv("RESKERAS_DATA_SEARCH", str(tmp_path))
    ds = D.load_task("cifar100")
    _, y = first(ds.train)
    assert y.tolist() == [99, 0, 42, 7] and ds.class_names[99] == "worm"


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvilEval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("evil_cls", [_Evil, _EvilEval])
def test_cifar_pickle_guard(tmp_path, evil_cls):
    d, _ = make_cifar10_dir(tmp_path)
    marker = tmp_path / "PWNED"
    payload = {b"data": evil_cls(marker), b"labels": [0]}
    (d / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError, match="data_batch_3.*refusing to unpickle"):
        D.load_task("cifar10", data=d)
    assert not marker.exists()


def test_cifar_corrupt_and_bad_shape(tmp_path):
    d, _ = make_cifar10_dir(tmp_path)
    good = (d / "test_batch").read_bytes()
    (d / "test_batch").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="test_batch.*corrupt or truncated"):
        D.load_task("cifar10", data=d)
    (d / "test_batch").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    )
    with pytest.raises(DataError, match="test_batch.*3072"):
        D.load_task("cifar10", data=d)
    (d / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        D.load_task("cifar10", data=d)


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("real_sst2")
def test_sst2_shared_copy(monkeypatch):
    monkeypatch.setenv("RESKERAS_DATA_SEARCH", str(SST2_DIR.parent))
    ds = D.load_task("sst2")
    assert (ds.num_train, ds.num_test) == (67349, 872)
    assert "dev.tsv" in ds.source and ds.class_names == ["negative", "positive"]
    x, y = next(iter(ds.train))
    assert x.dtype == tf.string and int(y) in (0, 1)


def test_text_file_csv_header_string_labels(tmp_path):
    f = tmp_path / "reviews.csv"
    rows = ['"great, really great",pos', "awful,neg", "fine,pos", "bad,neg", "ok,pos"] * 4
    f.write_text("text,label\n" + "\n".join(rows) + "\n")
    ds = D.load_task("text_file", data=f, validation_split=0.25, seed=3)
    assert ds.class_names == ["neg", "pos"] and ds.spec.class_names == ("neg", "pos")
    assert (ds.num_train, ds.num_test) == (15, 5)
    texts = [t.numpy().decode() for t, _ in ds.train.concatenate(ds.test)]
    assert "great, really great" in texts
    labels = dict((t.numpy().decode(), int(y)) for t, y in ds.train.concatenate(ds.test))
    assert labels["awful"] == 0 and labels["fine"] == 1
    again = D.load_task("text_file", data=f, validation_split=0.25, seed=3)
    assert [t.numpy() for t, _ in again.test] == [t.numpy() for t, _ in ds.test]


def test_text_file_tsv_no_header_int_labels(tmp_path):
    f = tmp_path / "data.tsv"
    f.write_text("".join(f"sentence number {i}\t{i % 3}\n" for i in range(10)))
    ds = D.load_task("text_file", data=f)
    assert ds.class_names == ["0", "1", "2"] and ds.num_train + ds.num_test == 10
    by_index = D.load_task("text_file", data=f, text_column=0, label_column="1")
    assert by_index.num_train == ds.num_train
    with pytest.raises(DataError, match="'label'.*columns: 0, 1.*no header"):
        D.load_task("text_file", data=f, label_column="label")
    with pytest.raises(DataError, match="5.*columns: 0, 1"):
        D.load_task("text_file", data=f, label_column=5)


def test_text_columns_by_name_and_sniffed_delimiter(tmp_path):
    f = tmp_path / "data.txt"  # no extension hint: the delimiter is sniffed
    body = "".join(f"{i};movie {i} was {'good' if i % 2 else 'bad'};{i % 2}\n" for i in range(8))
    f.write_text("id;review;sentiment\n" + body)
    ds = D.load_task("text_file", data=f, label_column="sentiment")
    x, _ = next(iter(ds.train))
    assert x.numpy().decode().startswith("movie")
    ds2 = D.load_task("text_file", data=f, text_column=1, label_column=2)
    assert ds2.class_names == ["0", "1"]
    with pytest.raises(DataError, match="'stars'.*0:id, 1:review, 2:sentiment"):
        D.load_task("text_file", data=f, label_column="stars")
    with pytest.raises(DataError, match="'nope'.*columns"):
        D.load_task("text_file", data=f, text_column="nope", label_column="sentiment")


def test_text_dir_with_splits_and_fixed_classes(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\nmeh\t0\n")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nnice\t1\n")
    ds = D.load_task("sst2", data=tmp_path)
    assert (ds.num_train, ds.num_test) == (3, 1)
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nnice\t2\n")
    with pytest.raises(DataError, match="label 2.*0..1"):
        D.load_task("sst2", data=tmp_path)
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nnice\tpositive\nugh\tNEGATIVE\n")
    assert D.load_task("sst2", data=tmp_path).num_test == 2
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nnice\tamazing\n")
    with pytest.raises(DataError, match="'amazing'.*negative, positive"):
        D.load_task("sst2", data=tmp_path)


def test_text_missing_label_column_and_empty(tmp_path):
    f = tmp_path / "only_text.csv"
    f.write_text("just one column\nanother line\n")
    with pytest.raises(DataError, match="label column 1.*only_text.csv.*columns: 0"):
        D.load_task("text_file", data=f)
    g = tmp_path / "ragged.tsv"
    g.write_text("sentence\tlabel\nfine\t1\nno label here\n")
    with pytest.raises(DataError, match="ragged.tsv.*line 3.*label column"):
        D.load_task("text_file", data=g)
    e = tmp_path / "empty.csv"
    e.write_text("\n")
    with pytest.raises(DataError, match="empty.csv.*empty"):
        D.load_task("text_file", data=e)
    with pytest.raises(DataError, match="needs data=PATH"):
        D.load_task("text_file")


# ---------------------------------------------------------------------------------------------
# image folders
# ---------------------------------------------------------------------------------------------


def test_image_folder_train_test(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for c, cls in enumerate(("cat", "dog")):
            for i in range(n):
                png(tmp_path / split / cls / f"{i}.png", (6, 5, 3), seed=10 * c + i)
    ds = D.load_task("image_folder", data=tmp_path)
    assert ds.class_names == ["cat", "dog"] and (ds.num_train, ds.num_test) == (6, 2)
    assert ds.spec.input_shape == (6, 5, 3) and len(ds.spec.input_mean) == 3
    x, y = first(ds.train)
    assert x.shape == (6, 6, 5, 3) and x.dtype == np.uint8 and y.tolist() == [0, 0, 0, 1, 1, 1]
    for p in (tmp_path / "test").rglob("*.png"):
        p.unlink()
    for p in (tmp_path / "test").glob("*"):
        p.rmdir()
    (tmp_path / "test").rmdir()
    split = D.load_task("image_folder", data=tmp_path, validation_split=0.5)
    assert split.class_names == ["cat", "dog"] and split.num_train + split.num_test == 6


def test_image_folder_split_resize_and_channels(tmp_path):
    for i in range(5):
        png(tmp_path / "a" / f"{i}.png", (8, 8, 1), seed=i)
        png(tmp_path / "b" / f"{i}.PNG", (4, 6, 1), seed=50 + i)  # other size -> resized
    ds = D.load_task("image_folder", data=tmp_path, validation_split=0.2, seed=1)
    assert ds.spec.input_shape == (8, 8, 1)  # all grayscale -> 1 channel, first image's size
    assert (ds.num_train, ds.num_test) == (8, 2)
    again = D.load_task("image_folder", data=tmp_path, validation_split=0.2, seed=1)
    np.testing.assert_array_equal(first(again.test)[0], first(ds.test)[0])
    png(tmp_path / "b" / "rgb.jpg", (4, 4, 3), seed=9)  # one RGB image -> everything RGB
    rgb = D.load_task("image_folder", data=tmp_path, image_size=(5, 7))
    assert rgb.spec.input_shape == (5, 7, 3)
    assert first(rgb.train)[0].shape[1:] == (5, 7, 3)


def test_image_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty.*no class sub-directories"):
        D.load_task("image_folder", data=empty)
    png(tmp_path / "imgs" / "a" / "0.png")
    (tmp_path / "imgs" / "b").mkdir()
    (tmp_path / "imgs" / "b" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="class folder '.*imgs/b' has no images"):
        D.load_task("image_folder", data=tmp_path / "imgs")
    png(tmp_path / "imgs" / "b" / "0.png", seed=1)
    (tmp_path / "imgs" / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="cannot decode image.*broken.png"):
        D.load_task("image_folder", data=tmp_path / "imgs")
    with pytest.raises(DataError, match="image_size=-3"):
        D.load_task("image_folder", data=tmp_path / "imgs", image_size=-3)
    with pytest.raises(DataError, match="validation_split=1.5"):
        D.load_task("image_folder", data=tmp_path / "imgs", validation_split=1.5)


# ---------------------------------------------------------------------------------------------
# pipelines and augmentation
# ---------------------------------------------------------------------------------------------


def _indexed_images(n: int = 64, size: int = 8) -> tuple[np.ndarray, tf.data.Dataset]:
    """Distinct, asymmetric images; the label is the image's index (to find the original)."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (n, size, size, 1), dtype=np.uint8)  # no zeros: padding shows
    return x, tf.data.Dataset.from_tensor_slices((x, np.arange(n, dtype=np.int32)))


def _epoch(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def _crops(img: np.ndarray, pad: int, flip: bool) -> list[np.ndarray]:
    h, w = img.shape[:2]
    padded = np.pad(img, [(pad, pad), (pad, pad), (0, 0)])
    out = [
        padded[dy : dy + h, dx : dx + w] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
    ]
    return out + [c[:, ::-1] for c in out] if flip else out


def test_pipeline_shapes_dtype_and_eval_order():
    x, ds = _indexed_images(50)
    train = D.make_pipeline(ds, 16, training=True, seed=0)
    xb, yb = _epoch(train)
    assert xb.shape == (48, 8, 8, 1) and xb.dtype == np.uint8 and yb.dtype == np.int32
    assert train.element_spec[0].shape.as_list() == [16, 8, 8, 1]
    xe, ye = _epoch(D.make_pipeline(ds, 16, training=False))
    assert ye.tolist() == list(range(50))  # no shuffle, no drop, no augmentation
    np.testing.assert_array_equal(xe, x)


def test_crops_move_pixels_and_stay_valid_windows():
    x, ds = _indexed_images()
    xb, yb = _epoch(D.make_pipeline(ds, 16, training=True, seed=1, pad=2, flip=False))
    moved = 0
    for img, idx in zip(xb, yb, strict=True):
        assert any(np.array_equal(img, c) for c in _crops(x[idx], 2, flip=False))
        moved += not np.array_equal(img, x[idx])
    assert moved > len(xb) // 2


def test_flip_only_when_allowed():
    x, ds = _indexed_images()
    xb, yb = _epoch(D.make_pipeline(ds, 16, training=True, pad=0, flip=False))
    np.testing.assert_array_equal(xb, x[yb])
    xb, yb = _epoch(D.make_pipeline(ds, 16, training=True, pad=0, flip=True))
    flipped = [np.array_equal(img, x[i][:, ::-1]) for img, i in zip(xb, yb, strict=True)]
    same = [np.array_equal(img, x[i]) for img, i in zip(xb, yb, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 0 < sum(flipped) < len(xb)
    xb, yb = _epoch(D.make_pipeline(ds, 16, training=True, augment=False, flip=True))
    np.testing.assert_array_equal(xb, x[yb])


def test_pipeline_determinism_and_reshuffle():
    _, ds = _indexed_images()

    def run(seed):
        p = D.make_pipeline(ds, 16, training=True, seed=seed, flip=True)
        return _epoch(p), _epoch(p)

    (a1, a2), (b1, _) = run(7), run(7)
    np.testing.assert_array_equal(a1[0], b1[0])
    np.testing.assert_array_equal(a1[1], b1[1])
    assert not np.array_equal(a1[1], a2[1])  # a new order each epoch
    (c1, _) = run(8)
    assert not np.array_equal(a1[0], c1[0])


def test_text_passes_through_and_bad_args():
    texts = np.array([f"t{i}" for i in range(10)], dtype=object)
    ds = tf.data.Dataset.from_tensor_slices((texts, np.arange(10, dtype=np.int32)))
    xb, yb = _epoch(D.make_pipeline(ds, 4, training=True, flip=True))
    assert xb.shape == (8,) and set(xb.tolist()) <= {t.encode() for t in texts}
    assert [f"t{i}".encode() for i in yb] == xb.tolist()
    with pytest.raises(DataError, match="batch_size=0"):
        D.make_pipeline(ds, 0, training=True)
    with pytest.raises(DataError, match="pad=-1"):
        D.make_pipeline(ds, 4, training=True, pad=-1)


def test_validation_is_held_out_of_the_training_split_stratified_and_seeded(tmp_path):
    # 300 training images, classes 0..9 in shares 30 % / 7.8 % ...: the 10 % held out keeps
    # every class's share (largest remainders), never overlaps training, and is seeded.
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.zeros(90, int), rng.integers(1, 10, 210)])
    images = rng.integers(0, 255, (300, 28, 28)).astype("uint8")
    for (split, part), array in {
        ("train", "images"): images, ("train", "labels"): labels,
        ("test", "images"): images[:10], ("test", "labels"): labels[:10],
    }.items():  # fmt: skip
        write_idx(tmp_path / IDX_FILES[(split, part)], array)
    task = D.load_task("fashion_mnist", str(tmp_path))
    split = D.training_splits(task, 0.1, seed=3)
    assert (split.num_train, split.num_validation) == (270, 30)
    assert int(split.train.cardinality()) == 270 and int(split.validation.cardinality()) == 30
    train_x = {x.tobytes() for x, _ in split.train.as_numpy_iterator()}
    val = list(split.validation.as_numpy_iterator())
    assert not train_x & {x.tobytes() for x, _ in val}
    val_y = np.array([y for _, y in val])
    assert (val_y == 0).sum() == 9  # 30 % of 30
    for c in range(1, 10):
        assert abs((val_y == c).sum() - (labels == c).sum() * 0.1) < 1
    again = D.training_splits(task, 0.1, seed=3)
    assert [y for _, y in again.validation.as_numpy_iterator()] == list(val_y)
    assert "30 of the 300 training examples held out" in split.validation_source
    # limit_train: the share of the examples the run uses is held out, and the run trains
    # on a stratified sample, not the first ones (a folder of images comes class by class).
    limited = D.training_splits(task, 0.1, limit_train=100)
    assert (limited.num_validation, limited.num_train) == (10, 100)
    train_y = np.array([y for _, y in limited.train.as_numpy_iterator()])
    assert len(train_y) == 100 and (train_y == 0).sum() == 30  # 30 % as in the data
    assert D.training_splits(split, 0.5).validation is split.validation  # its own is kept
    assert D.training_splits(split, 0.5, limit_train=27).num_train == 27
    with pytest.raises(DataError, match=r"validation_fraction=1.5 must be between 0 and 1"):
        D.training_splits(task, 1.5)


def test_grey_images_one_channel_or_three_equal_ones():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (8, 6, 6, 1)).astype("uint8")
    labels = np.zeros(8, "int64")

    def ds(images):
        return tf.data.Dataset.from_tensor_slices((images, labels))

    assert D.grey_images(ds(grey))
    as_rgb = np.repeat(grey, 3, axis=-1)
    assert D.grey_images(ds(as_rgb))  # a grey photo saved as RGB
    noisy = np.clip(as_rgb.astype(int) + rng.integers(-1, 2, as_rgb.shape), 0, 255)
    assert D.grey_images(ds(noisy.astype("uint8")))  # JPEG-like channel noise
    assert not D.grey_images(ds(rng.integers(0, 256, (8, 6, 6, 3)).astype("uint8")))
