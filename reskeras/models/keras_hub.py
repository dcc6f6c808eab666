"""Pretrained text classifiers from keras-hub: the ``keras_hub`` family, ``hub:<preset>``.

``build_model("hub:bert_base_en_uncased", num_classes=2)`` is keras-hub's own
``TextClassifier`` for the preset's backbone (BERT, DistilBERT, RoBERTa, DeBERTa-v3, ALBERT,
...), with its preprocessor (tokenizer + packer), made by ``TextClassifier.from_preset``. The
preset is a keras-hub preset name (downloaded on first use and cached by keras-hub) or a
local preset directory (written by ``save_to_preset``). The model takes what its
preprocessor produces (``token_ids``, ``padding_mask`` ...), so training maps the raw
strings through ``model.preprocessor`` in the input pipeline, and export puts it in the graph.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import keras

from reskeras.errors import one_line

__all__ = [
    "HUB_FAMILY",
    "HUB_PREFIX",
    "hub_classifier",
    "is_hub_model",
    "preset_sequence_length",
    "text_classifier_presets",
]

HUB_PREFIX = "hub:"
HUB_FAMILY = "keras_hub"
#: The preset the app offers first: the smallest BERT (4.4M parameters).
DEFAULT_PRESET = "bert_tiny_en_uncased"


def _keras_hub():
    import keras_hub

    return keras_hub


@functools.lru_cache(maxsize=1)
def text_classifier_presets() -> tuple[str, ...]:
    """The installed keras-hub's built-in presets that have a text classifier (its
    ``*TextClassifier`` classes; protein and image classifiers are left out), sorted."""
    hub = _keras_hub()
    names: set[str] = set()
    for cls in hub.models.TextClassifier.__subclasses__():
        if cls.__name__.endswith("TextClassifier"):
            names.update(cls.presets)
    return tuple(sorted(names))


def _check_preset(preset: Any) -> str:
    if not isinstance(preset, str | os.PathLike) or not str(preset).strip():
        raise ValueError(f"`preset` must be a keras-hub preset name or directory, got {preset!r}.")
    preset = str(preset)
    local = Path(preset).expanduser()
    if local.is_dir() or preset in text_classifier_presets():
        return str(local) if local.is_dir() else preset
    if os.sep in preset or preset.startswith("."):
        raise ValueError(f"Preset directory {preset!r} does not exist.")
    if "://" in preset:  # kaggle://, hf:// ... handles keras-hub resolves itself
        return preset
    shown = ", ".join(text_classifier_presets()[:12])
    raise ValueError(
        f"Unknown keras-hub text-classifier preset {preset!r}; expected a preset directory, a "
        f"kaggle:// or hf:// handle, or one of: {shown}, ... (`reskeras list` shows all)."
    )


def hub_classifier(
    depth: int | None = None,
    num_classes: int = 2,
    *,
    preset: str,
    sequence_length: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """keras-hub's ``TextClassifier.from_preset(preset, num_classes=...)`` (the backbone's
    pretrained weights, a new classification head), with its preprocessor cut or padded to
    ``sequence_length`` tokens.

    Args:
        depth: ``None`` or 0: the depth is the preset's.
        num_classes: outputs of the new classification head.
        preset: a keras-hub text-classifier preset name, a local preset directory, or a
            ``kaggle://`` / ``hf://`` handle.
        sequence_length: tokens per example, at least 2 (default: the preset's).
        name: the model's name (default keras-hub's).

    Returns:
        The keras-hub ``TextClassifier``, with its preprocessor.

    Raises:
        ValueError: an argument is invalid, or the preset cannot be loaded as a text
            classifier.
    """
    if depth not in (None, 0):
        raise ValueError(f"A pretrained model's depth is its preset's; got depth={depth!r}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
    if sequence_length is not None and (
        isinstance(sequence_length, bool) or not isinstance(sequence_length, int)
        or sequence_length < 2
    ):  # fmt: skip
        raise ValueError(f"`sequence_length` must be an integer >= 2, got {sequence_length!r}.")
    preset = _check_preset(preset)
    hub = _keras_hub()
    kwargs = {"name": name} if name else {}
    try:
        model = hub.models.TextClassifier.from_preset(preset, num_classes=num_classes, **kwargs)
    except Exception as err:  # a download, a missing file, a non-classifier preset ...
        raise ValueError(
            f"Could not load keras-hub preset {preset!r} as a text classifier: {one_line(err)}"
        ) from err
    if model.preprocessor is None:
        raise ValueError(f"keras-hub preset {preset!r} has no text preprocessor.")
    if sequence_length is not None:
        model.preprocessor.sequence_length = sequence_length
    return model


def preset_sequence_length(preset: str) -> int:
    """The sequence length of a preset's preprocessor (what training uses by default).

    Args:
        preset: a keras-hub text-classifier preset name, directory or handle.

    Raises:
        ValueError: the preset is unknown or its preprocessor cannot be loaded.
    """
    hub = _keras_hub()
    preset = _check_preset(preset)
    try:
        preprocessor = hub.models.TextClassifierPreprocessor.from_preset(preset)
    except Exception as err:
        raise ValueError(
            f"Could not load the preprocessor of keras-hub preset {preset!r}: {one_line(err)}"
        ) from err
    return int(preprocessor.sequence_length)


def is_hub_model(model: Any) -> bool:
    """Whether ``model`` is a keras-hub task (a ``TextClassifier`` from a preset).

    Args:
        model: any object; ``True`` for an instance of a ``keras_hub`` class with a
            ``preprocessor`` attribute.
    """
    return type(model).__module__.startswith("keras_hub.") and hasattr(model, "preprocessor")
