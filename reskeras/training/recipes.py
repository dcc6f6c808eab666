"""The default recipes, and :func:`resolve`: the one place that decides a run's settings.

A *recipe* is a partial :class:`~reskeras.training.config.TrainConfig`: the options a kind of
run gets when the user leaves them unset. :func:`resolve` turns a partial config plus the task
and the data size into the complete settings of a run (model, epochs, minimum steps, learning
rate, batch size, weight decay, phases, run name). ``train()``, the CLI, the app (its widgets'
shown defaults included), evaluation and the benches all call it; nothing else computes a
default.

The recipes were chosen by measuring across data sizes (``bench/data_sizes.py``), not on one
dataset: each must train well above the majority-class baseline from a thousand examples to
the full set.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reskeras.data.load import get_task
from reskeras.data.spec import SEQUENCE_KINDS, TaskSpec
from reskeras.errors import DataError
from reskeras.models.keras_hub import HUB_FAMILY, HUB_PREFIX, preset_sequence_length
from reskeras.models.registry import Family, check_kind, resolve_model
from reskeras.training.config import FINETUNE_LR_SCALE, TrainConfig
from reskeras.weights.named import is_weights_file

__all__ = [
    "AUGMENT_FROM_PASSES",
    "DECIDED_BY_DATA",
    "MIN_PIECES",
    "PIECES_PER_PAIR",
    "RECIPES",
    "RECIPE_FIELDS",
    "VALIDATION_FRACTION",
    "WEIGHT_DECAY",
    "Phase",
    "RunSettings",
    "augment_by_rule",
    "default_lr",
    "recipe_for",
    "recipe_options",
    "resolve",
]

RECIPES: dict[str, TrainConfig] = {
    # CIFAR ResNet-14 at twice the width behind a stride-2 stem (cifar_resnet14_fast): on a
    # CPU the early full-resolution layers dominate the cost (bench/fashion_mnist.py,
    # bench/README.md "Fashion-MNIST, time to accuracy").
    "image": TrainConfig(
        model="cifar_resnet14_fast",
        optimizer="sgd",
        lr=0.2,
        schedule="onecycle",
        warmup_epochs=0,
        epochs=5,
        min_steps=600,
        batch_size=128,
        label_smoothing=0.1,
        freeze="none",
        head_epochs=0,
    ),
    # A 2-block pre-LN transformer (width 128, mean pooling) with AdamW: the most robust of
    # the text families across training-set sizes on SST-2 (bench/data_sizes.py,
    # bench/README.md "Choosing the text recipe"). The sequence length comes from the data.
    "text": TrainConfig(
        model="transformer2",
        optimizer="adamw",
        lr=1e-3,
        schedule="cosine",
        warmup_epochs=0,
        epochs=3,
        min_steps=600,
        batch_size=64,
        label_smoothing=0.1,
        augment=False,
        vocabulary_size=20_000,
    ),
    # Language models: a 2-block residual LSTM, 256 wide with tied embeddings, AdamW on
    # windows of 64 tokens; the vocabulary is every training word up to 50,000 (WikiText-2's
    # 33,278 whole, so its perplexities compare with published ones). Conventional values,
    # not yet chosen by bench/language_model.py.
    "language_model": TrainConfig(
        model="lm_lstm2",
        optimizer="adamw",
        lr=2e-3,
        schedule="cosine",
        warmup_epochs=0,
        epochs=3,
        min_steps=600,
        batch_size=32,
        label_smoothing=0.0,
        augment=False,
        sequence_length=64,
        vocabulary_size=50_000,
    ),
    # Translation: a 3+3-layer pre-LN transformer, 256 wide, shared and tied embeddings over
    # one joint SentencePiece vocabulary of up to 8,000 pieces (fewer for fewer pairs:
    # PIECES_PER_PAIR), AdamW with warm-up and a cosine decay, label smoothing 0.1 (Vaswani
    # et al. 2017), sentences up to 64 tokens. The vocabulary is chosen by measuring across
    # data sizes (bench/translation.py recipe); the rest are conventional values.
    "translation": TrainConfig(
        model="transformer_seq2seq3",
        optimizer="adamw",
        lr=1e-3,
        schedule="cosine",
        warmup_epochs=1,
        epochs=10,
        min_steps=600,
        batch_size=64,
        label_smoothing=0.1,
        augment=False,
        sequence_length=64,
        vocabulary_size=8_000,
    ),
    # Fine-tuning a keras-hub preset (``--model hub:PRESET``): the BERT paper's regime (Devlin
    # et al. 2019: AdamW at 2e-5..5e-5, batch 32, 2-4 epochs, linear warm-up), the sequence
    # length the preset's preprocessor has, and at least 300 steps, as small data needs more
    # steps than passes to fine-tune stably (Mosbach et al. 2021).
    "keras_hub": TrainConfig(
        model=f"{HUB_PREFIX}bert_base_en_uncased",
        optimizer="adamw",
        lr=3e-5,
        schedule="cosine",
        warmup_epochs=1,
        epochs=3,
        min_steps=300,
        batch_size=32,
        label_smoothing=0.0,
        augment=False,
    ),
    # Images from pretrained ImageNet weights (``weights`` set): an ImageNet ResNet-50, one
    # epoch for the fresh classifier alone at 0.02, then everything at a tenth of that (0.002
    # at batch 64, the usual ~0.01 per 256 images for fine-tuning a whole ResNet), cosine-
    # decayed; augmentation on, as a few thousand images overfit 25M parameters quickly.
    # Conventional values: no pretrained weights can be downloaded where this was written.
    "image_finetune": TrainConfig(
        model="resnet50",
        optimizer="sgd",
        lr=0.02,
        schedule="cosine",
        warmup_epochs=0,
        epochs=5,
        min_steps=300,
        batch_size=64,
        label_smoothing=0.1,
        augment=True,
        freeze="none",
        head_epochs=1,
    ),
}

#: Image augmentation (random crops, flips where the task allows) is on by default when a run
#: makes at least this many passes over its training images, by kind of image
#: (:func:`reskeras.data.grey_images`; bench/augmentation.py): grey images of centred objects
#: lose to it up to 20 passes, colour photos gain from it by 16.
AUGMENT_FROM_PASSES = {"colour": 10, "grey": 20}
#: A translation run's subword vocabulary when none is given: this many pieces per training
#: pair, in thousands, at least the minimum and at most the recipe's ``vocabulary_size``
#: (bench/translation.py recipe --vocabularies): from a few thousand pairs most of a large
#: vocabulary's pieces are too rare to learn.
PIECES_PER_PAIR, MIN_PIECES = 4 / 3, 2_000
#: Options with a recipe value that a kind of task's rule replaces once the data is loaded
#: (the app shows them unset, not the recipe's value; image augmentation has no recipe value).
DECIDED_BY_DATA = {"translation": ("vocabulary_size",)}
#: The share of the training examples held out to validate on when a task has no validation
#: split of its own (bench/short_runs.py: validation accuracy vs the test accuracy).
VALIDATION_FRACTION = 0.1
#: Decoupled weight decay per optimizer. Keras multiplies it by the learning rate, whose
#: scale differs by two orders of magnitude between SGD and AdamW.
WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
#: (learning rate, at batch size) when the optimizer is not the recipe's own; SGD follows the
#: linear scaling rule (Goyal et al. 2017), AdamW's step size does not depend on the batch.
_OTHER_LR = {"sgd": (0.1, 256), "adamw": (1e-3, None)}
_UNSET = TrainConfig()


def recipe_options(recipe: TrainConfig) -> dict[str, Any]:
    """The options a recipe sets (those that differ from a bare :class:`TrainConfig`).

    Args:
        recipe: one of :data:`RECIPES`.
    """
    return {
        f.name: getattr(recipe, f.name)
        for f in dataclasses.fields(recipe)
        if getattr(recipe, f.name) != getattr(_UNSET, f.name)
    }


#: The options some recipe decides (the rest keep their ``TrainConfig`` defaults).
RECIPE_FIELDS = frozenset().union(*(recipe_options(recipe) for recipe in RECIPES.values()))


def recipe_for(kind: str, model: str | None = None, weights: str | None = None) -> str:
    """The name of the recipe a run follows.

    Args:
        kind: the task's kind, ``"image"``, ``"text"`` or ``"language_model"``.
        model: the model asked for, if any: a keras-hub preset (``hub:...``) selects
            ``"keras_hub"``.
        weights: the weights asked for, if any: pretrained (ImageNet) weights on images select
            ``"image_finetune"``; a ``.weights.h5`` of one's own continues like scratch.

    Returns:
        A key of :data:`RECIPES`.
    """
    if isinstance(model, str) and model.startswith(HUB_PREFIX):
        return "keras_hub"
    if kind == "image" and weights is not None and not is_weights_file(weights):
        return "image_finetune"
    return kind


def default_lr(recipe: str, optimizer: str, batch_size: int) -> float:
    """The peak learning rate of a recipe for an optimizer and a global batch size.

    Args:
        recipe: a key of :data:`RECIPES`.
        optimizer: the optimizer the run uses (its own rate when it is not the recipe's).
        batch_size: the global batch size (SGD scales its rate linearly with it).
    """
    chosen = RECIPES[recipe]
    if optimizer == chosen.optimizer:
        lr, at = chosen.lr, chosen.batch_size
    else:
        lr, at = _OTHER_LR[optimizer]
    return lr * batch_size / at if optimizer == "sgd" else lr


@dataclass(frozen=True)
class Phase:
    """One phase of training: up to epoch ``end``, with ``frozen`` fixed, peaking at ``lr``."""

    end: int
    frozen: str
    lr: float


@dataclass(frozen=True)
class RunSettings:
    """The complete settings of a run, as :func:`resolve` decided them.

    Attributes:
        config: every option of the run (those left unset filled from the recipe).
        recipe: the recipe the run follows (a key of :data:`RECIPES`).
        task: the task's spec.
        family: the model's registered family.
        phases: the training phases, in order (one unless ``head_epochs`` is set).
        global_batch: the batch size over all replicas.
        steps_per_epoch: optimizer steps per epoch (``None`` when the data size is unknown).
        steps_per_pass: full batches in one pass over the training data (``None`` likewise).
        run_name: the default name of the run directory.
        reasons: why each setting decided by a rule has its value (``{"augment": "on: ..."}``),
            for the run's record.
    """

    config: TrainConfig
    recipe: str
    task: TaskSpec
    family: Family
    phases: tuple[Phase, ...]
    global_batch: int
    steps_per_epoch: int | None
    steps_per_pass: int | None
    run_name: str
    reasons: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def phase_of(self, epoch: int) -> int:
        """The index of the phase that 0-based ``epoch`` belongs to.

        Args:
            epoch: the 0-based epoch; one past the last phase counts as the last phase.

        Returns:
            The index into :attr:`phases`.
        """
        ends = [p.end for p in self.phases]
        return next((i for i, end in enumerate(ends) if epoch < end), len(ends) - 1)


def resolve(
    config: TrainConfig | Mapping[str, Any],
    *,
    num_train: int | None = None,
    replicas: int = 1,
    steps_per_epoch: int | None = None,
    grey: bool | None = None,
) -> RunSettings:
    """The complete settings of a run from the options given and the data.

    Options left at ``None`` come from the recipe (:func:`recipe_for`); the weight decay
    follows the optimizer, the learning rate the optimizer and the global batch
    (:func:`default_lr`). Without ``epochs`` a run takes the recipe's epochs, each at least
    ``min_steps / epochs`` optimizer steps long, so that small data is trained as long as it
    takes to learn from it; an explicit ``epochs`` is exactly that many passes.

    Args:
        config: the options given (a :class:`TrainConfig` or its keyword arguments).
        num_train: training examples in the data (before ``limit_train``); ``None`` when not
            known yet (the app's shown defaults), which leaves the epoch length open.
        replicas: replicas training in sync (the global batch is ``batch_size`` times this).
        steps_per_epoch: keep this epoch length (a resumed run's schedule was laid out for it).
        grey: whether an image task's images are grey (:func:`reskeras.data.grey_images`);
            ``None`` (not known) counts as colour.

    Returns:
        The :class:`RunSettings`.

    Raises:
        ValueError: the model does not fit the task, or an option does not fit the model.
        DataError: the training data makes no full batch.
    """
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(dict(config))
    vocabulary_given = config.vocabulary_size is not None
    spec = get_task(config.task)
    recipe = recipe_for(spec.kind, config.model, config.weights)
    defaults = RECIPES[recipe]
    changes = {
        name: value
        for name, value in recipe_options(defaults).items()
        if getattr(config, name) is None and name not in ("lr", "epochs", "min_steps")
    }
    config = config.replace(**changes)
    if config.weight_decay is None:
        config = config.replace(weight_decay=WEIGHT_DECAY[config.optimizer])
    if config.validation_fraction is None:
        config = config.replace(validation_fraction=VALIDATION_FRACTION)
    if config.epochs is None:
        min_steps = defaults.min_steps if config.min_steps is None else config.min_steps
        config = config.replace(epochs=defaults.epochs, min_steps=min_steps)
    elif config.min_steps is None:
        config = config.replace(min_steps=0)
    global_batch = config.batch_size * replicas
    if config.lr is None:
        config = config.replace(lr=default_lr(recipe, config.optimizer, global_batch))

    family, depth, preset = resolve_model(config.model, config.depth)
    family.rule.check(family.name, depth)  # a bad depth fails before any data loads
    check_kind(family.kind, spec.name, spec.kind, f"Model {config.model!r}")
    if config.embeddings is not None and (spec.kind != "text" or family.name == HUB_FAMILY):
        raise ValueError(
            "`embeddings` (word vectors) initialize our own text models' token embedding; "
            f"model {config.model!r} on task {spec.name!r} has none to initialize."
        )
    if family.name == HUB_FAMILY and config.sequence_length is None and num_train is not None:
        config = config.replace(sequence_length=preset_sequence_length(preset["preset"]))

    steps_per_pass, reasons = None, {}
    if num_train is not None:
        examples = num_train  # a sequence task's limit_train cut its text's lines already
        if spec.kind not in SEQUENCE_KINDS:
            examples = min(num_train, config.limit_train or num_train)
        steps_per_pass = examples // global_batch
        if steps_per_pass < 1:
            raise DataError(
                f"{spec.name}: {examples} training examples make no full batch of "
                f"{global_batch}; lower --batch-size."
            )
        if steps_per_epoch is None:
            steps_per_epoch = max(steps_per_pass, math.ceil(config.min_steps / config.epochs))
        if spec.kind == "translation" and not vocabulary_given:
            config, reasons["vocabulary_size"] = _vocabulary_rule(config, defaults, examples)
        if spec.kind == "image" and config.augment is None:
            passes = steps_per_epoch * config.epochs * global_batch / examples
            config, reasons["augment"] = _augment_rule(config, passes, examples, bool(grey))
    return RunSettings(
        config=config,
        recipe=recipe,
        task=spec,
        family=family,
        phases=_phases(config),
        global_batch=global_batch,
        steps_per_epoch=steps_per_epoch,
        steps_per_pass=steps_per_pass,
        run_name=_run_name(spec.name, config.model, family, depth),
        reasons=reasons,
    )


def augment_by_rule(passes: float, grey: bool) -> bool:
    """Whether the rule turns augmentation on: at :data:`AUGMENT_FROM_PASSES` passes over
    the training images or more (that often, a few thousand images are memorized without it).

    Args:
        passes: the run's optimizer steps times its global batch, over its training images.
        grey: the images are grey (:func:`reskeras.data.grey_images`).
    """
    return passes >= AUGMENT_FROM_PASSES["grey" if grey else "colour"]


def _augment_rule(
    config: TrainConfig, passes: float, examples: int, grey: bool
) -> tuple[TrainConfig, str]:
    augment, kind = augment_by_rule(passes, grey), "grey" if grey else "colour"
    why = (
        f"{'on' if augment else 'off'}: {passes:.1f} passes over {examples} {kind} training "
        f"images (on from {AUGMENT_FROM_PASSES[kind]} for {kind} images)"
    )
    return config.replace(augment=augment), why


def _vocabulary_rule(
    config: TrainConfig, recipe: TrainConfig, pairs: int
) -> tuple[TrainConfig, str]:
    """:data:`PIECES_PER_PAIR` subword pieces per training pair, rounded to a thousand,
    between :data:`MIN_PIECES` and the recipe's vocabulary."""
    size = min(recipe.vocabulary_size, max(MIN_PIECES, int(round(pairs * PIECES_PER_PAIR, -3))))
    why = (
        f"{size:,} pieces for {pairs:,} training pairs ({PIECES_PER_PAIR:.2g} a pair, "
        f"{MIN_PIECES:,} to {recipe.vocabulary_size:,})"
    )
    return config.replace(vocabulary_size=size), why


def _phases(config: TrainConfig) -> tuple[Phase, ...]:
    """With ``head_epochs`` the classifier trains alone first, then the rest joins at
    :data:`~reskeras.training.config.FINETUNE_LR_SCALE` times the rate."""
    head = min(config.head_epochs or 0, config.epochs)
    rest = config.freeze or "none"
    if not head:
        return (Phase(config.epochs, rest, config.lr),)
    phases = [Phase(head, "backbone", config.lr)]
    if head < config.epochs:
        phases.append(Phase(config.epochs, rest, config.lr * FINETUNE_LR_SCALE))
    return tuple(phases)


def _run_name(task: str, model: str, family: Family, depth: int) -> str:
    """``<task>-<model>-<time>``: the model as named, a family with its depth
    (``cifar_resnet20`` for ``cifar_resnet`` at depth 20)."""
    label = model.split("/")[-1] if model.startswith(HUB_PREFIX) else model
    if model == family.name:
        label = f"{label}{depth}"
    label = label.replace(":", "-").replace(os.sep, "_").strip("._-") or "model"
    return f"{task}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"
