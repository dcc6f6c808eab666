"""The run directory: the one place that knows its file names and how each is written.

A training run writes::

    runs/<name>/
      config.json         the resolved training options, data source, epochs done
      labels.json         class names; index = class id
      checkpoints/        epoch-NNNN.keras (model + optimizer state) and state.json naming it
      metrics.csv         one row per epoch
      tb/                 TensorBoard logs
      model.keras         the trained model (raw pixels or token ids in, logits out)
      preprocessor.keras  text runs: raw strings -> token ids

Every file is written atomically (:func:`atomic_write`, :func:`save_model`): to a temporary
sibling, flushed to disk, renamed over the target, and the directory entry flushed too, so a
crash or ``kill -9`` at any moment leaves the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from reskeras.errors import RunError, one_line
from reskeras.serializable import register_with_keras

__all__ = [
    "RunDir",
    "RunError",
    "RunRecord",
    "atomic_write",
    "fsync_dir",
    "load_keras",
    "save_model",
]

CONFIG = "config.json"
LABELS = "labels.json"
MODEL = "model.keras"
PREPROCESSOR = "preprocessor.keras"
#: A translation run's subword vocabulary (a SentencePiece model, reskeras.data.subword).
SUBWORDS = "subwords.model"
METRICS = "metrics.csv"
TENSORBOARD = "tb"
CHECKPOINTS = "checkpoints"
STATE = "state.json"


@dataclass
class RunRecord:
    """What a run's ``config.json`` holds: the schema of that file.

    Attributes:
        train: the run's resolved training options (``TrainConfig.to_dict()``).
        kind: the task's kind, ``"image"`` or ``"text"``.
        input_shape: the model's input shape (images), else ``None``.
        num_classes: the number of classes.
        source: where the data was read from.
        replicas: replicas that trained in sync.
        workers: worker processes of the cluster (1 without one).
        global_batch_size: the batch size over all replicas.
        steps_per_epoch: optimizer steps per epoch (a resumed run keeps it).
        validation: the split each epoch was validated on: ``{"examples", "source"}``.
        reasons: why :func:`~reskeras.training.recipes.resolve` chose what it decided by a
            rule (e.g. ``{"augment": "..."}``).
        embeddings: the word vectors used (file, width, coverage), if any.
        xla: how the model was compiled: ``{"jit_compile": bool, ...why}``.
        epochs_done: completed epochs, once training ended.
        collapsed_epochs: the epochs whose validation predictions collapsed onto one class.
        collapse: the details when the final model's predictions collapsed, else ``None``.
    """

    train: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    input_shape: list[int] | None = None
    num_classes: int | None = None
    source: str | None = None
    replicas: int = 1
    workers: int = 1
    global_batch_size: int | None = None
    steps_per_epoch: int | None = None
    validation: dict | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    embeddings: dict | None = None
    xla: dict | None = None
    epochs_done: int | None = None
    collapsed_epochs: list[int] = field(default_factory=list)
    collapse: dict | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        """A record from ``config.json``'s object; keys of other versions are ignored.

        Args:
            values: the JSON object read from ``config.json``.

        Returns:
            The record; fields missing from ``values`` keep their defaults.
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``config.json``."""
        return asdict(self)


def fsync_dir(directory: Path) -> None:
    """Flushes a directory's entries (a rename into it) to disk, where the OS allows.

    Args:
        directory: the directory; one that cannot be opened is skipped silently.
    """
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(tmp: Path, path: Path) -> Iterator[None]:
    """The block writes ``tmp``; then it is renamed over ``path`` and the directory flushed.
    On any failure ``tmp`` is removed and ``path`` keeps its old content."""
    try:
        yield
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data: str | bytes, mode: int = 0o644) -> None:
    """Writes ``data`` to ``path`` atomically and durably (file and directory fsynced).

    Args:
        path: the file to write; its directory must exist.
        data: the content; a string is UTF-8 encoded.
        mode: the file's permission bits.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with _replacing(Path(tmp), path):
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())


def save_model(model: Any, path: str | os.PathLike) -> None:
    """``model.save(path)``, atomically and durably (Keras needs the ``.keras`` suffix).

    Args:
        model: the Keras model to save.
        path: the ``.keras`` file to write.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    with _replacing(tmp, path):
        model.save(tmp)
        _fsync_file(tmp)


def _write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2))


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{str(path.parent)!r} has no {path.name} ({what})") from None
    except (OSError, ValueError) as err:
        raise RunError(f"cannot read {str(path)!r}: {err}") from None


def _needs_keras_hub(path: Path) -> bool:
    """Whether a ``.keras`` archive's config refers to keras-hub classes."""
    try:
        with zipfile.ZipFile(path) as zf:
            return b"keras_hub" in zf.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def load_keras(path: str | os.PathLike, *, compile: bool = False) -> Any:
    """A ``.keras`` file loaded with ``safe_mode=True``; any failure is a one-line RunError.

    Args:
        path: the ``.keras`` file (keras-hub is imported first when it needs it).
        compile: whether to restore the saved compile state (optimizer, loss, metrics).

    Returns:
        The loaded model.

    Raises:
        RunError: if the file cannot be loaded.
    """
    import keras

    register_with_keras()  # so a model loads in a process that has not built one
    path = Path(path)
    if _needs_keras_hub(path):
        import keras_hub  # noqa: F401  (registers keras-hub's serializables)
    try:
        with warnings.catch_warnings():
            # keras-hub tasks compile themselves on creation, so a checkpoint's optimizer
            # variables do not fit them; the weights load all the same.
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            warnings.filterwarnings("ignore", "`compile\\(\\)` was not called")
            return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as err:  # keras raises many types; report the file and the reason
        raise RunError(f"could not load {str(path)!r}: {one_line(err)}") from err


class RunDir:
    """A run directory: its paths, and reading and writing what it holds.

    Args:
        path: the directory (it need not exist yet; :meth:`prepare` creates it).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.config_path = self.path / CONFIG
        self.labels_path = self.path / LABELS
        self.model_path = self.path / MODEL
        self.preprocessor_path = self.path / PREPROCESSOR
        self.subwords_path = self.path / SUBWORDS
        self.metrics_path = self.path / METRICS
        self.tensorboard_dir = self.path / TENSORBOARD
        self.checkpoints_dir = self.path / CHECKPOINTS
        self.state_path = self.checkpoints_dir / STATE

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """An existing, finished run: the directory with its model, labels and config.

        Args:
            path: the run directory.

        Returns:
            The run directory.

        Raises:
            RunError: if ``path`` is not a directory or has no ``model.keras``.
        """
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(
                f"{str(run.path)!r} is not a run directory (runs/<name>/ with {MODEL}, "
                f"{LABELS} and {CONFIG})"
            )
        if not run.model_path.is_file():
            finish = (
                f"; finish it with --resume {run.path}"
                if run.state_path.exists()
                else f" (a run directory holds {MODEL}, {LABELS} and {CONFIG})"
            )
            raise RunError(f"run directory {str(run.path)!r} has no {MODEL}{finish}")
        return run

    @property
    def holds_run(self) -> bool:
        """Whether a run (finished or checkpointed) already lives here."""
        return self.state_path.exists() or self.model_path.exists()

    def prepare(self) -> None:
        """Creates the directory and its checkpoints folder."""
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)

    # -- config and labels -----------------------------------------------------------------

    def read_config(self) -> RunRecord:
        """The run's record (``config.json``)."""
        config = _read_json(self.config_path, "the run's options")
        if not isinstance(config, dict):
            raise RunError(f"{str(self.config_path)!r} must hold a JSON object")
        return RunRecord.from_dict(config)

    def write_config(self, record: RunRecord) -> None:
        """Writes the run's record (``config.json``), atomically.

        Args:
            record: the record to write.
        """
        _write_json(self.config_path, record.to_dict())

    def read_labels(self) -> list[str]:
        """The class names (``labels.json``); index = class id.

        Returns:
            The class names.

        Raises:
            RunError: if the file is missing, unreadable or not a JSON list of strings.
        """
        labels = _read_json(self.labels_path, "the class names")
        if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
            raise RunError(f"{str(self.labels_path)!r} must hold a JSON list of class names")
        return labels

    def write_labels(self, labels: list[str]) -> None:
        """Writes the class names (``labels.json``), atomically.

        Args:
            labels: the class names, index = class id (each converted with ``str``).
        """
        _write_json(self.labels_path, [str(n) for n in labels])

    # -- models ----------------------------------------------------------------------------

    def load_model(self) -> Any:
        """The trained model, uncompiled (for inference and export)."""
        return load_keras(self.model_path)

    def save_model(self, model: Any) -> None:
        """Saves the trained model (``model.keras``), atomically.

        Args:
            model: the Keras model to save.
        """
        save_model(model, self.model_path)

    def load_preprocessor(self) -> Any | None:
        """Text runs: the preprocessor (raw strings -> token ids); None for image runs."""
        return load_keras(self.preprocessor_path) if self.preprocessor_path.is_file() else None

    def save_preprocessor(self, model: Any) -> None:
        """Saves a text run's preprocessor (``preprocessor.keras``), atomically.

        Args:
            model: the preprocessing model (raw strings -> token ids).
        """
        save_model(model, self.preprocessor_path)

    # -- checkpoints -----------------------------------------------------------------------

    def read_state(self) -> dict:
        """The last completed epoch's state (``epochs_done``, ``checkpoint``, ``history``),
        or ``{}`` before the first epoch ended."""
        return (
            _read_json(self.state_path, "the checkpoint state") if self.state_path.exists() else {}
        )

    def checkpoint_path(self, epoch: int) -> Path:
        """The checkpoint file of an epoch.

        Args:
            epoch: the number of epochs completed (1-based).

        Returns:
            ``checkpoints/epoch-NNNN.keras`` in this directory.
        """
        return self.checkpoints_dir / f"epoch-{epoch:04d}.keras"

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint ``state.json`` names; None before the first epoch ended."""
        state = self.read_state()
        return self.checkpoints_dir / state["checkpoint"] if state else None

    def write_checkpoint(self, model: Any, epoch: int, history: list[dict]) -> Path:
        """Saves the model (with optimizer state) after ``epoch``. The checkpoint file is
        written first; the atomic swap of ``state.json`` naming it is the commit point, so a
        kill at any moment leaves a consistent pair. Older checkpoints are removed after.

        Args:
            model: the model to save, with its optimizer state.
            epoch: the number of epochs completed (1-based).
            history: the per-epoch metric rows so far, stored in ``state.json``.

        Returns:
            The checkpoint file's path.
        """
        path = self.checkpoint_path(epoch)
        save_model(model, path)
        _write_json(
            self.state_path, {"epochs_done": epoch, "checkpoint": path.name, "history": history}
        )
        for old in self.checkpoints_dir.glob("epoch-*.keras"):
            if old.name != path.name:
                old.unlink()
        return path
