"""Train one of the zoo's models from its recipe on FER2013, then evaluate it on val.

This is what ``facexpr train --recipe NAME`` does: train from scratch on FER2013 ``train``,
keep the epoch with the best ``val`` accuracy in ``OUT/best``, write ``OUT/history.csv`` and
``OUT/checkpoint.pt`` after every epoch (running the command again resumes from it). It also
runs unchanged on several GPUs or machines: ``torchrun --nproc_per_node=4
examples/train_zoo_model.py ...`` (``--batch-size`` is then per process).

Usage:
    python examples/train_zoo_model.py --recipe better --data path/to/fer2013 --out runs/better
    python examples/train_zoo_model.py --recipe seed-better --data fer2013.csv --out runs/seed --epochs 5
"""

from __future__ import annotations

import argparse
import sys

import facexpr
from facexpr.data import FER2013
from facexpr.training import Trainer
from facexpr.training.recipes import RECIPES, get_recipe, train_recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="better", choices=sorted(RECIPES), help="recipe (default: better)")
    parser.add_argument("--data", required=True, help="FER2013: folder with train/ val/ test/, or fer2013.csv")
    parser.add_argument("--out", required=True, help="output folder (best/, history.csv, checkpoint.pt)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's number of epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override the recipe's batch size")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    # A recipe holds every setting of the run; any field can be overridden.
    recipe = get_recipe(args.recipe, epochs=args.epochs, batch_size=args.batch_size)
    print(f"recipe {args.recipe}: {recipe}")

    # Trains, checkpoints every epoch, resumes from OUT/checkpoint.pt if it exists, and saves
    # the best epoch by val accuracy as a save_pretrained folder. Test data is never used.
    best = train_recipe(recipe, args.data, args.out, progress=not args.no_progress, device=args.device)

    # Load the best epoch back and measure it on val (the number the epoch was chosen on).
    model = facexpr.load(best, device=args.device)
    report = Trainer(model, device=args.device).evaluate(FER2013(args.data, "val"))
    print(f"best model in {best}: val accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
    print(f"next: facexpr release --model {best} --data {args.data} --out release/{args.recipe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
