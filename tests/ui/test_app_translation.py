"""Translation in the app: the task's models and options, Translate with the model as it
trains, BLEU when it ends, Export."""

from __future__ import annotations

import re
import time
import types
from pathlib import Path

import pytest
from synthetic import make_parallel_dir

from reskeras import ui
from reskeras.models.registry import FAMILIES
from reskeras.training.recipes import RECIPES
from reskeras.ui import settings as ui_settings

THREAD_TIMEOUT = 300


def _app(**kwargs) -> ui.TrainerApp:
    return ui.TrainerApp(debounce_s=0, **kwargs)


def test_translation_task_in_the_app(tmp_path):
    app = _app(task="multi30k", runs_dir=tmp_path)
    recipe = RECIPES["translation"]
    assert app.family.options == ("gnmt", "transformer_seq2seq")
    assert (app.family.value, app.depth.value) == ("transformer_seq2seq", 3)
    assert app.depth.options == FAMILIES["transformer_seq2seq"].depths
    # The vocabulary shows unset: resolve() sizes it by the training pairs (up to the recipe's).
    assert (app.sequence_length.value, app.vocabulary_size.value) == (recipe.sequence_length, 0)
    assert app.train_config()["vocabulary_size"] is None
    assert app.languages.layout.display is None and app.embeddings.layout.display == "none"
    assert app.train_config()["languages"] is None  # an empty box: the task's direction
    assert app.controls.sample_box.layout.display is None
    assert app.temperature.layout.display == "none" and app.sample_button.description == "Translate"
    assert ">perplexity<" in app.plot.value
    assert app.model.name == "transformer_seq2seq3" and "FLOPs per token" in app.status_text
    assert "subword pieces learned from the training pairs" in app.summary.value
    assert "BLEU and chrF on the test pairs" in app.results_view.value  # what training ends with
    app.residual.value = False
    assert app.model.name == "plain_transformer_seq2seq3"
    app.set(family="gnmt", depth=2, width=32)
    assert app.model.name == "gnmt2" and app.train_config()["model_kwargs"]["units"] == 32
    assert app.sample() is None and "press Train" in app.sample_output.value
    opts = ui_settings.app_options()
    applies = {n for n, (f, o) in opts.items() if ui_settings.option_applies(f, o, "translation")}
    assert {"sequence_length", "vocabulary_size", "languages"} <= applies
    assert "languages" not in {
        n for n, (f, o) in opts.items() if ui_settings.option_applies(f, o, "language_model")
    }
    app.task.value = "fashion_mnist"  # back to images: no translate box, no languages
    assert app.controls.sample_box.layout.display == "none"
    assert "confusion matrix" in app.results_view.value
    assert app.languages.layout.display == "none"


@pytest.mark.slow  # a translation model trained in the app (~20 s)
def test_translation_trains_translates_as_it_trains_and_exports(tmp_path, monkeypatch):
    data, held_out = make_parallel_dir(tmp_path / "data")
    app = _app(
        task="translation", data=str(data), languages="xx-yy", family="transformer_seq2seq",
        depth=1, width=48, epochs=15, batch_size=32, lr=2e-3, sequence_length=16,
        vocabulary_size=64, xla=False, runs_dir=tmp_path / "runs",
    )  # fmt: skip
    source, target = held_out[0]
    app.prompt.value = source
    app.train_button.click()
    deadline = time.monotonic() + THREAD_TIMEOUT
    while not app.history and app.is_training and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app.history and app.is_training, app.status_text
    app.sample_button.click()  # Translate, with the model as it is after an epoch
    assert app.sample_text is not None, app.sample_output.value
    assert re.search(r"after \d+ epoch", app.sample_output.value), app.sample_output.value
    assert app.wait(THREAD_TIMEOUT) and app.error is None, app.status_text
    assert "test perplexity" in app.status_text and "BLEU" in app.status_text
    assert "reskeras-bleu" in app.results_view.value and "100 sentences" in app.results_view.value
    assert 'id="curve-val_perplexity"' in app.plot.value
    assert app.sample() == target and "trained, greedy" in app.sample_output.value
    calls = []

    def fake_export(run_dir, name, **kwargs):
        calls.append((run_dir, name))
        return types.SimpleNamespace(
            name=name, version=1, path=Path(tmp_path / "serving" / name / "1"), signatures={}
        )

    monkeypatch.setattr("reskeras.serve.export.export_for_serving", fake_export)
    app.export_button.click()
    assert calls == [(app.run_dir, "translation")] and "Exported version 1" in app.status_text
