"""Serving-signature pieces shared by the exports: the classification head, the op inventory
of a SavedModel (``assets.extra/ops.txt``, stock TensorFlow or tensorflow-text) and the
signatures of keras-hub text classifiers (:mod:`reskeras.models.keras_hub`).

A keras-hub classifier tokenizes with tensorflow-text ops. TF Serving links a fixed TF Text
(2.12 as of its latest releases), and a SavedModel with an op the server lacks does not load
at all, so its raw-string signature is exported only when every such op is in
:data:`TF_SERVING_TEXT_OPS`; ``serve_token_ids`` (the preprocessor's outputs in) needs stock
TensorFlow only and is always there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from reskeras.errors import ExportError, one_line
from reskeras.serve.keys import INPUT_TEXT, OPS_FILE, SIGNATURE_DEFAULT, SIGNATURE_TOKEN_IDS

__all__ = [
    "TF_SERVING_TEXT_OPS",
    "ExportError",
    "class_head",
    "graph_ops",
    "hub_archive",
    "is_stock_op",
    "write_ops",
]

#: tensorflow-text ops that TF Serving's model server has: it links TF Text 2.12 (as of its
#: latest releases), and an op added to TF Text later makes the whole SavedModel fail to load
#: there. The ops of keras-hub's tokenizers (WordPiece, SentencePiece, byte-pair, byte and
#: code-point) and TF Text's classic tokenizers, all in TF Text since 2.7 or earlier.
TF_SERVING_TEXT_OPS = frozenset(
    {
        "CaseFoldUTF8",
        "NormalizeUTF8",
        "NormalizeUTF8WithOffsetsMap",
        "RegexSplitWithOffsets",
        "WordpieceTokenizeWithOffsets",
        "FastWordpieceTokenizeWithOffsets",
        "FastWordpieceDetokenize",
        "FastBertNormalize",
        "SentencepieceOp",
        "SentencepieceVocabSizeOp",
        "SentencepieceTokenizeOp",
        "SentencepieceTokenizeWithOffsetsOp",
        "SentencepieceDetokenizeOp",
        "SentencepieceIdToStringOp",
        "SentencepieceStringToIdOp",
        "UnicodeScriptTokenizeWithOffsets",
        "WhitespaceTokenizeWithOffsets",
        "SplitMergeTokenizeWithOffsets",
        # keras-hub's MultiSegmentPacker trims with these (TF Text 2.10).
        "TFText>RoundRobinTrim",
        "TFText>RoundRobinGenerateMasks",
    }
)


def class_head(names: list[str]) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """The outputs of every classification signature, computed from the logits.

    Args:
        names: the class names, in class-id order.

    Returns:
        ``head(logits)`` -> ``{"probabilities": float32 [batch, K], "class_id": int64
            [batch], "class_name": string [batch]}``.
    """

    def head(logits: tf.Tensor) -> dict[str, tf.Tensor]:
        probs = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        class_id = tf.argmax(probs, axis=-1, output_type=tf.int64)
        class_name = tf.gather(tf.constant(names, dtype=tf.string), class_id)
        return {"probabilities": probs, "class_id": class_id, "class_name": class_name}

    return head


def is_stock_op(op: str) -> bool:
    """Whether stock TensorFlow (no tensorflow-text) has the op type ``op``.

    Args:
        op: an op type name, e.g. ``"MatMul"``.
    """
    return hasattr(tf.raw_ops, op)


def graph_ops(fn: Any) -> set[str]:
    """The op types a concrete function's graph (and the functions it calls) runs.

    Args:
        fn: a concrete ``tf.function`` (anything with a ``graph``).
    """
    graph_def = fn.graph.as_graph_def()
    functions = {f.signature.name for f in graph_def.library.function}
    ops = {n.op for n in graph_def.node}
    for f in graph_def.library.function:
        ops.update(n.op for n in f.node_def)
    return ops - functions


def hub_archive(
    model: Any, class_names: list[str], preprocessor: Any, raw_text: bool | None
) -> tuple[Any, dict[str, Any], str, dict]:
    """A keras-hub text classifier: ``serve_token_ids`` (the preprocessor's outputs in, stock
    ops only) always, and ``serving_default`` on raw strings (the preprocessor in the graph)
    unless ``raw_text`` is False, or None and TF Serving lacks some of its tensorflow-text
    ops; without it ``serving_default`` is ``serve_token_ids``.

    Args:
        model: the keras-hub ``TextClassifier`` (one logit per class).
        class_names: the class names, in class-id order.
        preprocessor: its preprocessor (strings -> the model's inputs).
        raw_text: ``True``: always export the raw-string signature; ``False``: never;
            ``None``: only when TF Serving has every tensorflow-text op it needs.

    Returns:
        ``(archive, concrete functions by signature name, "text", info)``; ``info`` holds
            ``num_classes``, ``preprocessor``, ``input_dtypes``, ``raw_text`` and ``notes``.

    Raises:
        ExportError: the model's output does not match ``class_names``, or a signature
            cannot be traced.
    """
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or outputs[0].shape[-1] != len(class_names):
        raise ExportError(
            f"keras-hub model {model.name!r} must have one [batch, {len(class_names)}] output "
            f"(one logit per class name); got outputs={outputs!r}"
        )
    head = class_head(list(class_names))
    specs = {t.name: tf.TensorSpec([None, None], tf.as_dtype(t.dtype), name=t.name)
             for t in model.inputs}  # fmt: skip

    @tf.function(input_signature=[specs])
    def serve_token_ids(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return head(model(inputs, training=False))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_TEXT)])
    def serve_text(text: tf.Tensor) -> dict[str, tf.Tensor]:
        return head(model(preprocessor(text), training=False))

    archive = keras.export.ExportArchive()
    archive.track(model)
    preprocessor(tf.constant(["a"]))  # builds it (ExportArchive tracks built layers only)
    archive.track(preprocessor)
    info: dict[str, Any] = {"num_classes": len(class_names), "preprocessor": preprocessor}
    info["input_dtypes"] = {t.name: tf.as_dtype(t.dtype).as_numpy_dtype for t in model.inputs}
    try:
        concrete = {SIGNATURE_TOKEN_IDS: serve_token_ids.get_concrete_function()}
        text_fn = serve_text.get_concrete_function() if raw_text is not False else None
    except Exception as err:
        raise ExportError(
            f"could not trace the serving signatures of keras-hub model {model.name!r}: "
            f"{one_line(err)}"
        ) from err
    notes = []
    if text_fn is not None:
        missing = sorted(op for op in graph_ops(text_fn) if not is_stock_op(op))
        unserved = [op for op in missing if op not in TF_SERVING_TEXT_OPS]
        if unserved and raw_text is None:
            notes.append(
                f"the raw-string signature was left out: its tokenizer needs ops that TF "
                f"Serving's TF Text (2.12) lacks: {unserved}; serving_default takes token ids"
            )
            text_fn = None
    fns = {SIGNATURE_TOKEN_IDS: serve_token_ids}
    if text_fn is not None:
        fns = {SIGNATURE_DEFAULT: serve_text, **fns}
        concrete = {SIGNATURE_DEFAULT: text_fn, **concrete}
    else:
        fns = {SIGNATURE_DEFAULT: serve_token_ids, **fns}
        concrete = {SIGNATURE_DEFAULT: concrete[SIGNATURE_TOKEN_IDS], **concrete}
    for name, fn in fns.items():
        archive.add_endpoint(name, fn)
    info["raw_text"] = text_fn is not None
    info["notes"] = notes
    return archive, concrete, "text", info


def write_ops(export_dir: Path) -> tuple[str, ...]:
    """Writes ``assets.extra/ops.txt``: the op types of the exported graph (its functions
    included), one a line, those outside stock TensorFlow marked.

    Args:
        export_dir: the SavedModel directory (with ``saved_model.pb`` and
            ``assets.extra/``).

    Returns:
        The op types, sorted.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    ops = set()
    for mg in sm.meta_graphs:  # the op list, and the ops inside functions (loop bodies ...)
        graph = mg.graph_def
        functions = {f.signature.name for f in graph.library.function}
        ops.update(op.name for op in mg.meta_info_def.stripped_op_list.op)
        ops.update(n.op for n in graph.node)
        ops.update(n.op for f in graph.library.function for n in f.node_def)
        ops -= functions
    ops = sorted(ops)
    lines = [f"{op}  # not in stock TensorFlow" if not is_stock_op(op) else op for op in ops]
    header = "# op types this SavedModel needs (a server must have every one to load it)\n"
    (export_dir / "assets.extra" / OPS_FILE).write_text(header + "\n".join(lines) + "\n")
    return tuple(ops)
