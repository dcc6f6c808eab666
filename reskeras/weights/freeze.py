"""Fine-tuning: which parts of an image model train.

:func:`freeze` makes the stem, the stem and the first stages, or the whole backbone
non-trainable (:data:`FREEZES`). A frozen ``BatchNormalization`` also stays in
inference mode (Keras normalizes with the batch statistics only when the layer is
trainable), so its moving statistics keep the values the pretrained weights came with.
Training (``reskeras.train``, options ``freeze`` and ``head_epochs``) calls it; after changing
what is frozen a model must be compiled again.
"""

from __future__ import annotations

import re

import keras

from reskeras.checks import check_choice

__all__ = ["FREEZES", "freeze", "frozen_layers"]

#: What ``freeze`` keeps fixed: nothing, the stem, the stem and stages 1..N, or everything but
#: the classifier. Frozen batch norms stay in inference mode (their statistics do not move).
FREEZES = ("none", "stem", "stage1", "stage2", "stage3", "stage4", "backbone")

_STAGE = re.compile(r"stage(\d+)_block\d+$")
_HEAD = ("avg_pool", "max_pool", "top_dropout", "predictions")


def _part(layer: keras.layers.Layer) -> tuple[str, int]:
    """("input" | "stem" | "stage" | "post" | "head", stage number) of a model-level layer."""
    name = layer.name
    if name in _HEAD:
        return "head", 0
    if match := _STAGE.match(name):
        return "stage", int(match[1])
    if name.startswith("stem_"):
        return "stem", 0
    if name.startswith("post_"):
        return "post", 0
    return "input", 0


def frozen_layers(model: keras.Model, part: str) -> list[str]:
    """The names of the model-level layers ``part`` freezes (those with weights).

    Args:
        model: an image model with reskeras layer names (``stem_*``, ``stageN_blockM``,
            ``predictions`` ...).
        part: one of :data:`FREEZES` (see :func:`freeze`).

    Returns:
        The layer names, in model order; empty for ``"none"``.

    Raises:
        ValueError: ``part`` is not one of :data:`FREEZES`, names a stage the model does not
            have, or is ``"backbone"`` for a model without a classifier.
    """
    check_choice("freeze", part, FREEZES)
    parts = [(layer, *_part(layer)) for layer in model.layers]
    stages = max((n for _, kind, n in parts if kind == "stage"), default=0)
    if part.startswith("stage") and int(part[len("stage") :]) > stages:
        raise ValueError(
            f"freeze={part!r}, but {model.name!r} has {stages} stages; expected one of "
            f"{list(FREEZES[: 2 + stages]) + ['backbone']}."
        )
    if not any(kind == "head" for _, kind, _ in parts) and part == "backbone":
        raise ValueError(f"freeze='backbone' needs a classifier, and {model.name!r} has none.")
    if part == "none":
        return []
    last = int(part[len("stage") :]) if part.startswith("stage") else 0
    names = []
    for layer, kind, n in parts:
        frozen = (
            kind in ("stem", "stage", "post")
            if part == "backbone"
            else kind == "stem" or (kind == "stage" and n <= last)
        )
        if frozen and layer.weights:
            names.append(layer.name)
    return names


def freeze(model: keras.Model, part: str) -> list[str]:
    """Makes ``part`` of ``model`` non-trainable and everything else trainable.

    Args:
        model: an image model with reskeras layer names; compile it again afterwards.
        part: ``"none"``, ``"stem"``, ``"stageN"`` (the stem and stages 1..N) or
            ``"backbone"`` (all but the classifier).

    Returns:
        The names of the frozen layers, sorted.

    Raises:
        ValueError: ``part`` is invalid for the model (see :func:`frozen_layers`).
    """
    names = set(frozen_layers(model, part))
    for layer in model.layers:
        layer.trainable = layer.name not in names
    return sorted(names)
