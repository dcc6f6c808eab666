"""Pretrained weights: ported from keras.applications and keras-hub, the outputs unchanged.

Nothing downloads: the reference models are built with random weights, and the loaders' own
caches and preset directories are filled with files their own save functions wrote.

Random weights are made to look trained before a comparison (``_imitate_training``): batch
statistics that fit the data, and residual branches that end small (the last γ of a trained
ResNet's blocks is small). At plain initialization a deep batch-normalized net amplifies
float32 rounding exponentially with depth (Yang et al. 2019), so ResNet-152 would differ by
5e-3 after a port that changes nothing but the order of additions (keras.applications' BGR
input, its biases folded into the norms); with trained-like weights it differs by 2e-5.
The keras-hub ports compute the same operations as the source and agree bit for bit.
"""

from __future__ import annotations

import hashlib
import re

import keras
import numpy as np
import pytest
from support import watch_download_timeout

import reskeras as rk
from reskeras.weights import port as pretrained

keras_hub = pytest.importorskip("keras_hub")

# 96x96: the last stage works on 3x3 maps, where reskeras and the sources run the same
# convolution, so keras-hub ports stay bit-exact (on 2x2 maps reskeras.SmallMapConv2D computes
# the same sums as one matrix product, in another order: ~1e-6 apart).
SIZE = 96
RNG = np.random.default_rng(0)
CALIBRATION = RNG.integers(0, 256, (8, SIZE, SIZE, 3)).astype("uint8")
IMAGES = RNG.integers(0, 256, (3, SIZE, SIZE, 3)).astype("uint8")
LOGITS_TOL, PROBS_TOL = 1e-4, 1e-5
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])

KA = keras.applications
KA_PREPROCESS = {"v1": KA.resnet.preprocess_input, "v2": KA.resnet_v2.preprocess_input}

# keras-hub backbone configs of its presets (the preset files hold the same numbers).
HUB_CONFIGS = {
    "resnet_18_imagenet": ([64], [7], [2, 2, 2, 2], "basic_block", False),
    "resnet_50_imagenet": ([64], [7], [3, 4, 6, 3], "bottleneck_block", False),
    "resnet_v2_50_imagenet": ([64], [7], [3, 4, 6, 3], "bottleneck_block", True),
    "resnet_vd_18_imagenet": ([32, 32, 64], [3, 3, 3], [2, 2, 2, 2], "basic_block_vd", False),
    "resnet_vd_50_imagenet": ([32, 32, 64], [3, 3, 3], [3, 4, 6, 3], "bottleneck_block_vd", False),
}


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _imitate_training(model: keras.Model, inputs, seed: int = 1) -> None:
    """Random γ, β and biases, residual branches that end small, and batch-norm statistics
    of ``inputs`` (one pass in training mode with momentum 0)."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    for w in model.weights:
        kind = w.path.split("/")[-1]
        branch_end = re.search(r"block\d+_3_(bn|conv)/", w.path + "/")
        if kind in ("beta", "bias"):
            w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
        elif kind == "gamma":
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32") * (0.2 if branch_end else 1))
        elif kind == "kernel" and branch_end and "bn" not in branch_end[0]:
            w.assign(_numpy(w) * 0.2)  # pre-activation branches end in a conv
    model(inputs, training=True)


def _matching_resnet(source) -> keras.Model:
    """The reskeras ResNet the source's description asks for (not yet ported)."""
    ref = pretrained.describe_reference(source)
    kwargs = dict(ref.layout, input_shape=(SIZE, SIZE, 3), num_classes=ref.classes or 1000)
    if ref.input_mean is not None:
        kwargs.update(input_mean=ref.input_mean, input_std=ref.input_std)
    return rk.resnet(ref.depth, **kwargs)


def _assert_same_outputs(source_logits, model, *, exact=False):
    logits = _numpy(model(IMAGES))
    assert logits.dtype == np.float32
    diff = np.abs(logits - source_logits).max()
    probs = np.abs(_numpy(keras.ops.softmax(logits)) - _numpy(keras.ops.softmax(source_logits)))
    assert diff == 0.0 if exact else diff <= LOGITS_TOL, diff
    assert probs.max() <= PROBS_TOL, probs.max()


def _hub_classifier(preset: str, classes: int = 1000):
    filters, kernels, blocks, block_type, preact = HUB_CONFIGS[preset]
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=filters,
        input_conv_kernel_sizes=kernels,
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=blocks,
        stackwise_num_strides=[1, 2, 2, 2],
        block_type=block_type,
        use_pre_activation=preact,
        image_shape=(None, None, 3),
    )
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=(SIZE, SIZE),
        scale=list(1 / (255 * IMAGENET_STD)),
        offset=list(-IMAGENET_MEAN / IMAGENET_STD),
    )
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    return keras_hub.models.ResNetImageClassifier(backbone, classes, preprocessor=preprocessor)


# -- exactness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "builder, version",
    [("ResNet50", "v1"), ("ResNet101", "v1"), ("ResNet152", "v1"), ("ResNet50V2", "v2")],
)
@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_keras_applications_port_is_exact(builder, version):
    source = getattr(KA, builder)(
        weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    preprocess = KA_PREPROCESS[version]
    _imitate_training(source, preprocess(CALIBRATION.astype("float32")))
    model = _matching_resnet(source)
    assert pretrained.port_weights(source, model) == []
    _assert_same_outputs(_numpy(source(preprocess(IMAGES.astype("float32")))), model)


@pytest.mark.slow  # a whole training run
@pytest.mark.parametrize("builder", ["ResNet101V2", "ResNet152V2"])
def test_deeper_keras_applications_v2_port_structurally(builder):
    """Same code path as ResNet50V2 (above, exact), deeper: every layer finds its place."""
    source = getattr(KA, builder)(weights=None, input_shape=(SIZE, SIZE, 3))
    model = _matching_resnet(source)
    assert pretrained.port_weights(source, model) == []
    kernel = _numpy(model.get_layer("stage3_block5").convs[1].kernel)
    np.testing.assert_array_equal(kernel, _numpy(source.get_layer("conv4_block5_2_conv").kernel))


@pytest.mark.slow  # a whole model trained, ported or run end to end
@pytest.mark.parametrize("preset", list(HUB_CONFIGS))
def test_keras_hub_port_is_bit_exact(preset):
    source = _hub_classifier(preset)
    converter = source.preprocessor.image_converter
    _imitate_training(source, converter(CALIBRATION))
    model = _matching_resnet(source)
    assert pretrained.port_weights(source, model) == []
    _assert_same_outputs(_numpy(source(converter(IMAGES))), model, exact=True)
    # The ResNet-D stems, shortcuts and parameter counts are keras-hub's (and its presets').
    if preset == "resnet_vd_50_imagenet":
        assert model.count_params() == 25_629_512 == source.count_params()


# -- mismatches name the layer -----------------------------------------------------------------


@pytest.fixture(scope="module")
def ka_resnet50v2():
    return KA.ResNet50V2(weights=None, input_shape=(SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def ka_resnet50():
    return KA.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3))


def test_v2_weights_into_a_v1_model_name_the_layer(ka_resnet50v2):
    model = rk.resnet(50, "v1", input_shape=(SIZE, SIZE, 3), input_mean=0.5, input_std=0.5)
    before = _numpy(model.get_layer("stem_conv").kernel)
    with pytest.raises(rk.PortError, match=r"target layer 'stem_bn'.*no counterpart.*version='v2'"):
        pretrained.port_weights(ka_resnet50v2, model)
    # Nothing was written.
    np.testing.assert_array_equal(_numpy(model.get_layer("stem_conv").kernel), before)


def test_stride_placement_and_padding_mismatches_name_the_layer(ka_resnet50):
    ref = pretrained.describe_reference(ka_resnet50)
    same = dict(input_shape=(SIZE, SIZE, 3), input_mean=ref.input_mean, input_std=ref.input_std)
    with pytest.raises(rk.PortError, match=r"'stage2_block1/conv1'.*strides \(1, 1\).*\(2, 2\)"):
        pretrained.port_weights(ka_resnet50, rk.resnet(50, "v1.5", **same))
    with pytest.raises(rk.PortError, match=r"'stem_conv'.*same padding.*symmetric padding"):
        pretrained.port_weights(ka_resnet50, rk.resnet(50, "v1", padding="same", **same))
    with pytest.raises(rk.PortError, match=r"'preprocess'.*input_mean=\(0.48"):
        pretrained.port_weights(ka_resnet50, rk.resnet(50, "v1", input_shape=(SIZE, SIZE, 3)))
    with pytest.raises(rk.PortError, match=r"'predictions'.*\(2048, 10\).*head=False"):
        pretrained.port_weights(ka_resnet50, rk.resnet(50, "v1", num_classes=10, **same))
    fresh = rk.resnet(50, "v1", num_classes=10, **same)
    assert pretrained.port_weights(ka_resnet50, fresh, head=False) == ["predictions"]


def test_keras_applications_v2_needs_its_own_stem_and_downsampling(ka_resnet50v2):
    v2 = dict(input_shape=(SIZE, SIZE, 3), input_mean=0.5, input_std=0.5)
    with pytest.raises(rk.PortError, match=r"'stage1_block3/conv2'.*strides \(1, 1\)"):
        pretrained.port_weights(ka_resnet50v2, rk.resnet(50, "v2", stem="slim", **v2))
    with pytest.raises(rk.PortError, match=r"stem max-pool with zeros.*'stem_pool' with 'min'"):
        pretrained.port_weights(ka_resnet50v2, rk.resnet(50, "v2", downsample="last", **v2))


def test_what_is_not_a_resnet_is_refused():
    with pytest.raises(rk.PortError, match=r"keras.applications ResNet.*keras-hub"):
        pretrained.port_weights(rk.resnet(18, input_shape=(32, 32, 3)), rk.resnet(18))
    source = KA.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3))
    ref = pretrained.describe_reference(source)
    cifar = rk.cifar_resnet(
        20, input_shape=(SIZE, SIZE, 3), input_mean=ref.input_mean, input_std=ref.input_std
    )
    with pytest.raises(rk.PortError, match=r"'stem_conv'.*\(3, 3, 3, 16\).*conv1_conv"):
        pretrained.port_weights(source, cifar)


# -- weights= on the builders ----------------------------------------------------------------------


@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_imagenet_weights_come_through_keras_applications_download_path(tmp_path, monkeypatch):
    """``weights="imagenet"`` calls keras.applications' own loader, which finds its file in
    the Keras cache (written here from a random model) and checks its hash."""
    source = KA.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    _imitate_training(source, KA.resnet.preprocess_input(CALIBRATION.astype("float32")))
    cache = tmp_path / "models"
    cache.mkdir()
    path = cache / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    source.save(path.with_suffix(".keras.h5"))  # keras' legacy HDF5 format, as published
    path.with_suffix(".keras.h5").rename(path)
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setitem(keras.src.applications.resnet.WEIGHTS_HASHES, "resnet50", (digest, ""))
    model = rk.build_model(
        "resnet50", version="v1", weights="imagenet", num_classes=1000, input_shape=(SIZE, SIZE, 3)
    )
    expected = _numpy(source(KA.resnet.preprocess_input(IMAGES.astype("float32"))))
    _assert_same_outputs(expected, model)
    # Other classes: the backbone is ported, the classifier is fresh.
    ten = rk.resnet(50, "v1", 10, (SIZE, SIZE, 3), weights="imagenet", include_top=True)
    np.testing.assert_array_equal(
        _numpy(ten.get_layer("stage4_block3").norms[2].moving_mean),
        _numpy(model.get_layer("stage4_block3").norms[2].moving_mean),
    )
    assert ten.output_shape == (None, 10)


def test_imagenet_weights_unavailable_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path))
    timeouts = watch_download_timeout(monkeypatch, 2.5)
    with pytest.raises(rk.WeightsError, match=r"ResNet101V2 'imagenet' weights are not available"):
        rk.resnet(101, "v2", weights="imagenet", input_shape=(SIZE, SIZE, 3))
    assert 2.5 in timeouts  # the download ran under reskeras.weights.named.DOWNLOAD_TIMEOUT


def test_weights_that_do_not_exist_for_the_choice_say_what_does():
    with pytest.raises(rk.WeightsError, match=r"ResNet-50 v1.5.*resnet_50_imagenet"):
        rk.resnet(50, "v1.5", weights="imagenet")
    with pytest.raises(rk.WeightsError, match=r"ResNet-18 v1.*resnet_18_imagenet"):
        rk.resnet(18, "v1", weights="imagenet")
    assert "imagenet" in rk.available_weights(50, "v2")
    assert "resnet_v2_50_imagenet" in rk.available_weights(50, "v2")
    assert "resnet_vd_18_imagenet" in rk.available_weights(18, "v1")
    assert "resnet_v2_50_imagenet" not in rk.available_weights(50, "v1.5")


def test_keras_hub_preset_directory(tmp_path):
    """A preset saved by keras-hub's own ``save_to_preset`` loads with ``from_preset``; the
    architecture and preprocessing follow it, ``version`` left unset."""
    source = _hub_classifier("resnet_vd_18_imagenet")
    converter = source.preprocessor.image_converter
    _imitate_training(source, converter(CALIBRATION))
    source.save_to_preset(str(tmp_path / "preset"))
    model = rk.build_model(
        "resnet18", weights=str(tmp_path / "preset"), num_classes=1000, input_shape=(SIZE, SIZE, 3)
    )
    assert model.get_layer("stem_conv1").kernel.shape == (3, 3, 3, 32)
    _assert_same_outputs(_numpy(source(converter(IMAGES))), model, exact=True)
    with pytest.raises(rk.WeightsError, match=r"need version='v1.5', got 'v2'"):
        rk.resnet(18, "v2", weights=str(tmp_path / "preset"))
    with pytest.raises(rk.WeightsError, match=r"are for ResNet-18, not ResNet-34"):
        rk.resnet(34, weights=str(tmp_path / "preset"))
    with pytest.raises(rk.WeightsError, match=r"Cannot load keras-hub preset.*nowhere"):
        rk.resnet(18, weights=str(tmp_path / "nowhere"))


def test_reskeras_weights_file(tmp_path):
    model = rk.resnet(18, "v2", 10, (32, 32, 3), stem="deep", avg_down=True)
    path = tmp_path / "mine.weights.h5"
    model.save_weights(path)
    x = IMAGES[:, :32, :32]
    same = rk.resnet(18, "v2", 10, (32, 32, 3), stem="deep", avg_down=True, weights=str(path))
    np.testing.assert_array_equal(_numpy(same(x)), _numpy(model(x)))
    # Other classes: everything but the classifier.
    three = rk.build_model(
        "resnet18", version="v2", stem="deep", avg_down=True, num_classes=3,
        input_shape=(32, 32, 3), weights=str(path),
    )  # fmt: skip
    kernel = model.get_layer("stage4_block2").convs[1].kernel
    np.testing.assert_array_equal(
        _numpy(three.get_layer("stage4_block2").convs[1].kernel), _numpy(kernel)
    )
    with pytest.raises(rk.WeightsError, match=r"Cannot load .*mine.weights.h5.* into 'resnet18'"):
        rk.resnet(18, "v1.5", 10, (32, 32, 3), weights=str(path))
    with pytest.raises(rk.WeightsError, match=r"does not exist"):
        rk.resnet(18, weights=str(tmp_path / "missing.weights.h5"))


def test_other_families_take_their_own_weights_files_only(tmp_path):
    model = rk.build_model("cifar_resnet8", num_classes=10, input_shape=(16, 16, 3))
    path = tmp_path / "cifar.weights.h5"
    model.save_weights(path)
    again = rk.build_model("cifar_resnet8", num_classes=4, input_shape=(16, 16, 3), weights=path)
    np.testing.assert_array_equal(
        _numpy(again.get_layer("stem_conv").kernel), _numpy(model.get_layer("stem_conv").kernel)
    )
    with pytest.raises(rk.WeightsError, match=r"'cifar_resnet' takes weights=None or a .*'resnet'"):
        rk.build_model("cifar_resnet8", num_classes=10, weights="imagenet")


def test_grey_images_into_rgb_weights_resized_inside_the_model():
    """One-channel images are repeated to RGB and resized in the model: the same outputs as
    the source fed the grey image as RGB, resized by its own converter."""
    source = _hub_classifier("resnet_18_imagenet")
    converter = source.preprocessor.image_converter  # resizes to SIZE x SIZE
    _imitate_training(source, converter(CALIBRATION))
    model = rk.resnet(
        18, num_classes=1000, input_shape=(32, 32, 1), input_size=SIZE,
        input_mean=tuple(IMAGENET_MEAN), input_std=tuple(IMAGENET_STD),
        gray_to_rgb=True,
    )  # fmt: skip
    pretrained.port_weights(source, model)
    grey = IMAGES[:, :32, :32, :1]
    # float pixels: the converter rounds resized uint8 images back to integers.
    expected = _numpy(source(converter(np.repeat(grey, 3, axis=-1).astype("float32"))))
    logits = _numpy(model(grey))
    assert np.abs(logits - expected).max() <= LOGITS_TOL
    assert model.input_shape == (None, 32, 32, 1)
