"""Weights by name: what ``resnet(weights=...)`` and ``--weights`` accept.

``"imagenet"`` (keras.applications' weights for the depth and version, downloaded by its own
code), a keras-hub preset name or local preset directory (``from_preset``), or a
``.weights.h5`` file saved from a reskeras model. :func:`reference_for` builds the reference
model the weights belong to, :func:`merge_layout` makes the reskeras layout follow it, and
:func:`reskeras.weights.port.port_weights` copies them.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from reskeras.errors import WeightsError, one_line
from reskeras.models.handoff import Build, set_weights_loader
from reskeras.models.image import IMAGENET_SPECS
from reskeras.weights.port import KERAS_APPLICATIONS, Reference, describe_reference, port_weights

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "WEIGHTS_FILE_SUFFIX",
    "available_weights",
    "load_weights",
    "is_weights_file",
    "load_weights_file",
    "merge_layout",
    "reference_for",
]

WEIGHTS_FILE_SUFFIX = ".weights.h5"
#: Seconds a download may stall before the weights count as unavailable (offline).
DOWNLOAD_TIMEOUT = 30
#: The families whose layout pretrained weights can decide (the others take only files).
PRETRAINED_FAMILIES = ("resnet",)


def is_weights_file(weights: str) -> bool:
    """Whether ``weights`` names a ``.weights.h5`` file (saved from a reskeras model).

    Args:
        weights: a ``weights=`` value; only its name is looked at (it need not exist).
    """
    return str(weights).endswith(WEIGHTS_FILE_SUFFIX)


def load_weights_file(model: keras.Model, path: str | os.PathLike) -> None:
    """Loads a ``.weights.h5`` file saved from a reskeras model of the same architecture;
    a classifier of another shape is left fresh (and only the classifier).

    Args:
        model: the model to load into.
        path: the ``.weights.h5`` file.

    Raises:
        WeightsError: the name does not end in ``.weights.h5``, the file does not exist, or
            its weights do not fit the model (up to the classifier).
    """
    path = os.fspath(path)
    if not is_weights_file(path):
        raise WeightsError(f"Weights file {path!r} must end with {WEIGHTS_FILE_SUFFIX!r}.")
    if not os.path.isfile(path):
        raise WeightsError(f"Weights file {path!r} does not exist.")
    try:
        model.load_weights(path)
        return
    except ValueError as error:
        problem = one_line(error, typed=False)
    # Another number of classes: everything up to the classifier, which stays fresh.
    names = [layer.name for layer in model.layers]
    if "predictions" in names:
        headless = keras.Model(model.input, model.get_layer("predictions").input)
        try:
            headless.load_weights(path)
            return
        except ValueError:
            pass
    raise WeightsError(f"Cannot load {path!r} into {model.name!r}: {problem}")


@contextlib.contextmanager
def _download_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _keras_applications_model(depth: int, version: str) -> keras.Model:
    key = (depth, version)
    if key not in KERAS_APPLICATIONS:
        offered = ", ".join(f"ResNet-{d} {v}" for d, v in KERAS_APPLICATIONS)
        raise WeightsError(
            f"keras.applications has no ImageNet weights for ResNet-{depth} {version} (it has "
            f"{offered}); for v1.5 and ResNet-18/34 use a keras-hub preset: "
            f"{', '.join(available_weights(depth, version)) or 'none for this depth'}."
        )
    builder = getattr(keras.applications, KERAS_APPLICATIONS[key])
    try:
        with _download_timeout(DOWNLOAD_TIMEOUT):
            return builder(weights="imagenet")
    except Exception as error:  # keras' get_file raises a bare Exception when offline
        raise WeightsError(
            f"keras.applications {KERAS_APPLICATIONS[key]} 'imagenet' weights are not "
            f"available (offline?): {one_line(error, typed=False)}"
        ) from None


def _keras_hub_model(preset: str) -> keras.Model:
    try:
        import keras_hub
        from keras_hub.src.utils.preset_utils import check_file_exists
    except ImportError:
        raise WeightsError(
            f"weights={preset!r} is not 'imagenet' or a {WEIGHTS_FILE_SUFFIX} file, so it "
            f"names a keras-hub preset, but keras-hub is not installed."
        ) from None
    try:
        with _download_timeout(DOWNLOAD_TIMEOUT):
            if check_file_exists(preset, "task.json"):
                return keras_hub.models.ImageClassifier.from_preset(preset)
            return keras_hub.models.Backbone.from_preset(preset)
    except Exception as error:  # unknown names, missing files and failed downloads alike
        raise WeightsError(
            f"Cannot load keras-hub preset {preset!r}: {one_line(error, typed=False)}"
        ) from None


def reference_for(weights: str, depth: int, version: str | None) -> Reference | None:
    """The reference model ``weights`` names for a ResNet of ``depth``.

    Args:
        weights: ``"imagenet"`` (keras.applications' model of that depth and ``version``),
            a ``.weights.h5`` file, or anything else: a keras-hub preset name or directory.
        depth: the ResNet's depth; the weights must be for it.
        version: ``"v1"`` or ``"v2"`` for ``"imagenet"`` (``None``: v1); ignored otherwise.

    Returns:
        The :class:`~reskeras.weights.port.Reference`, or ``None`` for a ``.weights.h5``
            file.

    Raises:
        WeightsError: ``weights`` is not a string or path, the weights are unavailable
            (unknown, offline, keras-hub missing), or they are for another depth.
    """
    if not isinstance(weights, str | os.PathLike):
        raise WeightsError(
            f"`weights` must be None, 'imagenet', a keras-hub preset or a "
            f"{WEIGHTS_FILE_SUFFIX} file, got {weights!r}."
        )
    weights = os.fspath(weights)
    if is_weights_file(weights):
        return None
    if weights == "imagenet":
        source = _keras_applications_model(depth, version or "v1")
    else:
        source = _keras_hub_model(weights)
    ref = describe_reference(source)
    if ref.depth != depth:
        raise WeightsError(f"weights={weights!r} are for ResNet-{ref.depth}, not ResNet-{depth}.")
    return ref


def merge_layout(ref: Reference, chosen: dict[str, Any], weights: str) -> dict[str, Any]:
    """The builder options of ``ref`` where ``chosen`` leaves them at ``None``; a chosen
    value that contradicts the weights is a one-line error.

    Args:
        ref: the reference model the weights come from.
        chosen: the builder options as the user gave them (``None``: unset).
        weights: the ``weights=`` value, for the message.

    Returns:
        ``chosen`` with its unset options taken from ``ref``'s layout and preprocessing.

    Raises:
        WeightsError: a given option differs from the weights' (v1 and v1.5 count as the
            same for basic-block ResNets).
    """
    wanted = dict(ref.layout)
    if ref.input_mean is not None:
        wanted.update(input_mean=ref.input_mean, input_std=ref.input_std)
    basic = IMAGENET_SPECS[ref.depth][0] == "basic"
    merged = dict(chosen)
    for name, value in wanted.items():
        given = chosen.get(name)
        same = given == value or (
            name in ("input_mean", "input_std")
            and given is not None
            and np.allclose(np.broadcast_to(given, (3,)), value, rtol=1e-6)
        )
        # v1 and v1.5 differ only in bottleneck blocks.
        same = same or (name == "version" and basic and {given, value} == {"v1", "v1.5"})
        if given is not None and not same:
            raise WeightsError(
                f"weights={weights!r} need {name}={value!r}, got {given!r}; leave it unset "
                f"to follow the weights."
            )
        if given is None:
            merged[name] = value
    return merged


def available_weights(depth: int, version: str) -> list[str]:
    """The pretrained weights there are for a ResNet of ``depth`` and ``version``:
    ``"imagenet"`` (keras.applications) and keras-hub's ResNet presets (none if keras-hub is
    not installed). Listing needs no network.

    Args:
        depth: the ResNet's depth.
        version: ``"v1"``, ``"v1.5"`` or ``"v2"``.

    Returns:
        The ``weights=`` values, ``"imagenet"`` first when there is one.
    """
    found = ["imagenet"] if (depth, version) in KERAS_APPLICATIONS else []
    try:
        import keras_hub
    except ImportError:
        return found
    basic = IMAGENET_SPECS.get(depth, ("",))[0] == "basic"
    for name in keras_hub.models.ResNetBackbone.presets:
        match = re.match(r"resnet_(v2_|vd_)?(\d+)_", name)
        if not match or int(match[2]) != depth:
            continue
        preset_version = "v2" if match[1] == "v2_" else "v1.5"
        if version == preset_version or (basic and preset_version == "v1.5" and version == "v1"):
            found.append(name)
    return found


def load_weights(
    weights: str, *, family: str, depth: int, layout: dict[str, Any] | None, build: Build
) -> keras.Model:
    """Builds a model whose weights come from ``weights`` (the hand-off of
    :func:`reskeras.models.handoff.build_with_weights`).

    Args:
        weights: ``"imagenet"``, a keras-hub preset name or directory (ResNets), or a
            ``.weights.h5`` file saved from a reskeras model (any family).
        family: the builder's family.
        depth: the model's depth.
        layout: the builder options as chosen (``None`` values follow the weights); ``None``
            for a family whose layout no pretrained weights decide.
        build: builds the model for a layout.

    Returns:
        The model, weights loaded; with another number of classes than the weights' the
            classifier starts fresh.
    """
    pretrained = layout is not None and family in PRETRAINED_FAMILIES
    if not pretrained and not is_weights_file(weights):
        raise WeightsError(
            f"Family {family!r} takes weights=None or a {WEIGHTS_FILE_SUFFIX} file, got "
            f"{weights!r}; ImageNet weights exist for {list(PRETRAINED_FAMILIES)}."
        )
    reference = reference_for(weights, depth, layout.get("version")) if pretrained else None
    if reference is None:  # a .weights.h5 file saved from a reskeras model
        model = build(layout or {}, False)
        load_weights_file(model, weights)
        return model
    model = build(merge_layout(reference, layout, weights), True)
    names = {layer.name for layer in model.layers}
    same_head = "predictions" in names and (
        model.get_layer("predictions").units == reference.classes
    )
    port_weights(reference.model, model, head=same_head)
    return model


set_weights_loader(load_weights)
