"""The tensorflow-datasets fallback of the built-in tasks (downloads on first use, online)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from reskeras.data.spec import DataError, LoadedTask, TaskSpec

__all__ = ["load_tfds"]

AUTOTUNE = tf.data.AUTOTUNE


def load_tfds(spec: TaskSpec, data_dir: Any, looked: list[str]) -> LoadedTask:
    """A built-in task's splits from TensorFlow Datasets (``spec.tfds_name``).

    Args:
        spec: the task.
        data_dir: the tfds data directory (``None``: tfds' default).
        looked: the local copies looked for, for the error message.

    Returns:
        The unbatched ``spec.tfds_splits``, as ``(x, int32 label)`` pairs.

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
    supervised = spec.kind == "image" or spec.tfds_text_key is None
    splits = []
    try:
        for split in spec.tfds_splits:
            ds = tfds.load(
                spec.tfds_name,
                split=split,
                as_supervised=supervised,
                data_dir=None if data_dir is None else str(data_dir),
            )
            splits.append(ds)
    except Exception as e:  # noqa: BLE001 - offline, not found, missing deps: all one story
        raise fail(f"{type(e).__name__}: {e}") from None

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


def _count(ds: tf.data.Dataset) -> int:
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(np.int64(0), lambda c, _x, _y: c + 1))
