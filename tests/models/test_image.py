"""Image builders: reference parameter counts, every family through the harness, registry."""

import math

import keras
import numpy as np
import pytest
from harness import run_model_test

import reskeras as rk
from reskeras.models.registry import FAMILIES, MODELS, resolve_model


def trainable(model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "depth, expected",
    [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032), (101, 44_549_160), (152, 60_192_808)],
)
def test_imagenet_resnet_matches_torchvision(depth, expected):
    # Convolutions and a global-pooled head: the count does not depend on the image size, so
    # 32x32 (the smallest that keeps a pixel through the five halvings) stands in for 224x224.
    model = rk.resnet(depth, version="v1.5", num_classes=1000, input_shape=(32, 32, 3))
    assert trainable(model) == expected


@pytest.mark.parametrize(
    "depth, expected",
    [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962)],
)
def test_cifar_resnet_option_a_matches_he_et_al(depth, expected):
    assert trainable(rk.cifar_resnet(depth, shortcut="A", num_classes=10)) == expected


def test_wide_resnet_28_10_matches_reference():
    # 36.5M in Zagoruyko & Komodakis; 36,479,194 exactly in the common PyTorch port.
    assert trainable(rk.wide_resnet(28, 10, num_classes=10)) == 36_479_194


def test_v1_and_v1_5_differ_only_in_stride_placement():
    v1 = rk.resnet(50, version="v1", num_classes=10, input_shape=(64, 64, 3))
    v15 = rk.resnet(50, version="v1.5", num_classes=10, input_shape=(64, 64, 3))
    assert trainable(v1) == trainable(v15)
    first = v1.get_layer("stage2_block1")
    assert first.convs[0].strides == (2, 2) and first.convs[1].strides == (1, 1)
    first = v15.get_layer("stage2_block1")
    assert first.convs[0].strides == (1, 1) and first.convs[1].strides == (2, 2)


def test_layer_names_follow_keras_applications_style():
    model = rk.build_model("cifar_resnet20", num_classes=10, input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["images", "preprocess", "stem_conv", "stem_bn", "stem_relu"]
    assert "stage3_block3" in names and names[-2:] == ["avg_pool", "predictions"]
    weight_paths = {w.path for w in model.weights}
    assert "stage2_block1/conv1/kernel" in weight_paths


TINY = (16, 16, 3)


@pytest.mark.parametrize(
    "name, build",
    [
        ("resnet_v1.5", lambda: rk.resnet(18, num_classes=3, input_shape=(32, 32, 3))),
        # Bottleneck blocks in every form go through the harness in test_blocks.py; at the
        # model level depth 18 keeps XLA compile times of the family small.
        ("resnet_v1_avg_down", lambda: rk.resnet(18, "v1", 3, (32, 32, 3), avg_down=True)),
        ("resnet_v2", lambda: rk.resnet(18, "v2", 3, (32, 32, 3), drop_path_rate=0.1)),
        ("cifar_a", lambda: rk.cifar_resnet(8, "A", 3, TINY)),
        ("cifar_b_se", lambda: rk.cifar_resnet(8, "B", 3, TINY, se_ratio=0.25)),
        ("plain", lambda: rk.cifar_resnet(8, num_classes=3, input_shape=TINY, residual=False)),
        ("wide", lambda: rk.wide_resnet(10, 2, 3, TINY, dropout=0.3, drop_path_rate=0.1)),
    ],
)
@pytest.mark.slow  # a whole model trained, ported or run end to end
def test_family_harness(name, build, tmp_path):
    model = build()
    # resnet_v1.5's XLA step compiles the ResNet assembly; the other two differ from it only
    # in blocks (avg-down shortcuts, pre-activation, drop path) that test_blocks.py compiles.
    xla = name not in ("resnet_v1_avg_down", "resnet_v2")
    run_model_test(build, model.input_shape[1:], 3, tmp_path, xla=xla)


def test_inputs_are_raw_pixels():
    model = rk.cifar_resnet(8, num_classes=3, input_shape=(8, 8, 1))
    pre = model.get_layer("preprocess")
    pixels = np.array([0.0, 127.5, 255.0], "float32").reshape(1, 3, 1, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pre(pixels)).ravel(), [-1, 0, 1])
    # uint8 batches feed straight in and match float pixels.
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x.astype("uint8"))),
        keras.ops.convert_to_numpy(model(x.astype("float32"))),
        atol=1e-6,
    )


def test_drop_path_rate_is_spread_linearly():
    model = rk.cifar_resnet(14, num_classes=3, input_shape=TINY, drop_path_rate=0.5)
    rates = [layer.drop_path for layer in model.layers if isinstance(layer, rk.BasicBlock)]
    np.testing.assert_allclose(rates, np.linspace(0, 0.5, 6))


def test_plain_models_have_no_add_anywhere():
    plain = rk.build_model("plain20", num_classes=10, input_shape=(32, 32, 3))
    residual = rk.build_model("cifar_resnet20", num_classes=10, input_shape=(32, 32, 3))

    def adds(model):
        return sum(isinstance(layer, keras.layers.Add) for layer in model._flatten_layers())

    assert adds(plain) == 0 and adds(residual) == 9
    assert plain.count_params() == residual.count_params()  # option A adds no parameters


def test_build_model_by_name_and_by_family():
    by_name = rk.build_model("cifar_resnet56", num_classes=10, input_shape=(32, 32, 3))
    by_family = rk.build_model("cifar_resnet", depth=56, num_classes=10, input_shape=(32, 32, 3))
    assert (
        by_name.count_params()
        == by_family.count_params()
        == 853_018 + 2 * (16 + 18 * 16 + 18 * 32 + 18 * 64)
    )
    assert by_name.name == "cifar_resnet56"
    family, depth, kwargs = resolve_model("plain20", depth=56)
    assert (family.name, depth, kwargs) == ("cifar_resnet", 56, {"residual": False})


def test_registry_lists_required_models():
    names = rk.list_models()
    for required in [
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50v2",
        "cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56",
        "cifar_resnet110", "wrn_28_10", "plain20",
    ]:  # fmt: skip
        assert required in names
    assert set(rk.list_models("image")) <= set(names)
    for entry in MODELS.values():
        family = FAMILIES[entry.family]
        assert entry.depth in family.depths or entry.depth == 1202


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: rk.build_model("resnext50", num_classes=10), r"resnext50.*resnet18"),
        (lambda: rk.build_model("resnet51", num_classes=10), r"resnet depth 51.*\[18, 34"),
        (
            lambda: rk.build_model("resnet", depth=51, num_classes=10),
            r"51.*\[18, 34, 50, 101, 152\]",
        ),
        (lambda: rk.cifar_resnet(21), r"21.*6n\+2.*\[8, 14, 20, 26, 32\]"),
        (lambda: rk.wide_resnet(28, 0), r"width.*0"),
        (lambda: rk.wide_resnet(27), r"27.*6n\+4"),
        (lambda: rk.build_model("cifar_resnet", num_classes=10), r"needs a depth.*6n\+2"),
        (lambda: rk.resnet(50, version="v3"), r"v3.*v1.5"),
        (lambda: rk.cifar_resnet(20, shortcut="C"), r"'C'.*'A', 'B'"),
        (lambda: rk.cifar_resnet(20, width=1.5), r"width.*1.5"),
        (lambda: rk.cifar_resnet(20, stem_strides=4), r"stem_strides.*1 or 2.*4"),
        (lambda: rk.cifar_resnet(20, num_classes=0), r"num_classes.*0"),
        (lambda: rk.cifar_resnet(20, pooling="sum"), r"pooling.*sum"),
        (lambda: rk.cifar_resnet(20, input_shape=(32, 32)), r"input_shape"),
        (lambda: rk.cifar_resnet(20, input_mean=(0.5, 0.5)), r"input_mean.*2 values.*3"),
    ],
)
def test_bad_arguments_list_the_choices(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_headless_backbone_and_pooling():
    features = rk.resnet(18, include_top=False, pooling="avg", input_shape=(32, 32, 3))
    assert features.output_shape == (None, 512)
    maps = rk.cifar_resnet(8, include_top=False, num_classes=None, input_shape=TINY)
    assert maps.output_shape == (None, 4, 4, 64)


def test_fast_cifar_resnet_halves_the_maps_and_doubles_the_filters():
    model = rk.build_model("cifar_resnet14_fast", num_classes=10, input_shape=(28, 28, 1))
    assert model.name == "cifar_resnet14_fast"
    assert model.get_layer("stem_conv").output.shape[1:] == (14, 14, 32)
    assert model.get_layer("stage3_block2").output.shape[1:] == (4, 4, 128)
    blocks = [layer for layer in model.layers if isinstance(layer, rk.BasicBlock)]
    assert [b.filters for b in blocks] == [32, 32, 64, 64, 128, 128]
    # Same blocks at the same width, full-resolution stem: four times the FLOPs in stage 1.
    full = rk.cifar_resnet(14, "B", 10, (28, 28, 1), width=2)
    assert full.count_params() == model.count_params()
    assert rk.describe_model(model)["flops"] < rk.describe_model(full)["flops"] / 3


def test_describe_model_reports_stages_and_flops():
    info = rk.describe_model(rk.build_model("cifar_resnet20", num_classes=10))
    # Trainable plus the BN moving mean and variance of every normalized channel.
    assert info["params"] == 269_722 + 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    assert info["depth"] == 20  # the "20" of ResNet-20 counts weighted layers
    assert [s["blocks"] for s in info["stages"]] == [3, 3, 3]
    assert [s["output_shape"] for s in info["stages"]] == [(32, 32, 16), (16, 16, 32), (8, 8, 64)]
    assert 0.075e9 < info["flops"] < 0.09e9  # ~41M multiply-adds (He et al. report ~41M)


def test_resnet_d_shortcuts_only_where_a_stage_begins():
    model = rk.build_model("resnet50_avgdown", num_classes=10, input_shape=(64, 64, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, rk.BottleneckBlock)]
    pooled = [b.name for b in blocks if b.shortcut_type == "avg_down"]
    assert pooled == ["stage1_block1", "stage2_block1", "stage3_block1", "stage4_block1"]
    assert all(b.shortcut_type == "identity" for b in blocks if b.name not in pooled)
    # ResNet-D changes no parameter count; the deep stem (ResNet-C) adds 19,104 + its norms.
    assert trainable(model) == trainable(rk.resnet(50, num_classes=10, input_shape=(64, 64, 3)))


def test_keras_applications_v2_layout_strides_the_last_block():
    model = rk.resnet(50, "v2", 10, (64, 64, 3), stem="slim", downsample="last")
    first, last = model.get_layer("stage1_block1"), model.get_layer("stage1_block3")
    assert first.strides == 1 and first.shortcut_type == "projection"
    assert last.strides == 2 and last.shortcut_type == "subsample"
    assert model.get_layer("stage4_block3").output.shape[1:3] == (2, 2)
    assert model.get_layer("stem_conv").use_bias and model.get_layer("stem_pool").fill == "zero"
    with pytest.raises(ValueError, match=r"Invalid downsample 'middle'"):
        rk.resnet(50, downsample="middle")
    with pytest.raises(ValueError, match=r"Invalid stem 'cifar'"):
        rk.resnet(50, stem="cifar")


def test_input_size_resizes_inside_and_a_plain_call_stays_inference(tmp_path):
    model = rk.cifar_resnet(8, num_classes=3, input_shape=(12, 12, 1), input_size=16)
    assert model.get_layer("resize").output.shape[1:] == (16, 16, 1)
    path = tmp_path / "m.keras"
    model.save(path)
    x = np.random.default_rng(0).integers(0, 256, (2, 12, 12, 1)).astype("uint8")
    for m in (model, keras.saving.load_model(path)):
        before = keras.ops.convert_to_numpy(m.get_layer("stem_bn").moving_mean)
        m(x)  # Keras' Resizing defaults to training=True; it must not make the norms train
        np.testing.assert_array_equal(m.get_layer("stem_bn").moving_mean, before)
        m(x, training=True)
        assert not np.array_equal(m.get_layer("stem_bn").moving_mean, before)
    with pytest.raises(ValueError, match=r"input_size.*integer >= 8.*4"):
        rk.cifar_resnet(8, input_size=4)
