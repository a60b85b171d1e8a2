"""``facexpr train``: train a model from a recipe, on FER2013, FER+, photos or your own class folders."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import float_in, logger_callbacks, positive_int

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    p = subparsers.add_parser(
        "train", parents=parents, help="train a model from a recipe, on FER2013 or your own class folders",
        description="Train a model with a recipe and keep the epoch with the best validation accuracy "
        "in OUT/best (resumes from OUT/checkpoint.pt). DATA is FER2013 (trains on 'train', selects on "
        "'val'), your own DATA/train/<class>/ and DATA/val/<class>/ folders, or one DATA/<class>/ tree "
        "split by --val-fraction. Example: facexpr train --model better --data my_faces --out runs/mine "
        "--pretrained --epochs 10",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--recipe", help="recipe name: better, improved, simple, vgg8_bn, vgg7_bn, better-kd, seed-better, "
                      "better.ferplus, vgg8_bn.ferplus, vgg8_bn.mixed, vgg7_bn.mixed (the default model's), ...")
    what.add_argument("--model", help="architecture or released model (e.g. vgg8_bn.ferplus); uses its recipe's "
                      "training settings, not how the release started or was distilled (--recipe NAME reproduces "
                      "that); with --pretrained, starts from that model's own weights")
    p.add_argument("--data", required=True, action="append",
                   help="FER2013 folder or fer2013.csv, a FER+ folder (with a .ferplus recipe), faces in photos "
                   "(faces.csv + images/), or your class folders; repeat it for a mixed recipe (vgg8_bn.mixed)")
    p.add_argument("--out", required=True, help="output folder (checkpoint.pt, best/, history.csv)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=positive_int, default=None, help="override the recipe's batch size")
    p.add_argument("--lr", type=float_in(0, float("inf"), low_open=True), default=None, help="override the recipe's learning rate")
    p.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    p.add_argument("--pretrained", action="store_true",
                   help="start from the released weights (fine-tuning); the head is kept when your classes are "
                   "among the model's labels (your faces are scored on it), replaced otherwise")
    p.add_argument("--freeze", choices=["features"], default=None, help="train only the classifier head")
    p.add_argument("--shrink-from", default=None, metavar="MODEL",
                   help="start from this larger trained model (name or folder, e.g. vgg8_bn.mixed) thinned to "
                   "the architecture's shape (facexpr.training.shrink), not from random weights")
    p.add_argument("--teacher", default=None,
                   help="distil from this trained model (name, folder or Hub repo) with the same classes")
    p.add_argument("--distill-alpha", type=float_in(0, 1), default=None,
                   help="weight of the distillation term, 0-1 (default: the recipe's, 0.5)")
    p.add_argument("--distill-temperature", type=float_in(0, float("inf"), low_open=True), default=None,
                   help="softmax temperature of the distillation term (default: the recipe's, 4)")
    p.add_argument("--teacher-mode", choices=["online", "cached"], default=None,
                   help="online: the teacher sees every augmented batch; cached: its logits of each "
                   "image are computed once (faster, approximate)")
    p.add_argument("--dataset", choices=["fer2013", "ferplus-majority", "ferplus-probability", "mixed"], default=None,
                   help="override the recipe's labels: FER2013's, or FER+'s majority votes or vote distributions "
                   "(DATA is then a FER+ folder)")
    p.add_argument("--val-fraction", type=float_in(0, 1, low_open=True, high_open=True), default=0.1,
                   help="share of each class held out for validation when DATA is a single class-folder tree")
    p.add_argument("--tensorboard", metavar="LOGDIR", default=None, help="log to TensorBoard (pip install tensorboard)")
    p.add_argument("--wandb", metavar="PROJECT", default=None,
                   help="log to Weights & Biases (pip install wandb; WANDB_MODE=offline works)")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT/checkpoint.pt exists")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr train`` with the parsed ``args``; return the exit status."""
    from ..training.recipes import get_recipe, recipe_for_model, train_recipe

    overrides = dict(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        teacher=args.teacher, distill_alpha=args.distill_alpha,
        distill_temperature=args.distill_temperature, teacher_mode=args.teacher_mode,
        dataset=args.dataset, shrink_from=args.shrink_from,
    )
    if args.recipe:
        recipe = get_recipe(args.recipe, **overrides)
        if args.pretrained and recipe.shrink_from:
            raise ValueError(f"--recipe {args.recipe} starts from {recipe.shrink_from} thinned to its shape (its "
                             "shrink_from), which --pretrained contradicts. To fine-tune a released model from its "
                             "own weights: facexpr train --model NAME --pretrained --data ... --out ...")
    else:
        recipe = recipe_for_model(args.model, args.data, pretrained=args.pretrained, **overrides)
    data = args.data[0] if len(args.data) == 1 else args.data
    best = train_recipe(
        recipe, data, args.out, resume=not args.no_resume, device=args.device,
        pretrained=args.pretrained, freeze=args.freeze, val_fraction=args.val_fraction,
        callbacks=logger_callbacks(args),
    )
    print(f"Best model (by val accuracy) saved to {best}")
    return 0
