"""Where ``weights=`` goes: the one call a builder makes to load weights it does not own.

Pretrained weights (keras.applications' ImageNet weights, keras-hub presets, ``.weights.h5``
files) are :mod:`reskeras.weights`' business, and that package builds on this one, so no
module here imports it. It registers its loader with :func:`set_weights_loader` when
``reskeras`` is imported (every ``import reskeras.<anything>`` imports ``reskeras`` first), and
builders hand ``weights=`` over through :func:`build_with_weights`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import keras

__all__ = ["Build", "WeightsLoader", "build_with_weights", "set_weights_loader"]


class Build(Protocol):
    """Builds the model for a layout: ``build(layout, pretrained)``.

    ``layout`` holds the builder options the weights decide (``None`` values: the builder's
    defaults); ``pretrained`` says the weights come from another library's model, whose
    preprocessing and channels the builder then follows.
    """

    def __call__(self, layout: dict[str, Any], pretrained: bool) -> keras.Model: ...


#: ``loader(weights, family=..., depth=..., layout=..., build=...)`` -> the loaded model.
WeightsLoader = Callable[..., keras.Model]
_loader: list[WeightsLoader] = []


def set_weights_loader(loader: WeightsLoader) -> None:
    """Installs the function that honours ``weights=`` (:mod:`reskeras.weights` does).

    Args:
        loader: called as ``loader(weights, family=, depth=, layout=, build=)``.
    """
    _loader[:] = [loader]


def build_with_weights(
    weights: str,
    *,
    family: str,
    depth: int,
    layout: dict[str, Any] | None,
    build: Build,
) -> keras.Model:
    """Builds a model with ``build`` and loads ``weights`` into it.

    Args:
        weights: what the user passed as ``weights=`` (not ``None``).
        family: the registered family of the builder (e.g. ``"resnet"``).
        depth: the model's depth.
        layout: the builder options the weights may decide, as chosen (``None`` values
            follow the weights); ``None`` for a family whose layout no weights decide.
        build: builds the model for a layout (:class:`Build`).

    Returns:
        The built model with the weights loaded.
    """
    if not _loader:
        raise RuntimeError("weights= needs reskeras.weights: import reskeras first.")
    return _loader[0](weights, family=family, depth=depth, layout=layout, build=build)
