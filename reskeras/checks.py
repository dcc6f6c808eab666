"""Argument checks shared by every module: one style, one message per kind of mistake.

Each check returns the (normalized) value or raises a ``ValueError`` whose one-line message
names the argument, the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["check_choice", "check_fraction", "check_int", "check_positive_int"]


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    Args:
        name: the argument's name, for the message.
        value: the value to check.
        choices: the allowed values.

    Returns:
        ``value``, unchanged.

    Raises:
        ValueError: ``value`` is not one of ``choices``.
    """
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"Invalid {name} {value!r}; expected one of {choices}.")
    return value


def check_int(name: str, value: Any, low: int) -> int:
    """``value`` if it is an integer (not a bool) of at least ``low``.

    Args:
        name: the argument's name, for the message.
        value: the value to check.
        low: the smallest value allowed.

    Returns:
        ``value``, unchanged.

    Raises:
        ValueError: ``value`` is not an integer, is a bool, or is below ``low``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    return value


def check_positive_int(name: str, value: Any) -> int:
    """``value`` if it is an integer (not a bool) of at least 1.

    Args:
        name: the argument's name, for the message.
        value: the value to check.

    Returns:
        ``value``, unchanged.

    Raises:
        ValueError: ``value`` is not an integer, is a bool, or is below 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def check_fraction(name: str, value: Any, upper_inclusive: bool = False) -> float:
    """``value`` as a float in ``[0, 1)`` (or ``[0, 1]`` with ``upper_inclusive``).

    Args:
        name: the argument's name, for the message.
        value: the value to check (an int or float, not a bool).
        upper_inclusive: allow 1.0 itself.

    Returns:
        ``value`` as a ``float``.

    Raises:
        ValueError: ``value`` is not a number or lies outside the interval.
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0)
    if not ok:
        bound = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise ValueError(f"`{name}` must be in {bound}, got {value!r}.")
    return float(value)
