"""Client helpers for models exported with :func:`reskeras.serve.export.export_for_serving`.

Builds TF Serving REST bodies / URLs and gRPC ``PredictRequest``s and parses the responses into
one dict per example: ``{"probabilities": np.ndarray[float32], "class_id": int,
"class_name": str}`` for a classifier; ``{"text": str}`` (a sampled continuation) or
``{"log_likelihood": float, "perplexity": float, "tokens": int}`` (``score``) for a language
model. Needs only numpy at import time; gRPC helpers need the optional
``tensorflow-serving-api`` package (``pip install 'reskeras[serving]'``).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from reskeras.errors import ServingError
from reskeras.serve.keys import (
    INPUT_IMAGE_BYTES,
    INPUT_IMAGES,
    INPUT_MAX_LENGTH,
    INPUT_PROMPT,
    INPUT_SEED,
    INPUT_TEMPERATURE,
    INPUT_TEXT,
    INPUT_TOP_K,
    LM_OUTPUT_KEYS,
    OUTPUT_KEYS,
    SCORE_OUTPUT_KEYS,
    SIGNATURE_BYTES,
    SIGNATURE_DEFAULT,
    SIGNATURE_GENERATE,
    SIGNATURE_SCORE,
)

__all__ = [
    "ServingError",
    "build_grpc_request",
    "build_rest_request",
    "image_bytes_request",
    "image_request",
    "parse_grpc_response",
    "parse_rest_response",
    "predictions_to_arrays",
    "prompt_request",
    "rest_predict",
    "rest_url",
    "score_request",
    "text_request",
]


def _require_serving_api() -> tuple[Any, Any]:
    try:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2
    except ImportError as err:
        raise ImportError(
            "gRPC requests need the optional tensorflow-serving-api package: "
            "pip install 'reskeras[serving]'"
        ) from err
    return tf, predict_pb2


# --------------------------------------------------------------------------- REST


def rest_url(
    name: str,
    host: str = "localhost",
    port: int = 8501,
    version: int | None = None,
    *,
    verb: str = "predict",
    scheme: str = "http",
) -> str:
    """``http://host:8501/v1/models/NAME[/versions/N]:predict``.

    Args:
        name: the model's name on the server.
        host: the server's host.
        port: its REST port.
        version: a model version (``None``: the latest the server serves).
        verb: ``"predict"``, ``"classify"`` or ``"regress"``.
        scheme: the URL scheme (``"http"``, ``"https"``).

    Raises:
        ValueError: ``verb`` or ``version`` is invalid.
    """
    if verb not in ("predict", "classify", "regress"):
        raise ValueError(f"invalid verb {verb!r}: expected 'predict', 'classify' or 'regress'")
    path = f"/v1/models/{name}"
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"invalid version {version!r}: expected a non-negative integer")
        path += f"/versions/{version}"
    return f"{scheme}://{host}:{port}{path}:{verb}"


def _jsonable(value: Any) -> Any:
    """numpy / bytes -> JSON values; bytes become TF Serving's ``{"b64": ...}``."""
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            return [_jsonable(v) for v in value]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build_rest_request(
    inputs: Mapping[str, Any], signature_name: str = SIGNATURE_DEFAULT
) -> dict[str, Any]:
    """REST body in row format: ``{"signature_name": ..., "instances": [{key: value}, ...]}``.

    Args:
        inputs: maps input keys to batched values (numpy arrays or sequences, same length);
            bytes are sent base64-encoded.
        signature_name: the signature to call.

    Raises:
        ValueError: ``inputs`` is empty, a value is not a batch, or the batches differ in
            size.
    """
    if not inputs:
        raise ValueError("inputs is empty: expected {input_key: batched values}")
    columns = {}
    for key, values in inputs.items():
        if (
            isinstance(values, (str, bytes))
            or np.ndim(values) == 0
            and not isinstance(values, (list, tuple))
        ):
            raise ValueError(
                f"input {key!r} must be a batch (list or array with a leading batch axis); "
                f"got {type(values).__name__}"
            )
        columns[key] = list(values)
    sizes = {k: len(v) for k, v in columns.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"all inputs need the same batch size; got {sizes}")
    n = next(iter(sizes.values()))
    instances = [{k: _jsonable(v[i]) for k, v in columns.items()} for i in range(n)]
    return {"signature_name": signature_name, "instances": instances}


def image_request(images: Any) -> dict[str, Any]:
    """REST body for ``serving_default`` of an image model: uint8 ``[N, H, W, C]``.

    Args:
        images: raw pixels ``[N, H, W, C]`` in 0..255 (other dtypes are rounded to uint8).

    Raises:
        ValueError: ``images`` is not 4-D or has values outside 0..255.
    """
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"images must be shaped [N, H, W, C]; got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"images must be raw pixels 0..255; got [{arr.min()}, {arr.max()}]")
        arr = np.round(arr).astype(np.uint8)
    return build_rest_request({INPUT_IMAGES: arr})


def image_bytes_request(encoded: Sequence[bytes]) -> dict[str, Any]:
    """REST body for ``serve_bytes``: encoded PNG/JPEG files, sent base64 (``{"b64": ...}``).

    Args:
        encoded: the files' bytes, one per example (or a single ``bytes``).
    """
    if isinstance(encoded, (bytes, bytearray)):
        encoded = [encoded]
    return build_rest_request({INPUT_IMAGE_BYTES: [bytes(b) for b in encoded]}, SIGNATURE_BYTES)


def _strings(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in texts]
    if not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must be strings; got {texts!r:.200}")
    return texts


def text_request(texts: Sequence[str] | str) -> dict[str, Any]:
    """REST body for ``serving_default`` of a text model.

    Args:
        texts: the texts (or a single one); bytes are decoded as UTF-8.

    Raises:
        ValueError: a text is not a string.
    """
    return build_rest_request({INPUT_TEXT: _strings(texts)})


def prompt_request(
    prompts: Sequence[str] | str,
    *,
    max_length: int | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """REST body that asks a language model to continue ``prompts``: ``serving_default``
    (the export's defaults) when no option is given, else ``generate`` with every option
    (in TF Serving's columnar format, as its options are scalars).

    Args:
        prompts: the prompts (or a single one).
        max_length: the most tokens to add.
        temperature: 0 is greedy.
        top_k: 0 is off.
        seed: the sampling's seed.

    Raises:
        ValueError: a prompt is not a string, or some options are given and others not.
    """
    texts = _strings(prompts)
    options = {
        INPUT_MAX_LENGTH: max_length,
        INPUT_TEMPERATURE: temperature,
        INPUT_TOP_K: top_k,
        INPUT_SEED: seed,
    }
    if all(v is None for v in options.values()):
        return build_rest_request({INPUT_PROMPT: texts})
    missing = [k for k, v in options.items() if v is None]
    if missing:
        raise ValueError(
            f"the {SIGNATURE_GENERATE} signature takes every option; missing {missing} (give "
            "none of them for serving_default's defaults)"
        )
    inputs = {INPUT_PROMPT: texts, **{k: _jsonable(v) for k, v in options.items()}}
    return {"signature_name": SIGNATURE_GENERATE, "inputs": inputs}


def score_request(texts: Sequence[str] | str) -> dict[str, Any]:
    """REST body for a language model's ``score`` signature: a sentence each.

    Args:
        texts: the sentences (or a single one).

    Raises:
        ValueError: a text is not a string.
    """
    return build_rest_request({INPUT_TEXT: _strings(texts)}, SIGNATURE_SCORE)


def _text(value: Any) -> str:
    if isinstance(value, Mapping) and "b64" in value:
        value = base64.b64decode(value["b64"])
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8")
    return str(value)


def _row(values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):  # a one-output signature: a language model's text
        values = {LM_OUTPUT_KEYS[0]: values}
    if set(LM_OUTPUT_KEYS) <= set(values):
        return {key: _text(values[key]) for key in LM_OUTPUT_KEYS}
    if set(SCORE_OUTPUT_KEYS) <= set(values):
        return {
            "log_likelihood": float(values["log_likelihood"]),
            "perplexity": float(values["perplexity"]),
            "tokens": int(values["tokens"]),
        }
    missing = [k for k in OUTPUT_KEYS if k not in values]
    if missing:
        raise ServingError(
            f"response row lacks {missing}; expected keys {list(OUTPUT_KEYS)}, got {list(values)}"
        )
    return {
        "probabilities": np.asarray(values["probabilities"], dtype=np.float32),
        "class_id": int(values["class_id"]),
        "class_name": _text(values["class_name"]),
    }


def parse_rest_response(response: str | bytes | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Parse a TF Serving REST predict response (row ``predictions`` or columnar ``outputs``).

    Args:
        response: the response body (JSON text or bytes) or its parsed object.

    Returns:
        One dict per example: ``probabilities``, ``class_id``, ``class_name`` (a
        classifier); ``text`` or ``log_likelihood``, ``perplexity``, ``tokens`` (a
        language model).

    Raises:
        ServingError: the response is not JSON, is an error, or lacks an output.
    """
    if isinstance(response, (str, bytes, bytearray)):
        try:
            response = json.loads(response)
        except ValueError as err:
            raise ServingError(f"response is not JSON: {response[:200]!r}") from err
    if not isinstance(response, Mapping):
        raise ServingError(f"response must be a JSON object; got {type(response).__name__}")
    if "error" in response:
        raise ServingError(f"TF Serving error: {response['error']}")
    if "predictions" in response:
        return [_row(r) for r in response["predictions"]]
    if "outputs" in response:
        cols = response["outputs"]
        if isinstance(cols, list):  # a one-output signature answers with its batch
            cols = {LM_OUTPUT_KEYS[0]: cols}
        if not isinstance(cols, Mapping) or not cols:
            raise ServingError(f"'outputs' must map output keys to batches; got {cols!r:.200}")
        n = len(next(iter(cols.values())))
        return [_row({k: v[i] for k, v in cols.items()}) for i in range(n)]
    raise ServingError(f"response has neither 'predictions' nor 'outputs' (keys: {list(response)})")


def rest_predict(url: str, body: Mapping[str, Any], timeout: float = 30.0) -> list[dict[str, Any]]:
    """POST ``body`` to ``url`` (see :func:`rest_url`) and parse the predictions.

    Args:
        url: the REST endpoint.
        body: the request body (e.g. :func:`image_request`).
        timeout: seconds to wait for the server.

    Returns:
        One dict per example (:func:`parse_rest_response`).

    Raises:
        ServingError: the server answered with an HTTP error or a bad response.
    """
    data = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            payload = resp.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")[:500]
        raise ServingError(f"{url} answered HTTP {err.code}: {detail}") from err
    return parse_rest_response(payload)


def predictions_to_arrays(predictions: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stack per-example dicts into ``{"probabilities": [N, K], "class_id": [N], ...}``.

    Args:
        predictions: what :func:`parse_rest_response` or :func:`parse_grpc_response` returns.
    """
    return {
        "probabilities": np.stack([p["probabilities"] for p in predictions]).astype(np.float32)
        if predictions
        else np.zeros((0, 0), np.float32),
        "class_id": np.array([p["class_id"] for p in predictions], dtype=np.int64),
        "class_name": np.array([p["class_name"] for p in predictions], dtype=object),
    }


# --------------------------------------------------------------------------- gRPC


def build_grpc_request(
    name: str,
    inputs: Mapping[str, Any],
    signature_name: str = SIGNATURE_DEFAULT,
    version: int | None = None,
) -> Any:
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for ``PredictionService``.

    Args:
        name: the model's name on the server.
        inputs: maps input keys (``images``, ``image_bytes``, ``text``) to batched values.
        signature_name: the signature to call.
        version: a model version (``None``: the latest).

    Raises:
        ImportError: ``tensorflow-serving-api`` is not installed.
    """
    tf, predict_pb2 = _require_serving_api()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, values in inputs.items():
        arr = values if isinstance(values, np.ndarray) else None
        if arr is None:
            items = list(values)
            if items and isinstance(items[0], (str, bytes)):
                arr = np.array(
                    [v.encode("utf-8") if isinstance(v, str) else v for v in items], dtype=object
                )
            else:
                arr = np.asarray(items)
        elif arr.dtype.kind == "U":
            arr = np.array([s.encode("utf-8") for s in arr.reshape(-1)], dtype=object).reshape(
                arr.shape
            )
        request.inputs[key].CopyFrom(tf.make_tensor_proto(arr))
    return request


def parse_grpc_response(response: Any) -> list[dict[str, Any]]:
    """Parse a ``PredictResponse`` into one dict per example.

    Args:
        response: the ``PredictResponse`` of a classification signature.

    Raises:
        ServingError: it lacks an output.
        ImportError: ``tensorflow-serving-api`` is not installed.
    """
    tf, _ = _require_serving_api()
    missing = [k for k in OUTPUT_KEYS if k not in response.outputs]
    if missing:
        raise ServingError(
            f"PredictResponse lacks outputs {missing}; got {sorted(response.outputs)}"
        )
    cols = {k: tf.make_ndarray(response.outputs[k]) for k in OUTPUT_KEYS}
    return [_row({k: v[i] for k, v in cols.items()}) for i in range(len(cols["class_id"]))]
