"""Training recipes: the exact settings that produce facexpr's released weights.

``facexpr train --recipe better --data PATH --out DIR`` runs :func:`train_recipe`. Each
official model has a facexpr recipe (``"better"``...) and the seed project's original
recipe (``"seed-better"``...) for comparison. Recipes for FER+'s votes are named with timm's
``arch.tag`` scheme: ``"better.ferplus"``, ``"vgg8_bn.ferplus"``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._io import atomic_write, check_outputs

if TYPE_CHECKING:
    from .callbacks import Callback
    from .trainer import Trainer

__all__ = [
    "DATASETS", "Recipe", "RECIPES", "fit_keeping_best", "get_recipe", "load_train_val", "recipe_for_model",
    "train_recipe",
]

DATASETS = ("fer2013", "ferplus-majority", "ferplus-probability", "mixed")
"""What a recipe trains on (:attr:`Recipe.dataset`): ``"fer2013"``, FER2013's labels (or your
own class folders); ``"ferplus-majority"`` and ``"ferplus-probability"``, FER+'s eight classes
with each face's majority vote or its whole vote distribution (see :class:`~facexpr.data.FERPlus`);
``"mixed"``, FER2013's labels, FER+'s votes and faces cut from photos at once, from several data
roots (see :func:`facexpr.data.mixing.mix_sources`)."""


@dataclass(frozen=True)
class Recipe:
    """Every setting of one training run.

    Attributes:
        model: Architecture name, or the name of a released model of that architecture to start
            from (with :attr:`pretrained`, e.g. ``"vgg8_bn.ferplus"``).
        epochs: Number of epochs; the released weights are those of the best epoch on val.
        batch_size: Training batch size.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        lr: (Peak) learning rate.
        weight_decay: Weight decay.
        scheduler: Learning-rate schedule (see :data:`~facexpr.training.SCHEDULERS`).
        label_smoothing: Cross-entropy label smoothing.
        augment: Augmentation preset (see :data:`~facexpr.data.AUGMENT_PRESETS`).
        seed: Random seed.
        teacher: Model (official name, folder or Hub repo) to distil from, or ``None``.
        distill_alpha: Weight of the distillation term (see
            :class:`~facexpr.training.DistillationTrainer`).
        distill_temperature: Softmax temperature of the distillation term.
        teacher_mode: ``"online"`` or ``"cached"`` teacher logits (see
            :class:`~facexpr.training.DistillationTrainer`).
        dataset: Which data and labels the recipe is for (see :data:`DATASETS`):
            ``"fer2013"`` (FER2013's labels, or your own class folders), or FER+'s votes as
            ``"ferplus-majority"`` or ``"ferplus-probability"`` targets (a FER+ data root), or
            ``"mixed"`` (a FER2013 root, a FER+ root and optionally a face-box root).
        pretrained: Start from released weights: those of :attr:`model`, which may name a
            released model such as ``"vgg8_bn.ferplus"`` (fine-tuning it).
        votes_weight: ``"mixed"`` only: weight of FER+'s votes against FER2013's label in the
            targets of FER2013's faces.
        faceboxes_repeat: ``"mixed"`` only: how often each face cut from a photo is seen per epoch.
        shrink_from: A released model (or folder) of a larger architecture of :attr:`model`'s
            family whose weights, thinned to :attr:`model`'s shape by
            :func:`~facexpr.training.shrink` on the training faces, start the run instead
            of random weights (its labels too), or ``None``.

    Example:
        >>> from facexpr.training.recipes import Recipe
        >>> Recipe("simple", epochs=5, optimizer="sgd", lr=0.05).scheduler is None
        True
    """

    model: str
    epochs: int
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = None
    label_smoothing: float = 0.0
    augment: str | None = None
    seed: int = 0
    teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 4.0
    teacher_mode: str = "online"
    dataset: str = "fer2013"
    pretrained: bool = False
    votes_weight: float = 0.7
    faceboxes_repeat: int = 4
    shrink_from: str | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"Unknown recipe dataset {self.dataset!r}. Available: {', '.join(DATASETS)}.")

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as a dict (stored in the released ``config.json``).

        The distillation fields are left out when the recipe has no teacher, ``dataset``
        when it is ``"fer2013"``, ``pretrained`` when it is ``False`` and ``shrink_from`` when
        it is ``None`` (as in the configs of the weights released before they existed).

        Example:
            >>> from facexpr.training.recipes import RECIPES
            >>> RECIPES["seed-better"].to_dict()["lr"]
            0.001
        """
        fields = asdict(self)
        if self.teacher is None:
            for key in ("teacher", *_DISTILL_SETTINGS):
                fields.pop(key)
        if self.dataset == "fer2013":
            fields.pop("dataset")
        if not self.pretrained:
            fields.pop("pretrained")
        if self.dataset != "mixed":
            for key in _MIXED_SETTINGS:
                fields.pop(key)
        if self.shrink_from is None:
            fields.pop("shrink_from")
        return fields


_DISTILL_SETTINGS = ("distill_alpha", "distill_temperature", "teacher_mode")
"""Recipe fields that only mean something with a teacher."""

_MIXED_SETTINGS = ("votes_weight", "faceboxes_repeat")
"""Recipe fields that only mean something for ``dataset="mixed"``."""

_FACEXPR = dict(
    optimizer="adamw", lr=3e-3, weight_decay=0.05, scheduler="onecycle", label_smoothing=0.1,
    augment="strong", batch_size=64,
)

RECIPES: dict[str, Recipe] = {
    "simple": Recipe("simple", epochs=25, **_FACEXPR),
    "improved": Recipe("improved", epochs=25, **_FACEXPR),
    "better": Recipe("better", epochs=40, **_FACEXPR),
    # The flagship: 50 epochs of about 175 s on a 2-core CPU (about 2.4 hours).
    "vgg8_bn": Recipe("vgg8_bn", epochs=50, **_FACEXPR),
    # vgg8_bn's recipe on the faster vgg7_bn (no released weights yet).
    "vgg7_bn": Recipe("vgg7_bn", epochs=50, **_FACEXPR),
    # ``better`` distilled from the flagship: the same recipe, plus the teacher's soft labels
    # (scored once per fit on each training image and its mirror). The released ``better``
    # weights come from this recipe: of five ``better`` runs it scored best on val.
    "better-kd": Recipe("better", epochs=40, teacher="vgg8_bn", teacher_mode="cached", **_FACEXPR),
    # The same with the teacher scoring every augmented batch (about 100 s an epoch on 2 cores, not 85).
    "better-kd-online": Recipe("better", epochs=40, teacher="vgg8_bn", teacher_mode="online", **_FACEXPR),
    # The seed project's recipes, reproduced for comparison.
    "seed-simple": Recipe("simple", epochs=10, optimizer="adam", lr=1e-3, augment=None),
    "seed-improved": Recipe("improved", epochs=10, optimizer="adam", lr=1e-3, augment=None),
    "seed-better": Recipe("better", epochs=30, optimizer="adam", lr=1e-3, augment="seed"),
    # FER+ (8 classes), trained on each face's vote distribution (the paper's best mode) and
    # selected on FER+ PublicTest. FER+ keeps 28,384 of FER2013's 28,709 training faces, so an
    # epoch costs what it does on FER2013 and the epochs are those of the FER2013 recipes. A
    # ``better.ferplus`` epoch took 98-133 s on one thread of a busy 2-core machine, so its 40
    # epochs take 1-1.5 hours on a CPU.
    # No label smoothing: the votes are soft already, and smoothing towards the uniform
    # distribution moves the probabilities away from the votes that KL and ECE measure against.
    "better.ferplus": Recipe("better", epochs=40, dataset="ferplus-probability", **{**_FACEXPR, "label_smoothing": 0.0}),
    # The flagship on FER+ starts from the released FER2013 ``vgg8_bn`` (its features already fit
    # these faces) with a new 8-class head: 12 epochs at a lower peak rate took 79 minutes on one
    # thread of a busy 2-core machine, instead of 50 epochs from scratch (2.5 hours and more).
    "vgg8_bn.ferplus": Recipe("vgg8_bn", epochs=12, dataset="ferplus-probability", pretrained=True,
                              **{**_FACEXPR, "label_smoothing": 0.0, "lr": 1e-3}),
    # All three label sources at once (FER2013's labels, FER+'s votes, faces cut from web
    # photos), fine-tuning the released ``vgg8_bn.ferplus`` and keeping its eight classes.
    "vgg8_bn.mixed": Recipe("vgg8_bn.ferplus", epochs=8, dataset="mixed", pretrained=True,
                            **{**_FACEXPR, "label_smoothing": 0.0, "lr": 5e-4}),
    # The same three sources on ``vgg7_bn`` (under half of ``vgg8_bn``'s multiply-adds, about
    # twice its int8 speed), started from ``vgg8_bn.mixed`` thinned to its shape (see
    # facexpr.training.shrink) and distilled from it (the teacher scores every augmented batch).
    "vgg7_bn.mixed": Recipe("vgg7_bn", epochs=8, dataset="mixed", shrink_from="vgg8_bn.mixed", teacher="vgg8_bn.mixed",
                            teacher_mode="online", **{**_FACEXPR, "label_smoothing": 0.0, "lr": 1e-3}),
}
"""Recipe name -> :class:`Recipe`."""


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """Return the recipe ``name``, with any field overridden (e.g. ``epochs=1``).

    Raises:
        ValueError: If the recipe or an overridden field is unknown.

    Example:
        >>> from facexpr.training.recipes import get_recipe
        >>> recipe = get_recipe("better", epochs=1)
        >>> recipe.epochs, recipe.optimizer, recipe.augment
        (1, 'adamw', 'strong')
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Available: {', '.join(sorted(RECIPES))}.")
    fields = set(Recipe.__dataclass_fields__)
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ValueError(f"Unknown recipe fields {bad}. Valid: {', '.join(sorted(fields))}.")
    given = {k: v for k, v in overrides.items() if v is not None}
    recipe = replace(RECIPES[name], **given)
    distill = sorted(k for k in given if k in _DISTILL_SETTINGS)
    if distill and recipe.teacher is None:
        raise ValueError(f"{', '.join(distill)} set, but recipe {name!r} has no teacher: give one "
                         "(teacher=..., or --teacher on the command line).")
    return recipe


def recipe_for_model(
    name: str, data: str | os.PathLike | Sequence[str | os.PathLike], *, pretrained: bool = False, **overrides: Any,
) -> Recipe:
    """The recipe ``facexpr train --model NAME`` runs: NAME's own settings, on the data given.

    ``name`` is an architecture (``"better"``) or a released model (``"vgg8_bn.ferplus"``).
    Its recipe's training settings are used (the architecture's recipe for a released model
    without one), but not how its recipe started or taught the released weights: the run starts
    from ``name``'s own weights when ``pretrained``, from the model ``overrides`` give as
    ``shrink_from``, or from random weights, and distils only from a ``teacher`` in
    ``overrides`` (``--recipe NAME`` reproduces a release, start and teacher included). The
    labels follow the data unless ``overrides`` name a ``dataset``: several roots train
    a ``"mixed"`` recipe, a FER+ root the recipe's FER+ labels (vote distributions by default),
    anything else FER2013's labels or your own classes.

    Raises:
        ValueError: ``name`` has no recipe, an override is invalid, ``shrink_from`` is given with
            ``pretrained``, or distillation settings without a ``teacher``.

    Example:
        >>> recipe = recipe_for_model("vgg8_bn.ferplus", "my_faces/", pretrained=True, epochs=4, lr=1e-4)
        >>> recipe.model, recipe.pretrained, recipe.dataset, recipe.epochs, recipe.lr
        ('vgg8_bn.ferplus', True, 'fer2013', 4, 0.0001)
        >>> recipe_for_model("vgg7_bn.mixed", "my_faces/", pretrained=True).teacher is None
        True
    """
    from ..data.ferplus import ferplus_layout

    base = name if name in RECIPES else name.partition(".")[0]
    if base not in RECIPES:
        raise ValueError(f"No recipe for model {name!r}. Models with one: {', '.join(sorted(RECIPES))}.")
    if pretrained and overrides.get("shrink_from") is not None:
        raise ValueError(f"shrink_from={overrides['shrink_from']!r} and pretrained both say where {name!r} "
                         "starts: give one (--shrink-from starts from another model thinned to this shape, "
                         "--pretrained from this model's own weights).")
    if overrides.get("teacher") is None:
        distill = sorted(k for k in _DISTILL_SETTINGS if overrides.get(k) is not None)
        if distill:
            raise ValueError(f"{', '.join(distill)} set, but training {name!r} distils from no teacher unless "
                             "one is given (its recipe's teacher made the released weights; --recipe "
                             f"{base} trains with it): give one (teacher=..., or --teacher on the command line).")
    if overrides.get("dataset") is None:
        roots = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        if len(roots) > 1:
            overrides["dataset"] = "mixed"
        elif Path(roots[0]).exists() and ferplus_layout(roots[0]) is not None:
            own = RECIPES[base].dataset
            overrides["dataset"] = own if own.startswith("ferplus") else "ferplus-probability"
        else:
            overrides["dataset"] = "fer2013"
    recipe = get_recipe(base, **overrides)
    if overrides.get("shrink_from") is None:  # how the recipe made the release, not one of its settings
        recipe = replace(recipe, shrink_from=None)
    if overrides.get("teacher") is None and recipe.teacher is not None:
        default = Recipe(base, epochs=1)
        recipe = replace(recipe, teacher=None, **{k: getattr(default, k) for k in _DISTILL_SETTINGS})
    return replace(recipe, model=name, pretrained=pretrained)


def load_train_val(
    data: str | os.PathLike | Sequence[str | os.PathLike], *, val_fraction: float = 0.1, seed: int = 0,
    dataset: str = "fer2013",
) -> tuple[Any, Any]:
    """Load training and validation data from any supported layout.

    With ``dataset="mixed"``, ``data`` is several roots (see
    :func:`~facexpr.data.mixing.mix_sources`). The layout of one root is found by
    :func:`facexpr.data.layouts.find_layout`, the rule every command uses.
    With ``dataset="ferplus-majority"`` or ``"ferplus-probability"``, ``data`` is a FER+ root
    (``ferplus.csv`` with the FER2013 folders, ``fer2013new.csv`` beside ``fer2013.csv``, or the
    ``FER2013Train/``... folders; see :class:`~facexpr.data.FERPlus`) and the result is its
    ``train`` split and its ``val`` split (PublicTest), with majority or vote-distribution
    targets over the eight classes. With ``dataset="fer2013"`` (the default):

    * FER2013 (``train/`` and ``val/`` holding all seven FER2013 class folders, or
      ``fer2013.csv``; see :func:`~facexpr.data.fer2013_layout`): its ``train`` and ``val``
      splits;
    * labelled faces in photos (``faces.csv`` and ``images/``, see :class:`~facexpr.data.FaceBoxes`):
      ``root/train/`` and ``root/val/`` when both hold that layout, else a stratified, seeded
      split of ``root`` holding out ``val_fraction`` of every class;
    * your own ``root/train/<class>/`` and ``root/val/<class>/`` folders;
    * a single ``root/<class>/`` tree: a stratified, seeded split holding out
      ``val_fraction`` of every class.

    Args:
        data: The data root.
        val_fraction: Share of each class held out for validation from a single class tree.
        seed: Seed of that split.
        dataset: Which labels to train on (see :data:`DATASETS`).

    Returns:
        ``(train, val)`` :class:`~facexpr.data.FaceDataset` objects with the same classes.

    Raises:
        FileNotFoundError: If ``data`` does not exist or holds no images (no FER+ layout for a
            FER+ dataset).
        ValueError: If a class folder is empty, ``val/`` has a class that ``train/`` lacks,
            ``dataset`` is unknown, or ``data`` holds FER+ votes only and ``dataset`` is
            ``"fer2013"``.

    Example:
        >>> import os, tempfile
        >>> from pathlib import Path
        >>> from unittest import mock
        >>> from PIL import Image
        >>> from facexpr.training.recipes import load_train_val
        >>> with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"FACEXPR_CACHE": tmp}):
        ...     for name in ("calm", "excited"):
        ...         (Path(tmp) / "faces" / name).mkdir(parents=True)
        ...         for i in range(10):
        ...             Image.new("L", (48, 48), 40 * i).save(Path(tmp) / "faces" / name / f"{i}.png")
        ...     train, val = load_train_val(Path(tmp) / "faces", val_fraction=0.2)
        >>> train.classes, len(train), len(val)
        (('calm', 'excited'), 16, 4)
    """
    train, val, _ = _load_train_val(data, val_fraction=val_fraction, seed=seed, dataset=dataset)
    return train, val


def _load_train_val(
    data: str | os.PathLike | Sequence[str | os.PathLike], *, val_fraction: float, seed: int,
    dataset: str = "fer2013", recipe: Recipe | None = None,
) -> tuple[Any, Any, str]:
    """:func:`load_train_val`, plus one line that says which layout was found."""
    from ..data import FER2013, FERPlus, ImageFolder, fer2013_layout, train_val_split
    from ..data.ferplus import ferplus_layout

    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}. Available: {', '.join(DATASETS)}.")
    roots = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    if dataset == "mixed":
        from ..data.mixing import mix_sources

        spec = recipe or Recipe("vgg8_bn", epochs=1, dataset="mixed")
        train, val, parts = mix_sources(roots, votes_weight=spec.votes_weight,
                                        faceboxes_repeat=spec.faceboxes_repeat, seed=seed)
        sizes = ", ".join(f"{name} {len(part)}" for name, part in parts.items())
        return train, val, (f"FER2013's labels and FER+'s votes mixed ({spec.votes_weight:g} votes), "
                            f"{len(train)} training faces; validation: {sizes}")
    if len(roots) != 1:
        raise ValueError(f"dataset {dataset!r} trains on one data root, got {len(roots)}: "
                         f"{[str(r) for r in roots]}. Several roots are for dataset='mixed'.")
    root = Path(roots[0])
    if not root.exists():
        raise FileNotFoundError(f"Training data '{root}' does not exist.")
    ferplus = ferplus_layout(root)
    if dataset != "fer2013":
        if ferplus is None:
            raise FileNotFoundError(
                f"dataset {dataset!r} needs FER+ data, but '{root}' holds none: expected ferplus.csv, "
                "fer2013new.csv beside fer2013.csv, or the FER2013Train/ FER2013Valid/ folders with label.csv."
            )
        mode = dataset.split("-", 1)[1]
        train, val = FERPlus(root, "train", labels=mode), FERPlus(root, "val", labels=mode)  # type: ignore[arg-type]
        kind = "vote distributions" if mode == "probability" else "majority labels"
        return train, val, f"FER+ ({ferplus} layout) at '{root}', {kind} over 8 classes"
    from ..data import FaceBoxes
    from ..data.faceboxes import faceboxes_layout
    from ..data.layouts import find_layout

    layout = find_layout(root)
    if layout == "ferplus" and fer2013_layout(root) is None:
        raise ValueError(
            f"'{root}' holds FER+ votes; train on them with a FER+ recipe (better.ferplus, "
            "vgg8_bn.ferplus) or dataset='ferplus-probability' / 'ferplus-majority' "
            "(facexpr train --dataset ...)."
        )
    if layout in ("ferplus", "fer2013"):
        train, val = FER2013(root, "train"), FER2013(root, "val")
        return train, val, f"FER2013 ({'CSV' if fer2013_layout(root) == 'csv' else 'class folders'}) at '{root}'"
    if layout == "faceboxes":
        if faceboxes_layout(root / "train") and faceboxes_layout(root / "val"):
            train = FaceBoxes(root / "train")
            val = FaceBoxes(root / "val", classes=train.classes)
            where = f"'{root}/train' and '{root}/val'"
        else:
            train, val = train_val_split(FaceBoxes(root), val_fraction, seed=seed)
            where = f"'{root}', {val_fraction:g} of each class held out for validation"
        return train, val, f"{len(train.classes)} classes {list(train.classes)} of faces in photos (faces.csv) in {where}"
    if layout == "split-folders":
        train = ImageFolder(root / "train")
        _check_val_classes(root / "val", train.classes)
        val = ImageFolder(root / "val", classes=train.classes)
        where = f"'{root}/train' and '{root}/val'"
    else:
        train, val = train_val_split(ImageFolder(root), val_fraction, seed=seed)
        where = f"'{root}', {val_fraction:g} of each class held out for validation"
        _check_split(root, train, val)
    return train, val, f"your own {len(train.classes)} classes {list(train.classes)} in {where}"


def _check_split(root: Path, train: Any, val: Any) -> None:
    """Refuse a split with no validation face; warn when some classes have none."""
    import warnings

    if len(val) == 0:
        raise ValueError(
            f"Splitting '{root}' leaves no validation image: every class has a single image, and a class needs "
            "two to be both learnt and measured. Add images, or give train/ and val/ folders."
        )
    unmeasured = [name for name, count in zip(val.classes, val.class_counts()) if count == 0]
    if unmeasured:
        warnings.warn(f"Class(es) {unmeasured} of '{root}' have a single image, kept for training: "
                      "validation does not measure them.", UserWarning, stacklevel=4)


def _check_val_classes(val_root: Path, classes: Sequence[str]) -> None:
    """Refuse validation class folders that training does not have (they would be dropped)."""
    from ..data.folder import class_key

    known = {class_key(name) for name in classes}
    extra = sorted(
        d.name for d in val_root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and class_key(d.name) not in known
    )
    if extra:
        raise ValueError(
            f"Validation class folder(s) {extra} in '{val_root}' have no training folder; the "
            f"training classes are {list(classes)}. Add their training images or remove them."
        )


def train_recipe(
    recipe: str | Recipe,
    data: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
    device: str | None = None,
    pretrained: bool = False,
    freeze: str | None = None,
    val_fraction: float = 0.1,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Train a recipe, keep the best epoch on the validation data, write the folder.

    On FER2013 this trains on ``train`` and selects on ``val`` (test data is never touched
    here); on FER+ (a recipe whose :attr:`~Recipe.dataset` is a FER+ one, such as
    ``"better.ferplus"``) likewise, on its eight classes, with the vote distributions or the
    majority labels as targets and val accuracy against the majority label. On your own class folders (see :func:`load_train_val`) the model gets your class
    names; with ``pretrained=True`` it starts from the released weights with a new head
    (fine-tuning), and ``freeze="features"`` trains the head alone.

    Writes into ``out``: ``checkpoint.pt`` (full training state after every epoch, used to
    resume), ``best/`` (the ``save_pretrained`` folder of the best epoch by val accuracy),
    ``history.csv`` and ``recipe.json``.

    Everything random comes from the recipe's seed: the model's initial weights, the
    validation split, and every epoch's shuffling, augmentation and dropout. Two runs of the
    same recipe on the same data and device write the same weights, byte for byte, and so does
    a run that was killed and resumed.

    Args:
        recipe: A recipe name or :class:`Recipe`.
        data: Training data (see :func:`load_train_val`).
        out: Output folder.
        resume: Continue from ``out/checkpoint.pt`` when it exists.
        progress: Show progress (bars on a terminal, one line per epoch otherwise) and say
            which data layout was found.
        device: Training device (default: the best available).
        pretrained: Start from the released weights of the recipe's architecture (as a recipe
            with :attr:`~Recipe.pretrained` always does).
        freeze: ``"features"`` to train only the classifier.
        val_fraction: Share held out for validation when ``data`` is a single class tree.
        callbacks: Extra callbacks, e.g. :class:`~facexpr.training.TensorBoard`.

    Returns:
        The ``best/`` folder.

    Raises:
        CheckpointError: When resuming from a ``checkpoint.pt`` that is unreadable, holds
            another model's weights, or was written by another run: other class names,
            architecture, data (its faces and labels, by :func:`~facexpr.training.checkpoint.data_fingerprint`)
            or settings (all but ``epochs``); nothing in ``out`` is changed then, and
            ``recipe.json`` always records the run that trains.
        ValueError: If ``out`` is ``data`` or lies inside it, or the recipe starts both from
            a shrunk model and from released weights.
        TrainingDivergedError: If the loss or the weights stop being finite; ``best/`` keeps
            only finite weights of an earlier epoch, if any.

    Example:
        >>> import os, tempfile
        >>> from pathlib import Path
        >>> from unittest import mock
        >>> from PIL import Image
        >>> import facexpr
        >>> from facexpr.training.recipes import get_recipe, train_recipe
        >>> with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"FACEXPR_CACHE": tmp}):
        ...     for name in ("calm", "excited"):
        ...         (Path(tmp) / "faces" / name).mkdir(parents=True)
        ...         for i in range(10):
        ...             Image.new("L", (48, 48), 40 * i).save(Path(tmp) / "faces" / name / f"{i}.png")
        ...     best = train_recipe(get_recipe("simple", epochs=1, batch_size=8), Path(tmp) / "faces",
        ...                         Path(tmp) / "run", progress=False, device="cpu")
        ...     print(best.name, facexpr.load(best, device="cpu").labels)
        best ('calm', 'excited')

        On FER2013, the command that made the released ``better`` weights (``better``'s recipe
        distilled from the released ``vgg8_bn``)::

            train_recipe("better-kd", "path/to/fer2013", "runs/better-kd")

        On FER+'s votes (eight classes)::

            train_recipe("better.ferplus", "path/to/ferplus", "runs/better.ferplus")
    """
    import torch

    from ..models import load
    from .checkpoint import check_checkpoint_model, check_checkpoint_run, data_fingerprint, read_checkpoint
    from .distillation import DistillationTrainer
    from .trainer import Trainer

    spec = get_recipe(recipe) if isinstance(recipe, str) else recipe
    pretrained = pretrained or spec.pretrained
    if spec.shrink_from and pretrained:
        named = f"The recipe {recipe!r}" if isinstance(recipe, str) else f"The recipe for {spec.model!r}"
        raise ValueError(f"{named} starts from {spec.shrink_from!r} thinned to its shape (shrink_from), and pretrained "
                         "asks for released weights: it cannot do both. To fine-tune a released model from its own "
                         "weights: facexpr train --model NAME --pretrained (recipe_for_model(NAME, data, "
                         "pretrained=True)).")
    check_outputs([("out", out)], [data] if isinstance(data, (str, os.PathLike)) else list(data))  # never into the data
    train, val, found = _load_train_val(data, val_fraction=val_fraction, seed=spec.seed, dataset=spec.dataset,
                                        recipe=spec)
    if progress:
        print(f"facexpr: training data: {found}", file=sys.stderr)
    out = Path(out)
    checkpoint = out / "checkpoint.pt"
    # The teacher first: building it draws random numbers, which must not move the student's seeded start.
    teacher = load(spec.teacher, device=device) if spec.teacher else None
    torch.manual_seed(spec.seed)  # the initial weights of the model and of any new head
    if spec.shrink_from:  # resuming, the checkpoint holds the weights: no need to shrink again
        model, train, val, head = _shrunk_model(spec, train, val, device, fit=not (resume and checkpoint.is_file()),
                                                progress=progress, teacher=teacher)
    else:
        model, train, val, head = _starting_model(spec.model, pretrained, train, val, device)
    if progress and head:
        print(f"facexpr: {head}", file=sys.stderr)
    settings_run = {k: v for k, v in {**spec.to_dict(), "pretrained": pretrained, "freeze": freeze}.items()
                    if k != "epochs"}  # more epochs may continue a run (the Trainer checks schedules)
    run = {"architecture": spec.model, "classes": list(train.classes), "data": data_fingerprint(train, val),
           "settings": settings_run}
    if resume and checkpoint.is_file():  # refuse another run's checkpoint before writing anything
        state = read_checkpoint(checkpoint)
        check_checkpoint_model(checkpoint, state, model)
        check_checkpoint_run(checkpoint, state, run)
    out.mkdir(parents=True, exist_ok=True)
    recipe_text = json.dumps(spec.to_dict(), indent=2) + "\n"
    atomic_write(out / "recipe.json", lambda tmp: tmp.write_text(recipe_text, encoding="utf-8"))
    model.config.recipe = {**spec.to_dict(), "pretrained": pretrained, "freeze": freeze}
    settings: dict[str, Any] = dict(
        optimizer=spec.optimizer, lr=spec.lr, weight_decay=spec.weight_decay,
        scheduler=spec.scheduler, label_smoothing=spec.label_smoothing, augment=spec.augment,
        seed=spec.seed, metrics=("accuracy", "macro_f1"), device=device, freeze=freeze,
    )
    if teacher is not None:
        trainer: Trainer = DistillationTrainer(
            model, teacher=teacher, distill_alpha=spec.distill_alpha,
            distill_temperature=spec.distill_temperature, teacher_mode=spec.teacher_mode, **settings,
        )
    else:
        trainer = Trainer(model, **settings)
    trainer.run_info = run
    return fit_keeping_best(trainer, train, val, out, epochs=spec.epochs, batch_size=spec.batch_size,
                            resume=resume, progress=progress, callbacks=callbacks)


def _starting_model(name: str, pretrained: bool, train: Any, val: Any, device: str | None) -> tuple[Any, Any, Any, str]:
    """The model a run starts from, and the data with its targets on that model's classes.

    Fresh weights get the data's classes. Released weights keep their head when the data's
    class names are a subset of the model's labels (the data's targets are re-indexed onto
    them: fine-tuning keeps what the head knows); otherwise the head is replaced. The returned
    line says which, for a pretrained start.
    """
    from ..data.mixing import onto_classes
    from ..models import load

    if not pretrained:
        return load(name, pretrained=False, labels=list(train.classes), device=device), train, val, ""
    import torch

    rng = torch.random.get_rng_state()
    model = load(name, device=device)
    labels = tuple(model.labels)
    if tuple(train.classes) == labels:
        return model, train, val, f"starting from {name}'s weights, its {len(labels)}-class head kept"
    known = {label.lower() for label in labels}
    if all(c.lower() in known for c in train.classes):
        line = (f"starting from {name}'s weights, its {len(labels)}-class head kept: the data's classes "
                f"{list(train.classes)} map onto its labels {list(labels)}")
        return model, onto_classes(train, labels), onto_classes(val, labels), line
    torch.random.set_rng_state(rng)  # the new head's weights as if the model had been loaded once
    model = load(name, device=device, labels=list(train.classes))
    line = (f"starting from {name}'s weights with a new {len(train.classes)}-class head: the data's classes "
            f"{list(train.classes)} are not all among its labels {list(labels)}")
    return model, train, val, line


def _shrunk_model(spec: Recipe, train: Any, val: Any, device: str | None, *, fit: bool,
                  progress: bool, teacher: Any = None) -> tuple[Any, Any, Any, str]:
    """``spec.model`` started from ``spec.shrink_from``'s weights (see :func:`~facexpr.training.shrink`),
    and the data with its targets on that model's classes; with ``fit=False`` the model only has
    the right shape and labels (a resumed run loads its weights from the checkpoint). A
    ``teacher`` of other classes is refused before the (long) shrinking starts."""
    from ..models import load
    from .distillation import teacher_class_order
    from .shrinking import shrink

    source, train, val, line = _starting_model(spec.shrink_from, True, train, val, device)
    if teacher is not None:
        teacher_class_order(teacher.labels, train.classes)
    model = load(spec.model, pretrained=False, labels=list(source.labels), device=device)
    if fit:
        log = (lambda text: print(f"facexpr: shrinking: {text}", file=sys.stderr)) if progress else None
        shrink(source, model, train.images, seed=spec.seed, log=log)
    return model, train, val, f"{line}, shrunk to {spec.model}"


def fit_keeping_best(
    trainer: Trainer,
    train: Any,
    val: Any,
    out: str | os.PathLike,
    *,
    epochs: int,
    batch_size: int,
    resume: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Fit ``trainer`` with a checkpoint in ``out``, keeping the best epoch by val accuracy.

    What :func:`train_recipe` does once it has its model and data, for data sets it does not
    build (e.g. your own targets): ``out/checkpoint.pt`` (to resume), ``out/best/`` (the
    ``save_pretrained`` folder of the best epoch) and ``out/history.csv``. Resuming keeps the
    best epoch of the earlier run unless a new one beats it.

    Args:
        trainer: The :class:`~facexpr.training.Trainer` (or a subclass) holding the model.
        train: Training data (a :class:`~facexpr.data.FaceDataset` or what ``fit`` takes).
        val: Validation data: picks the best epoch.
        out: Output folder.
        epochs: Epochs to train in all.
        batch_size: Batch size.
        resume: Resume from ``out/checkpoint.pt`` if it exists.
        progress: Show progress bars.
        callbacks: More callbacks for ``fit``.

    Returns:
        The ``best/`` folder.

    Example:
        >>> import tempfile
        >>> import torch
        >>> import facexpr
        >>> from facexpr.data import FaceDataset
        >>> from facexpr.training import Trainer
        >>> from facexpr.training.recipes import fit_keeping_best
        >>> faces = FaceDataset(torch.zeros(8, 48, 48, dtype=torch.uint8), torch.tensor([0, 1] * 4), ("a", "b"))
        >>> trainer = Trainer(facexpr.load("simple", pretrained=False, labels=["a", "b"], device="cpu"), device="cpu")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     best = fit_keeping_best(trainer, faces, faces, tmp, epochs=1, batch_size=4, progress=False)
        ...     print(best.name, facexpr.load(best, device="cpu").labels)
        best ('a', 'b')
    """
    from ..models import ModelConfig
    from .callbacks import CSVLogger, ModelCheckpoint

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    previous_best = None
    if resume and checkpoint.is_file() and (out / "best" / "config.json").is_file():
        previous = ModelConfig.from_file(out / "best" / "config.json")  # + metrics.json
        previous_best = previous.metrics["checkpoint"]["val_accuracy"]
    best = ModelCheckpoint(out / "best", monitor="val_accuracy", initial_value_threshold=previous_best)
    trainer.fit(
        train, val=val, epochs=epochs, batch_size=batch_size,
        callbacks=[best, CSVLogger(out / "history.csv"), *callbacks], checkpoint=checkpoint,
        resume=checkpoint if resume and checkpoint.is_file() else None, progress=progress,
    )
    return out / "best"
