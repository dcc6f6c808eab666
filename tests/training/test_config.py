"""One source of truth: TrainConfig, the recipes, the registry's rules, the run directory."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import keras
import pytest

import reskeras as rk
from reskeras.cli import _parser
from reskeras.models.depths import DepthChoices, DepthRange, DepthSteps
from reskeras.models.registry import FAMILIES, Family, register_family, register_model
from reskeras.training.config import TrainConfig, add_arguments, from_arguments, options
from reskeras.training.recipes import (
    AUGMENT_FROM_PASSES,
    MIN_PIECES,
    RECIPES,
    VALIDATION_FRACTION,
    WEIGHT_DECAY,
    default_lr,
    recipe_for,
    recipe_options,
    resolve,
)
from reskeras.training.rundir import RunDir, RunError, atomic_write
from reskeras.ui import kind_defaults, setting_names


def test_every_option_has_help_and_a_cli_flag():
    for name, option in options().items():
        assert option.help, name
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {a.dest: a.option_strings for a in parser._actions if a.dest != "help"}
    assert set(flags) == {n for n, o in options().items() if o.flag != ""}
    assert flags["jit_compile"] == ["--xla", "--no-xla"]
    assert flags["early_stopping_patience"] == ["--early-stopping"]
    args = parser.parse_args(["--epochs", "3", "--no-xla", "--label-column", "2", "--lr", "0.1"])
    assert from_arguments(args) == {
        "epochs": 3, "jit_compile": False, "label_column": 2, "lr": 0.1,
    }  # fmt: skip


def test_cli_train_flags_are_the_options():
    # `reskeras train --help` lists exactly the TrainConfig flags plus the run's own.
    train = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in train.choices["train"]._actions} - {"help"}
    own = {"no_residual", "out", "resume", "verbose"}
    assert dests - own == {n for n, o in options().items() if o.flag != ""}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"precision": "float8"}, r"Invalid precision 'float8'.*mixed_bfloat16"),
        ({"optimizer": "adam"}, r"'adam'.*'sgd', 'adamw'"),
        ({"epochs": 0}, r"`epochs` must be an integer >= 1, got 0"),
        ({"epochs": 2.5}, r"`epochs` must be an integer, got 2.5"),
        ({"lr": 0.0}, r"`lr` must be a number > 0"),
        ({"label_smoothing": 1.0}, r"label_smoothing.*\[0, 1\)"),
        ({"jit_compile": "yes"}, r"Invalid jit compile 'yes'; expected one of \['auto', True, F"),
        ({"jit_compile": 1}, r"`jit_compile` must be true or false or a string, got 1"),
        ({"text_column": 1.5}, r"`text_column` must be a string or an integer"),
        ({"ema": 1.0}, r"`ema` must be a number in \(0, 1\)"),
        ({"batch_size": True}, r"`batch_size` must be an integer, got True"),
    ],
)
def test_config_checks_every_value_in_one_place(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match=r"unexpected arguments \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})


# A run that follows each recipe: (task, model, weights).
RECIPE_RUNS = {
    "image": ("fashion_mnist", None, None),
    "text": ("sst2", None, None),
    "keras_hub": ("sst2", "hub:bert_tiny_en_uncased", None),
    "image_finetune": ("fashion_mnist", None, "imagenet"),
    "language_model": ("wikitext2", None, None),
    "translation": ("multi30k", None, None),
}
KINDS = {
    "fashion_mnist": "image",
    "sst2": "text",
    "wikitext2": "language_model",
    "multi30k": "translation",
}


def test_recipes_fill_the_unset_options():
    assert set(RECIPE_RUNS) == set(RECIPES)
    for name, recipe in RECIPES.items():
        assert set(recipe_options(recipe)) <= set(options())  # a recipe only sets real options
        task, model, weights = RECIPE_RUNS[name]
        assert recipe_for(KINDS[task], model, weights) == name
        settings = resolve(TrainConfig(task=task, model=model, weights=weights))
        resolved = settings.config
        assert settings.recipe == name
        assert resolved.model == (model or recipe.model) and resolved.optimizer == recipe.optimizer
        assert resolved.weight_decay == WEIGHT_DECAY[recipe.optimizer]
        assert resolved.epochs == recipe.epochs and resolved.min_steps == recipe.min_steps
        assert settings.steps_per_epoch is None  # the epoch length waits for the data
        assert resolved.lr == default_lr(name, recipe.optimizer, recipe.batch_size) == recipe.lr
    mine = resolve(TrainConfig(task="sst2", optimizer="sgd", batch_size=32)).config
    assert mine.optimizer == "sgd" and mine.batch_size == 32
    assert mine.weight_decay == WEIGHT_DECAY["sgd"]  # the decay follows the optimizer
    assert default_lr("text", "sgd", 256) == pytest.approx(0.1)  # not the recipe's AdamW rate
    assert mine.lr == pytest.approx(0.1 * 32 / 256)


def test_resolve_lays_out_epochs_phases_and_the_run_name():
    # Small data: the recipe's epochs, each at least min_steps / epochs steps long.
    small = resolve(TrainConfig(task="fashion_mnist"), num_train=1000)
    recipe = RECIPES["image"]
    assert small.steps_per_pass == 1000 // recipe.batch_size
    assert small.steps_per_epoch == -(-recipe.min_steps // recipe.epochs)
    # An explicit epochs is exactly that many passes; two replicas double the global batch.
    two = resolve(TrainConfig(task="fashion_mnist", epochs=2), num_train=60_000, replicas=2)
    assert two.global_batch == 2 * recipe.batch_size
    assert two.steps_per_epoch == 60_000 // (2 * recipe.batch_size)
    assert two.config.lr == pytest.approx(recipe.lr * 2)  # SGD scales with the global batch
    assert two.run_name.startswith("fashion_mnist-cifar_resnet14_fast-")
    family = resolve(TrainConfig(task="fashion_mnist", model="cifar_resnet", depth=20))
    assert family.run_name.startswith("fashion_mnist-cifar_resnet20-")
    tuned = resolve(TrainConfig(task="fashion_mnist", weights="imagenet", epochs=3))
    assert [(p.end, p.frozen) for p in tuned.phases] == [(1, "backbone"), (3, "none")]
    with pytest.raises(rk.DataError, match=r"10 training examples make no full batch of 128"):
        resolve(TrainConfig(task="fashion_mnist"), num_train=10)
    with pytest.raises(ValueError, match=r"takes text inputs but task 'fashion_mnist' is image"):
        resolve(TrainConfig(task="fashion_mnist", model="transformer2"))


def test_resolve_decides_augmentation_by_passes_over_the_images_and_says_why():
    batch, epochs = RECIPES["image"].batch_size, RECIPES["image"].epochs
    small = resolve(TrainConfig(task="fashion_mnist"), num_train=2000, grey=True)
    passes = small.steps_per_epoch * epochs * batch / 2000
    assert passes >= AUGMENT_FROM_PASSES["grey"] and small.config.augment is True
    assert small.reasons["augment"] == (
        f"on: {passes:.1f} passes over 2000 grey training images (on from "
        f"{AUGMENT_FROM_PASSES['grey']} for grey images)"
    )
    # 15.4 passes: colour photos gain from augmentation by then, grey ones not yet.
    colour = resolve(TrainConfig(task="fashion_mnist"), num_train=5000, grey=False)
    grey = resolve(TrainConfig(task="fashion_mnist"), num_train=5000, grey=True)
    assert colour.config.augment is True and grey.config.augment is False
    assert grey.reasons["augment"].startswith("off: 15.4 passes over 5000 grey")
    assert resolve(TrainConfig(task="fashion_mnist"), num_train=5000).config.augment is True
    large = resolve(TrainConfig(task="fashion_mnist"), num_train=54_000)
    assert large.config.augment is False and large.reasons["augment"].startswith("off: 5.0 ")
    # limit_train counts, not the data's size; a choice given is kept, with no reason.
    limited = resolve(TrainConfig(task="fashion_mnist", limit_train=1000), num_train=54_000)
    assert limited.config.augment is True
    given = resolve(TrainConfig(task="fashion_mnist", augment=False), num_train=1000)
    assert given.config.augment is False and "augment" not in given.reasons
    # Before the data is loaded nothing is decided (the app's shown defaults); text: never.
    assert resolve(TrainConfig(task="fashion_mnist")).config.augment is None
    assert "augment" not in resolve(TrainConfig(task="sst2"), num_train=1000).reasons
    assert small.config.validation_fraction == VALIDATION_FRACTION


def test_app_settings_and_defaults_come_from_the_config():
    # The app's training settings are the options with a label, named like their CLI flag.
    labelled = {(o.flag or n).replace("-", "_") for n, o in options().items() if o.label}
    assert labelled <= set(setting_names())
    text = kind_defaults("text")
    assert text["optimizer"] == RECIPES["text"].optimizer
    assert RECIPES["text"].sequence_length is None and text["sequence_length"] == 0  # from data
    assert text["epochs"] == 0  # auto: the recipe's epochs, stretched on small data


def test_adding_an_option_touches_one_place(monkeypatch):
    # What the README's Development section shows: a new TrainConfig field appears on the CLI
    # (and, with a label, in the app) without other edits.
    fields = [(f.name, f.type, f) for f in dataclasses.fields(TrainConfig)]
    extra = ("grad_clip", "float | None", dataclasses.field(
        default=None, metadata={"option": dataclasses.replace(
            options()["lr"], help="clip gradients to this norm", label="gradient clip",
            flag=None, open_low=True)},
    ))  # fmt: skip
    Extended = dataclasses.make_dataclass("TrainConfig", [*fields, extra], frozen=True)
    monkeypatch.setattr("reskeras.training.config.TrainConfig", Extended)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_arguments(parser.parse_args(["--grad-clip", "1.5"])) == {"grad_clip": 1.5}
    assert "grad_clip" in setting_names()


def test_registry_refuses_duplicates_and_bad_depths():
    with pytest.raises(ValueError, match="'cifar_resnet20' is already registered"):
        register_model("cifar_resnet20", "cifar_resnet", 20)
    with pytest.raises(ValueError, match="'resnet' is already registered"):
        register_family(FAMILIES["resnet"])
    with pytest.raises(ValueError, match=r"Invalid depth 21 for cifar_resnet.*6n\+2"):
        register_model("cifar_resnet21", "cifar_resnet", 21)
    with pytest.raises(ValueError, match="Invalid kind 'audio'"):
        register_family(Family("wave", lambda d, **k: None, "audio", DepthRange(1, 2, (1,)), ""))


def test_depth_rules_are_what_builders_check_and_the_app_offers():
    assert FAMILIES["cifar_resnet"].depth_rule == "6n+2" and 20 in FAMILIES["cifar_resnet"].rule
    assert FAMILIES["resnet"].depths == (18, 34, 50, 101, 152)
    assert DepthChoices((9, 17)).describe() == "one of 9, 17"
    assert DepthSteps(6, 4, (10,), "40").blocks_per_stage("wrn", 28) == 4
    assert 0 not in DepthRange(1, 48, (1, 2))
    for family in FAMILIES.values():  # every offered depth builds
        assert all(d in family.rule for d in family.depths), family.name


def test_recipe_models_are_registered():
    for recipe in RECIPES.values():
        assert isinstance(recipe, TrainConfig)
        keras.backend.clear_session()
        from reskeras.models.registry import resolve_model

        resolve_model(recipe.model)


def test_atomic_write_replaces_whole_files(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write(target, '{"a": 1}')
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    atomic_write(target, b'{"a": 2}')
    assert json.loads(target.read_text()) == {"a": 2}
    assert len(synced) == 2  # the file, then its directory
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary left


def test_run_dir_errors_are_one_line(tmp_path):
    with pytest.raises(RunError, match=r"is not a run directory"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "state.json").write_text("{}")
    with pytest.raises(RunError, match=r"has no model.keras; finish it with --resume"):
        RunDir.open(tmp_path / "run")
    run = RunDir(tmp_path / "run")
    run.labels_path.write_text('{"not": "a list"}')
    with pytest.raises(RunError, match="JSON list of class names"):
        run.read_labels()
    run.config_path.write_text("{broken")
    with pytest.raises(RunError, match="cannot read"):
        run.read_config()


def test_a_language_models_limit_train_counts_lines_not_windows():
    # 300 lines make 400 windows: the epoch is the windows' batches, not 300 examples' (the
    # 6th batch would otherwise start the next epoch and the last one run out of data).
    settings = resolve(TrainConfig(task="wikitext2", limit_train=300, batch_size=64), num_train=400)
    assert settings.steps_per_pass == 400 // 64


def test_resolve_sizes_a_translation_vocabulary_by_its_training_pairs():
    def pieces(pairs, **given):
        settings = resolve(TrainConfig(task="multi30k", **given), num_train=pairs)
        return settings.config.vocabulary_size, settings.reasons.get("vocabulary_size")

    top = RECIPES["translation"].vocabulary_size
    assert pieces(3_000) == (4_000, "4,000 pieces for 3,000 training pairs (1.3 a pair, "
                                    f"{MIN_PIECES:,} to {top:,})")  # fmt: skip
    assert pieces(1_000)[0] == MIN_PIECES and pieces(29_000)[0] == top
    assert pieces(3_000, vocabulary_size=500) == (500, None)  # given: kept, no reason
    assert resolve(TrainConfig(task="multi30k")).config.vocabulary_size == top  # no data yet
    assert "vocabulary_size" not in resolve(TrainConfig(task="sst2"), num_train=3_000).reasons
