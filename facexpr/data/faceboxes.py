"""Labelled faces in photos: ``faces.csv`` (photo, box, label) beside an ``images/`` folder.

This is how ExpW, RAF-DB and AffectNet ship their faces: whole photos, and a table that says
where each face is and what it shows. :class:`FaceBoxes` cuts every labelled box out of its
photo exactly as :func:`facexpr.predict` cuts a face that a detector found (the box squared
around its centre, no margin, grayscale, 48x48), so a model trained or measured on these
faces sees what it will see in use.

Example:
    >>> from facexpr.data import FaceBoxes
    >>> faces = FaceBoxes("data/expw")  # doctest: +SKIP
    >>> faces.classes, len(faces)  # doctest: +SKIP
    (('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'), 750)
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidImageError
from ..labels import FER2013_LABELS, FERPLUS_LABELS
from ..transforms import crop_square, rgb_to_face_uint8, to_rgb_uint8
from ._cache import fingerprint_files, load_cached, save_cached
from .dataset import FaceDataset

__all__ = ["FACEBOXES_COLUMNS", "FaceBoxes", "clip_boxes", "faceboxes_layout", "square_around_centre", "square_boxes"]

FACEBOXES_COLUMNS: tuple[str, ...] = ("image", "x", "y", "width", "height", "label")
"""The columns ``faces.csv`` must have (others, such as ``face``, are allowed and ignored)."""

_CSV_NAME = "faces.csv"
_IMAGES = "images"


def faceboxes_layout(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds the face-box layout: ``root/faces.csv`` and ``root/images/``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     before = faceboxes_layout(tmp)
        ...     (Path(tmp) / "images").mkdir()
        ...     _ = (Path(tmp) / "faces.csv").write_text("image,x,y,width,height,label\\n")
        ...     print(before, faceboxes_layout(tmp))
        False True
    """
    root = Path(root)
    return (root / _CSV_NAME).is_file() and (root / _IMAGES).is_dir()


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """The part of each ``(x, y, w, h)`` box inside a ``width x height`` photo (``N x 4``).

    Example:
        >>> clip_boxes(np.array([[-10.0, 0.0, 30.0, 10.0]]), 100, 100).tolist()
        [[0.0, 0.0, 20.0, 10.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0 = np.maximum(boxes[:, 0], 0.0), np.maximum(boxes[:, 1], 0.0)
    x1 = np.minimum(boxes[:, 0] + boxes[:, 2], float(width))
    y1 = np.minimum(boxes[:, 1] + boxes[:, 3], float(height))
    return np.stack([x0, y0, np.maximum(x1 - x0, 0.0), np.maximum(y1 - y0, 0.0)], axis=1)


def square_around_centre(boxes: np.ndarray) -> np.ndarray:
    """``(x, y, w, h)`` boxes squared around their centres on their longer side, no margin (``N x 4``).

    Example:
        >>> square_around_centre(np.array([[0.0, 0.0, 20.0, 10.0]])).tolist()
        [[0.0, -5.0, 20.0, 20.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(boxes[:, 2], boxes[:, 3])
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    return np.stack([cx - side / 2, cy - side / 2, side, side], axis=1)


def square_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``(x, y, w, h)`` boxes to a ``width x height`` photo, then square them around their centre.

    The square's side is the clipped box's longer side, with no margin: the convention of
    facexpr's benchmarks for labelled boxes (:func:`clip_boxes`, then :func:`square_around_centre`).

    Example:
        >>> square_boxes(np.array([[-10.0, 0.0, 30.0, 10.0]]), 100, 100).tolist()
        [[0.0, -5.0, 20.0, 20.0]]
    """
    return square_around_centre(clip_boxes(boxes, width, height))


class _Row:
    __slots__ = ("line", "image", "box", "label")

    def __init__(self, line: int, image: str, box: tuple[float, float, float, float], label: str) -> None:
        self.line, self.image, self.box, self.label = line, image, box, label


def _read_rows(path: Path) -> list[_Row]:
    """Parse ``faces.csv``; every bad row raises ``ValueError`` naming the file and the line."""
    try:
        handle = open(path, newline="", encoding="utf-8")
        with handle:
            lines = list(csv.reader(handle))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8.") from None
    if not lines:
        raise ValueError(f"{path}: empty; expected a header with the columns {', '.join(FACEBOXES_COLUMNS)}.")
    header = [name.strip() for name in lines[0]]
    missing = [name for name in FACEBOXES_COLUMNS if name not in header]
    if missing:
        raise ValueError(f"{path}, line 1: the header lacks the column(s) {', '.join(missing)}; expected "
                         f"{', '.join(FACEBOXES_COLUMNS)} (found {', '.join(header) or 'nothing'}).")
    col = {name: header.index(name) for name in FACEBOXES_COLUMNS}
    rows: list[_Row] = []
    for line, fields in enumerate(lines[1:], start=2):
        if not any(field.strip() for field in fields):
            continue  # a blank line
        where = f"{path}, line {line}"
        if len(fields) < len(header):
            raise ValueError(f"{where}: {len(fields)} fields, expected {len(header)} ({', '.join(header)}).")
        image = fields[col["image"]].strip()
        if not image:
            raise ValueError(f"{where}: the image column is empty.")
        if Path(image).is_absolute() or ".." in Path(image).parts:
            raise ValueError(f"{where}: image {image!r} must be a path inside '{path.parent / _IMAGES}'.")
        try:
            box = tuple(float(fields[col[name]]) for name in ("x", "y", "width", "height"))
        except ValueError:
            values = [fields[col[name]] for name in ("x", "y", "width", "height")]
            raise ValueError(f"{where}: the box {values} must be four numbers (x, y, width, height).") from None
        if not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"{where}: the box {list(box)} must be finite with a positive width and height.")
        label = fields[col["label"]].strip()
        if not label:
            raise ValueError(f"{where}: the label column is empty.")
        rows.append(_Row(line, image, box, label))  # type: ignore[arg-type]
    return rows


def _default_classes(labels: Sequence[str]) -> tuple[str, ...]:
    """FER2013's seven (FER+'s eight with contempt) when every label is one of them, in their id
    order; otherwise the labels found, sorted."""
    found = {label.lower() for label in labels}
    if found <= set(FER2013_LABELS):
        return FER2013_LABELS
    if found <= set(FERPLUS_LABELS):
        return FERPLUS_LABELS
    return tuple(sorted(set(labels)))


class FaceBoxes(FaceDataset):
    """Labelled faces cut from photos: ``root/faces.csv`` and the photos under ``root/images/``.

    ``faces.csv`` has one row per face with at least the columns ``image`` (the photo's path
    under ``images/``), ``x``, ``y``, ``width``, ``height`` (the face's box in the photo's
    pixels, from its top-left corner) and ``label``. Each box is clipped to its photo, squared
    around its centre (side: its longer side, no margin), cut with edge pixels repeated past the
    border, and turned into a grayscale 48x48 face exactly as :func:`facexpr.predict` turns a
    detected face into the model's input: a model given this box reads the same pixels.
    Each photo is decoded once; the faces are cached under :func:`facexpr.data.cache_dir` and
    rebuilt when ``faces.csv`` or a photo changes.

    Args:
        root: Folder holding ``faces.csv`` and ``images/``.
        classes: Class names in index order. Default: FER2013's seven in their id order when
            every label is one of them (FER+'s eight when ``contempt`` occurs too), else the
            labels found, sorted. Rows whose label is not listed are left out, counted in one
            warning.
        size: Side of the faces.
        cache: Read and write the decoded-face cache.

    Attributes:
        boxes: ``N x 4`` float tensor: each face's square crop ``(x, y, side, side)`` in its photo.

    Raises:
        FileNotFoundError: ``root`` lacks ``faces.csv`` or ``images/``, or a listed photo is missing.
        ValueError: A row is malformed (the message names the file and the line), a photo cannot be
            decoded (likewise), or no row has a listed label.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (Path(tmp) / "images").mkdir()
        ...     Image.new("RGB", (200, 100), (90, 90, 90)).save(Path(tmp) / "images" / "a.jpg")
        ...     _ = (Path(tmp) / "faces.csv").write_text(
        ...         "image,face,x,y,width,height,label\\na.jpg,0,10,10,40,50,happy\\na.jpg,1,120,20,30,30,sad\\n")
        ...     faces = FaceBoxes(tmp, cache=False)
        >>> len(faces), faces.images.shape, faces.targets.tolist(), faces.boxes[0].tolist()
        (2, torch.Size([2, 1, 48, 48]), [3, 4], [5.0, 10.0, 50.0, 50.0])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        classes: Sequence[str] | None = None,
        size: int = 48,
        cache: bool = True,
    ) -> None:
        self.root = Path(root)
        csv_path, images_dir = self.root / _CSV_NAME, self.root / _IMAGES
        if not csv_path.is_file() or not images_dir.is_dir():
            raise FileNotFoundError(
                f"'{self.root}' is not a face-box data set: expected '{csv_path}' (columns "
                f"{', '.join(FACEBOXES_COLUMNS)}) and the photos under '{images_dir}'."
            )
        rows = _read_rows(csv_path)
        if not rows:
            raise ValueError(f"{csv_path}: no faces listed.")
        class_names = tuple(classes) if classes is not None else _default_classes([r.label for r in rows])
        index = {name.lower(): i for i, name in enumerate(class_names)}
        kept = [r for r in rows if r.label.lower() in index]
        if len(kept) < len(rows):
            others = sorted({r.label for r in rows if r.label.lower() not in index})
            warnings.warn(f"Left out {len(rows) - len(kept)} face(s) of '{csv_path}' whose label is not one of "
                          f"the classes {list(class_names)}: {', '.join(others)}.", UserWarning, stacklevel=2)
        if not kept:
            raise ValueError(f"{csv_path}: no face has one of the labels {list(class_names)}.")
        photos = sorted({r.image for r in kept})
        for r in kept:
            if not (images_dir / r.image).is_file():
                raise FileNotFoundError(f"{csv_path}, line {r.line}: the photo '{images_dir / r.image}' does not exist.")
        key = fingerprint_files([csv_path, *(images_dir / p for p in photos)], "faceboxes", str(size), *class_names) \
            if cache else ""
        cached = load_cached("faceboxes", key) if cache else None
        if cached is not None:
            images, boxes = cached["images"], cached["boxes"]
        else:
            images, boxes = self._cut(kept, images_dir, csv_path, size)
            if cache:
                save_cached("faceboxes", key, {"images": images, "boxes": boxes},
                            {"root": str(self.root), "classes": ",".join(class_names)})
        targets = torch.tensor([index[r.label.lower()] for r in kept], dtype=torch.int64)
        super().__init__(images, targets, class_names, [str(images_dir / r.image) for r in kept])
        self.boxes = boxes

    @staticmethod
    def _cut(rows: Sequence[_Row], images_dir: Path, csv_path: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode each photo once and cut its faces; ``(uint8 N x 1 x size x size, N x 4 boxes)``."""
        by_photo: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            by_photo.setdefault(r.image, []).append(i)
        faces = torch.empty(len(rows), 1, size, size, dtype=torch.uint8)
        squares = np.zeros((len(rows), 4), dtype=np.float64)
        for photo, members in by_photo.items():
            try:
                rgb = to_rgb_uint8(images_dir / photo)
            except (InvalidImageError, OSError) as err:
                raise ValueError(f"{csv_path}, line {rows[members[0]].line}: cannot read the photo "
                                 f"'{images_dir / photo}': {err}") from None
            height, width = rgb.shape[:2]
            crops = square_boxes(np.array([rows[i].box for i in members]), width, height)
            for i, box in zip(members, crops):
                if box[2] < 1:
                    raise ValueError(f"{csv_path}, line {rows[i].line}: the box {list(rows[i].box)} lies outside "
                                     f"the {width}x{height} photo '{images_dir / photo}'.")
                faces[i] = rgb_to_face_uint8(crop_square(rgb, box, size), size)
                squares[i] = box
        return faces, torch.from_numpy(squares)
