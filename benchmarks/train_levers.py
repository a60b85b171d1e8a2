"""Train the runs of the faces-in-the-wild ablation (docs/benchmarks/levers.md).

Every run trains the same number of epochs on FER+'s vote distributions with the same
schedule (AdamW, one-cycle, peak learning rate 1e-3, seed 0); runs differ in one lever only:

* ``control``: from the released ``better.ferplus``, with the recipe's ``strong`` augmentation
  (flip, rotation, resized crop, erasing);
* ``wild``: the same with ``strong`` plus a detector's box jitter and photo degradations (the
  ``wild`` preset: downscale, blur, gamma, contrast, JPEG);
* ``majority``: ``control`` with each face's majority vote as its target instead of the vote
  distribution;
* ``both``: from the released ``better`` (FER2013's labels) with a new 8-class head, ``strong``
  augmentation: both data sets' labels, one after the other;
* ``distilled``: ``control`` plus a teacher's soft labels (``--teacher``, e.g. the
  ``vgg8_bn.ferplus`` weights; alpha 0.5, temperature 4, the teacher's logits cached once).

* ``mixed``: ``control`` on both data sets' labels at once: each face's target is the mean of
  its FER+ vote distribution and its FER2013 label (one-hot), which is what training on the
  two data sets mixed into one set (every face twice, once with each label) gives in
  expectation, at half the cost per epoch.

Two more runs measure a longer schedule for the flagship: they continue the released
``vgg8_bn.ferplus`` (12 epochs) with a second one-cycle of 8 epochs at half the peak learning
rate (5e-4), so that the flagship sees 20 epochs of FER+ in all:

* ``longer``: with the ``strong`` augmentation of its recipe;
* ``longer-wild``: with the ``wild`` preset.

Each run writes ``OUT/<lever>/best`` (the best epoch on FER+ PublicTest) and resumes when
killed. Score them with ``benchmarks/bench_levers.py``. On a 2-core CPU an epoch of
``better`` takes 100-130 s on one thread::

    OMP_NUM_THREADS=1 python -m benchmarks.train_levers control --out runs/levers
    OMP_NUM_THREADS=1 python -m benchmarks.train_levers wild --out runs/levers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from facexpr.data import FaceDataset, FERPlus
from facexpr.models import load
from facexpr.training import Trainer
from facexpr.training.recipes import Recipe, fit_keeping_best, train_recipe

REPO_ROOT = Path(__file__).resolve().parents[1]

SHARED = REPO_ROOT.parent / "shared"
LEVERS = {"control": "strong", "wild": "wild", "majority": "strong", "both": "strong", "distilled": "strong",
          "mixed": "strong", "longer": "strong", "longer-wild": "wild"}
START = {"control": "better.ferplus", "wild": "better.ferplus", "majority": "better.ferplus", "both": "better",
         "distilled": "better.ferplus", "mixed": "better.ferplus", "longer": "vgg8_bn.ferplus",
         "longer-wild": "vgg8_bn.ferplus"}
"""The released weights each run starts from."""
SCHEDULE = {"longer": (8, 5e-4), "longer-wild": (8, 5e-4)}
"""Epochs and peak learning rate of the runs that do not take the common (``--epochs``, 1e-3)."""


def lever_recipe(lever: str, epochs: int, teacher: str | None = None) -> Recipe:
    """The recipe of one lever's run (see the module docstring)."""
    epochs, lr = SCHEDULE.get(lever, (epochs, 1e-3))
    return Recipe(
        START[lever], epochs=epochs, optimizer="adamw", lr=lr, weight_decay=0.05,
        scheduler="onecycle", label_smoothing=0.0, augment=LEVERS[lever], seed=0,
        dataset="ferplus-majority" if lever == "majority" else "ferplus-probability", teacher=teacher,
        teacher_mode="cached",
    )


def mixed_targets(train: FERPlus) -> FaceDataset:
    """``train`` with each target the mean of its vote distribution and its FER2013 label.

    The FER2013 label is the class folder of the face's FER2013 image (``train/angry/...``), so
    ``train`` must come from FER+'s ``ferplus.csv`` joined to the FER2013 folders.
    """
    folders = [Path(path).parent.name for path in train.paths or ()]
    unknown = sorted({name for name in folders if name not in train.classes})
    if not folders or unknown:
        raise ValueError(f"The 'mixed' lever needs FER+ joined to FER2013's class folders (ferplus.csv); "
                         f"these images are not in class folders: {unknown[:3] or 'no paths'}.")
    fer2013_label = torch.tensor([train.classes.index(name) for name in folders])
    one_hot = torch.nn.functional.one_hot(fer2013_label, len(train.classes)).to(train.votes.dtype)
    return FaceDataset(train.images, (train.votes + one_hot) / 2, train.classes, train.paths)


def train_mixed(recipe: Recipe, data: Path, out: Path) -> Path:
    """Train ``recipe`` on :func:`mixed_targets`, keeping the best epoch on FER+ val in ``out/best``."""
    torch.manual_seed(recipe.seed)
    model = load(recipe.model, device="cpu")
    model.config.recipe = {**recipe.to_dict(), "pretrained": True, "dataset": "ferplus-probability+fer2013"}
    trainer = Trainer(model, optimizer=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay,
                      scheduler=recipe.scheduler, label_smoothing=recipe.label_smoothing, augment=recipe.augment,
                      seed=recipe.seed, metrics=("accuracy", "macro_f1"), device="cpu")
    return fit_keeping_best(trainer, mixed_targets(FERPlus(data, "train", labels="probability")),
                            FERPlus(data, "val", labels="probability"), out, epochs=recipe.epochs,
                            batch_size=recipe.batch_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lever", choices=sorted(LEVERS))
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "levers")
    parser.add_argument("--epochs", type=int, default=6,
                        help="epochs of every run but 'longer' and 'longer-wild' (8)")
    parser.add_argument("--teacher", default=None, help="the teacher of 'distilled' (name or folder)")
    args = parser.parse_args(argv)
    if (args.lever == "distilled") != (args.teacher is not None):
        parser.error("--teacher goes with the 'distilled' lever, and only with it")
    recipe = lever_recipe(args.lever, args.epochs, args.teacher)
    if args.lever == "mixed":
        best = train_mixed(recipe, args.data, args.out / args.lever)
    else:
        best = train_recipe(recipe, args.data, args.out / args.lever, pretrained=True)
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
