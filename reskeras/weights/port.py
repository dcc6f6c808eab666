"""Pretrained ImageNet weights for reskeras ResNets, ported from the reference models.

The references are keras.applications' ResNet50/101/152 (v1) and ResNet50V2/101V2/152V2, and
keras-hub's ``ResNetBackbone`` / ``ResNetImageClassifier`` (its ``resnet_*`` v1.5,
``resnet_v2_*`` and ``resnet_vd_*`` presets, and timm checkpoints through keras-hub's
converter). They are built and loaded by their own code (``keras.applications.ResNet50(
weights="imagenet")`` downloads, ``from_preset`` loads); this module only reads their layers.

:func:`port_weights` copies weights **by structure**: each source layer is mapped to the
reskeras layer of the same role (``conv3_block2_1_conv`` and ``stack1_block1_1_conv`` are both
``stage2_block2/conv1``), and layer types, shapes, strides and padding must agree, else a
:class:`PortError` names the first layer that does not. The port is exact, not approximate:

* the source's preprocessing (keras.applications' BGR/caffe mean or [-1, 1] scaling, a
  keras-hub image converter's scale and offset) is measured by running it on probe pixels and
  becomes the reskeras model's ``preprocess`` layer; a BGR source gets its first convolution's
  input channels reversed, so the reskeras model still takes RGB;
* keras.applications' convolution biases are folded into the batch normalization that follows
  them (``BN(x + b)`` is ``BN(x)`` with ``moving_mean - b``, and in training the batch mean
  absorbs ``b`` anyway); in ResNetV2 the last convolution of a block adds its bias to the
  residual stream, which is carried to the next normalization that reads the stream;
* its batch-normalization epsilon (1.001e-5) is folded into the moving variance.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers

from reskeras.errors import PortError, WeightsError
from reskeras.layers.blocks import ResidualBlock, SymmetricMaxPooling2D
from reskeras.models.image import IMAGENET_SPECS

__all__ = [
    "KERAS_APPLICATIONS",
    "PortError",
    "Reference",
    "WeightsError",
    "describe_reference",
    "port_weights",
]

#: keras.applications' ResNets by (depth, version): ``weights="imagenet"`` loads these.
KERAS_APPLICATIONS = {
    (50, "v1"): "ResNet50",
    (101, "v1"): "ResNet101",
    (152, "v1"): "ResNet152",
    (50, "v2"): "ResNet50V2",
    (101, "v2"): "ResNet101V2",
    (152, "v2"): "ResNet152V2",
}


@dataclass
class Reference:
    """A reference model read in reskeras terms.

    Args:
        name: what it is, for messages (e.g. ``"keras.applications resnet50"``).
        model: the source model itself.
        depth: its ResNet depth.
        layout: the :func:`reskeras.resnet` options that rebuild its architecture.
        input_mean: its preprocessing's mean (``None`` when the source carries none: a bare
            keras-hub backbone).
        input_std: its preprocessing's standard deviation (``None`` likewise).
        channel_order: ``channel_order[c]`` is the source input channel that RGB channel
            ``c`` feeds.
        layers: its weighted layers by reskeras name (``stage2_block1/conv1``).
        classes: the outputs of its classifier; ``None`` without one.
        pool_fill: the stem max-pool's padding (``"zero"`` or ``"min"``) where it matters
            (its input is not rectified: the v2 models); ``None`` elsewhere.
    """

    name: str
    model: keras.Model
    depth: int
    layout: dict[str, Any]
    input_mean: tuple[float, ...] | None
    input_std: tuple[float, ...] | None
    channel_order: tuple[int, ...]
    layers: dict[str, layers.Layer]
    classes: int | None
    pool_fill: str | None  # the stem max-pool's padding, where it matters (not rectified)

    def builder_call(self) -> str:
        """The ``resnet(...)`` call that builds a matching model, for error messages."""
        options = ", ".join(f"{k}={v!r}" for k, v in self.layout.items())
        return f"resnet({self.depth}, {options})"


# -- reading a reference model ------------------------------------------------------------------


def _probe_preprocessing(fn) -> tuple[tuple[float, ...], tuple[float, ...], tuple[int, ...]]:
    """(mean, std, channel order) of an affine per-channel preprocessing function, measured on
    one black pixel and one pixel per channel: ``fn(x)[order[c]] == (x[c] / 255 - mean[c]) /
    std[c]``."""
    probe = np.zeros((4, 1, 1, 3), "float32")
    for c in range(3):
        probe[c + 1, 0, 0, c] = 100.0
    out = keras.ops.convert_to_numpy(fn(probe.copy())).astype("float64")
    out = out.reshape(4, -1, 3)[:, 0, :]  # a converter may resize: every pixel is the same
    base = out[0]
    means, stds, order = [], [], []
    for c in range(3):
        delta = out[c + 1] - base
        j = int(np.argmax(np.abs(delta)))
        if np.abs(np.delete(delta, j)).max() > 1e-6 * abs(delta[j]) or delta[j] <= 0:
            raise PortError(f"The source's preprocessing {fn!r} is not a per-channel scaling.")
        scale = delta[j] / 100.0
        std = 1.0 / (255.0 * scale)
        means.append(float(-base[j] * std))
        stds.append(float(std))
        order.append(j)
    return tuple(means), tuple(stds), tuple(order)


def _depth_of(block: str, repeats: tuple[int, ...], what: str) -> int:
    for depth, spec in IMAGENET_SPECS.items():
        if spec == (block, repeats):
            return depth
    raise PortError(
        f"{what} has {block} stages of {list(repeats)} blocks; reskeras builds ResNet-"
        f"{'/'.join(map(str, IMAGENET_SPECS))} only."
    )


def _block_key(stage: int, block: int, index: int, role: str, preact: bool) -> str:
    """The reskeras name of layer ``index`` (0: shortcut) of a block, 1-based stage/block."""
    if index == 0:
        sub = f"shortcut_{role}"
    elif role == "conv":
        sub = f"conv{index}"
    else:  # pre-activation blocks name a norm after the conv it feeds
        sub = f"bn{index + 1 if preact else index}"
    return f"stage{stage}_block{block}/{sub}"


_KA_BLOCK = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)$")
_KA_PREACT = re.compile(r"conv(\d)_block(\d+)_preact_bn$")
_KH_BLOCK = re.compile(r"stack(\d+)_block(\d+)_(\d)_(conv|bn)$")
_KH_PREACT = re.compile(r"stack(\d+)_block(\d+)_pre_activation_bn$")
_KH_STEM = re.compile(r"conv(\d)_(conv|bn)$")


def _weighted(model: keras.Model) -> list[layers.Layer]:
    return [layer for layer in model.layers if layer.weights]


def _repeats(keys) -> tuple[str, tuple[int, ...]]:
    blocks: dict[int, int] = {}
    for key in keys:
        match = re.match(r"stage(\d)_block(\d+)/", key)
        if match:
            s, b = int(match[1]), int(match[2])
            blocks[s] = max(blocks.get(s, 0), b)
    block = "bottleneck" if any(k.endswith("/conv3") for k in keys) else "basic"
    return block, tuple(blocks[s] for s in sorted(blocks))


def _keras_applications(model: keras.Model) -> Reference:
    preact = any(layer.name == "post_bn" for layer in model.layers)
    mapped: dict[str, layers.Layer] = {}
    for layer in _weighted(model):
        name = layer.name
        if name in ("conv1_conv", "conv1_bn"):
            key = "stem_" + name.split("_")[1]
        elif name in ("post_bn", "predictions"):
            key = name
        elif match := _KA_BLOCK.match(name):
            s, b, i, role = int(match[1]) - 1, int(match[2]), int(match[3]), match[4]
            key = _block_key(s, b, i, role, preact)
        elif match := _KA_PREACT.match(name):
            key = f"stage{int(match[1]) - 1}_block{match[2]}/preact_bn"
        else:
            raise PortError(f"Source layer {name!r} is not part of a keras.applications ResNet.")
        mapped[key] = layer
    depth = _depth_of(*_repeats(mapped), f"Source {model.name!r}")
    if preact:
        module = keras.applications.resnet_v2
        layout = {"version": "v2", "stem": "slim", "downsample": "last", "avg_down": False}
    else:
        module = keras.applications.resnet
        layout = {"version": "v1", "stem": "imagenet", "downsample": "first", "avg_down": False}
    layout["padding"] = "symmetric"
    mean, std, order = _probe_preprocessing(module.preprocess_input)
    head = mapped.get("predictions")
    return Reference(
        name=f"keras.applications {model.name}",
        model=model,
        depth=depth,
        layout=layout,
        input_mean=mean,
        input_std=std,
        channel_order=order,
        layers=mapped,
        classes=None if head is None else head.units,
        pool_fill="zero" if preact else None,
    )


def _keras_hub(model: keras.Model) -> Reference:
    backbone = getattr(model, "backbone", model)
    preact = bool(backbone.use_pre_activation)
    stem_convs = len(backbone.input_conv_filters)
    if list(backbone.stackwise_num_filters) != [64, 128, 256, 512] or list(
        backbone.stackwise_num_strides
    ) != [1, 2, 2, 2]:
        raise PortError(
            f"Source {model.name!r} has stages of {backbone.stackwise_num_filters} filters "
            f"with strides {backbone.stackwise_num_strides}; reskeras ResNets have "
            f"[64, 128, 256, 512] with [1, 2, 2, 2]."
        )
    deep = list(backbone.input_conv_filters) == [32, 32, 64]
    if stem_convs not in (1, 3) or (stem_convs == 3 and not deep):
        raise PortError(
            f"Source {model.name!r} has a stem of {backbone.input_conv_filters} filters; "
            f"reskeras has [64] (7x7) or [32, 32, 64] (deep, 3x3)."
        )
    mapped: dict[str, layers.Layer] = {}
    for layer in _weighted(backbone):
        name = layer.name
        if match := _KH_STEM.match(name):
            suffix = match[1] if stem_convs > 1 else ""
            key = f"stem_{match[2]}{suffix}"
        elif name == "post_bn":
            key = name
        elif match := _KH_BLOCK.match(name):
            s, b, i, role = int(match[1]) + 1, int(match[2]) + 1, int(match[3]), match[4]
            key = _block_key(s, b, i, role, preact)
        elif match := _KH_PREACT.match(name):
            key = f"stage{int(match[1]) + 1}_block{int(match[2]) + 1}/preact_bn"
        else:
            raise PortError(f"Source layer {name!r} is not part of a keras-hub ResNetBackbone.")
        mapped[key] = layer
    classes = None
    if model is not backbone:
        if getattr(model, "pooling", "avg") != "avg":
            raise PortError(
                f"Source {model.name!r} pools with {model.pooling!r}; reskeras classifiers average."
            )
        mapped["predictions"] = model.output_dense
        classes = model.output_dense.units
    block, repeats = _repeats(mapped)
    depth = _depth_of(block, repeats, f"Source {model.name!r}")
    layout = {
        "version": "v2" if preact else "v1.5",
        "stem": "deep" if stem_convs == 3 else "imagenet",
        "downsample": "first",
        "avg_down": backbone.block_type.endswith("_vd"),
        "padding": "symmetric",
    }
    mean = std = None
    order = (0, 1, 2)
    converter = getattr(getattr(model, "preprocessor", None), "image_converter", None)
    if converter is not None:
        mean, std, order = _probe_preprocessing(converter)
    return Reference(
        name=f"keras-hub {type(model).__name__} {model.name!r}",
        model=model,
        depth=depth,
        layout=layout,
        input_mean=mean,
        input_std=std,
        channel_order=order,
        layers=mapped,
        classes=classes,
        pool_fill="min" if preact else None,
    )


def _is_keras_hub(model: Any) -> bool:
    backbone = getattr(model, "backbone", model)
    return type(backbone).__name__ == "ResNetBackbone" and type(backbone).__module__.startswith(
        "keras_hub"
    )


def describe_reference(source: keras.Model) -> Reference:
    """Reads a keras.applications ResNet or a keras-hub ResNet backbone/classifier.

    Args:
        source: a keras.applications ResNet/ResNetV2, or a keras-hub ``ResNetBackbone`` or
            ``ResNetImageClassifier``.

    Returns:
        The :class:`Reference`.

    Raises:
        PortError: ``source`` is none of these, or has a structure reskeras does not build.
    """
    if _is_keras_hub(source):
        return _keras_hub(source)
    if isinstance(source, keras.Model) and any(
        layer.name == "conv2_block1_1_conv" for layer in source.layers
    ):
        return _keras_applications(source)
    raise PortError(
        f"Cannot port from {type(source).__name__} {getattr(source, 'name', '')!r}: expected a "
        f"keras.applications ResNet (v1 or v2) or a keras-hub ResNetBackbone / "
        f"ResNetImageClassifier."
    )


# -- the target side ------------------------------------------------------------------------------


def _target_layers(model: keras.Model) -> Iterator[tuple[str, layers.Layer, ResidualBlock | None]]:
    """The weighted layers of a reskeras model in forward order: (name, layer, its block)."""
    for layer in model.layers:
        if isinstance(layer, ResidualBlock):
            subs = [layer.preact_bn] if layer.preact else []
            for i, conv in enumerate(layer.convs):
                subs.append(conv)
                if i < len(layer.norms):
                    subs.append(layer.norms[i])
            subs += [sub for sub in layer.shortcut_layers if sub.weights]
            if layer.se is not None:
                subs.append(layer.se)
            for sub in subs:
                yield f"{layer.name}/{sub.name}", sub, layer
        elif layer.weights:
            yield layer.name, layer, None


def _layer_type(layer: layers.Layer) -> str:
    for cls in (layers.Conv2D, layers.BatchNormalization, layers.Dense):
        if isinstance(layer, cls):
            return cls.__name__
    return type(layer).__name__


def _padding(conv: layers.Conv2D) -> str | None:
    """How a strided conv pads: "symmetric" (explicitly, before a "valid" conv) or "same"."""
    if max(conv.strides) == 1 or max(conv.kernel_size) == 1:
        return None
    return "symmetric" if conv.padding == "valid" else "same"


def _describe(layer: layers.Layer) -> str:
    if isinstance(layer, layers.Conv2D):
        pad = _padding(layer)
        extra = f", {pad} padding" if pad else ""
        return f"kernel {tuple(layer.kernel.shape)}, strides {layer.strides}{extra}"
    if isinstance(layer, layers.BatchNormalization):
        return f"{layer.moving_mean.shape[0]} channels"
    if isinstance(layer, layers.Dense):
        return f"kernel {tuple(layer.kernel.shape)}"
    return type(layer).__name__


def _signature(layer: layers.Layer) -> tuple:
    if isinstance(layer, layers.Conv2D):
        return (tuple(layer.kernel.shape), tuple(layer.strides), _padding(layer))
    if isinstance(layer, layers.BatchNormalization):
        return (layer.moving_mean.shape[0],)
    if isinstance(layer, layers.Dense):
        return (tuple(layer.kernel.shape),)
    return ()


def _stem_pool_fill(model: keras.Model) -> str:
    try:
        pool = model.get_layer("stem_pool")
    except ValueError:
        return "none"
    return pool.fill if isinstance(pool, SymmetricMaxPooling2D) else "same"


def _check_preprocess(ref: Reference, target: keras.Model, fail) -> None:
    if ref.input_mean is None:
        return  # a bare backbone carries no preprocessing
    try:
        pre = target.get_layer("preprocess")
    except ValueError:
        fail("the target has no `preprocess` layer")
    scale = np.broadcast_to(np.asarray(pre.scale, "float64"), (3,))
    offset = np.broadcast_to(np.asarray(pre.offset, "float64"), (3,))
    std, mean = np.asarray(ref.input_std), np.asarray(ref.input_mean)
    want_scale, want_offset = 1.0 / (255.0 * std), -mean / std
    if not (
        np.allclose(scale, want_scale, rtol=1e-5, atol=0)
        and np.allclose(offset, want_offset, rtol=1e-5, atol=1e-6)
    ):
        fail(
            f"layer 'preprocess' computes x * {np.round(scale, 6).tolist()} + "
            f"{np.round(offset, 4).tolist()} but the source expects input_mean="
            f"{tuple(round(float(m), 6) for m in mean)}, input_std="
            f"{tuple(round(float(s), 6) for s in std)}"
        )


# -- porting ----------------------------------------------------------------------------------


def port_weights(source: keras.Model, target: keras.Model, *, head: bool = True) -> list[str]:
    """Copies the weights of a reference ResNet into a reskeras model of the same structure.

    ``weights=`` on the builder does all of this. Nothing is written unless every layer fits.

    Args:
        source: a keras.applications ResNet/ResNetV2 or a keras-hub ``ResNetBackbone`` /
            ``ResNetImageClassifier``.
        target: a model from :func:`reskeras.resnet` built like it
            (:func:`describe_reference` ``(source).builder_call()`` says how).
        head: copy the classifier too; ``False`` leaves the target's as it is (a fresh one
            for other classes).

    Returns:
        The names of the target's layers that kept their own weights.

    Raises:
        PortError: the source is not a reference ResNet, or a target layer's counterpart is
            missing or differs in layer type, shape, strides or padding (the message names
            the first one, and the source layers left over), or the preprocessing differs.
    """
    ref = describe_reference(source)

    def fail(detail: str):
        raise PortError(
            f"Cannot port {ref.name} into {target.name!r}: {detail}. The source matches "
            f"{ref.builder_call()}."
        )

    _check_preprocess(ref, target, fail)
    plan = []
    used = set()
    kept = []
    for key, layer, block in _target_layers(target):
        if key == "predictions" and (not head or "predictions" not in ref.layers):
            kept.append(key)
            continue
        src = ref.layers.get(key)
        if src is None:
            fail(
                f"target layer {key!r} ({_layer_type(layer)}, {_describe(layer)}) has no "
                f"counterpart in the source"
            )
        if _layer_type(src) != _layer_type(layer) or _signature(src) != _signature(layer):
            extra = ""
            if key == "predictions":
                extra = "; pass head=False (or build with the source's num_classes)"
            fail(
                f"target layer {key!r} is a {_layer_type(layer)} with {_describe(layer)} but "
                f"source layer {src.name!r} is a {_layer_type(src)} with {_describe(src)}{extra}"
            )
        plan.append((key, layer, src, block))
        used.add(key)
    left = [k for k in ref.layers if k not in used and not (k == "predictions" and not head)]
    if left:
        fail(
            f"source layer {ref.layers[left[0]].name!r} ({left[0]}) has no counterpart in the "
            f"target ({len(left)} left over)"
        )
    if ref.pool_fill is not None and _stem_pool_fill(target) != ref.pool_fill:
        fail(
            f"the source pads its stem max-pool with "
            f"{'zeros' if ref.pool_fill == 'zero' else '-inf'}, the target's 'stem_pool' "
            f"with {_stem_pool_fill(target)!r}"
        )
    _assign(ref, plan, fail)
    return kept


def _values(layer: layers.Layer) -> dict[str, np.ndarray]:
    return {w.path.split("/")[-1]: keras.ops.convert_to_numpy(w) for w in layer.weights}


def _assign(ref: Reference, plan, fail) -> None:
    """Computes every target weight (folding biases where the target has none), then assigns
    them all: a failure leaves the target untouched."""
    updates: list[tuple[Any, np.ndarray]] = []
    shift: dict[str, np.ndarray] = {}  # norm name -> the bias its input carries
    stream = None  # the bias the source's residual stream carries (pre-activation nets)
    current, block_in, block_bias = None, None, {}

    def leave(block):
        """The stream's bias after ``block``, from what came in and what it added."""
        if not block.preact:  # post-activation: every bias went into a norm
            if block_bias or block_in is not None:
                fail(f"block {block.name!r} would carry a bias that no normalization absorbs")
            return None
        passed = block_in if block.shortcut_type in ("identity", "subsample") else None
        parts = [passed, block_bias.get("shortcut_conv"), block_bias.get(block.convs[-1].name)]
        parts = [b for b in parts if b is not None]
        return np.sum(parts, axis=0) if parts else None

    first_conv = True
    for i, (key, layer, src, block) in enumerate(plan):
        if block is not current:
            if current is not None:
                stream = leave(current)
            current, block_in, block_bias = block, stream, {}
        values = _values(src)
        if isinstance(layer, layers.Conv2D):
            kernel = values["kernel"]
            if first_conv:  # the source may take BGR: its input channels, in RGB order
                kernel = kernel[:, :, list(ref.channel_order), :]
                first_conv = False
            updates.append((layer.kernel, kernel))
            bias = values.get("bias")
            nxt = plan[i + 1] if i + 1 < len(plan) else None
            if layer.use_bias:
                updates.append((layer.bias, np.zeros(layer.filters) if bias is None else bias))
            elif bias is None:
                pass
            elif nxt and nxt[3] is block and isinstance(nxt[1], layers.BatchNormalization):
                shift[nxt[0]] = bias  # BN(x + b) is BN(x) with moving_mean - b
            elif block is not None and block.preact:
                block_bias[layer.name] = bias  # added to the residual stream
            else:
                fail(f"source layer {src.name!r} has a bias that target layer {key!r} lacks")
        elif isinstance(layer, layers.BatchNormalization):
            if key.endswith("/preact_bn"):
                carried = block_in
            elif key == "post_bn":
                carried = stream
            else:
                carried = shift.pop(key, None)
            mean = values["moving_mean"] - (0.0 if carried is None else carried)
            variance = np.maximum(values["moving_variance"] + src.epsilon - layer.epsilon, 0.0)
            updates += [
                (layer.gamma, values["gamma"]),
                (layer.beta, values["beta"]),
                (layer.moving_mean, mean),
                (layer.moving_variance, variance),
            ]
        else:  # the classifier
            updates += [(layer.kernel, values["kernel"]), (layer.bias, values["bias"])]
    for variable, value in updates:
        variable.assign(np.asarray(value, dtype=variable.dtype))
