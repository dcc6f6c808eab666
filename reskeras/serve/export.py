"""Export Keras models (or training run directories) as SavedModels for TF Serving.

Layout written under ``base_dir``::

    base_dir/
      models.config                 # TF Serving model config (absolute base paths)
      models.docker.config          # same, with base paths under /models (docker -v ...:/models)
      NAME/
        VERSION/                    # integer, never overwritten
          saved_model.pb
          variables/
          assets/labels.txt         # class names (a sequence model: its tokens), one a line
          assets.extra/tf_serving_warmup_requests
          assets.extra/ops.txt      # the op types the graph needs, one a line

Every signature takes RAW inputs (uint8 images, encoded image bytes or text strings), runs the
preprocessing inside the graph and returns ``probabilities`` (float32 softmax), ``class_id``
(int64) and ``class_name`` (string). A keras-hub text classifier
(:mod:`reskeras.models.keras_hub`) also gets ``serve_token_ids``, which takes what its preprocessor
produces (``token_ids``,
``padding_mask`` ...) and needs stock TensorFlow ops only; its raw-string ``serving_default``
needs tensorflow-text ops, and is exported only when TF Serving has them all
(:data:`TF_SERVING_TEXT_OPS`), since a SavedModel with an op the server lacks does not load.
A language model answers with text: a prompt in, its continuation out, the sampling loop in
the graph, plus a ``score`` signature (:mod:`reskeras.serve.language`); a translation model
a source string in, its translation out, tokenizing, beam or greedy decoding and detokenizing
in the graph (:mod:`reskeras.serve.translation`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from reskeras.decoding.causal import LanguageModel, load_language_model
from reskeras.decoding.seq2seq import Translator, load_translator
from reskeras.serve.archive import add_signatures
from reskeras.serve.keras_hub import (
    ExportError,
    class_head,
    hub_archive,
    is_stock_op,
    write_ops,
)
from reskeras.serve.keys import (
    INPUT_IMAGE_BYTES,
    INPUT_IMAGES,
    INPUT_TEXT,
    LABELS_FILE,
    SIGNATURE_BYTES,
    SIGNATURE_DEFAULT,
    SIGNATURE_TOKEN_IDS,
)
from reskeras.serve.language import language_archive
from reskeras.serve.translation import translation_archive
from reskeras.serve.warmup import warmup_requests, write_warmup
from reskeras.training.rundir import RunDir, RunError, atomic_write, fsync_dir

__all__ = [
    "ExportError",
    "ExportResult",
    "export_for_serving",
    "find_xla_functions",
    "list_versions",
    "validate_model_name",
    "write_models_config",
]


MODELS_CONFIG = "models.config"
DOCKER_MODELS_CONFIG = "models.docker.config"
DOCKER_MODELS_ROOT = "/models"

NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
_TMP_PREFIX = ".tmp-"
_LOCK_FILE = ".reskeras-export.lock"


@dataclass(frozen=True)
class ExportResult:
    """Where an export landed and what it serves.

    Args:
        path: the version directory written (``base_dir/name/version``).
        version: the version number.
        name: the model's name.
        signatures: maps signature name -> ``{"inputs": {key: spec}, "outputs": {key:
            spec}}`` where each spec is a string such as ``"uint8[None, 32, 32, 3]"``.
        kind: ``"image"``, ``"text"`` or ``"language_model"``.
        class_names: the class names, in class-id order (a language model: its tokens, in
            id order; also in ``assets/labels.txt``).
        ops: the op types the graph needs (also in ``assets.extra/ops.txt``).
        nonstock_ops: those outside stock TensorFlow (tensorflow-text).
        warnings: what the export warned about.
    """

    path: Path
    version: int
    name: str
    signatures: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    kind: str = "image"
    class_names: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()  # op types the graph needs (also in assets.extra/ops.txt)
    nonstock_ops: tuple[str, ...] = ()  # those outside stock TensorFlow (tensorflow-text)
    warnings: tuple[str, ...] = ()  # what the export warned about


# --------------------------------------------------------------------------- names & versions


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a safe model directory name.

    Args:
        name: the model name: 1-200 characters of letters, digits, ``_``, ``.`` and ``-``,
            no leading dot, no ``..``.

    Raises:
        ExportError: (a ``ValueError``) the name is not safe.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name or len(name) > 200:
        raise ExportError(
            f"invalid model name {name!r}: use 1-200 characters matching {NAME_PATTERN!r} "
            "(letters, digits, '_', '.', '-'; no leading dot, no '..', no path separators)"
        )
    return name


def _validate_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ExportError(f"invalid version {version!r}: expected a positive integer (1, 2, ...)")
    return int(version)


def list_versions(base_dir: str | os.PathLike, name: str) -> list[int]:
    """Sorted integer versions present under ``base_dir/name`` (empty if none).

    Args:
        base_dir: the export root.
        name: the model's name.

    Raises:
        ExportError: ``name`` is not a safe model name.
    """
    model_dir = Path(base_dir) / validate_model_name(name)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _model_dirs(base: Path) -> list[Path]:
    """Model directories under ``base`` that hold at least one numeric version."""
    out = []
    for p in sorted(base.iterdir()):
        if p.is_dir() and _NAME_RE.match(p.name) and ".." not in p.name:
            if any(c.is_dir() and c.name.isdigit() for c in p.iterdir()):
                out.append(p)
    return out


def _config_text(entries: Sequence[tuple[str, str]]) -> str:
    lines = ["model_config_list {"]
    for name, base_path in entries:
        lines += [
            "  config {",
            f"    name: '{name}'",
            f"    base_path: '{base_path}'",
            "    model_platform: 'tensorflow'",
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_models_config(base_dir: str | os.PathLike = "saved_models") -> Path:
    """Regenerate ``base_dir/models.config`` from the directory listing (atomically).

    Lists every model directory with at least one numeric version, with its absolute base path.
    Also writes ``models.docker.config`` with base paths under ``/models`` for
    ``docker run -v $PWD/saved_models:/models ...``.

    Args:
        base_dir: the export root (created if missing).

    Returns:
        The path of ``models.config``.
    """
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    dirs = _model_dirs(base)
    atomic_write(base / MODELS_CONFIG, _config_text([(d.name, str(d)) for d in dirs]))
    atomic_write(
        base / DOCKER_MODELS_CONFIG,
        _config_text([(d.name, f"{DOCKER_MODELS_ROOT}/{d.name}") for d in dirs]),
    )
    return base / MODELS_CONFIG


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    """Exclusive inter-process lock on ``base`` (released by the kernel if we die)."""
    with open(base / _LOCK_FILE, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmp_dirs(model_dir: Path) -> None:
    """Delete ``.tmp-<version>-<pid>-<hex>`` dirs left by exports whose process died."""
    for p in model_dir.glob(f"{_TMP_PREFIX}*"):
        parts = p.name[len(_TMP_PREFIX) :].split("-")
        if len(parts) == 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            shutil.rmtree(p, ignore_errors=True)


# --------------------------------------------------------------------------- XLA check


def find_xla_functions(export_dir: str | os.PathLike) -> list[str]:
    """Names of functions/nodes in ``export_dir/saved_model.pb`` marked ``_XlaMustCompile``.

    Args:
        export_dir: a SavedModel directory.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((Path(export_dir) / "saved_model.pb").read_bytes())
    found = []

    def must_compile(attr: Any) -> bool:
        return "_XlaMustCompile" in attr and attr["_XlaMustCompile"].b

    for mg in sm.meta_graphs:
        for node in mg.graph_def.node:
            if must_compile(node.attr):
                found.append(node.name)
        for fdef in mg.graph_def.library.function:
            if must_compile(fdef.attr):
                found.append(fdef.signature.name)
            for node in fdef.node_def:
                if must_compile(node.attr):
                    found.append(f"{fdef.signature.name}/{node.name}")
    return found


# --------------------------------------------------------------------------- loading runs


def _load_run(run_dir: Path) -> tuple[Any, list[str], Any, dict]:
    """Model, class names, preprocessor (text runs) and config of a finished run."""
    try:
        run = RunDir.open(run_dir)
        return run.load_model(), run.read_labels(), run.load_preprocessor(), run.read_config()
    except RunError as err:
        raise ExportError(str(err)) from err


# --------------------------------------------------------------------------- graph building


def _single_input(model: Any, what: str) -> Any:
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise ExportError(
            f"{what} must be a built functional keras.Model with exactly one input; "
            f"got inputs={inputs!r}"
        )
    return inputs[0]


def _spec_str(dtype: tf.DType, shape: tf.TensorShape) -> str:
    return f"{dtype.name}{shape.as_list() if shape.rank is not None else '[...]'}"


def _signature_specs(fn: Any) -> dict[str, dict[str, str]]:
    args, kwargs = fn.structured_input_signature
    specs = dict(kwargs)
    for arg in args:  # a TensorSpec, or a dict of them (keras-hub models' inputs)
        specs.update(arg if isinstance(arg, dict) else {arg.name: arg})
    outs = fn.structured_outputs
    return {
        "inputs": {k: _spec_str(s.dtype, s.shape) for k, s in specs.items()},
        "outputs": {k: _spec_str(t.dtype, t.shape) for k, t in outs.items()},
    }


def _build_archive(
    model: Any, class_names: list[str], preprocessor: Any
) -> tuple[Any, dict[str, Any], str, dict]:
    """A ``keras.export.ExportArchive`` with plain (non-XLA) serving signatures around
    ``model``: raw inputs in, ``probabilities``/``class_id``/``class_name`` out. The archive
    tracks the variables and lookup tables (a text preprocessor's vocabulary) they use."""
    model_inputs = getattr(model, "inputs", None)
    if not model_inputs or (len(model_inputs) != 1 and preprocessor is None):
        raise ExportError(
            "model must be a built functional keras.Model with one input (or, behind a text "
            f"preprocessor, the inputs the preprocessor produces); got inputs={model_inputs!r}"
        )
    model_in = model_inputs[0]
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ExportError(
            "model must have one output of shape [batch, num_classes] (logits); "
            f"got outputs={outputs!r}"
        )
    num_classes = outputs[0].shape[-1]
    if num_classes != len(class_names):
        raise ExportError(
            f"model has {num_classes} output classes but {len(class_names)} class names were "
            f"given: {class_names!r}"
        )
    in_dtype = tf.as_dtype(model_in.dtype)
    head = class_head(list(class_names))

    archive = keras.export.ExportArchive()
    archive.track(model)
    info: dict[str, Any] = {"num_classes": num_classes}
    if preprocessor is not None or in_dtype == tf.string:
        kind = "text"
        if preprocessor is not None:
            pre_in = _single_input(preprocessor, "preprocessor")
            if tf.as_dtype(pre_in.dtype) != tf.string or len(pre_in.shape) != 1:
                raise ExportError(
                    "preprocessor must map tf.string [batch] to the model's token ids; its input "
                    f"is {pre_in.dtype}{list(pre_in.shape)}"
                )
            archive.track(preprocessor)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_TEXT)])
        def serve_text(text: tf.Tensor) -> dict[str, tf.Tensor]:
            x = text
            if preprocessor is not None:
                x = preprocessor(x, training=False)
                if len(model_inputs) == 1 and not isinstance(x, (dict, list, tuple)):
                    x = tf.cast(x, in_dtype)  # e.g. TextVectorization's int64 -> int32 ids
            return head(model(x, training=False))

        fns = {SIGNATURE_DEFAULT: serve_text}
    else:
        shape = list(model_in.shape)
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            raise ExportError(
                "image models need a fixed input shape [batch, H, W, C]; got "
                f"{shape!r} (text models need a preprocessor: tf.string [batch] -> token ids)"
            )
        kind = "image"
        _, h, w, c = shape
        info["input_shape"] = (h, w, c)
        if c not in (1, 3, 4):
            raise ExportError(f"image models need 1, 3 or 4 channels; got {c}")

        def run_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
            return head(model(tf.cast(images, in_dtype), training=False))

        @tf.function(input_signature=[tf.TensorSpec([None, h, w, c], tf.uint8, name=INPUT_IMAGES)])
        def serve_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
            return run_images(images)

        def decode_one(data: tf.Tensor) -> tf.Tensor:
            img = tf.io.decode_image(data, channels=c, expand_animations=False)
            img = tf.image.resize(img, [h, w])  # float32, still in 0..255
            return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_IMAGE_BYTES)])
        def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            images = tf.map_fn(
                decode_one, image_bytes, fn_output_signature=tf.TensorSpec([h, w, c], tf.uint8)
            )
            return run_images(images)

        fns = {SIGNATURE_DEFAULT: serve_images, SIGNATURE_BYTES: serve_bytes}

    concrete = add_signatures(archive, fns, kind, model)  # serving_default first
    return archive, concrete, kind, info


# --------------------------------------------------------------------------- main entry point


def export_for_serving(
    model_or_run: Any,
    name: str,
    base_dir: str | os.PathLike = "saved_models",
    version: int | None = None,
    *,
    class_names: Sequence[str] | None = None,
    preprocessor: Any = None,
    warmup_examples: Any = None,
    raw_text: bool | None = None,
) -> ExportResult:
    """Export a Keras model or a run directory to ``base_dir/name/version/`` for TF Serving.

    The export is written to a hidden temporary sibling and renamed into place, then
    ``base_dir/models.config`` is regenerated. A keras-hub text classifier (a ``hub:`` run)
    gets ``serve_token_ids`` too. Any op outside stock TensorFlow is a warning (and in
    ``ExportResult.warnings``); ``assets.extra/ops.txt`` lists the op types the graph needs.

    Args:
        model_or_run: a ``keras.Model`` (raw-pixel image model or token-id / string text
            model producing float32 logits), a training run directory (``model.keras``,
            ``labels.json``, ``config.json``, ``preprocessor.keras`` for text), or a
            :class:`~reskeras.decoding.causal.LanguageModel` (a language-model run is one)
            or a :class:`~reskeras.decoding.seq2seq.Translator` (a translation run is one).
            They get the signatures of :mod:`reskeras.serve.language` and
            :mod:`reskeras.serve.translation`.
        name: the model's name on the server (see :func:`validate_model_name`).
        base_dir: the export root.
        version: a positive version number; ``None``: the next free integer. An existing
            version is never overwritten.
        class_names: the class names (default: the run's, or ``"0"``, ``"1"`` ...).
        preprocessor: for a text model taking token ids, a ``keras.Model`` ``tf.string
            [batch]`` -> token ids (default: the run's, or a keras-hub model's own).
        warmup_examples: uint8 images ``[n, H, W, C]`` or strings for the warm-up requests
            (``None``: mid-grey images or two short sentences).
        raw_text: keras-hub classifiers only: whether ``serving_default`` takes raw strings
            (``None``: when TF Serving has the tokenizer's ops, :data:`TF_SERVING_TEXT_OPS`;
            ``False``: never, so that the SavedModel needs stock TensorFlow only).

    Returns:
        Where the export landed and its signatures.

    Raises:
        ExportError: an argument is invalid, the version exists, the run cannot be loaded,
            or the graph cannot be traced or holds XLA-compiled functions.
    """
    validate_model_name(name)
    if version is not None:
        version = _validate_version(version)

    sequence_model = _sequence_model(model_or_run)
    if sequence_model is not None:
        if class_names is not None or preprocessor is not None or raw_text is not None:
            raise ExportError(
                "class_names=, preprocessor= and raw_text= apply to classifiers; a language "
                "or translation model's export reads its vocabulary"
            )
        if isinstance(sequence_model, Translator):
            archive, concrete, kind, info = translation_archive(sequence_model)
            tokens = sequence_model.vocabulary.pieces
        else:
            archive, concrete, kind, info = language_archive(sequence_model)
            tokens = list(sequence_model.vocabulary.tokens)
        return _write_export(
            archive, concrete, kind, info, tokens, name, base_dir, version, warmup_examples
        )

    kind = None  # the run's task kind, when exporting a run directory
    if isinstance(model_or_run, (str, os.PathLike)):
        run_dir = Path(model_or_run)
        if not run_dir.is_dir():
            raise ExportError(
                f"{str(run_dir)!r} is not a directory; pass a keras.Model or a reskeras run "
                "directory (runs/<name>/ with model.keras and labels.json)"
            )
        model, run_labels, run_pre, record = _load_run(run_dir)
        kind = record.kind
        class_names = class_names if class_names is not None else run_labels
        preprocessor = preprocessor if preprocessor is not None else run_pre
    else:
        model = model_or_run
        if not hasattr(model, "variables") or not hasattr(model, "inputs"):
            raise ExportError(
                f"model_or_run must be a keras.Model or a run directory path; got "
                f"{type(model_or_run).__name__}"
            )

    from reskeras.models.keras_hub import is_hub_model

    hub_model = is_hub_model(model)
    if hub_model and preprocessor is None:
        preprocessor = model.preprocessor
    if raw_text is not None and not hub_model:
        raise ExportError("raw_text= applies to keras-hub text classifiers (hub: runs) only")
    num_classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if class_names is None:
        class_names = [str(i) for i in range(num_classes or 0)]
    class_names = [str(n) for n in class_names]
    if any("\n" in n for n in class_names):
        raise ExportError(f"class names must not contain newlines; got {class_names!r}")
    if kind == "text" and preprocessor is None and not hub_model:
        in_dt = tf.as_dtype(_single_input(model, "model").dtype)
        if in_dt != tf.string:
            raise ExportError(
                "text run has no preprocessor.keras and the model takes token ids; pass "
                "preprocessor=<keras.Model tf.string [batch] -> token ids>"
            )

    if hub_model:
        archive, concrete, kind, info = hub_archive(model, class_names, preprocessor, raw_text)
    else:
        archive, concrete, kind, info = _build_archive(model, class_names, preprocessor)
    return _write_export(
        archive, concrete, kind, info, class_names, name, base_dir, version, warmup_examples
    )


def _sequence_model(model_or_run: Any) -> LanguageModel | Translator | None:
    """The language or translation model to export, when ``model_or_run`` is one or a run
    of one."""
    if isinstance(model_or_run, (LanguageModel, Translator)):
        return model_or_run
    if isinstance(model_or_run, (str, os.PathLike)) and Path(model_or_run).is_dir():
        try:
            run = RunDir.open(Path(model_or_run))
            kind = run.read_config().kind
            if kind == "language_model":
                return load_language_model(run.path)
            if kind == "translation":
                return load_translator(run.path)
        except RunError as err:
            raise ExportError(str(err)) from err
    return None


def _write_export(
    archive: Any,
    concrete: dict[str, Any],
    kind: str,
    info: dict,
    class_names: list[str],
    name: str,
    base_dir: str | os.PathLike,
    version: int | None,
    warmup_examples: Any,
) -> ExportResult:
    """Writes ``archive`` as the next (or the given) version under ``base_dir/name``: to a
    hidden sibling first, renamed into place, then ``models.config``."""
    base = Path(base_dir).resolve()
    model_dir = base / name
    if version is not None and (model_dir / str(version)).exists():
        raise ExportError(
            f"version {version} of model {name!r} already exists at {model_dir / str(version)}; "
            f"existing versions: {list_versions(base, name)}. Pass version=None for the next "
            "free one or a new number"
        )
    requests = warmup_requests(kind, info, warmup_examples)

    base.mkdir(parents=True, exist_ok=True)
    model_dir.mkdir(exist_ok=True)
    with _locked(base):
        _remove_stale_tmp_dirs(model_dir)
        existing = list_versions(base, name)
        if version is None:
            version = (existing[-1] if existing else 0) + 1
        final = model_dir / str(version)
        if final.exists():
            raise ExportError(
                f"version {version} of model {name!r} already exists at {final}; "
                f"existing versions: {existing}"
            )
        tmp = model_dir / f"{_TMP_PREFIX}{version}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            archive.write_out(str(tmp), verbose=False)
            (tmp / "assets").mkdir(exist_ok=True)
            (tmp / "assets" / LABELS_FILE).write_text("\n".join(class_names) + "\n")
            write_warmup(tmp, name, requests)
            ops = write_ops(tmp)
            xla = find_xla_functions(tmp)
            if xla:
                raise ExportError(
                    f"exported graph holds XLA-compiled functions {xla[:5]}; TF Serving "
                    "builds without XLA cannot run them. Export from a model traced "
                    "without jit_compile"
                )
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(model_dir)
        write_models_config(base)

    nonstock = tuple(op for op in ops if not is_stock_op(op))
    notes = list(info.get("notes", ()))
    if nonstock:
        how = (  # a translation's subword model is in the graph whatever the signature
            ""
            if kind == "translation"
            else f"; {SIGNATURE_TOKEN_IDS} takes token ids (export with raw_text=False for a "
            "SavedModel that needs stock ops only)"
        )
        notes.append(
            f"the graph needs ops outside stock TensorFlow: {list(nonstock)}; TF Serving has "
            "them (TF Text), a plain TensorFlow process must `import tensorflow_text` before "
            f"loading{how}"
        )
    for note in notes:
        warnings.warn(f"export {name!r}: {note}", UserWarning, stacklevel=2)
    return ExportResult(
        path=final,
        version=version,
        name=name,
        signatures={k: _signature_specs(f) for k, f in concrete.items()},
        kind=kind,
        class_names=tuple(class_names),
        ops=ops,
        nonstock_ops=nonstock,
        warnings=tuple(notes),
    )
