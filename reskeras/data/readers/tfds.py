"""The tensorflow-datasets fallback of the built-in tasks (downloads on first use, online)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from reskeras.data.spec import DataError, LoadedTask, TaskSpec

__all__ = ["load_tfds"]

AUTOTUNE = tf.data.AUTOTUNE


def load_tfds(
    spec: TaskSpec,
    data_dir: Any,
    looked: list[str],
    languages: tuple[str, str] | None = None,
) -> LoadedTask:
    """A built-in task's splits from TensorFlow Datasets (``spec.tfds_name``).

    Args:
        spec: the task.
        data_dir: the tfds data directory (``None``: tfds' default).
        looked: the local copies looked for, for the error message.
        languages: a translation's ``(source, target)`` (``None``: the task's).

    Returns:
        The unbatched ``spec.tfds_splits``, as ``(x, int32 label)`` pairs; a translation
        task's train, validation and test splits as ``(source, target)`` strings.

    Raises:
        DataError: tensorflow-datasets is missing or the load failed (e.g. offline); the
            message says where it looked and how to get the data.
    """
    where = ", ".join(looked) if looked else "(local search disabled)"
    if spec.tfds_name is None:
        raise DataError(
            f"{spec.name}: no local copy found (looked in {where}); to get it: {spec.hint}; "
            f"or pass data=PATH, or set RESKERAS_DATA"
        )

    def fail(reason: str) -> DataError:
        reason = " ".join(reason.strip().splitlines()[:1])[:200] if reason else "unknown error"
        return DataError(
            f"{spec.name}: no local copy found (looked in {where}) and tfds {spec.tfds_name!r} "
            f"failed ({reason}); to get it: {spec.hint}; or pass data=PATH, or set "
            f"RESKERAS_DATA, or let tfds download {spec.tfds_name!r} (needs internet)"
        )

    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise fail(f"tensorflow_datasets not importable: {e}") from None
    translation = spec.kind == "translation"
    supervised = not translation and (spec.kind == "image" or spec.tfds_text_key is None)
    names = ("train", "validation", "test") if translation else spec.tfds_splits
    splits = []
    try:
        for split in names:
            ds = tfds.load(
                spec.tfds_name,
                split=split,
                as_supervised=supervised,
                data_dir=None if data_dir is None else str(data_dir),
            )
            splits.append(ds)
    except Exception as e:  # noqa: BLE001 - offline, not found, missing deps: all one story
        raise fail(f"{type(e).__name__}: {e}") from None

    if translation:
        return _translation_pairs(spec, splits, languages or spec.languages)
    key = spec.tfds_text_key

    def to_pair(*args: Any) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = args if len(args) == 2 else (args[0][key], args[0]["label"])
        return x, tf.cast(y, tf.int32)

    out = [ds.map(to_pair, num_parallel_calls=AUTOTUNE) for ds in splits]
    counts = [_count(ds) for ds in out]
    return LoadedTask(
        spec=spec,
        class_names=list(spec.class_names or ()),
        train=out[0],
        test=out[1],
        num_train=counts[0],
        num_test=counts[1],
        source=f"tfds:{spec.tfds_name} ({'/'.join(spec.tfds_splits)})",
    )


def _translation_pairs(spec: TaskSpec, splits: list, languages: tuple[str, str]) -> LoadedTask:
    """``(source, target)`` strings of tfds' translation dicts (``{"de": ..., "en": ...}``)."""
    available = set(splits[0].element_spec)
    if not set(languages) <= available:
        raise DataError(
            f"{spec.name}: tfds {spec.tfds_name!r} has languages {sorted(available)}, not "
            f"{'-'.join(languages)}"
        )
    source, target = languages
    train, validation, test = (
        ds.map(lambda d: (d[source], d[target]), num_parallel_calls=AUTOTUNE) for ds in splits
    )
    counts = [_count(ds) for ds in (train, validation, test)]
    return LoadedTask(
        spec=spec,
        class_names=[],
        train=train,
        test=test,
        num_train=counts[0],
        num_test=counts[2],
        source=f"tfds:{spec.tfds_name} (train/validation/test)",
        validation=validation,
        num_validation=counts[1],
        validation_source=f"tfds:{spec.tfds_name} validation",
        languages=tuple(languages),
    )


def _count(ds: tf.data.Dataset) -> int:
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(np.int64(0), lambda c, _x, _y: c + 1))
