"""Helpers of the detection, photo and video tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ASTRONAUT_FACE_BOX = (178, 63, 90, 114)
"""The face YuNet finds in facexpr.assets.EXAMPLE_PHOTO (512x512), x, y, width, height."""


def square(box: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Square a (x, y, w, h) box around its centre (how detections are compared to labels)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h)
    return np.array([x + w / 2 - side / 2, y + h / 2 - side / 2, side, side])


def iter_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)
