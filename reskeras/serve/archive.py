"""Assembling a SavedModel's signatures: each ``tf.function`` traced and added to a
``keras.export.ExportArchive`` as an endpoint, a tracing failure reported in one line."""

from __future__ import annotations

from typing import Any

from reskeras.errors import ExportError, one_line

__all__ = ["add_signatures"]


def add_signatures(archive: Any, fns: dict[str, Any], what: str, model: Any) -> dict[str, Any]:
    """Traces every signature and adds it to ``archive`` (in ``fns``' order:
    ``serving_default`` first).

    Args:
        archive: the ``keras.export.ExportArchive``, tracking what the signatures use.
        fns: ``tf.function`` s with input signatures, by signature name.
        what: the kind of signatures, for the message (``"image"``, ``"translation"`` ...).
        model: the model they wrap, named in the message.

    Returns:
        The concrete functions, by signature name.

    Raises:
        ExportError: a signature cannot be traced (which model, and why, in one line).
    """
    try:
        concrete = {name: fn.get_concrete_function() for name, fn in fns.items()}
        for name, fn in fns.items():
            archive.add_endpoint(name, fn)
    except Exception as err:  # a tracing failure deep in TF: say which model and why
        raise ExportError(
            f"could not trace the {what} serving signatures {sorted(fns)} around model "
            f"{getattr(model, 'name', '?')!r}: {one_line(err)}"
        ) from err
    return concrete
