"""TF Serving warm-up records: requests the model server runs once before it serves.

TF Serving reads ``assets.extra/tf_serving_warmup_requests`` (``PredictionLog`` records) when
it loads a model, so the first real request does not pay for tracing and kernel selection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from reskeras.errors import ExportError
from reskeras.serve.keys import (
    INPUT_IMAGE_BYTES,
    INPUT_IMAGES,
    INPUT_PROMPT,
    INPUT_TEXT,
    SIGNATURE_BYTES,
    SIGNATURE_DEFAULT,
    SIGNATURE_GREEDY,
    SIGNATURE_SCORE,
    SIGNATURE_TOKEN_IDS,
    WARMUP_FILE,
)

__all__ = ["read_warmup_requests", "warmup_requests", "write_warmup"]

_DEFAULT_TEXT_WARMUP = ("a short example sentence", "another one")
_MAX_WARMUP_EXAMPLES = 16


def _prediction_log_bytes(model_name: str, signature: str, inputs: dict[str, np.ndarray]) -> bytes:
    """Serialized ``tensorflow.serving.PredictionLog`` with ``predict_log.request`` set."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    for key in sorted(inputs):
        request.inputs[key].CopyFrom(tf.make_tensor_proto(inputs[key]))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    return log.SerializeToString()


def warmup_requests(
    kind: str, info: dict, warmup_examples: Any
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The warm-up requests of an export: (signature, inputs) pairs.

    Args:
        kind: ``"image"``, ``"text"``, ``"language_model"`` or ``"translation"``.
        info: what the exporter learnt of the model: ``input_shape`` (images), and for text
            ``raw_text``, ``preprocessor`` and ``input_dtypes`` (keras-hub models).
        warmup_examples: uint8 images ``[n, H, W, C]`` or strings; ``None``: mid-grey
            images or two short sentences.
    """
    if kind in ("text", "language_model", "translation"):
        if warmup_examples is None:
            texts = list(_DEFAULT_TEXT_WARMUP)
        else:
            if isinstance(warmup_examples, (str, bytes)):
                warmup_examples = [warmup_examples]
            texts = list(np.asarray(warmup_examples, dtype=object).reshape(-1))
            if not texts or not all(isinstance(t, (str, bytes)) for t in texts):
                raise ExportError(
                    "warmup_examples for a text model must be a non-empty list of strings; "
                    f"got {warmup_examples!r:.200}"
                )
        arr = np.array(
            [t.encode() if isinstance(t, str) else t for t in texts[:_MAX_WARMUP_EXAMPLES]],
            dtype=object,
        )
        if kind == "language_model":
            return [(SIGNATURE_DEFAULT, {INPUT_PROMPT: arr}), (SIGNATURE_SCORE, {INPUT_TEXT: arr})]
        if kind == "translation":
            return [(SIGNATURE_DEFAULT, {INPUT_TEXT: arr}), (SIGNATURE_GREEDY, {INPUT_TEXT: arr})]
        requests = []
        if info.get("raw_text", True):
            requests.append((SIGNATURE_DEFAULT, {INPUT_TEXT: arr}))
        if "preprocessor" in info:  # a keras-hub model: its token-id signature too
            packed = info["preprocessor"](tf.constant(arr))
            ids = {k: np.asarray(v).astype(info["input_dtypes"][k]) for k, v in packed.items()}
            requests.append((SIGNATURE_TOKEN_IDS, ids))
        return requests

    h, w, c = info["input_shape"]
    if warmup_examples is None:
        images = np.full((2, h, w, c), 128, dtype=np.uint8)  # mid-grey
    else:
        images = np.asarray(warmup_examples)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1:] != (h, w, c) or images.shape[0] == 0:
            raise ExportError(
                f"warmup_examples must be uint8 images shaped [n, {h}, {w}, {c}]; "
                f"got shape {images.shape}"
            )
        if images.dtype != np.uint8:
            if images.min() < 0 or images.max() > 255:
                raise ExportError(
                    "warmup_examples must hold raw pixel values 0..255; got range "
                    f"[{images.min()}, {images.max()}]"
                )
            images = np.round(images).astype(np.uint8)
    images = images[:_MAX_WARMUP_EXAMPLES]
    encoded = np.array([tf.io.encode_png(tf.constant(im)).numpy() for im in images], dtype=object)
    return [
        (SIGNATURE_DEFAULT, {INPUT_IMAGES: images}),
        (SIGNATURE_DEFAULT, {INPUT_IMAGES: images[:1]}),
        (SIGNATURE_BYTES, {INPUT_IMAGE_BYTES: encoded}),
    ]


def write_warmup(export_dir: Path, name: str, requests: list[tuple[str, dict]]) -> Path:
    """Writes ``requests`` as TF Serving's warm-up records of an export.

    Args:
        export_dir: the SavedModel's version directory.
        name: the model name the requests address.
        requests: (signature, inputs) pairs, e.g. from :func:`warmup_requests`.

    Returns:
        The path of ``assets.extra/tf_serving_warmup_requests``.
    """
    out_dir = export_dir / "assets.extra"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests:
            writer.write(_prediction_log_bytes(name, signature, inputs))
    return path


def read_warmup_requests(export_dir: str | os.PathLike) -> list[bytes]:
    """Raw serialized PredictionLog records of an export's warm-up file.

    Args:
        export_dir: the SavedModel's version directory.
    """
    path = Path(export_dir) / "assets.extra" / WARMUP_FILE
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
