"""Client helpers: REST/gRPC requests built here, answered by the exported signatures."""

from __future__ import annotations

import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import keras
import numpy as np
import pytest
import tensorflow as tf

from reskeras.models.registry import build_model
from reskeras.serve import client as serving
from reskeras.serve.export import export_for_serving

CLASSES = ["cat", "dog", "bird"]
SHAPE = (16, 16, 1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(keras model, loaded SavedModel, text keras pipeline, loaded text SavedModel)."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    model = build_model("cifar_resnet", depth=8, num_classes=3, input_shape=SHAPE)
    base = tmp_path_factory.mktemp("saved_models")
    img = export_for_serving(model, "img", base, class_names=CLASSES)

    vec = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    vec.adapt(["good film", "bad film", "so so"])
    text_in = keras.Input(shape=(), dtype="string")
    pre = keras.Model(text_in, vec(text_in))
    ids = keras.Input(shape=(4,), dtype="int64")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4)(ids))
    text_model = keras.Model(ids, keras.layers.Dense(2)(x))
    txt = export_for_serving(text_model, "txt", base, class_names=["neg", "pos"], preprocessor=pre)
    return {
        "model": model,
        "img": tf.saved_model.load(str(img.path)),
        "pre": pre,
        "text_model": text_model,
        "txt": tf.saved_model.load(str(txt.path)),
    }


def _images(n: int = 3) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (n, *SHAPE)).astype(np.uint8)


def _instance_value(value):
    """How TF Serving's REST layer turns one JSON value into tensor data."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


def fake_rest_predict(loaded, body: dict) -> dict:
    """Answer a REST predict body like TF Serving does (row format in, row format out)."""
    body = json.loads(json.dumps(body))  # must survive the wire
    sig = loaded.signatures[body.get("signature_name", "serving_default")]
    keys = list(body["instances"][0])
    columns = {k: [_instance_value(inst[k]) for inst in body["instances"]] for k in keys}
    _, specs = sig.structured_input_signature
    tensors = {k: tf.constant(np.array(v), dtype=specs[k].dtype) for k, v in columns.items()}
    out = {k: v.numpy() for k, v in sig(**tensors).items()}
    rows = []
    for i in range(len(out["class_id"])):
        rows.append(
            {
                "probabilities": out["probabilities"][i].tolist(),
                "class_id": int(out["class_id"][i]),
                "class_name": out["class_name"][i].decode("utf-8"),
            }
        )
    return {"predictions": rows}


def _ref(model, x) -> np.ndarray:
    return tf.nn.softmax(model(x, training=False)).numpy()


def test_rest_url():
    assert serving.rest_url("cifar") == "http://localhost:8501/v1/models/cifar:predict"
    assert (
        serving.rest_url("cifar", "tfs", 9000, version=3)
        == "http://tfs:9000/v1/models/cifar/versions/3:predict"
    )
    with pytest.raises(ValueError, match="invalid version -1"):
        serving.rest_url("cifar", version=-1)
    with pytest.raises(ValueError, match="invalid verb 'explode'"):
        serving.rest_url("cifar", verb="explode")


def test_build_rest_request_shapes():
    body = serving.image_request(_images(2))
    assert body["signature_name"] == "serving_default"
    assert len(body["instances"]) == 2
    assert np.asarray(body["instances"][0]["images"]).shape == SHAPE
    b = serving.image_bytes_request([b"\x89PNG..."])
    assert b == {
        "signature_name": "serve_bytes",
        "instances": [{"image_bytes": {"b64": "iVBORy4uLg=="}}],
    }
    assert serving.text_request("hello") == {
        "signature_name": "serving_default",
        "instances": [{"text": "hello"}],
    }
    json.dumps(body)  # plain JSON types only
    with pytest.raises(ValueError, match="same batch size"):
        serving.build_rest_request({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match=r"images must be shaped \[N, H, W, C\]"):
        serving.image_request(np.zeros((16, 16, 1)))
    with pytest.raises(ValueError, match="raw pixels 0..255"):
        serving.image_request(np.full((1, 2, 2, 1), 300.0))


def test_rest_round_trip_images_bytes_and_text(served):
    x = _images(3)
    ref = _ref(served["model"], x.astype("float32"))
    png = [tf.io.encode_png(im).numpy() for im in x]
    for body in (serving.image_request(x), serving.image_bytes_request(png)):
        response = json.dumps(fake_rest_predict(served["img"], body))
        preds = serving.parse_rest_response(response)
        assert [p["class_name"] for p in preds] == [CLASSES[i] for i in ref.argmax(-1)]
        arrays = serving.predictions_to_arrays(preds)
        np.testing.assert_allclose(arrays["probabilities"], ref, atol=1e-5)
        np.testing.assert_array_equal(arrays["class_id"], ref.argmax(-1))

    texts = ["good film", "so bad", "ünïcode ok"]
    body = serving.text_request(texts)
    preds = serving.parse_rest_response(fake_rest_predict(served["txt"], body))
    ref_t = _ref(served["text_model"], served["pre"](tf.constant(texts)))
    np.testing.assert_allclose(
        serving.predictions_to_arrays(preds)["probabilities"], ref_t, atol=1e-5
    )
    assert [p["class_name"] for p in preds] == [["neg", "pos"][i] for i in ref_t.argmax(-1)]


def test_parse_rest_columnar_and_errors():
    cols = {"outputs": {"probabilities": [[0.2, 0.8]], "class_id": [1], "class_name": ["pos"]}}
    (row,) = serving.parse_rest_response(cols)
    assert row["class_id"] == 1 and row["class_name"] == "pos"
    assert row["probabilities"].dtype == np.float32
    with pytest.raises(serving.ServingError, match="TF Serving error: Servable not found"):
        serving.parse_rest_response('{"error": "Servable not found for request"}')
    with pytest.raises(serving.ServingError, match="lacks"):
        serving.parse_rest_response({"predictions": [{"probabilities": [1.0]}]})
    with pytest.raises(serving.ServingError, match="not JSON"):
        serving.parse_rest_response("<html>")


def test_rest_predict_against_local_fake_server(served):
    loaded = served["img"]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.path.endswith("/v1/models/img:predict"):
                payload, code = {"error": f"Servable not found: {self.path}"}, 404
            else:
                payload, code = fake_rest_predict(loaded, body), 200
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        x = _images(2)
        preds = serving.rest_predict(
            serving.rest_url("img", "127.0.0.1", port), serving.image_request(x)
        )
        ref = _ref(served["model"], x.astype("float32"))
        np.testing.assert_allclose(
            serving.predictions_to_arrays(preds)["probabilities"], ref, atol=1e-5
        )
        with pytest.raises(serving.ServingError, match="HTTP 404"):
            serving.rest_predict(
                serving.rest_url("nope", "127.0.0.1", port), serving.image_request(x)
            )
    finally:
        server.shutdown()
        server.server_close()


def test_grpc_round_trip(served):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    x = _images(2)
    for sig, inputs, loaded, ref in (
        ("serving_default", {"images": x}, served["img"], _ref(served["model"], x.astype("f4"))),
        (
            "serve_bytes",
            {"image_bytes": [tf.io.encode_png(im).numpy() for im in x]},
            served["img"],
            _ref(served["model"], x.astype("f4")),
        ),
        (
            "serving_default",
            {"text": ["good film", "bad"]},
            served["txt"],
            _ref(served["text_model"], served["pre"](tf.constant(["good film", "bad"]))),
        ),
    ):
        req = serving.build_grpc_request("m", inputs, signature_name=sig, version=4)
        assert isinstance(req, predict_pb2.PredictRequest)
        assert (req.model_spec.name, req.model_spec.signature_name) == ("m", sig)
        assert req.model_spec.version.value == 4
        feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in req.inputs.items()}
        outputs = loaded.signatures[sig](**feeds)
        response = predict_pb2.PredictResponse()
        for k, v in outputs.items():
            response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
        preds = serving.parse_grpc_response(response)
        np.testing.assert_allclose(
            serving.predictions_to_arrays(preds)["probabilities"], ref, atol=1e-5
        )
        assert all(isinstance(p["class_name"], str) for p in preds)


def test_grpc_without_serving_api_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    with pytest.raises(ImportError, match=r"pip install 'reskeras\[serving\]'"):
        serving.build_grpc_request("m", {"text": ["x"]})


def test_client_module_needs_no_tensorflow_at_import():
    import subprocess

    # reskeras/__init__ imports keras (and so TF); load serving.py standalone to check it alone.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('s', {serving.__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
