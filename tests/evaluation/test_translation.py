"""The translation collapse check (one translation for nearly every source is reported, at
evaluation and after each epoch) and the attention a report's heat maps show."""

import numpy as np
import pytest

from reskeras.decoding.seq2seq import cross_attention
from reskeras.evaluation import translation as translation_eval
from reskeras.evaluation.collapse import collapse_message
from reskeras.evaluation.translation import TranslationCollapseGuard, find_translation_collapse
from reskeras.models.registry import build_model

WORDS = [f"w{i}" for i in range(27)]
SMALL = {"transformer_seq2seq": {"width": 16, "num_heads": 2}, "gnmt": {"units": 16}}


class WordVocabulary:
    """Whitespace words as ids from 3 (0 padding, 1 unknown, 2 ``</s>``): the part of
    SubwordVocabulary's interface the decoders use."""

    pieces = ["<pad>", "<unk>", "</s>", *WORDS]
    eos_id = 2

    def encode(self, texts):
        index = {p: i for i, p in enumerate(self.pieces)}
        return [np.array([index.get(w, 1) for w in t.split()], np.int32) for t in texts]

    def decode(self, ids):
        return " ".join(self.pieces[i] for i in ids)


def _model(family: str):
    return build_model(
        f"{family}2", num_classes=len(WordVocabulary.pieces),
        source_vocabulary_size=len(WordVocabulary.pieces),
        target_vocabulary_size=len(WordVocabulary.pieces), sequence_length=16, **SMALL[family],
    )  # fmt: skip


def test_one_translation_for_every_source_is_a_collapse():
    references = [f"a dog number {i}" for i in range(40)]
    collapsed = find_translation_collapse(["a dog ."] * 39 + ["a cat ."], references)
    assert collapsed == {
        "class": "a dog .",
        "predicted_share": 0.975,
        "true_share": 0.0,
        "examples": 40,
        "unit": "translation",
    }
    line = collapse_message(collapsed, "evaluation")
    assert line.startswith("evaluation: the model predicts 'a dog .' for 98% of the 40")
    assert line.endswith("it has collapsed to one translation.")
    assert find_translation_collapse(references, references) is None  # all different
    # The same sentence everywhere is no collapse when the references say so too.
    assert find_translation_collapse(["yes"] * 40, ["yes"] * 36 + ["no"] * 4) is None


@pytest.mark.parametrize("same", [True, False])
def test_the_guard_translates_validation_sources_after_each_epoch(same, monkeypatch):
    pairs = [(f"w{3 + i % 20} w{4 + i % 20}", f"w{5 + i % 20}") for i in range(80)]
    traced = []

    def fake_searcher(model, eos_id, limit):  # the model's search, without its randomness
        traced.append(limit)

        def search(sources):
            rows = np.zeros((len(sources), 4), np.int32)
            rows[:, 0] = rows[:, 3] = eos_id
            rows[:, 1:3] = 7 if same else sources[:, :2]  # one translation, or the source
            return rows

        return search

    monkeypatch.setattr(translation_eval, "searcher", fake_searcher)
    lines = []
    guard = TranslationCollapseGuard(pairs, WordVocabulary(), 16, report=lines.append)
    guard.set_model(_model("transformer_seq2seq"))
    for epoch in range(2):
        logs = {"val_loss": 1.0}
        guard.on_epoch_end(epoch, logs)
        assert logs["collapsed"] == float(same)
    guard.on_epoch_end(2, {"loss": 1.0})  # no validation this epoch: nothing checked
    assert traced == [14]  # one search, traced once; 1.5 x the 3 source tokens + 10
    assert len(guard.collapses) == len(lines) == (2 if same else 0)
    if same:
        assert guard.collapses[0]["examples"] == 64  # COLLAPSE_SAMPLE of the 80 pairs
        assert lines[0].startswith("epoch 1 validation: the model predicts 'w4 w4' for 100%")


@pytest.mark.parametrize("family", sorted(SMALL))
def test_cross_attention_gives_a_distribution_over_the_source_per_piece(family):
    model = _model(family)
    source, target, weights = cross_attention(
        model, "w3 w4 w5", "w6 w7", vocabulary=WordVocabulary()
    )
    assert source == ["w3", "w4", "w5", "</s>"] and target == ["w6", "w7", "</s>"]
    assert weights.shape == (3, 4) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    # The model is left as it was: its attention layer computes without recording.
    layer = model.get_layer("decoder_block1")
    attention = getattr(layer, "cross_attention", None) or model.get_layer("attention")
    assert "_compute_attention" not in vars(attention) and "_apply_scores" not in vars(attention)
