"""reskeras: residual networks for Keras 3.

The package reads top-down: ``blocks`` (residual layers) -> ``models`` (builders and the
registry) -> ``data`` (tasks and tf.data pipelines) -> ``training`` (the engine) -> ``export``
(SavedModels for TF Serving) -> ``serving`` (client helpers) -> ``ui`` / ``cli``.
"""

import importlib

from reskeras.blocks import (
    BasicBlock,
    BottleneckBlock,
    DropPath,
    ResidualBlock,
    SqueezeExcite,
    ZeroPadShortcut,
)
from reskeras.models import (
    FAMILIES,
    MODELS,
    Family,
    Stage,
    assemble,
    build_model,
    cifar_resnet,
    describe_model,
    list_families,
    list_models,
    register_family,
    register_model,
    resnet,
    wide_resnet,
)
from reskeras.text_blocks import (
    KMaxPooling1D,
    MaskedGlobalPooling1D,
    ResidualConv1DBlock,
    ResidualRNNBlock,
    TransformerEncoderBlock,
)
from reskeras.text_models import residual_lstm, text_resnet, transformer_classifier

# Blocks and builders are pure Keras and load on any backend. Everything that needs
# TensorFlow (tf.data, training, SavedModel export) loads on first use, so that
# ``import reskeras`` works on the JAX and PyTorch backends without TensorFlow installed.
_LAZY = {
    "DataError": "reskeras.data",
    "describe_tasks": "reskeras.data",
    "get_task": "reskeras.data",
    "list_tasks": "reskeras.data",
    "load_task": "reskeras.data",
    "make_pipeline": "reskeras.data",
    "TrainingError": "reskeras.training",
    "TrainResult": "reskeras.training",
    "evaluate": "reskeras.training",
    "train": "reskeras.training",
    "adapt_vectorizer": "reskeras.text",
    "preprocessor_model": "reskeras.text",
    "vectorize_dataset": "reskeras.text",
    "TrainerApp": "reskeras.ui",
    "block_gradient_norms": "reskeras.diagnostics",
    "plot_gradient_norms": "reskeras.diagnostics",
    "ExportError": "reskeras.export",
    "ExportResult": "reskeras.export",
    "export_for_serving": "reskeras.export",
}
_SUBMODULES = ("data", "training", "export", "serving", "text", "ui", "diagnostics", "cli")


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"reskeras.{name}")
    raise AttributeError(f"module 'reskeras' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "MODELS",
    "KMaxPooling1D",
    "MaskedGlobalPooling1D",
    "ResidualConv1DBlock",
    "ResidualRNNBlock",
    "TransformerEncoderBlock",
    "adapt_vectorizer",
    "preprocessor_model",
    "residual_lstm",
    "text_resnet",
    "transformer_classifier",
    "vectorize_dataset",
    "BasicBlock",
    "BottleneckBlock",
    "DataError",
    "DropPath",
    "ExportError",
    "ExportResult",
    "Family",
    "ResidualBlock",
    "SqueezeExcite",
    "Stage",
    "TrainResult",
    "TrainerApp",
    "TrainingError",
    "ZeroPadShortcut",
    "assemble",
    "block_gradient_norms",
    "build_model",
    "cifar_resnet",
    "describe_model",
    "describe_tasks",
    "evaluate",
    "export_for_serving",
    "get_task",
    "list_families",
    "list_models",
    "list_tasks",
    "load_task",
    "make_pipeline",
    "plot_gradient_norms",
    "register_family",
    "register_model",
    "resnet",
    "serving",
    "train",
    "wide_resnet",
]
