"""The ExpW protocol and the statistics that the benchmark scripts share.

One module, so that every page measures faces in the wild the same way:

* :func:`load_labels` reads the labelled faces of ``../shared/data/expw`` (``faces.csv``);
* :func:`clip_box` keeps a labelled box inside its photo, :func:`square` squares boxes around
  their centre (how facexpr cuts a detector's box, ``CropSpec(1.0, 0.0)``);
* a labelled face is *found* when a detection, squared, overlaps it with IoU >= :data:`IOU_FOUND`
  (:func:`match_found`; the rule of the YuNet README);
* :class:`Given` hands the labelled boxes to :func:`facexpr.predict` as a detector (recognition
  alone), :class:`Cached` one photo's detections to every model;
* :func:`wilson` is the 95% interval of an accuracy, :func:`paired_bootstrap` the 95% interval of
  the difference of two accuracies on the same faces, resampling whole photos.

Every name here uses facexpr's public API only.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facexpr.data.faceboxes import clip_boxes, square_around_centre
from facexpr.detection import CropSpec, Detections, box_iou
from facexpr.labels import FER2013_LABELS

__all__ = [
    "SEVEN", "IOU_FOUND", "Labels", "load_labels", "clip_box", "square", "match_found", "Given", "Cached", "wilson",
    "paired_bootstrap",
]

SEVEN = tuple(FER2013_LABELS)
"""FER2013's seven classes, in FER2013's order: the classes FER2013, FER+ and ExpW share."""

IOU_FOUND = 0.4
"""A labelled face is found when a squared detection overlaps it with at least this IoU (the YuNet README's rule)."""

Labels = dict[str, list[tuple[np.ndarray, str]]]
"""ExpW's labelled faces: ``{image name: [(box x, y, w, h, label), ...]}``."""


def load_labels(data: Path, classes: Sequence[str] | None = None) -> Labels:
    """Read ``faces.csv`` of an ExpW folder: ``{image name: [(box x,y,w,h, label), ...]}``.

    Args:
        data: The ExpW folder (``faces.csv``, ``images/``).
        classes: When given, every label must be one of them.

    Raises:
        ValueError: If a label is not one of ``classes``; the message names the photo.
    """
    faces: Labels = defaultdict(list)
    with open(data / "faces.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            box = np.array([float(row[k]) for k in ("x", "y", "width", "height")])
            faces[row["image"]].append((box, row["label"]))
    if classes is not None:
        for image_name, labelled in faces.items():
            for _, label in labelled:
                if label not in classes:
                    raise ValueError(f"{data / 'faces.csv'}: a face of {image_name} has the label {label!r}; "
                                     f"expected one of {', '.join(classes)}.")
    return dict(faces)


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """The part of the box ``x, y, w, h`` inside a ``width x height`` photo."""
    return clip_boxes(box, width, height)[0]


square = square_around_centre
"""Boxes ``N x 4`` (x, y, w, h) squared around their centres, on their longer side: how
:class:`facexpr.data.FaceBoxes` squares a labelled box and how a detection is compared with one."""


def match_found(truth: np.ndarray, detected: np.ndarray, iou_found: float = IOU_FOUND) -> list[int | None]:
    """For each labelled box, the index of the detection that finds it (IoU >= ``iou_found`` with
    the detection squared, the best one), or None."""
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    detected = np.asarray(detected, dtype=np.float64).reshape(-1, 4)
    if not len(detected):
        return [None] * len(truth)
    iou = box_iou(truth, square(detected))
    return [int(row.argmax()) if row.max() >= iou_found else None for row in iou]


class Given:
    """A 'detector' that returns the labelled boxes of the current photo, cropped as squares."""

    crop_spec = CropSpec(1.0, 0.0)
    name = "labelled boxes"

    def __init__(self, boxes: np.ndarray) -> None:
        self.detections = Detections(boxes, np.ones(len(boxes)), self.crop_spec)

    def __call__(self, image: np.ndarray) -> Detections:
        return self.detections


class Cached:
    """The detections of one photo, found once and handed to every model."""

    def __init__(self, detections: Detections) -> None:
        self.detections = detections
        self.crop_spec = detections.crop_spec

    def __call__(self, image: np.ndarray) -> Detections:
        return self.detections


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return math.nan, math.nan
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def paired_bootstrap(hits_a: np.ndarray, hits_b: np.ndarray, groups: np.ndarray, *, resamples: int,
                     seed: int) -> tuple[float, float, float, float]:
    """Accuracy difference a - b on the same faces, resampling whole groups (photos).

    Returns ``(difference, low, high, share of resamples with a ahead)``, the interval 95%
    (percentile).
    """
    diff = hits_a.astype(np.float64) - hits_b.astype(np.float64)
    ids, inverse = np.unique(groups, return_inverse=True)
    per_group = np.bincount(inverse, weights=diff, minlength=len(ids))
    sizes = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(resamples, len(ids)))
    stats = per_group[draws].sum(1) / sizes[draws].sum(1)
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high), float((stats > 0).mean())
