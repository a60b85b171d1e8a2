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

Each run writes ``OUT/<lever>/best`` (the best epoch on FER+ PublicTest) and resumes when
killed. Score them with ``benchmarks/bench_levers.py``. On a 2-core CPU an epoch of
``better`` takes 100-130 s on one thread::

    OMP_NUM_THREADS=1 python benchmarks/train_levers.py control --out runs/levers
    OMP_NUM_THREADS=1 python benchmarks/train_levers.py wild --out runs/levers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from facexpr.training.recipes import Recipe, train_recipe  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
LEVERS = {"control": "strong", "wild": "wild", "majority": "strong", "both": "strong", "distilled": "strong"}
START = {"control": "better.ferplus", "wild": "better.ferplus", "majority": "better.ferplus", "both": "better",
         "distilled": "better.ferplus"}
"""The released weights each run starts from."""


def lever_recipe(lever: str, epochs: int, teacher: str | None = None) -> Recipe:
    """The recipe of one lever's run (see the module docstring)."""
    return Recipe(
        START[lever], epochs=epochs, optimizer="adamw", lr=1e-3, weight_decay=0.05,
        scheduler="onecycle", label_smoothing=0.0, augment=LEVERS[lever], seed=0,
        dataset="ferplus-majority" if lever == "majority" else "ferplus-probability", teacher=teacher,
        teacher_mode="cached",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lever", choices=sorted(LEVERS))
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "levers")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--teacher", default=None, help="the teacher of 'distilled' (name or folder)")
    args = parser.parse_args(argv)
    if (args.lever == "distilled") != (args.teacher is not None):
        parser.error("--teacher goes with the 'distilled' lever, and only with it")
    best = train_recipe(lever_recipe(args.lever, args.epochs, args.teacher), args.data, args.out / args.lever,
                        pretrained=True)
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
