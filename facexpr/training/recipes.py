"""Training recipes: the exact settings that produce facexpr's released weights.

``facexpr train --recipe better --data PATH --out DIR`` runs :func:`train_recipe`. Each
official model has a facexpr recipe (``"better"``...) and the seed project's original
recipe (``"seed-better"``...) for comparison.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .._io import atomic_write

__all__ = ["Recipe", "RECIPES", "get_recipe", "train_recipe"]


@dataclass(frozen=True)
class Recipe:
    """Every setting of one training run.

    Attributes:
        model: Architecture name.
        epochs: Number of epochs; the released weights are those of the best epoch on val.
        batch_size: Training batch size.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        lr: (Peak) learning rate.
        weight_decay: Weight decay.
        scheduler: Learning-rate schedule (see :data:`~facexpr.training.SCHEDULERS`).
        label_smoothing: Cross-entropy label smoothing.
        augment: Augmentation preset (see :data:`~facexpr.data.AUGMENT_PRESETS`).
        seed: Random seed.
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

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as a dict (stored in the released ``config.json``)."""
        return asdict(self)


_FACEXPR = dict(
    optimizer="adamw", lr=3e-3, weight_decay=0.05, scheduler="onecycle", label_smoothing=0.1,
    augment="strong", batch_size=64,
)

RECIPES: dict[str, Recipe] = {
    "simple": Recipe("simple", epochs=25, **_FACEXPR),
    "improved": Recipe("improved", epochs=25, **_FACEXPR),
    "better": Recipe("better", epochs=40, **_FACEXPR),
    # The seed project's recipes, reproduced for comparison.
    "seed-simple": Recipe("simple", epochs=10, optimizer="adam", lr=1e-3, augment=None),
    "seed-improved": Recipe("improved", epochs=10, optimizer="adam", lr=1e-3, augment=None),
    "seed-better": Recipe("better", epochs=30, optimizer="adam", lr=1e-3, augment="seed"),
}
"""Recipe name -> :class:`Recipe`."""


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """Return the recipe ``name``, with any field overridden (e.g. ``epochs=1``).

    Raises:
        ValueError: If the recipe or an overridden field is unknown.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Available: {', '.join(sorted(RECIPES))}.")
    fields = set(Recipe.__dataclass_fields__)
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ValueError(f"Unknown recipe fields {bad}. Valid: {', '.join(sorted(fields))}.")
    return replace(RECIPES[name], **{k: v for k, v in overrides.items() if v is not None})


def train_recipe(
    recipe: str | Recipe,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
    device: str | None = None,
) -> Path:
    """Train a recipe on FER2013 ``train``, keep the best epoch on ``val``, write the folder.

    Writes into ``out``: ``checkpoint.pt`` (full training state after every epoch, used to
    resume), ``best/`` (the ``save_pretrained`` folder of the best epoch by val accuracy) and
    ``history.csv``. Test data is never touched here.

    Args:
        recipe: A recipe name or :class:`Recipe`.
        data: FER2013 root (image folders or CSV).
        out: Output folder.
        resume: Continue from ``out/checkpoint.pt`` when it exists.
        progress: Show progress bars.
        device: Training device (default: the best available).

    Returns:
        The ``best/`` folder.
    """
    from ..data import FER2013
    from ..models import load
    from .callbacks import CSVLogger, ModelCheckpoint
    from .trainer import Trainer

    spec = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recipe_text = json.dumps(spec.to_dict(), indent=2) + "\n"
    atomic_write(out / "recipe.json", lambda tmp: tmp.write_text(recipe_text, encoding="utf-8"))
    train, val = FER2013(data, "train"), FER2013(data, "val")
    model = load(spec.model, pretrained=False, device=device)
    model.config.recipe = spec.to_dict()
    trainer = Trainer(
        model, optimizer=spec.optimizer, lr=spec.lr, weight_decay=spec.weight_decay,
        scheduler=spec.scheduler, label_smoothing=spec.label_smoothing, augment=spec.augment,
        seed=spec.seed, metrics=("accuracy", "macro_f1"), device=device,
    )
    checkpoint = out / "checkpoint.pt"
    best = ModelCheckpoint(out / "best", monitor="val_accuracy")
    if resume and checkpoint.is_file() and (out / "best" / "config.json").is_file():
        previous = json.loads((out / "best" / "config.json").read_text())
        best._monitor.best = previous["metrics"]["checkpoint"]["val_accuracy"]
    trainer.fit(
        train, val=val, epochs=spec.epochs, batch_size=spec.batch_size,
        callbacks=[best, CSVLogger(out / "history.csv")], checkpoint=checkpoint,
        resume=checkpoint if resume and checkpoint.is_file() else None, progress=progress,
    )
    return out / "best"
