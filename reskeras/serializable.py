"""The classes a saved reskeras model names, registered with Keras whenever Keras is imported.

A ``.keras`` file names its classes (``reskeras>BasicBlock``, ``reskeras>OneCycle``,
``reskeras>TopClassShare`` ...), and Keras finds them only once the module defining each has
registered it (``keras.saving.register_keras_serializable(package="reskeras")``). So that
``import reskeras`` followed by ``keras.saving.load_model("runs/R/model.keras")`` works in a
fresh process, without importing Keras (and TensorFlow) at ``import reskeras``:
:func:`register_with_keras` imports :data:`SERIALIZABLE_MODULES` at once when Keras is
already imported, and otherwise right after Keras' own import finishes
(:func:`register_when_keras_loads`: a one-shot import hook that removes itself).

When one of our own modules imports Keras first (``from reskeras.training.optim import ...``
in a fresh process), registering at once would import modules that import it back while it
is half-initialized; the registration then waits for the next import after every reskeras
module has finished initializing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__all__ = ["SERIALIZABLE_MODULES", "register_when_keras_loads", "register_with_keras"]

#: Every module that registers classes with Keras (tests/test_imports.py checks the list
#: against the source).
SERIALIZABLE_MODULES = (
    "reskeras.layers.blocks",
    "reskeras.layers.decoder",
    "reskeras.layers.norm",
    "reskeras.layers.sequence",
    "reskeras.layers.softmax",
    "reskeras.layers.transformer",
    "reskeras.training.optim",  # OneCycle, SparseSmoothedCrossentropy
    "reskeras.evaluation.collapse",  # TopClassShare
    "reskeras.training.objectives",  # Perplexity, TokenAccuracy
)


def register_with_keras() -> None:
    """Imports every module of :data:`SERIALIZABLE_MODULES` (each registers its classes)."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def _reskeras_initializing() -> bool:
    """Whether a reskeras module (the lazy top-level package aside) is being imported."""
    return any(
        getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
        if name.startswith("reskeras.")
    )


def _register_when_settled() -> None:
    if _reskeras_initializing():
        sys.meta_path.insert(0, _WhenSettled())
    else:
        register_with_keras()


class _WhenSettled(importlib.abc.MetaPathFinder):
    """Registers our classes at the first import after every reskeras module has finished
    initializing; finds nothing itself."""

    def find_spec(self, fullname, path=None, target=None):
        if not _reskeras_initializing() and self in sys.meta_path:
            sys.meta_path.remove(self)
            register_with_keras()
        return None


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds ``keras`` as the other finders do and registers our classes once it has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run_keras = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_keras(module)
            _register_when_settled()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def register_when_keras_loads() -> None:
    """Registers our classes now if Keras is imported, else as soon as it is."""
    if "keras" in sys.modules:
        register_with_keras()
    elif not any(isinstance(finder, _AfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())
