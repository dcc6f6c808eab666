"""The errors reskeras raises, and how one is shown in one line.

Every error a user can cause is a :class:`ReskerasError` of one kind, with a one-line message
that names the bad value and what is allowed. Each kind also derives from the built-in type it
used to be (``ValueError`` or ``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ExportError",
    "PortError",
    "ReskerasError",
    "RunError",
    "ServingError",
    "TrainingError",
    "WeightsError",
    "one_line",
]


class ReskerasError(Exception):
    """The base of every reskeras error."""


class DataError(ReskerasError, ValueError):
    """A dataset could not be found, read or validated."""


class WeightsError(ReskerasError, ValueError):
    """Pretrained weights could not be found, downloaded or loaded."""


class PortError(ReskerasError, ValueError):
    """Weights could not be ported: the source and target architectures differ."""


class RunError(ReskerasError, ValueError):
    """A run directory is missing, incomplete or unreadable."""


class TrainingError(ReskerasError, RuntimeError):
    """Training could not go on (non-finite loss, a run directory in the way, a lost worker)."""


class ExportError(ReskerasError, ValueError):
    """A model could not be exported for TF Serving."""


class ServingError(ReskerasError, RuntimeError):
    """A TF Serving server could not be reached or answered with an error."""


def one_line(exc: BaseException, *, typed: bool = True) -> str:
    """The first line of an error's message, for a one-line report.

    Args:
        exc: the exception.
        typed: prefix the exception's type name (``"ValueError: ..."``), as for errors from
            other libraries whose type says what went wrong; without it, the bare message.

    Returns:
        ``"TypeName: first line"`` (or ``"first line"``); the type name alone when the
            message is empty.
    """
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if typed else lines[0]
