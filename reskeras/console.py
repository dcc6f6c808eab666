"""A quiet console: TensorFlow's start-up chatter stays out of the terminal and notebook cells.

Importing TensorFlow prints lines such as ``I0000 ... port.cc:153] oneDNN custom operations
are on`` and, on a machine without a GPU, ``E0000 ... failed call to cuInit``. Most are
written by static initializers *before* TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``, so the
variable alone cannot silence them; :func:`quiet_tensorflow` also points the process's stderr
at ``/dev/null`` for the duration of the import (Python exceptions still propagate and print).
The ``reskeras`` command calls it first thing, and the notebooks in their first cell
(``import reskeras`` itself changes nothing). It does nothing when the user chose
``TF_CPP_MIN_LOG_LEVEL`` themselves, set ``RESKERAS_VERBOSE=1``, or ran ``reskeras ... --verbose``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["device_line", "quiet_tensorflow", "verbose_requested"]

#: TensorFlow's C++ log level when we choose it: 3 hides INFO, WARNING and ERROR lines.
QUIET_LEVEL = "3"


def verbose_requested() -> bool:
    """Whether the user asked for TensorFlow's own logging (env var or the CLI's ``--verbose``)."""
    if os.environ.get("RESKERAS_VERBOSE", "") not in ("", "0"):
        return True
    # The console script (and ``python -m reskeras.cli``, while argv[0] is still "-m")
    # imports this package before it parses its arguments.
    argv0 = sys.argv[0] if sys.argv else ""
    return (Path(argv0).name == "reskeras" or argv0 == "-m") and "--verbose" in sys.argv


def quiet_tensorflow() -> bool:
    """Imports TensorFlow with its C++ logging at warnings and above off; True if it did.

    A no-op when TensorFlow is already imported, is not the Keras backend, is not installed,
    or when the user asked for its output (see :func:`verbose_requested`).
    """
    if "tensorflow" in sys.modules or verbose_requested():
        return False
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return False
    if importlib.util.find_spec("tensorflow") is None:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LEVEL
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return True


def device_line() -> str:
    """One line naming what training runs on, e.g. ``"training on CPU; no GPU found"``."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return f"training with the {keras.backend.backend()} backend"
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return f"training on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''}"
    return "training on CPU; no GPU found"
