"""Candidates for the default model on all three label sources at once: the trade-off, not only the winner.

Each model is scored, single view (its own ``crop_pct``), on:

* **FER2013** ``val`` (or ``test``) with FER2013's own labels, over the seven classes;
* **FER+** ``val`` (or ``test``) against the majority of the votes, over the eight classes
  (a seven-class model cannot answer ``contempt``, 0.6% of the faces);
* **ExpW crops**: the labelled faces of an ExpW subset in the face-box layout (by default
  ``../shared/data/expw``, the development set: 750 faces), each box squared and cut as
  :class:`facexpr.data.FaceBoxes` cuts it, over the seven classes; with the expected calibration
  error (15 bins) and mean confidence of those seven-class probabilities, which is what a user
  who filters faces by confidence relies on.

``--ensemble NAME=A+B+C`` adds the mean of those models' (calibrated) probabilities as one more
row: what the label sources' specialists know together, the reference a single model trained
on all three sources is measured against.

Choices are made on validation data (``--split val``, the default); ``--split test`` measures a
chosen model once. Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_sources --models vgg8_bn.ferplus,vgg8_bn \\
        --extra mixed=runs/mixed/best --out docs/benchmarks/sources.md
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

import facexpr
from ._report import Run, publish
from facexpr.data import FER2013, FaceBoxes, FERPlus
from facexpr.labels import FER2013_LABELS
from facexpr.metrics import expected_calibration_error

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_sources results -->"
SEVEN = tuple(FER2013_LABELS)


@dataclass
class Row:
    """One model's figures."""

    name: str
    source: str
    fer2013: float
    ferplus: float
    expw: float
    expw_ece: float
    expw_confidence: float

    @property
    def mean(self) -> float:
        """The mean of the three accuracies: the one number the candidates are ranked by."""
        return (self.fer2013 + self.ferplus + self.expw) / 3


class MeanOfModels:
    """Several models read as one: the mean of their probabilities, over the classes asked for.

    A member without one of those classes (a seven-class model asked for ``contempt``) gives it
    probability 0; each member's probabilities over the classes asked for are renormalised first,
    as :meth:`facexpr.FaceModel.predict_proba` does with ``classes``.
    """

    def __init__(self, members: Sequence[facexpr.FaceModel]) -> None:
        self.members = list(members)

    def predict_proba(self, images: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        """``N x len(classes)`` probabilities: the members' mean."""
        total = torch.zeros(len(images), len(classes))
        for model in self.members:
            probs = model.predict_proba(images)
            columns = [probs[:, model.labels.index(c)] if c in model.labels else torch.zeros(len(images))
                       for c in classes]
            chosen = torch.stack(columns, dim=1)
            total += chosen / chosen.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return total / len(self.members)


def _probs(model: facexpr.FaceModel | MeanOfModels, images: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
    if isinstance(model, MeanOfModels):
        return model.predict_proba(images, classes)
    if tuple(classes) == tuple(model.labels) or not set(classes) <= set(model.labels):
        return model.predict_proba(images)
    return model.predict_proba(images, classes=list(classes))


def score(model: facexpr.FaceModel | MeanOfModels, name: str, source: str, fer: FER2013, plus: FERPlus,
          expw: FaceBoxes) -> Row:
    """Score one model (or a mean of models) on the three sources."""
    fer_acc = float((_probs(model, fer.images, SEVEN).argmax(1) == fer.targets).float().mean())
    plus_probs = _probs(model, plus.images, plus.classes)
    plus_acc = float((plus_probs.argmax(1) == plus.targets).float().mean())
    probs = _probs(model, expw.images, SEVEN)
    expw_acc = float((probs.argmax(1) == expw.targets).float().mean())
    ece = expected_calibration_error(probs, expw.targets)
    return Row(name, source, fer_acc, plus_acc, expw_acc, ece, float(probs.max(1).values.mean()))


def load_models(official: list[str], extra: list[str],
                ensembles: Sequence[str] = ()) -> dict[str, tuple[facexpr.FaceModel | MeanOfModels, str]]:
    """Official names, then ``NAME=PATH`` folders (anything :func:`facexpr.load` takes), then
    ``NAME=A+B`` means of models (each member an official name or a path)."""
    models: dict[str, tuple[facexpr.FaceModel | MeanOfModels, str]] = {
        name: (facexpr.load(name, device="cpu"), "official") for name in official}
    for item in extra:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--extra wants NAME=PATH, got {item!r}")
        models[name] = (facexpr.load(path, device="cpu"), path)
    for item in ensembles:
        name, sep, members = item.partition("=")
        parts = [m.strip() for m in members.split("+") if m.strip()]
        if not sep or len(parts) < 2:
            raise SystemExit(f"--ensemble wants NAME=A+B[+...], got {item!r}")
        models[name] = (MeanOfModels([facexpr.load(m, device="cpu") for m in parts]), "mean of " + ", ".join(parts))
    return models


def table(rows: list[Row], split: str) -> list[str]:
    """The Markdown table, best mean first."""
    lines = [
        f"| model | FER2013 {split} (own labels, 7 classes) | FER+ {split} (majority, 8 classes) | ExpW crops (7 classes) "
        "| mean of the three | ExpW ECE | ExpW mean confidence | weights |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r.mean):
        lines.append(f"| {r.name} | {r.fer2013:.4f} | {r.ferplus:.4f} | {r.expw:.4f} | {r.mean:.4f} | "
                     f"{r.expw_ece:.3f} | {r.expw_confidence:.3f} | {r.source} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Score the models and print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fer2013", type=Path, default=SHARED / "data" / "fer2013", help="FER2013 folder")
    parser.add_argument("--ferplus", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--expw", type=Path, default=SHARED / "data" / "expw",
                        help="face-box data to read (default: the ExpW development set)")
    parser.add_argument("--split", choices=["val", "test"], default="val", help="FER2013 / FER+ split (default: val)")
    parser.add_argument("--models", default="", help="comma-separated official models")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH", help="a model from a folder")
    parser.add_argument("--ensemble", action="append", default=[], metavar="NAME=A+B",
                        help="the mean of several models' probabilities, as one more row")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    run = Run()
    models = load_models([m.strip() for m in args.models.split(",") if m.strip()], args.extra, args.ensemble)
    if not models:
        parser.error("no model to score: give --models and/or --extra")
    fer = FER2013(args.fer2013, args.split)
    plus = FERPlus(args.ferplus, args.split, labels="majority")
    expw = FaceBoxes(args.expw)
    rows = [score(model, name, source, fer, plus, expw) for name, (model, source) in models.items()]
    body = [
        f"FER2013 {args.split}: {len(fer)} faces; FER+ {args.split}: {len(plus)} faces; ExpW crops: {len(expw)} "
        f"faces of `{args.expw.name}`.",
        "",
        *table(rows, args.split),
    ]
    publish(run, torch.get_num_threads(), "benchmarks.bench_sources", argv, body, args.out, MARKER,
            "# Candidates on the three label sources")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
