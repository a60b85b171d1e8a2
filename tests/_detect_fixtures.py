"""Fixtures for the detection, photo and video tests: the YuNet model, a model, real photos.

Import the fixtures by name into a test module (``from ._detect_fixtures import yunet``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import facexpr
from facexpr.assets import EXAMPLE_PHOTO

from .conftest import EXPW_ROOT, SHARED

YUNET_ONNX = SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx"
ASTRONAUT_FACE_BOX = (178, 63, 90, 114)
"""The face YuNet finds in facexpr.assets.EXAMPLE_PHOTO (512x512), x, y, width, height."""


def square(box: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Square a (x, y, w, h) box around its centre (how detections are compared to labels)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h)
    return np.array([x + w / 2 - side / 2, y + h / 2 - side / 2, side, side])


@pytest.fixture
def yunet(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real YuNet model from ../shared, made the default through $FACEXPR_YUNET_MODEL."""
    pytest.importorskip("cv2", reason="opencv-python-headless (the 'detect' extra) is not installed")
    if not YUNET_ONNX.is_file():
        pytest.skip(f"YuNet model not found at {YUNET_ONNX} (the shared folder is absent)")
    monkeypatch.setenv("FACEXPR_YUNET_MODEL", str(YUNET_ONNX))
    return YUNET_ONNX


@pytest.fixture(scope="module")
def model() -> facexpr.FaceModel:
    """A fresh BetterCNN on the CPU (no trained weights are needed to test the pipeline)."""
    torch.manual_seed(0)
    return facexpr.load("better", pretrained=False, device="cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, model: facexpr.FaceModel) -> Path:
    """The same model saved to a folder, for the CLI."""
    return model.save_pretrained(tmp_path_factory.mktemp("photos") / "model")


@pytest.fixture
def astronaut() -> np.ndarray:
    """The shipped 512x512 example photo (one face) as RGB uint8."""
    from PIL import Image

    with Image.open(EXAMPLE_PHOTO) as img:
        return np.array(img.convert("RGB"))


@pytest.fixture(scope="session")
def expw_faces() -> dict[str, list[tuple[np.ndarray, str]]]:
    """ExpW's labelled faces by photo; skips when ../shared is absent."""
    if not (EXPW_ROOT / "faces.csv").is_file():
        pytest.skip(f"ExpW photos not found at {EXPW_ROOT} (the shared data folder is absent)")
    faces: dict[str, list[tuple[np.ndarray, str]]] = {}
    with open(EXPW_ROOT / "faces.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            box = np.array([float(row[k]) for k in ("x", "y", "width", "height")])
            faces.setdefault(row["image"], []).append((box, row["label"]))
    return faces


def iter_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)
