"""Which crop of a labelled photo face trains better: the labelled box, the detector's box, or jittered boxes?

Users' faces reach the model through a detector, while a labelled data set gives a box drawn by a
person. This script fine-tunes one released model on the training faces of a face-box data set
(by default ``../shared/data/expw-train``, a seeded tenth of each class held out exactly as the
mixed recipe holds it out) three times, with the same settings and the same number of steps,
changing only how each face is cut from its photo:

* **labelled**: the labelled box, clipped, squared around its centre, no margin
  (:class:`facexpr.data.FaceBoxes`'s cut; what the released models were trained on);
* **detector**: the box of the default detector's face that finds the labelled one (IoU >= 0.4,
  the benchmarks' rule), cut with that detector's crop geometry (its ``CropSpec``), i.e. the pixels
  :func:`facexpr.predict` would classify; the labelled box where the detector misses the face;
* **jittered**: the labelled square moved by up to 10% of its side and rescaled by 0.9-1.2
  (log-uniform), each draw cut from the photo's pixels, not from the finished 48x48 crop.

Each face appears ``--copies`` times (four draws for ``jittered``, the same crop repeated for the
others) in one epoch: the fine-tune of ``facexpr train --model MODEL --pretrained --epochs 4 --lr
1e-4`` in steps. Each result is scored on the dev set (by default ``../shared/data/expw``, never
trained on) in two ways: **dev crops**, the labelled boxes cut as ``FaceBoxes`` cuts them, and **dev
photos**, every labelled face as a user gets it, through the default detector (a face the detector
misses counts as wrong); and on FER2013 val and FER+ val, for what it forgets.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_crop_geometry --out docs/benchmarks/crop_geometry.md
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.data import FER2013, FaceBoxes, FaceDataset, FERPlus, train_val_split
from facexpr.data.faceboxes import clip_boxes
from facexpr.data.mixing import onto_classes
from facexpr.detection import describe_detector, detect, get_detector
from facexpr.labels import FER2013_LABELS
from facexpr.models import DEFAULT_MODEL
from facexpr.training import Trainer
from facexpr.training.recipes import recipe_for_model
from facexpr.transforms import crop_square, rgb_to_face_uint8, to_rgb_uint8

from ._report import Run, publish
from .bench_finetune import score as score_dev_and_forgetting
from .protocol import load_labels, match_found

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_crop_geometry results -->"
SEVEN = tuple(FER2013_LABELS)
VARIANTS = ("labelled", "detector", "jittered")
SHIFT, SCALE = 0.10, (0.9, 1.2)


def cut(rgb: np.ndarray, box: np.ndarray, size: int = 48) -> torch.Tensor:
    """A square ``(x, y, side, side)`` cut from the photo's pixels, as ``facexpr.predict`` cuts a face."""
    return rgb_to_face_uint8(crop_square(rgb, box, size), size)


def jitter(square: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The square moved by up to :data:`SHIFT` of its side and rescaled log-uniformly within :data:`SCALE`."""
    x, y, side = float(square[0]), float(square[1]), float(square[2])
    cx, cy = x + side / 2 + rng.uniform(-SHIFT, SHIFT) * side, y + side / 2 + rng.uniform(-SHIFT, SHIFT) * side
    new = side * math.exp(rng.uniform(math.log(SCALE[0]), math.log(SCALE[1])))
    return np.array([cx - new / 2, cy - new / 2, new, new])


@dataclass
class Cuts:
    """The training faces of each variant, and how often the detector found the labelled face."""

    faces: dict[str, FaceDataset]
    found: int
    total: int


def training_cuts(train: FaceDataset, squares: torch.Tensor, labelled_boxes: dict[str, np.ndarray], copies: int,
                  detector: object, seed: int) -> Cuts:
    """Cut every training face of ``train`` in each variant's way, ``copies`` times each.

    ``squares`` are the faces' labelled boxes as :class:`~facexpr.data.FaceBoxes` squares them,
    ``labelled_boxes`` each photo's labelled box as drawn (one face per photo)."""
    rng = np.random.default_rng(seed)
    images: dict[str, list[torch.Tensor]] = {v: [] for v in VARIANTS}
    found = 0
    assert train.paths is not None
    for index, path in enumerate(train.paths):
        rgb = to_rgb_uint8(path)
        height, width = rgb.shape[:2]
        square = squares[index].numpy().astype(np.float64)
        labelled = cut(rgb, square)
        if not torch.equal(labelled, train.images[index]):
            raise RuntimeError(f"{path}: the labelled cut differs from FaceBoxes's: the two cuts must be one")
        truth = clip_boxes(labelled_boxes[Path(path).name], width, height)
        detections = detect(rgb, detector)
        (match,) = match_found(truth, detections.boxes)
        if match is not None:
            found += 1
            box = detections.crop_spec.crop_boxes(detections.boxes[match : match + 1])[0]
            by_detector = cut(rgb, box)
        else:
            by_detector = labelled
        for _ in range(copies):
            images["labelled"].append(labelled)
            images["detector"].append(by_detector)
            images["jittered"].append(cut(rgb, jitter(square, rng)))
    targets = train.targets.repeat_interleave(copies)
    paths = [p for p in train.paths for _ in range(copies)]
    faces = {v: FaceDataset(torch.stack(images[v]), targets, train.classes, paths) for v in VARIANTS}
    return Cuts(faces, found, len(train.paths))


def dev_photo_faces(dev_root: Path, detector: object) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Every labelled dev face as the detector gives it: ``(faces, found, targets)``; a face not found
    gets a blank image and ``found`` False (it counts as wrong)."""
    labels = load_labels(dev_root, SEVEN)
    faces, found, targets = [], [], []
    for name in sorted(labels):
        rgb = to_rgb_uint8(dev_root / "images" / name)
        height, width = rgb.shape[:2]
        truth = np.stack([clip_boxes(box, width, height)[0] for box, _ in labels[name]])
        detections = detect(rgb, detector)
        for (_, label), match in zip(labels[name], match_found(truth, detections.boxes)):
            targets.append(SEVEN.index(label))
            found.append(match is not None)
            if match is None:
                faces.append(torch.zeros(1, 48, 48, dtype=torch.uint8))
            else:
                faces.append(cut(rgb, detections.crop_spec.crop_boxes(detections.boxes[match : match + 1])[0]))
    return torch.stack(faces), np.array(found), np.array(targets)


def accuracy(model: facexpr.FaceModel, images: torch.Tensor, targets: np.ndarray, found: np.ndarray) -> float:
    """Single-view accuracy over FER2013's seven classes; faces not ``found`` count as wrong."""
    predicted = model.predict_proba(images, classes=SEVEN).argmax(1).numpy()
    return float(((predicted == targets) & found).mean())


def main(argv: list[str] | None = None) -> int:
    """Fine-tune once per variant; print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model to fine-tune (default: {DEFAULT_MODEL})")
    parser.add_argument("--train", type=Path, default=SHARED / "data" / "expw-train", help="face-box training data")
    parser.add_argument("--dev", type=Path, default=SHARED / "data" / "expw", help="face-box dev data (never trained on)")
    parser.add_argument("--fer2013", type=Path, default=SHARED / "data" / "fer2013", help="FER2013 folder")
    parser.add_argument("--ferplus", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--detector", default="auto", help="the detector users' faces come through (default: auto)")
    parser.add_argument("--copies", type=int, default=4, help="cuts of each face in the one epoch (default: 4)")
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default: 1e-4)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training faces (a quick run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the jitter and the training")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    run = Run()
    detector = get_detector(args.detector)
    boxes = FaceBoxes(args.train, classes=SEVEN)
    train, held_out = train_val_split(boxes, 0.1, seed=args.seed)  # the mixed recipe's split
    row = {p: i for i, p in enumerate(boxes.paths or [])}
    keep = [row[p] for p in train.paths or []][: args.limit]
    labelled = {name: faces[0][0] for name, faces in load_labels(args.train, SEVEN).items()}
    cuts = training_cuts(boxes.subset(keep), boxes.boxes[keep], labelled, args.copies, detector, args.seed)
    dev_crops = FaceBoxes(args.dev, classes=SEVEN)
    photo_faces, photo_found, photo_targets = dev_photo_faces(args.dev, detector)
    fer, plus = FER2013(args.fer2013, "val"), FERPlus(args.ferplus, "val", labels="majority")

    def scores(model: facexpr.FaceModel) -> list[float]:
        crops = score_dev_and_forgetting(model, dev_crops, fer, plus)  # the fine-tuning page's three scores
        return [crops["dev"], accuracy(model, photo_faces, photo_targets, photo_found),
                crops["fer2013"], crops["ferplus"]]

    rows = [("none (the released model)", scores(facexpr.load(args.model, device="cpu")))]
    for variant in VARIANTS:
        recipe = recipe_for_model(args.model, args.train, pretrained=True, epochs=1, lr=args.lr, seed=args.seed)
        torch.manual_seed(args.seed)
        model = facexpr.load(args.model, device="cpu")
        data = cuts.faces[variant]
        if tuple(data.classes) != tuple(model.labels):
            data = onto_classes(data, model.labels)
        trainer = Trainer(model, optimizer=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay,
                          scheduler=recipe.scheduler, label_smoothing=recipe.label_smoothing, augment=recipe.augment,
                          seed=args.seed, device="cpu")
        trainer.fit(data, epochs=1, batch_size=recipe.batch_size, progress=False)
        model.eval()
        rows.append((variant, scores(model)))
        print(variant, rows[-1][1], flush=True)
    base = rows[0][1]
    lines = ["| trained on | dev crops | dev photos (through the detector) | FER2013 val | FER+ val |",
             "|---|---|---|---|---|"]
    for name, got in rows:
        cells = [f"{v:.4f}" + ("" if name == rows[0][0] else f" ({100 * (v - b):+.1f})") for v, b in zip(got, base)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    body = [
        f"Fine-tuning `{args.model}` on {cuts.total} training faces of `{args.train.name}` (its mixed-recipe split; "
        f"{len(held_out)} held out and unused), {args.copies} cuts of each in one epoch, peak lr {args.lr:g}; "
        f"detector: {describe_detector(detector)}, which found {cuts.found} of the {cuts.total} labelled training faces "
        f"and {int(photo_found.sum())} of the {len(photo_found)} dev faces. Dev: `{args.dev.name}`; FER2013 val "
        f"{len(fer)} faces, FER+ val {len(plus)} faces. In brackets: points against the released model.",
        "",
        *lines,
    ]
    publish(run, torch.get_num_threads(), "benchmarks.bench_crop_geometry", argv, body, args.out, MARKER,
            "# Which crop of a photo face trains better")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
