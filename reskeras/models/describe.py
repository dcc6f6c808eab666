"""What a built model is made of: parameters, FLOPs per example, depth, per-stage summary."""

from __future__ import annotations

import math

import keras
from keras import layers

from reskeras.layers.blocks import ResidualBlock

__all__ = ["describe_model"]


def describe_model(model: keras.Model) -> dict:
    """Parameter counts, FLOPs per example, weighted depth and a per-stage summary.

    Args:
        model: a built model (a reskeras model, or any model of Keras layers).

    Returns:
        A dict with ``name``, ``params``, ``trainable_params``, ``flops`` (2 x multiply-adds
            per example), ``depth`` (weighted layers: convolutions, dense layers and the blocks'
            own ``depth``) and ``stages``, one dict per stage of residual blocks (``name``,
            ``blocks``, ``params``, ``flops``, ``output_shape``).
    """
    stages: dict[str, dict] = {}
    flops = 0
    depth = 0
    for layer in model.layers:
        if isinstance(layer, ResidualBlock):
            stage = stages.setdefault(
                layer.name.split("_block")[0],
                {"blocks": 0, "params": 0, "flops": 0, "output_shape": None},
            )
            stage["blocks"] += 1
            stage["params"] += layer.count_params()
            stage["flops"] += layer.flops()
            stage["output_shape"] = tuple(layer.output.shape[1:])
            flops += layer.flops()
            depth += len(layer.convs)
        elif isinstance(layer, layers.Conv1D | layers.Conv2D):
            flops += 2 * math.prod(layer.kernel.shape) * math.prod(layer.output.shape[1:-1])
            depth += 1
        elif isinstance(layer, layers.Dense):
            flops += 2 * math.prod(layer.kernel.shape)
            depth += 1
        elif hasattr(layer, "flops"):
            flops += layer.flops()
            depth += getattr(layer, "depth", 0)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "name": model.name,
        "params": model.count_params(),
        "trainable_params": trainable,
        "flops": flops,
        "depth": depth,
        "stages": [{"name": k, **v} for k, v in stages.items()],
    }
