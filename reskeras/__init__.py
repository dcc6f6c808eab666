"""reskeras: residual networks for Keras 3."""

from reskeras.blocks import BasicBlock, BottleneckBlock, DropPath, SqueezeExcite, ZeroPadShortcut
from reskeras.models import (
    FAMILIES,
    assemble,
    build_model,
    cifar_resnet,
    describe_model,
    list_families,
    list_models,
    resnet,
    wide_resnet,
)

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "BasicBlock",
    "BottleneckBlock",
    "DropPath",
    "SqueezeExcite",
    "ZeroPadShortcut",
    "assemble",
    "build_model",
    "cifar_resnet",
    "describe_model",
    "list_families",
    "list_models",
    "resnet",
    "wide_resnet",
]
