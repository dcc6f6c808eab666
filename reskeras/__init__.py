"""reskeras: residual networks for Keras 3, from the layer up to TF Serving.

Sub-packages by role: :mod:`~reskeras.layers` (Keras layers), :mod:`~reskeras.models`
(builders and the registry), :mod:`~reskeras.weights` (pretrained weights, porting, freezing),
:mod:`~reskeras.data` (tasks, readers, pipelines), :mod:`~reskeras.training` (options,
recipes, the loop), :mod:`~reskeras.evaluation` (scores and reports), :mod:`~reskeras.serve`
(export and the client), :mod:`~reskeras.decoding` (sampling from language models),
:mod:`~reskeras.ui` (the JupyterLab app) and :mod:`~reskeras.cli`.

Every public name loads on first use, so ``import reskeras`` imports neither Keras nor
TensorFlow and changes no process-wide state; blocks and builders work on the JAX and PyTorch
backends without TensorFlow installed. Our classes are registered with Keras as soon as Keras
is imported (:mod:`reskeras.serializable`), so ``keras.saving.load_model`` reads a run's
``model.keras`` after ``import reskeras``. To keep TensorFlow's start-up chatter out of a
notebook, call :func:`reskeras.console.quiet_tensorflow` before the first model.
"""

from __future__ import annotations

import importlib
from typing import Any

from reskeras.serializable import register_when_keras_loads

__version__ = "0.1.0"

#: Where each public name lives.
_HOMES: dict[str, tuple[str, ...]] = {
    "reskeras.layers.blocks": (
        "BasicBlock",
        "BottleneckBlock",
        "DropPath",
        "ResidualBlock",
        "SmallMapConv2D",
        "SqueezeExcite",
        "SymmetricMaxPooling2D",
        "ZeroPadShortcut",
    ),
    "reskeras.layers.norm": ("DebiasedBatchNormalization",),
    "reskeras.layers.sequence": (
        "KMaxPooling1D",
        "MaskedGlobalPooling1D",
        "ResidualConv1DBlock",
        "ResidualRNNBlock",
    ),
    "reskeras.layers.softmax": ("AdaptiveSoftmax",),
    "reskeras.layers.transformer": (
        "ReversibleEmbedding",
        "TokenAndPositionEmbedding",
        "TransformerEncoderBlock",
    ),
    "reskeras.layers.decoder": (
        "CachedMultiHeadAttention",
        "TransformerDecoderBlock",
    ),
    "reskeras.models.image": (
        "Stage",
        "assemble",
        "cifar_resnet",
        "resnet",
        "wide_resnet",
    ),
    "reskeras.models.text": (
        "residual_lstm",
        "text_resnet",
        "transformer_classifier",
    ),
    "reskeras.models.language": (
        "lm_lstm",
        "lm_transformer",
    ),
    "reskeras.models.translation": (
        "gnmt",
        "transformer_seq2seq",
    ),
    "reskeras.models.keras_hub": (
        "hub_classifier",
        "text_classifier_presets",
    ),
    "reskeras.models.registry": (
        "FAMILIES",
        "MODELS",
        "Family",
        "build_model",
        "list_families",
        "list_models",
        "register_family",
        "register_model",
    ),
    "reskeras.models.describe": ("describe_model",),
    "reskeras.weights.port": ("port_weights",),
    "reskeras.weights.named": ("available_weights",),
    "reskeras.weights.freeze": ("freeze",),
    "reskeras.errors": (
        "DataError",
        "ExportError",
        "PortError",
        "RunError",
        "TrainingError",
        "WeightsError",
    ),
    "reskeras.data": (
        "describe_tasks",
        "get_task",
        "list_tasks",
        "load_task",
        "load_test_set",
        "make_pipeline",
    ),
    "reskeras.data.text": (
        "adapt_vectorizer",
        "preprocessor_model",
        "vectorize_dataset",
    ),
    "reskeras.data.vectors": (
        "load_word_vectors",
        "WordVectors",
    ),
    "reskeras.training.config": ("TrainConfig",),
    "reskeras.training.recipes": ("RECIPES",),
    "reskeras.training.loop": (
        "TrainResult",
        "train",
    ),
    "reskeras.training.rundir": ("RunDir",),
    "reskeras.evaluation.scores": ("evaluate",),
    "reskeras.decoding.causal": (
        "LanguageModel",
        "generate",
        "perplexity",
    ),
    "reskeras.decoding.seq2seq": (
        "Translator",
        "cross_attention",
        "translate",
    ),
    "reskeras.data.subword": ("SubwordVocabulary",),
    "reskeras.evaluation.diagnostics": (
        "block_gradient_norms",
        "plot_gradient_norms",
    ),
    "reskeras.serve.export": (
        "ExportResult",
        "export_for_serving",
    ),
    "reskeras.ui": ("TrainerApp",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_SUBPACKAGES = (
    "cli", "console", "data", "decoding", "errors", "evaluation", "layers", "models",
    "serializable", "serve", "training", "ui", "weights",
)  # fmt: skip

__all__ = sorted(_HOME, key=str.lower)

register_when_keras_loads()


def __getattr__(name: str) -> Any:
    if name in _HOME:
        # Builders hand ``weights=`` to reskeras.weights (models.handoff), which registers
        # itself when imported: import it with any public name.
        importlib.import_module("reskeras.weights")
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"reskeras.{name}")
    raise AttributeError(f"module 'reskeras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBPACKAGES})
