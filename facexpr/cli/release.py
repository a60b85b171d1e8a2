"""``facexpr release``: calibrate, measure val and test, and write a release folder with a model card."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``release`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    p = subparsers.add_parser(
        "release", parents=parents, help="calibrate, measure val and test, write a release folder with a model card",
        description="Fit a temperature on FER2013 val, measure val and test (once), and write a "
        "release folder: model.safetensors, config.json, README.md model card, confusion_matrix.png.",
    )
    p.add_argument("--model", required=True, help="trained model folder (e.g. runs/better/best)")
    p.add_argument("--data", required=True, action="append",
                   help="FER2013 folder or fer2013.csv, or a FER+ folder; repeat it (FER2013, FER+, faces in photos) "
                   "for a model of the mixed recipe")
    p.add_argument("--dev", default=None, help="mixed recipe: a face-box development set to measure (e.g. ExpW photos)")
    p.add_argument("--out", required=True, help="release folder to write")
    p.add_argument("--name", default=None, help="public model name (default: the architecture)")
    p.add_argument("--command", dest="card_command", default=None, help="training command to quote in the model card")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr release`` with the parsed ``args``; return the exit status."""
    from ..release import build_release

    data = args.data[0] if len(args.data) == 1 else args.data
    metrics = build_release(args.model, data, args.out, name=args.name, command=args.card_command, dev=args.dev)
    tried = ", ".join(f"{float(c):.4f}: {a:.4f}" for c, a in metrics["val_crop_pct_accuracy"].items())
    print(f"crop_pct chosen on val (accuracy by crop_pct: {tried})")
    for split in ("val", "test"):
        m = metrics[split]
        print(
            f"{split}: accuracy {m['accuracy']:.4f}, with TTA {m['accuracy_tta']:.4f}, macro-F1 "
            f"{m['macro_f1']:.4f}, ECE {m['ece']:.4f} -> {m['ece_calibrated']:.4f} calibrated"
        )
    for source, m in (metrics.get("sources") or {}).items():
        print(f"{source}: accuracy {m['accuracy']:.4f}, with TTA {m['accuracy_tta']:.4f}, macro-F1 "
              f"{m['macro_f1']:.4f}, ECE {m['ece']:.4f} -> {m['ece_calibrated']:.4f} calibrated ({m['n']} faces)")
    print(f"Release folder written to {args.out}")
    return 0
