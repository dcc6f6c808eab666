"""Diagnostics for residual vs plain networks: per-block gradient norms at initialisation.

The degradation problem (He et al. 2015) shows up before any training: in a deep *plain* net
the gradient reaching the early blocks is much smaller (or erratic) compared with the late
blocks, while the identity shortcuts of a residual net carry it back almost undamped.
:func:`block_gradient_norms` measures that on one batch; :func:`plot_gradient_norms` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from reskeras.layers.blocks import ResidualBlock

__all__ = ["block_gradient_norms", "plot_gradient_norms", "residual_blocks"]


def residual_blocks(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's top-level blocks in order: :class:`~reskeras.layers.blocks.ResidualBlock` layers
    (residual or plain twins) and any other layer whose class name ends in ``Block`` (the
    text blocks).

    Args:
        model: a built model.
    """
    return [
        layer
        for layer in model.layers
        if isinstance(layer, ResidualBlock) or type(layer).__name__.endswith("Block")
    ]


def block_gradient_norms(
    model: keras.Model,
    x: Any,
    y: Any,
    *,
    training: bool = True,
    blocks: Sequence[keras.layers.Layer] | None = None,
) -> dict[str, float]:
    """L2 norm of d(loss)/d(weights) of each block, for one batch ``(x, y)``.

    The loss is the mean sparse categorical cross-entropy of the model's logits against the
    integer labels ``y``. ``training=True`` runs batch normalization on batch statistics, as in
    the first training step; the model's non-trainable state (BN moving statistics) is restored
    afterwards, so measuring does not change the model.

    Args:
        model: a model that outputs logits.
        x: one batch of inputs.
        y: its integer labels (as many as ``x`` has examples).
        training: run the model in training mode (batch statistics); ``False``: inference.
        blocks: the layers to measure (default :func:`residual_blocks`).

    Returns:
        ``{block name: norm}`` in network order.

    Raises:
        ValueError: there are no blocks, or ``x`` and ``y`` differ in length.
    """
    blocks = list(residual_blocks(model) if blocks is None else blocks)
    if not blocks:
        raise ValueError(
            f"Model {model.name!r} has no residual blocks to measure; its layers are "
            f"{[layer.name for layer in model.layers][:20]}."
        )
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]} labels.")
    state = [v.numpy() for v in model.non_trainable_variables]
    weights = [list(block.trainable_variables) for block in blocks]
    flat = [w for ws in weights for w in ws]
    try:
        with tf.GradientTape() as tape:
            logits = tf.cast(model(x, training=training), tf.float32)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            )
        grads = tape.gradient(loss, flat)
    finally:
        for v, value in zip(model.non_trainable_variables, state, strict=True):
            v.assign(value)
    norms: dict[str, float] = {}
    i = 0
    for block, ws in zip(blocks, weights, strict=True):
        total = 0.0
        for g in grads[i : i + len(ws)]:
            if g is not None:
                total += float(tf.reduce_sum(tf.square(tf.cast(g, tf.float32))))
        i += len(ws)
        norms[block.name] = math.sqrt(total)
    return norms


def plot_gradient_norms(
    results: Mapping[str, Mapping[str, float]],
    ax: Any = None,
    title: str = "Per-block gradient norm at initialisation",
) -> Any:
    """Line plot (log scale) of several models' :func:`block_gradient_norms`.

    Each line runs from the first block (input side, x = 0) to the last (output side,
    x = 1), so nets of different depths share one axis.

    Args:
        results: maps a label (``"plain-56"``) to that model's norms; labels containing
            ``"plain"`` are drawn dashed.
        ax: the matplotlib Axes to draw on (``None``: a new 8x4 figure).
        title: the plot's title.

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for label, norms in results.items():
        values = np.asarray(list(norms.values()), dtype=float)
        pos = np.linspace(0.0, 1.0, len(values)) if len(values) > 1 else np.zeros(len(values))
        style = "--" if "plain" in label.lower() else "-"
        ax.plot(pos, np.maximum(values, 1e-12), style, marker=".", label=f"{label}")
    ax.set_yscale("log")
    ax.set_xlabel("block position (0 = first block, next to the input; 1 = last block)")
    ax.set_ylabel("||d loss / d block weights||")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax
