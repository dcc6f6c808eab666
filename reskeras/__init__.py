"""reskeras: residual networks for Keras 3.

The package reads top-down: ``checks``/``norm``/``depths`` (small shared pieces) ->
``blocks``, ``text_blocks``, ``transformer_blocks`` (residual layers) -> ``models``,
``text_models`` (builders) -> ``pretrained`` (ImageNet weights for the ResNets) ->
``registry`` (families and named models) -> ``config`` (training options and recipes) ->
``data`` (tasks, readers, pipelines) -> ``training``, ``evaluation``, ``rundir`` ->
``export``/``serving`` -> ``ui``/``cli``.
"""

import importlib

from reskeras.console import quiet_tensorflow

quiet_tensorflow()  # before Keras imports TensorFlow: no start-up chatter (reskeras.console)

from reskeras.blocks import (
    BasicBlock,
    BottleneckBlock,
    DropPath,
    ResidualBlock,
    SmallMapConv2D,
    SqueezeExcite,
    SymmetricMaxPooling2D,
    ZeroPadShortcut,
)
from reskeras.config import RECIPES, TrainConfig
from reskeras.describe import describe_model
from reskeras.finetune import freeze
from reskeras.hub import hub_classifier, text_classifier_presets
from reskeras.models import Stage, assemble, cifar_resnet, resnet, wide_resnet
from reskeras.norm import DebiasedBatchNormalization
from reskeras.pretrained import PortError, WeightsError, port_weights
from reskeras.registry import (
    FAMILIES,
    MODELS,
    Family,
    build_model,
    list_families,
    list_models,
    register_family,
    register_model,
)
from reskeras.text_blocks import (
    KMaxPooling1D,
    MaskedGlobalPooling1D,
    ResidualConv1DBlock,
    ResidualRNNBlock,
)
from reskeras.text_models import residual_lstm, text_resnet, transformer_classifier
from reskeras.transformer_blocks import TokenAndPositionEmbedding, TransformerEncoderBlock
from reskeras.weights import available_weights

# Blocks, builders and the config are pure Keras / Python and load on any backend. Everything
# that needs TensorFlow (tf.data, training, SavedModel export) loads on first use, so that
# ``import reskeras`` works on the JAX and PyTorch backends without TensorFlow installed.
_LAZY = {
    "DataError": "reskeras.data",
    "describe_tasks": "reskeras.data",
    "get_task": "reskeras.data",
    "list_tasks": "reskeras.data",
    "load_task": "reskeras.data",
    "load_test_set": "reskeras.data",
    "make_pipeline": "reskeras.data",
    "TrainingError": "reskeras.training",
    "TrainResult": "reskeras.training",
    "train": "reskeras.training",
    "evaluate": "reskeras.evaluation",
    "RunDir": "reskeras.rundir",
    "RunError": "reskeras.rundir",
    "adapt_vectorizer": "reskeras.data.text",
    "preprocessor_model": "reskeras.data.text",
    "vectorize_dataset": "reskeras.data.text",
    "load_word_vectors": "reskeras.data.vectors",
    "WordVectors": "reskeras.data.vectors",
    "TrainerApp": "reskeras.ui",
    "block_gradient_norms": "reskeras.diagnostics",
    "plot_gradient_norms": "reskeras.diagnostics",
    "ExportError": "reskeras.export",
    "ExportResult": "reskeras.export",
    "export_for_serving": "reskeras.export",
}
_SUBMODULES = (
    "data", "training", "distributed", "evaluation", "export", "serving", "ui", "diagnostics",
    "cli",
)  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"reskeras.{name}")
    raise AttributeError(f"module 'reskeras' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "adapt_vectorizer",
    "assemble",
    "available_weights",
    "BasicBlock",
    "block_gradient_norms",
    "BottleneckBlock",
    "build_model",
    "cifar_resnet",
    "DataError",
    "DebiasedBatchNormalization",
    "describe_model",
    "describe_tasks",
    "DropPath",
    "evaluate",
    "export_for_serving",
    "freeze",
    "ExportError",
    "ExportResult",
    "FAMILIES",
    "Family",
    "get_task",
    "hub_classifier",
    "KMaxPooling1D",
    "list_families",
    "list_models",
    "list_tasks",
    "load_task",
    "load_test_set",
    "load_word_vectors",
    "make_pipeline",
    "MaskedGlobalPooling1D",
    "MODELS",
    "plot_gradient_norms",
    "port_weights",
    "PortError",
    "preprocessor_model",
    "RECIPES",
    "register_family",
    "register_model",
    "residual_lstm",
    "ResidualBlock",
    "ResidualConv1DBlock",
    "ResidualRNNBlock",
    "resnet",
    "RunDir",
    "RunError",
    "SmallMapConv2D",
    "SqueezeExcite",
    "Stage",
    "text_classifier_presets",
    "SymmetricMaxPooling2D",
    "text_resnet",
    "TokenAndPositionEmbedding",
    "train",
    "TrainConfig",
    "TrainerApp",
    "TrainingError",
    "TrainResult",
    "transformer_classifier",
    "TransformerEncoderBlock",
    "vectorize_dataset",
    "WeightsError",
    "wide_resnet",
    "WordVectors",
    "ZeroPadShortcut",
]
