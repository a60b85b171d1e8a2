"""``facexpr evaluate``: accuracy, per-class table and confusion matrix of a model on a data set."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import positive_int

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    p = subparsers.add_parser("evaluate", parents=parents, help="accuracy, per-class table and confusion matrix on a data set")
    p.add_argument("--model", required=True, help="model name, saved folder or Hub repo")
    p.add_argument("--data", required=True, help="FER2013 folder/CSV, a FER+ folder (also reports KL and ECE against "
                   "the votes), faces in photos (faces.csv + images/), or a folder of class folders")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="FER2013/FER+ split (default: test)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr evaluate`` with the parsed ``args``; return the exit status."""
    from ..data.layouts import find_layout, open_split
    from ..labels import FERPLUS_LABELS
    from ..models import load
    from ..training import Trainer

    model = load(args.model, device=args.device)
    layout = find_layout(args.data, args.split)
    # FER+ votes for an eight-class FER+ model, FER2013's labels for the others where both are there
    data = open_split(args.data, args.split, classes=None if layout == "faceboxes" else model.labels,
                      prefer_fer2013=tuple(model.labels) != FERPLUS_LABELS)
    report = Trainer(model, device=args.device).evaluate(data, batch_size=args.batch_size, progress=True)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{len(data)} images, accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, loss {report['loss']:.4f}")
    if "kl_divergence" in report:
        print(f"against the votes: KL divergence {report['kl_divergence']:.4f}, ECE {report['ece_votes']:.4f} "
              "(accuracy is against the majority vote)")
    print()
    scored = list(report["per_class"])  # the data's classes, when they are some of the model's
    if scored != list(model.labels):
        print(f"scored over the data's {len(scored)} classes (the model has {len(model.labels)})")
    width = max(len("class"), *(len(c) for c in scored))
    print(f"{'class':<{width}}  precision  recall  f1     support")
    for label, row in report["per_class"].items():
        print(f"{label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:.3f}  {row['support']:7d}")
    print()
    print("confusion matrix (rows: true, columns: predicted)")
    short = [label[:7] for label in scored]
    print(" " * (width + 2) + " ".join(f"{s:>7}" for s in short))
    for label, row in zip(scored, report["confusion_matrix"]):
        print(f"{label:<{width}}  " + " ".join(f"{v:>7d}" for v in row))
    return 0
