"""Levers for faces in the wild: each one measured on FER+ val and on ExpW crops and photos.

One table, one row per lever, every row against the same baseline (the released
``better.ferplus``) on the same faces:

* **FER+ val**: FER+ PublicTest (the split models are chosen on), majority label, read in
  FER2013's seven classes (faces whose majority is ``contempt``, or that FER+ drops, are left out);
* **ExpW crops**: the 750 labelled faces of ``../shared/data/expw`` cut at their labelled boxes
  (squared, as ``benchmarks/bench_generalization.py`` cuts them): recognition alone;
* **ExpW photos**: the faces YuNet finds in the 600 whole photos, cut the way
  :func:`facexpr.predict` cuts a YuNet box; a labelled face not found (IoU < 0.4) counts as wrong.

Each row also gives the difference from the baseline on the ExpW crops with a 95% interval from
a paired bootstrap over the photos. The levers:

* **labels**: FER2013's single labels (``better``, FER2013 recipe) against FER+'s vote
  distributions (``better.ferplus``), and both one after the other (``--both``: the ``both``
  run of ``benchmarks/train_levers.py``, ``better`` fine-tuned on the votes); ``--majority``: the
  ``control`` run with majority labels instead of vote distributions; ``--mixed``: the ``control``
  run on both data sets' labels at once (each target the mean of the votes and FER2013's label);
* **real crops** (training): two runs of ``benchmarks/train_levers.py`` from ``better.ferplus``
  that differ only in their augmentation, ``strong`` (control) and ``wild`` (box jitter,
  downscale, blur, gamma, contrast, JPEG); pass them as ``--control`` and ``--wild``;
* **alignment** (prediction): each face rotated about its centre so that YuNet's two eye
  landmarks are level, then cut as before;
* **ensembles** (prediction): the mean of two models' probabilities; distilling it into one
  model is only worth a training run if the ensemble itself reads faces better; ``--distilled``:
  the ``control`` run plus the soft labels of ``vgg8_bn.ferplus`` (``train_levers.py distilled``);
* **capacity and schedule**: ``vgg8_bn`` (FER2013) and ``vgg8_bn.ferplus`` (pass
  ``--vgg8-bn-ferplus``); ``--longer`` and ``--longer-wild``: ``vgg8_bn.ferplus`` trained 8 more
  epochs (``train_levers.py longer`` / ``longer-wild``), compare them with ``vgg8_bn.ferplus``;
* **class prior** (prediction): FER+'s faces are a third neutral; dividing the probabilities by
  the training prior (logit adjustment, Menon et al. 2021) predicts each class as if the classes
  were balanced.

Run it from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_levers.py --control runs/levers/control/best \\
        --wild runs/levers/wild/best --both runs/levers/both/best --vgg8-bn-ferplus runs/vgg8_bn.ferplus-ft/best \\
        --out docs/benchmarks/levers.md
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import facexpr  # noqa: E402
from facexpr.data import FERPlus  # noqa: E402
from facexpr.detection import YuNetDetector, box_iou  # noqa: E402
from facexpr.labels import FER2013_LABELS  # noqa: E402
from facexpr.transforms import crop_square  # noqa: E402
from facexpr.transforms import rgb_to_face_uint8, to_rgb_uint8  # noqa: E402

import bench_photos  # noqa: E402  (the ExpW protocol)
from _report import Run, publish  # noqa: E402
from bench_generalization import paired_bootstrap  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_levers results -->"
SEVEN = tuple(FER2013_LABELS)
IOU_FOUND = 0.4
BASELINE = "better.ferplus"
SCALES = (0.8, 0.9, 1.1, 1.2, 1.35)  # the probes' cuts of the labelled box, relative to the box


@dataclass
class Faces:
    """The ExpW faces, cut once, in every view the levers need."""

    truth: np.ndarray  # class id of each labelled face (in SEVEN)
    groups: np.ndarray  # photo index of each labelled face
    crops: torch.Tensor  # labelled boxes, plain
    crops_aligned: torch.Tensor  # labelled boxes, eyes levelled (YuNet's landmarks, when it found the face)
    found: np.ndarray  # index into `detected` of each labelled face's detection, or -1
    detected: torch.Tensor  # every face YuNet found, cut as facexpr.predict cuts it
    detected_aligned: torch.Tensor
    crops_scaled: dict[float, torch.Tensor]  # labelled boxes cut SCALES times as large


def _eye_angle(landmarks: np.ndarray) -> float:
    """Degrees to rotate a face (counter-clockwise) so that its eyes are level."""
    right, left = landmarks[0:2], landmarks[2:4]  # YuNet: the subject's right eye first
    return math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))


def _cut(rgb: np.ndarray, square: np.ndarray, angle: float) -> torch.Tensor:
    """The 48x48 face of a square ``(x, y, side, side)``, rotated by ``angle`` degrees first."""
    if angle == 0.0:
        return rgb_to_face_uint8(crop_square(rgb, square, 48))
    side = square[2]
    centre = square[:2] + side / 2
    big = 2.0 * side  # room for the corners that the rotation brings in
    patch = crop_square(rgb, np.array([*(centre - big / 2), big, big]), 1 << 20)
    rotated = Image.fromarray(patch).rotate(angle, resample=Image.BILINEAR)
    size = patch.shape[0]
    x0 = (size - size / 2) / 2
    cut = rotated.crop((round(x0), round(x0), round(x0 + size / 2), round(x0 + size / 2)))
    return rgb_to_face_uint8(np.asarray(cut))


def cut_faces(expw: Path, yunet_path: Path, limit: int | None) -> Faces:
    """Cut every labelled ExpW face and every face YuNet finds, plain and aligned."""
    import cv2

    labels = bench_photos.load_labels(expw)
    names = sorted(labels)[:limit] if limit else sorted(labels)
    yunet = YuNetDetector(str(yunet_path))
    net = cv2.FaceDetectorYN.create(str(yunet_path), "", (320, 320), yunet.score_threshold,
                                    yunet.nms_threshold, 5000)
    truth, groups, found = [], [], []
    crops, crops_aligned, detected, detected_aligned = [], [], [], []
    scaled: dict[float, list[torch.Tensor]] = {scale: [] for scale in SCALES}
    for photo, name in enumerate(names):
        rgb = to_rgb_uint8(expw / "images" / name)
        height, width = rgb.shape[:2]
        scale = min(1.0, yunet.max_side / max(height, width)) if yunet.max_side else 1.0
        small = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        net.setInputSize((small.shape[1], small.shape[0]))
        _, raw = net.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        raw = np.zeros((0, 15)) if raw is None else raw.astype(np.float64)
        raw[:, :14] /= scale
        det_boxes = raw[:, :4]
        det_squares = yunet.crop_spec.crop_boxes(det_boxes)
        first = len(detected)
        for box, lm in zip(det_squares, raw[:, 4:14]):
            detected.append(_cut(rgb, box, 0.0))
            detected_aligned.append(_cut(rgb, box, _eye_angle(lm)))
        for box, label in labels[name]:
            box = bench_photos.clip_box(box, width, height)
            square = bench_photos.square(box[None])[0]
            truth.append(SEVEN.index(label))
            groups.append(photo)
            match = -1
            if len(raw):
                iou = box_iou(square[None], bench_photos.square(det_boxes))[0]
                j = int(iou.argmax())
                match = first + j if iou[j] >= IOU_FOUND else -1
            found.append(match)
            crops.append(_cut(rgb, square, 0.0))
            for factor in SCALES:
                side = factor * square[2]
                centre = square[:2] + square[2] / 2
                scaled[factor].append(_cut(rgb, np.array([*(centre - side / 2), side, side]), 0.0))
            angle = _eye_angle(raw[match - first, 4:14]) if match >= 0 else 0.0
            crops_aligned.append(_cut(rgb, square, angle))
        if (photo + 1) % 100 == 0:
            print(f"  ExpW: {photo + 1}/{len(names)} photos", file=sys.stderr)
    empty = torch.empty(0, 1, 48, 48, dtype=torch.uint8)
    return Faces(
        np.array(truth), np.array(groups), torch.stack(crops), torch.stack(crops_aligned), np.array(found),
        torch.stack(detected) if detected else empty, torch.stack(detected_aligned) if detected_aligned else empty,
        {factor: torch.stack(cut) for factor, cut in scaled.items()},
    )


def _pil_each(images: torch.Tensor, change: Callable[[Image.Image], Image.Image]) -> torch.Tensor:
    """Apply a PIL operation to each ``uint8`` ``1 x H x W`` face."""
    return torch.stack([
        torch.from_numpy(np.array(change(Image.fromarray(face[0].numpy())), dtype=np.uint8))[None] for face in images
    ])


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def probes(model: facexpr.FaceModel, faces: Faces) -> list[str]:
    """The baseline on the ExpW crops cut differently or degraded at prediction: table rows."""
    variants: dict[str, torch.Tensor] = {"the labelled box (as above)": faces.crops}
    variants.update({f"{factor:g} times the box": faces.crops_scaled[factor] for factor in SCALES})
    variants.update({
        f"Gaussian blur, sigma {sigma}": _pil_each(faces.crops, lambda im, r=sigma: im.filter(ImageFilter.GaussianBlur(r)))
        for sigma in (0.6, 1.0)
    })
    variants["unsharp mask (radius 1, 100%)"] = _pil_each(faces.crops, lambda im: im.filter(ImageFilter.UnsharpMask(1, 100, 0)))
    variants["autocontrast (1% cut-off)"] = _pil_each(faces.crops, lambda im: ImageOps.autocontrast(im, cutoff=1))
    variants["JPEG, quality 30"] = _pil_each(faces.crops, lambda im: _jpeg(im, 30))
    rows = ["| ExpW crops, cut or changed at prediction | better.ferplus |", "|---|---|"]
    for name, images in variants.items():
        hits = probabilities(model, images, None).argmax(1) == faces.truth
        rows.append(f"| {name} | {hits.mean():.3f} |")
    return rows


def _detail(images: torch.Tensor) -> float:
    """Mean absolute Laplacian, in grey levels: how much fine detail faces hold."""
    x = images.float()
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return float(lap.abs().mean())


@dataclass
class Row:
    """One lever's row: which models (their probabilities averaged), which view, which prior."""

    lever: str
    name: str
    models: tuple[str, ...]
    aligned: bool = False
    balanced: bool = False


@dataclass
class Result:
    row: Row
    val: float
    crops_hits: np.ndarray
    photos_hits: np.ndarray


def _prior(model: facexpr.FaceModel, ferplus: Path) -> np.ndarray:
    """The share of each of the model's classes among its training faces (FER+ or FER2013 train)."""
    if "contempt" in model.labels:
        train = FERPlus(ferplus, "train", labels="probability")
        votes = train.targets.float().mean(0).numpy()
        return np.array([votes[list(train.classes).index(c)] for c in model.labels])
    from facexpr.data import FER2013

    targets = FER2013(SHARED / "data" / "fer2013", "train").targets.numpy()
    counts = np.bincount(targets, minlength=7) / len(targets)
    return np.array([counts[SEVEN.index(c)] for c in model.labels])


def probabilities(model: facexpr.FaceModel, images: torch.Tensor, prior: np.ndarray | None) -> np.ndarray:
    """``N x 7`` probabilities in FER2013's seven classes, balanced by ``prior`` when given."""
    probs = model.predict_proba(images).numpy().astype(np.float64)
    if prior is not None:
        probs = probs / prior
    keep = [model.labels.index(c) for c in SEVEN]
    seven = probs[:, keep]
    return seven / seven.sum(1, keepdims=True)


def score(rows: list[Row], models: dict[str, facexpr.FaceModel], faces: Faces, val_images: torch.Tensor,
          val_truth: np.ndarray, ferplus: Path) -> list[Result]:
    priors: dict[str, np.ndarray] = {}
    results = []
    for row in rows:
        parts = {"val": [], "crops": [], "detected": []}
        for name in row.models:
            model = models[name]
            prior = None
            if row.balanced:
                prior = priors.setdefault(name, _prior(model, ferplus))
            parts["val"].append(probabilities(model, val_images, prior))
            parts["crops"].append(probabilities(model, faces.crops_aligned if row.aligned else faces.crops, prior))
            detected = faces.detected_aligned if row.aligned else faces.detected
            parts["detected"].append(probabilities(model, detected, prior) if len(detected) else np.zeros((0, 7)))
        val = np.mean(parts["val"], 0).argmax(1)
        crops = np.mean(parts["crops"], 0).argmax(1)
        detected = np.mean(parts["detected"], 0).argmax(1) if len(faces.detected) else np.zeros(0, int)
        photos = np.where(faces.found >= 0, detected[np.maximum(faces.found, 0)] if len(detected) else -1, -1)
        results.append(Result(row, float((val == val_truth).mean()), crops == faces.truth, photos == faces.truth))
        print(f"{row.lever}: {row.name}: val {results[-1].val:.3f}, ExpW crops {results[-1].crops_hits.mean():.3f}",
              file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ferplus", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--expw", type=Path, default=SHARED / "data" / "expw", help="ExpW subset")
    parser.add_argument("--yunet", type=Path,
                        default=SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx")
    parser.add_argument("--control", default=None, help="the control fine-tune of train_levers.py (best/ folder)")
    parser.add_argument("--wild", default=None, help="the 'wild' fine-tune of train_levers.py (best/ folder)")
    parser.add_argument("--distilled", default=None, help="the 'distilled' fine-tune of train_levers.py")
    parser.add_argument("--majority", default=None, help="the 'majority' fine-tune of train_levers.py")
    parser.add_argument("--both", default=None, help="the 'both' fine-tune of train_levers.py (best/ folder)")
    parser.add_argument("--mixed", default=None, help="the 'mixed' fine-tune of train_levers.py (best/ folder)")
    parser.add_argument("--longer", default=None, help="the 'longer' run of train_levers.py (best/ folder)")
    parser.add_argument("--longer-wild", default=None, help="the 'longer-wild' run of train_levers.py (best/ folder)")
    parser.add_argument("--vgg8-bn-ferplus", default=None, help="vgg8_bn.ferplus weights (name or folder)")
    parser.add_argument("--limit", type=int, default=None, help="first N ExpW photos only")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this Markdown file")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    run = Run()

    sources = {BASELINE: BASELINE, "better": "better", "vgg8_bn": "vgg8_bn"}
    for key, path in (("control", args.control), ("wild", args.wild), ("both", args.both), ("majority", args.majority),
                      ("distilled", args.distilled), ("mixed", args.mixed), ("longer", args.longer),
                      ("longer-wild", args.longer_wild),
                      ("vgg8_bn.ferplus", args.vgg8_bn_ferplus)):
        if path:
            sources[key] = path
    models = {name: facexpr.load(path, device="cpu") for name, path in sources.items()}

    rows = [
        Row("baseline", "better.ferplus (released): FER+ votes, strong augmentation", (BASELINE,)),
        Row("labels", "FER2013 labels: better (FER2013 recipe, distilled from vgg8_bn)", ("better",)),
    ]
    if "majority" in models:
        rows.append(Row("labels", "control with FER+ majority labels instead of the vote distributions", ("majority",)))
    if "both" in models:
        rows.append(Row("labels", "both: better (FER2013) + 6 epochs on FER+ votes, strong augmentation", ("both",)))
    if "mixed" in models:
        rows.append(Row("labels", "both at once: control with each target the mean of the votes and FER2013's label",
                        ("mixed",)))
    if "control" in models:
        rows.append(Row("real crops", "control: +6 epochs from better.ferplus, strong augmentation", ("control",)))
    if "wild" in models:
        rows.append(Row("real crops", "+6 epochs from better.ferplus, wild augmentation", ("wild",)))
    rows += [
        Row("alignment", "better.ferplus, eyes levelled at prediction", (BASELINE,), aligned=True),
        Row("capacity", "vgg8_bn (FER2013 labels)", ("vgg8_bn",)),
    ]
    if "vgg8_bn.ferplus" in models:
        rows.append(Row("capacity", "vgg8_bn.ferplus (fine-tuned from vgg8_bn on FER+ votes)", ("vgg8_bn.ferplus",)))
    if "longer" in models:
        rows.append(Row("schedule", "vgg8_bn.ferplus + 8 epochs (peak lr 5e-4), strong augmentation", ("longer",)))
    if "longer-wild" in models:
        rows.append(Row("schedule", "vgg8_bn.ferplus + 8 epochs (peak lr 5e-4), wild augmentation", ("longer-wild",)))
    rows.append(Row("ensemble", "mean of better.ferplus and vgg8_bn", (BASELINE, "vgg8_bn")))
    if "vgg8_bn.ferplus" in models:
        rows.append(Row("ensemble", "mean of better.ferplus and vgg8_bn.ferplus", (BASELINE, "vgg8_bn.ferplus")))
    if "distilled" in models:
        rows.append(Row("ensemble", "control + vgg8_bn.ferplus's soft labels (distilled into better)", ("distilled",)))
    if "wild" in models and "vgg8_bn.ferplus" in models:
        rows.append(Row("ensemble", "mean of wild and vgg8_bn.ferplus", ("wild", "vgg8_bn.ferplus")))
    rows.append(Row("class prior", "better.ferplus, balanced prior at prediction", (BASELINE,), balanced=True))

    val = FERPlus(args.ferplus, "val", labels="majority")
    keep = val.majority < len(SEVEN)
    val_images, val_truth = val.images[keep], val.majority[keep].numpy()
    faces = cut_faces(args.expw, args.yunet, args.limit)
    results = score(rows, models, faces, val_images, val_truth, args.ferplus)
    base = results[0]

    table = [
        "| lever | run | FER+ val (7 classes) | ExpW crops | vs baseline, paired 95% | ExpW photos (YuNet) |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        delta = ""
        if result is not base:
            diff, low, high, _ = paired_bootstrap(result.crops_hits, base.crops_hits, faces.groups,
                                                  resamples=args.resamples, seed=0)
            delta = f"{100 * diff:+.1f} ({100 * low:+.1f} to {100 * high:+.1f}) points"
        table.append(f"| {result.row.lever} | {result.row.name} | {result.val:.3f} | "
                     f"{result.crops_hits.mean():.3f} | {delta} | {result.photos_hits.mean():.3f} |")
    publish(run, torch.get_num_threads(), "benchmarks/bench_levers.py", argv, [
        f"FER+ val: the {int(keep.sum())} PublicTest faces of {len(val)} whose majority is one of the seven. "
        f"ExpW: {len(faces.truth)} labelled faces in {len(np.unique(faces.groups))} photos; YuNet found "
        f"{int((faces.found >= 0).sum())} of them. Paired intervals: {args.resamples} bootstrap resamples of "
        "the photos, seed 0.",
        "",
        *table,
        "",
        "The baseline on the same ExpW crops, cut larger or smaller than the labelled box, or changed at "
        f"prediction. ExpW's crops are softer than FER2013's: mean absolute Laplacian {_detail(faces.crops):.1f} "
        f"grey levels against {_detail(val_images):.1f} on FER+ val.",
        "",
        *probes(models[BASELINE], faces),
    ], args.out, MARKER, "# Levers for faces in the wild")
    return 0


if __name__ == "__main__":
    sys.exit(main())
