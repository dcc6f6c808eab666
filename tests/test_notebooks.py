"""Every notebook runs end to end with papermill at tiny sizes (cwd = notebooks/).

The kernel is this interpreter: a kernelspec named ``python3`` pointing at ``sys.executable`` is
written to a temporary directory that ``JUPYTER_PATH`` puts first, so the test works in a fresh
clone and never touches ``~/.local/share/jupyter``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from support import FASHION_DIR, REPO, SST2_DIR, in_ci, require_data, write_kernelspec
from synthetic import make_parallel_dir

NOTEBOOKS = REPO / "notebooks"
FASHION_MNIST = FASHION_DIR / "train-images-idx3-ubyte.gz"
NAMES = [
    "01_image_classification.ipynb",
    "02_text_classification.ipynb",
    "03_why_residual.ipynb",
    "04_export_and_serve.ipynb",
    "05_translation.ipynb",
    "06_language_model.ipynb",
]
#: The notebooks that train on Fashion-MNIST.
ON_FASHION_MNIST = (
    "01_image_classification.ipynb",
    "03_why_residual.ipynb",
    "04_export_and_serve.ipynb",
)


@pytest.fixture
def jupyter_env(tmp_path, monkeypatch):
    """Kernelspec and Jupyter/IPython state directories inside tmp_path."""
    monkeypatch.setenv("JUPYTER_PATH", str(write_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    return tmp_path


def _word_vectors(tmp_path: Path) -> str:
    """A made-up 4-d vector file for a few common words (the notebook's word-vector cell)."""
    words = ["the", "a", "film", "movie", "good", "bad", "funny", "dull", "not", "best"]
    rng = np.random.default_rng(0)
    rows = [f"{w} " + " ".join(f"{v:.3f}" for v in rng.normal(size=4)) for w in words]
    (tmp_path / "vectors.txt").write_text("\n".join(rows) + "\n")
    return str(tmp_path / "vectors.txt")


def _small_text(tmp_path: Path) -> str:
    """600 made-up sentences from a tiny grammar (the language-model notebook's own text)."""
    rng = np.random.default_rng(0)
    words = [
        ["the", "a", "every"],
        ["game", "city", "player", "song", "army"],
        ["was", "is", "became", "remained"],
        ["released", "popular", "large", "famous", "old"],
        ["in", "by", "after"],
        ["japan", "the", "war", "april", "1990"],
    ]
    lines = [" ".join(rng.choice(w) for w in words) + " ." for _ in range(600)]
    (tmp_path / "text.txt").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "text.txt")


def tiny_parameters(name: str, tmp_path: Path) -> dict:
    runs = str(tmp_path / "runs")
    common = {
        "EPOCHS": 1,
        "LIMIT": 256,
        "LIMIT_TEST": 128,
        "XLA": False,
        "RUNS_DIR": runs,
        "OPEN_TENSORBOARD": False,  # no TensorBoard server from a test
    }
    return {
        "01_image_classification.ipynb": {
            **common,
            "FAMILY": "cifar_resnet",
            "DEPTH": 8,
            "BATCH_SIZE": 32,
            "RUN_TRAINING": True,
            "EXPORT_DIR": str(tmp_path / "serving"),
        },
        "02_text_classification.ipynb": {
            **common,
            "BATCH_SIZE": 32,
            "SEQUENCE_LENGTH": 32,
            "VOCABULARY_SIZE": 2000,
            "RUN_TRAINING": SST2_DIR.is_dir(),
            "WORD_VECTORS": _word_vectors(tmp_path) if SST2_DIR.is_dir() else None,
        },
        "03_why_residual.ipynb": {**common, "DEPTHS": [14], "BATCH": 32},
        "04_export_and_serve.ipynb": {
            "RUNS_DIR": runs,
            "EXPORT_BASE": str(tmp_path / "serving"),
            "LIMIT": 256,
            "DEPTH": 8,
            "EPOCHS": 1,
            "OPEN_TENSORBOARD": False,
        },
        "05_translation.ipynb": {
            **{k: v for k, v in common.items() if k != "LIMIT_TEST"},
            "TASK": "translation",
            "DATA": str(make_parallel_dir(tmp_path / "parallel", n_train=400, n_val=40)[0]),
            "LANGUAGES": "xx-yy",
            "DEPTH": 1,
            "WIDTH": 16,
            "BATCH_SIZE": 32,
            "LIMIT": 0,
            "SEQUENCE_LENGTH": 16,
            "VOCABULARY_SIZE": 64,
            "SENTENCE": "ein hund läuft",
            "RUN_TRAINING": True,
            "RUN_EXPORT": True,
            "EXPORT_DIR": str(tmp_path / "serving"),
            "RUN_COMPARISON": True,
            "COMPARE_DEPTHS": [2],
            "COMPARE_EPOCHS": 1,
            "COMPARE_LIMIT": 0,
            "COMPARE_UNITS": 16,
            "COMPARE_VOCABULARY": 64,
        },
        "06_language_model.ipynb": {
            **{k: v for k, v in common.items() if k != "LIMIT_TEST"},
            "TASK": "language_model",
            "DATA": _small_text(tmp_path),
            "DEPTH": 1,
            "WIDTH": 16,
            "BATCH_SIZE": 32,
            "LIMIT": 0,
            "SEQUENCE_LENGTH": 16,
            "VOCABULARY_SIZE": 100,
            "RUN_TRAINING": True,
            "RUN_EXPORT": True,
            "EXPORT_DIR": str(tmp_path / "serving"),
            "RUN_COMPARISON": True,
            "COMPARE_DEPTHS": [1],
            "COMPARE_EPOCHS": 1,
            "COMPARE_LIMIT": 0,
            "COMPARE_UNITS": 16,
            "COMPARE_VOCABULARY": 100,
        },
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean_and_parameterised(name):
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    assert book.cells[0].cell_type == "markdown"
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one papermill `parameters` cell"
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear outputs"


@pytest.mark.slow  # a Jupyter kernel per notebook
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_end_to_end(name, jupyter_env):
    papermill = pytest.importorskip("papermill")
    if name in ON_FASHION_MNIST:
        require_data(FASHION_MNIST, "Fashion-MNIST")
    elif in_ci():  # locally the text notebook runs without its training cells when SST-2 is absent
        require_data(SST2_DIR / "train.tsv", "SST-2")
    tmp_path = jupyter_env
    out = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(out),
        parameters=tiny_parameters(name, tmp_path),
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=600,
    )
    book = nbformat.read(out, as_version=4)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    mimes = {m for o in outputs for m in o.get("data", {})}
    # TensorFlow's start-up chatter stays out of the cells (reskeras.console)
    assert not re.search(r"^[IWE]0000 ", text, flags=re.M), text[:2000]
    assert any("%tensorboard --logdir" in c.source for c in book.cells)

    if name == "01_image_classification.ipynb":
        assert "application/vnd.jupyter.widget-view+json" in mimes  # the app was displayed
        assert "Finished" in text and "'epoch': 1" in text
        assert list((tmp_path / "runs").glob("fashion_mnist-cifar_resnet8-*/model.keras"))
    elif name == "02_text_classification.ipynb":
        assert "application/vnd.jupyter.widget-view+json" in mimes
        if SST2_DIR.is_dir():
            assert "SST-2 found in" in text and "macro_f1" in text
            assert "word vectors: {'path'" in text and "'coverage'" in text
    elif name == "05_translation.ipynb":
        assert "application/vnd.jupyter.widget-view+json" in mimes
        assert "test perplexity" in text and "BLEU" in text and "'val_perplexity'" in text
        assert "greedy: ein hund läuft ->" in text and "beam 4: ein hund läuft ->" in text
        assert "'bleu'" in text and "nrefs:1" in text
        assert "Exported version 1" in text
        assert (tmp_path / "serving" / "translation" / "1" / "saved_model.pb").exists()
        assert "residual-2" in text and "plain-2" in text and "validation perplexity" in text
        assert "image/png" in mimes  # residual vs plain, plotted
    elif name == "06_language_model.ipynb":
        assert "application/vnd.jupyter.widget-view+json" in mimes
        assert "Finished: test perplexity" in text and "'val_perplexity'" in text
        assert "sample: the game was" in text and "temperature 0.7: the game was" in text
        assert "Exported version 1" in text
        assert (tmp_path / "serving" / "language_model" / "1" / "saved_model.pb").exists()
        assert "residual-1" in text and "plain-1" in text and "validation perplexity" in text
        assert "image/png" in mimes  # residual vs plain, plotted
    elif name == "03_why_residual.ipynb":
        assert "image/png" in mimes  # the gradient-norm plot and the training curves
        assert "plain-14" in text and "ResNet-14" in text and "final train loss" in text
    else:
        assert (tmp_path / "serving" / "fmnist" / "1" / "saved_model.pb").exists()
        assert "serve_bytes agrees with serving_default" in text and "PredictRequest" in text
