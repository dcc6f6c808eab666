"""Text preprocessing, raw-string serving of a text model, and a tiny SST-2 train + evaluate."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import SST2_DIR

from reskeras.data.text import (
    MAX_LENGTH,
    MIN_LENGTH,
    adapt_vectorizer,
    length_for,
    preprocessor_model,
    vectorize_dataset,
)
from reskeras.models.registry import build_model
from reskeras.serve.export import export_for_serving

CORPUS = [
    "A charming, often affecting journey.",
    "Unflinchingly bleak and desperate!",
    "The acting is GREAT; the plot is not.",
    "great great great",
]
LABELS = [1, 0, 1, 1]
SEQ = 16


@pytest.fixture
def vectorizer():
    return adapt_vectorizer(
        tf.data.Dataset.from_tensor_slices(CORPUS), vocabulary_size=40, sequence_length=SEQ
    )


def _ids(layer_or_model, texts):
    return keras.ops.convert_to_numpy(layer_or_model(tf.constant(texts)))


def test_vectorizer_lowercases_strips_punctuation_and_pads(vectorizer):
    vocab = vectorizer.get_vocabulary()
    assert vocab[:3] == ["", "[UNK]", "great"]  # padding, OOV, most frequent
    assert "journey" in vocab and "journey." not in vocab and "GREAT" not in vocab
    ids = _ids(vectorizer, ["Great JOURNEY!!", "unseen words", ""])
    assert ids.shape == (3, SEQ)
    assert list(ids[0, :3]) == [2, vocab.index("journey"), 0]
    assert list(ids[1, :2]) == [1, 1] and not ids[2].any()


def test_vocabulary_size_caps_the_vocabulary():
    texts = tf.data.Dataset.from_tensor_slices(CORPUS)
    assert adapt_vectorizer(texts, vocabulary_size=5, sequence_length=4).vocabulary_size() == 5


def test_preprocessor_saves_and_loads_in_safe_mode(vectorizer, tmp_path):
    pre = preprocessor_model(vectorizer)
    assert pre.inputs[0].name == "text" and tuple(pre.inputs[0].shape) == (None,)
    pre.save(tmp_path / "preprocessor.keras")
    loaded = keras.saving.load_model(tmp_path / "preprocessor.keras", safe_mode=True)
    texts = ["The plot is great.", "très bon — 素晴らしい 👍", ""]
    np.testing.assert_array_equal(_ids(loaded, texts), _ids(pre, texts))


def test_vectorize_dataset_batched_and_unbatched(vectorizer):
    ds = tf.data.Dataset.from_tensor_slices((CORPUS + ["", "!!"], LABELS + [0, 0]))
    pairs = list(vectorize_dataset(ds, vectorizer))
    assert all(x.dtype == tf.int32 and x.shape == (SEQ,) for x, _ in pairs)
    assert int(pairs[0][1]) == 1 and not pairs[-1][0].numpy().any()  # "" and "!!": padding
    x, y = next(iter(vectorize_dataset(ds.batch(3), vectorizer)))
    assert x.dtype == tf.int32 and x.shape == (3, SEQ) and list(y.numpy()) == [1, 0, 1]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: adapt_vectorizer(CORPUS), "tf.data.Dataset"),
        (lambda: adapt_vectorizer(tf.data.Dataset.range(3)), "tf.string"),
        (
            lambda: adapt_vectorizer(tf.data.Dataset.from_tensor_slices(CORPUS), sequence_length=0),
            "sequence_length",
        ),
        (lambda: preprocessor_model("lower"), "TextVectorization"),
    ],
)
def test_invalid_arguments_name_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_vectorize_dataset_needs_pairs(vectorizer):
    with pytest.raises(ValueError, match="pairs"):
        vectorize_dataset(tf.data.Dataset.from_tensor_slices(CORPUS), vectorizer)


def test_export_serves_raw_strings(vectorizer, tmp_path):
    model = build_model(
        "text_resnet9",
        num_classes=2,
        sequence_length=SEQ,
        vocabulary_size=vectorizer.vocabulary_size(),
        width=0.125,
        embedding_dim=16,
    )
    result = export_for_serving(
        model,
        "sst2_tiny",
        base_dir=tmp_path,
        class_names=["negative", "positive"],
        preprocessor=preprocessor_model(vectorizer),
    )
    serve = tf.saved_model.load(str(result.path)).signatures["serving_default"]
    review = " ".join(["great"] * 5000 + ["bleak"] * 5000)  # 10,000 words
    texts = ["", "très bon — 素晴らしい 👍", "A charming journey.", review]
    out = serve(text=tf.constant(texts))
    probs = out["probabilities"].numpy()
    assert probs.shape == (4, 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert set(out["class_name"].numpy()) <= {b"negative", b"positive"}
    # The export runs the very same preprocessing and model as Keras does.
    ids = _ids(vectorizer, texts).astype("int32")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(ids, training=False)))
    np.testing.assert_allclose(probs, expected, atol=1e-5)


@pytest.mark.slow  # a whole model trained, ported or run end to end
@pytest.mark.usefixtures("real_sst2")
def test_sst2_train_evaluate_and_export_run(tmp_path):
    from reskeras.evaluation.scores import evaluate
    from reskeras.training.loop import train

    result = train(
        task="sst2",
        data=str(SST2_DIR),
        model="text_resnet9",
        epochs=1,
        batch_size=32,
        optimizer="adamw",
        lr=2e-3,
        limit_train=320,
        limit_test=64,
        sequence_length=SEQ,
        vocabulary_size=2000,
        model_kwargs={"width": 0.125, "embedding_dim": 16},
        jit_compile=False,  # XLA is covered by the harness; compiling it here costs ~10 s
        out=tmp_path / "run",
        verbose=0,
    )
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])
    assert 0.0 <= result.test_accuracy <= 1.0
    assert (result.run_dir / "preprocessor.keras").exists()
    metrics = evaluate(result.run_dir, data=str(SST2_DIR))
    assert metrics["num_examples"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    exported = export_for_serving(result.run_dir, "sst2_run", base_dir=tmp_path / "serving")
    serve = tf.saved_model.load(str(exported.path)).signatures["serving_default"]
    probs = serve(text=tf.constant(["a gorgeous film", "dull"]))["probabilities"].numpy()
    assert probs.shape == (2, 2)


def test_sequence_length_from_the_data():
    # 1.5 x the 99th percentile of the token counts, within [MIN_LENGTH, MAX_LENGTH].
    assert length_for(np.full(100, 32)) == 48  # SST-2's training phrases: 99th percentile 32
    assert length_for(np.array([1, 2, 3])) == MIN_LENGTH
    assert length_for(np.full(10, 2000)) == MAX_LENGTH  # long reviews are capped
    texts = tf.data.Dataset.from_tensor_slices([" ".join(["word"] * n) for n in range(1, 21)])
    vectorizer = adapt_vectorizer(texts, vocabulary_size=50, sequence_length=None)
    assert vectorizer.get_config()["output_sequence_length"] == 30  # 99th pct 19.81 -> 30
