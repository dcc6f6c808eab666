"""Compute precision: the policies a run can train under, and a context manager to build in one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

__all__ = ["PRECISIONS", "dtype_policy"]

#: The Keras dtype policies a run can train under; logits stay float32 in each.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Makes ``name`` the global Keras dtype policy inside the block, then restores the old one.

    The policy is global while a model is built and while a checkpoint loads: a model loaded
    under float32 would compile without the ``LossScaleOptimizer`` it was saved with.

    Args:
        name: a Keras dtype policy name, e.g. one of :data:`PRECISIONS`.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
