"""The translation collapse check: one translation for nearly every source is reported."""

from reskeras.evaluation.collapse import collapse_message
from reskeras.evaluation.translation import find_translation_collapse


def test_one_translation_for_every_source_is_a_collapse():
    references = [f"a dog number {i}" for i in range(40)]
    collapsed = find_translation_collapse(["a dog ."] * 39 + ["a cat ."], references)
    assert collapsed == {
        "class": "a dog .",
        "predicted_share": 0.975,
        "true_share": 0.0,
        "examples": 40,
    }
    line = collapse_message(collapsed, "evaluation")
    assert line.startswith("evaluation: the model predicts 'a dog .' for 98% of the 40")
    assert find_translation_collapse(references, references) is None  # all different
    # The same sentence everywhere is no collapse when the references say so too.
    assert find_translation_collapse(["yes"] * 40, ["yes"] * 36 + ["no"] * 4) is None
