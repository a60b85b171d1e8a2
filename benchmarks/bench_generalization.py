"""How well does it generalise? Every official model on FER2013, FER+ and faces in the wild.

Each model is scored, single view (its own ``crop_pct``), no test-time augmentation, in the seven
classes FER2013, FER+ and ExpW share (``facexpr.FER2013_LABELS``; an 8-class FER+ model answers
with ``classes=FER2013_LABELS``, its probabilities renormalised over those seven):

* **FER2013 test** (``PrivateTest``, 3,589 faces, one label each);
* **FER+ test** (the same faces, FER+'s majority of ten votes): the faces whose majority is one of
  FER2013's seven (``contempt`` majorities are left out, as are the faces FER+ drops);
* **ExpW crops**: the labelled faces of ``../shared/data/expw`` (750 faces in 600 web photos), cut
  at their labelled boxes the way facexpr cuts a detector's box (the box squared around its
  centre, ``CropSpec(1.0, 0.0)``, :mod:`benchmarks.protocol`): recognition alone.
  Reported with accuracy, macro-F1 and a 95% Wilson interval on the accuracy;
* **ExpW photos**: the whole photos through :func:`facexpr.predict` with YuNet; a labelled face
  counts as found when a detected box, squared, overlaps it with IoU >= 0.4
  (:func:`benchmarks.protocol.match_found`) and as wrong when it is not found. The detector runs once per photo and its faces go
  to every model, so every model sees the same crops.

The model that reads the ExpW crops best is compared with every other model, and in words with the
second best, on the same faces: the paired difference of their accuracies, with a 95% interval from a paired bootstrap that resamples
whole photos (faces of one photo are not independent), and the share of resamples in which the
best stays ahead.

Run it from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_generalization \\
        [--extra better.ferplus=runs/better.ferplus/best ...] \\
        --out docs/benchmarks/generalization.md

``--models`` picks official models (default: every one with weights); ``--extra NAME=PATH`` adds
models from a folder written by ``save_pretrained`` (or any name ``facexpr.load`` takes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.data import FER2013, FERPlus
from facexpr.detection import YuNetDetector, detect
from facexpr.errors import WeightsNotAvailableError
from facexpr.metrics import classification_report, confusion_matrix
from facexpr.transforms import to_rgb_uint8

from ._report import Run, publish
from .protocol import IOU_FOUND, SEVEN, Cached, Given, Labels, clip_box, load_labels, match_found, paired_bootstrap, wilson

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_generalization results -->"
FER_PACKAGE_EXPW = 0.296  # `fer`'s 2018 model on the same ExpW crops: benchmarks/bench_peers.py (docs/benchmarks/peers.md)
FER_PACKAGE_FER2013 = 0.658  # ... and on all 3,589 FER2013 test faces (bench_peers without --limit, 2026-12-02)


# -- scoring ---------------------------------------------------------------------------------------


@dataclass
class Scores:
    name: str
    source: str
    classes: int
    fer2013: float = math.nan
    ferplus: float = math.nan
    crops_hits: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    crops_pred: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    photos_hits: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    photos_found_hits: int = 0

    @property
    def crops_acc(self) -> float:
        return float(self.crops_hits.mean())


def split_accuracy(model: facexpr.FaceModel, images: torch.Tensor, targets: torch.Tensor) -> float:
    probs = model.predict_proba(images, classes=SEVEN)
    return float((probs.argmax(1) == targets).float().mean())


def score_expw(models: dict[str, facexpr.FaceModel], scores: dict[str, Scores], data: Path,
               labels: Labels, names: list[str],
               yunet: YuNetDetector) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill each model's ExpW hits; return (true class ids, photo index of each face, found mask)."""
    truth_ids: list[int] = []
    groups: list[int] = []
    found_mask: list[bool] = []
    crops = {name: [] for name in models}
    photos = {name: [] for name in models}
    for photo, image_name in enumerate(names):
        rgb = to_rgb_uint8(data / "images" / image_name)
        height, width = rgb.shape[:2]
        truth = [(clip_box(b, width, height), label) for b, label in labels[image_name]]
        given = np.stack([b for b, _ in truth])
        order = np.lexsort((given[:, 1] + given[:, 3] / 2, given[:, 0] + given[:, 2] / 2))
        truth = [truth[i] for i in order]  # the order facexpr.predict returns faces in (left to right)
        boxes = np.stack([b for b, _ in truth])
        found = detect(rgb, yunet)
        cached = Cached(found)
        truth_ids += [SEVEN.index(label) for _, label in truth]
        groups += [photo] * len(truth)
        matched: list[int | None] = []
        for name, model in models.items():
            faces = facexpr.predict(rgb, model=model, detect=True, detector=Given(boxes), classes=SEVEN)
            if len(faces) != len(truth):
                raise RuntimeError(f"{image_name}: {len(truth)} labelled faces but {len(faces)} crops came back")
            crops[name] += [SEVEN.index(f.label) for f in faces]
            faces = facexpr.predict(rgb, model=model, detect=True, detector=cached, classes=SEVEN)
            if not matched:
                matched = match_found(boxes, np.array([f.box for f in faces], dtype=np.float64))
            photos[name] += [SEVEN.index(faces[j].label) if j is not None else -1 for j in matched]
        found_mask += [j is not None for j in matched]
        if (photo + 1) % 100 == 0:
            print(f"  ExpW: {photo + 1}/{len(names)} photos", file=sys.stderr)
    truth_arr = np.array(truth_ids)
    found_arr = np.array(found_mask)
    for name in models:
        pred = np.array(crops[name])
        scores[name].crops_pred = pred
        scores[name].crops_hits = pred == truth_arr
        hits = np.array(photos[name]) == truth_arr
        scores[name].photos_hits = hits
        scores[name].photos_found_hits = int(hits[found_arr].sum())
    return truth_arr, np.array(groups), found_arr


def macro_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    cm = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(truth), len(SEVEN))
    return classification_report(cm, SEVEN)["macro_f1"]


# -- main ------------------------------------------------------------------------------------------


def load_models(official: list[str], extra: list[str]) -> tuple[dict[str, facexpr.FaceModel], dict[str, str]]:
    models: dict[str, facexpr.FaceModel] = {}
    sources: dict[str, str] = {}
    for name in official:
        try:
            models[name] = facexpr.load(name, device="cpu")
            sources[name] = "official"
        except WeightsNotAvailableError:
            print(f"skipping {name}: no weights", file=sys.stderr)
    for item in extra:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--extra takes NAME=PATH, got {item!r}")
        models[name] = facexpr.load(path, device="cpu")
        sources[name] = f"`{path}`"
    for name, model in models.items():
        missing = [c for c in SEVEN if c not in model.labels]
        if missing:
            raise SystemExit(f"model {name} lacks the classes {missing}; it cannot be read in FER2013's seven")
    return models, sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fer2013", type=Path, default=SHARED / "data" / "fer2013", help="FER2013 folder")
    parser.add_argument("--ferplus", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--expw", type=Path, default=SHARED / "data" / "expw", help="ExpW subset (faces.csv, images/)")
    parser.add_argument("--yunet", type=Path,
                        default=SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx",
                        help="YuNet .onnx file")
    parser.add_argument("--models", default=None,
                        help="comma-separated official models (default: every one with weights)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                        help="add a model from a folder (save_pretrained) or any name facexpr.load takes")
    parser.add_argument("--limit", type=int, default=None, help="use the first N ExpW photos (default: all)")
    parser.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)

    if not (args.expw / "faces.csv").is_file():
        parser.error(f"{args.expw} has no faces.csv; pass --expw (the ExpW subset of ../shared/data/expw)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    run = Run()
    official = args.models.split(",") if args.models else facexpr.list_models(tags=True)
    models, sources = load_models([m.strip() for m in official if m.strip()], args.extra)
    if not models:
        parser.error("no model to score")
    scores = {name: Scores(name, sources[name], model.num_classes) for name, model in models.items()}

    fer = FER2013(args.fer2013, "test")
    plus = FERPlus(args.ferplus, "test", labels="majority")
    keep = plus.majority < len(SEVEN)
    plus_images, plus_targets = plus.images[keep], plus.majority[keep]
    for name, model in models.items():
        scores[name].fer2013 = split_accuracy(model, fer.images, fer.targets)
        scores[name].ferplus = split_accuracy(model, plus_images, plus_targets)
        print(f"{name}: FER2013 {scores[name].fer2013:.4f}, FER+ {scores[name].ferplus:.4f}", file=sys.stderr)

    labels = load_labels(args.expw, SEVEN)
    names = sorted(labels)[: args.limit] if args.limit else sorted(labels)
    yunet = YuNetDetector(str(args.yunet))
    truth, groups, found = score_expw(models, scores, args.expw, labels, names, yunet)

    ranked = sorted(scores.values(), key=lambda s: (-s.crops_acc, -s.fer2013))
    n = len(truth)
    rows = [
        "| model | classes | FER2013 test | FER+ test (7 classes) | ExpW crops | 95% interval | "
        "behind the best (paired, 95%) | ExpW crops macro-F1 | ExpW photos (YuNet) | ExpW photos, faces found |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in ranked:
        low, high = wilson(int(s.crops_hits.sum()), n)
        bold = "**" if s is ranked[0] else ""
        behind = ""
        if s is not ranked[0]:
            diff, d_low, d_high, _ = paired_bootstrap(ranked[0].crops_hits, s.crops_hits, groups,
                                                      resamples=args.resamples, seed=args.seed)
            behind = f"{100 * diff:.1f} ({100 * d_low:.1f} to {100 * d_high:.1f}) points"
        rows.append(
            f"| {bold}{s.name}{bold} | {s.classes} | {s.fer2013:.3f} | {s.ferplus:.3f} | {bold}{s.crops_acc:.3f}{bold} | "
            f"{low:.3f}-{high:.3f} | {behind} | {macro_f1(s.crops_pred, truth):.3f} | {s.photos_hits.mean():.3f} | "
            f"{s.photos_found_hits / max(int(found.sum()), 1):.3f} |"
        )
    if args.limit is None:  # the earlier measurement covers all the crops
        low, high = wilson(round(FER_PACKAGE_EXPW * n), n)
        rows.append(f"| `fer` (2018 model, `bench_peers.py`) | 7 | {FER_PACKAGE_FER2013:.3f} | | {FER_PACKAGE_EXPW:.3f} | "
                    f"{low:.3f}-{high:.3f} | | | | |")

    if len(ranked) >= 2:
        best, second = ranked[0], ranked[1]
        diff, low, high, ahead = paired_bootstrap(best.crops_hits, second.crops_hits, groups,
                                                  resamples=args.resamples, seed=args.seed)
        only_best = int((best.crops_hits & ~second.crops_hits).sum())
        only_second = int((second.crops_hits & ~best.crops_hits).sum())
        comparison = (
            f"Best on the ExpW crops: **{best.name}**, {best.crops_acc:.3f}, ahead of {second.name} "
            f"({second.crops_acc:.3f}) by {100 * diff:+.1f} points on the same {n} faces "
            f"(95% paired-bootstrap interval {100 * low:+.1f} to {100 * high:+.1f} points, "
            f"{args.resamples} resamples of the {len(np.unique(groups))} photos, seed {args.seed}; "
            f"{best.name} ahead in {100 * ahead:.1f}% of them). {best.name} alone reads {only_best} of "
            f"these faces right, {second.name} alone {only_second}."
        )
    else:
        comparison = f"One model only: {ranked[0].name}, {ranked[0].crops_acc:.3f} on the ExpW crops."

    n_plus = int(keep.sum())
    body = [
        f"FER2013 test: {len(fer)} faces. FER+ test: the {n_plus} faces of {len(plus)} whose FER+ majority is "
        f"one of FER2013's seven. ExpW: {n} labelled faces in {len(names)} photos; YuNet found "
        f"{int(found.sum())} of them (recall {found.mean():.3f} at IoU >= {IOU_FOUND}).",
        "",
        *rows,
        "",
        comparison,
    ]
    if args.limit is None:
        body += ["", f"The `fer` row was measured by `benchmarks/bench_peers.py` on the same {n} crops and "
                 "on all 3,589 FER2013 test faces (a run without `--limit`; the current `docs/benchmarks/peers.md` "
                 "measures 1,500 of them), not by this script; its interval is computed here from that accuracy."]
    publish(run, torch.get_num_threads(), "benchmarks.bench_generalization", argv, body, args.out, MARKER,
            "# How well does it generalise?", note="other work shared the machine; accuracies do not depend on it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
