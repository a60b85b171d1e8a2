"""Shared fixtures: a fresh model and its folder, small generated images, the YuNet detector and
real photos from the shared data folder, a fake Hub endpoint."""

from __future__ import annotations

import csv
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr

from ._hub_server import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
FER2013_ROOT = SHARED / "data" / "fer2013"
EXPW_ROOT = SHARED / "data" / "expw"
YUNET_ONNX = SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx"


@pytest.fixture
def fer2013_root() -> Path:
    """The real FER2013 folders; skips the test when ../shared is absent."""
    if not (FER2013_ROOT / "test").is_dir():
        pytest.skip(f"FER2013 not found at {FER2013_ROOT} (the shared data folder is absent)")
    return FER2013_ROOT


@pytest.fixture(scope="module")
def model() -> facexpr.FaceModel:
    """A freshly initialised ``better`` on the CPU, seeded (no trained weights are needed to test
    the pipeline); one per test module, so a module may change it."""
    torch.manual_seed(0)
    return facexpr.load("better", pretrained=False, device="cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, model: facexpr.FaceModel) -> Path:
    """The same model written by ``save_pretrained``, for the CLI and ``facexpr.load(folder)``."""
    return model.save_pretrained(tmp_path_factory.mktemp("model") / "model")


@pytest.fixture
def yunet(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real YuNet model from ../shared, made the default through $FACEXPR_YUNET_MODEL."""
    pytest.importorskip("cv2", reason="opencv-python-headless (the 'detect' extra) is not installed")
    if not YUNET_ONNX.is_file():
        pytest.skip(f"YuNet model not found at {YUNET_ONNX} (the shared folder is absent)")
    monkeypatch.setenv("FACEXPR_YUNET_MODEL", str(YUNET_ONNX))
    return YUNET_ONNX


@pytest.fixture
def astronaut() -> np.ndarray:
    """The shipped 512x512 example photo (one face) as RGB uint8."""
    from facexpr.assets import EXAMPLE_PHOTO

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


@pytest.fixture
def face_rgb() -> np.ndarray:
    """A 64x80 RGB uint8 image with some structure (not a real face)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)


@pytest.fixture
def face_jpeg(tmp_path: Path, face_rgb: np.ndarray) -> Path:
    """A JPEG file of :func:`face_rgb`."""
    path = tmp_path / "face.jpg"
    Image.fromarray(face_rgb).save(path, quality=95)
    return path


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A local Hub endpoint (HF_ENDPOINT) with an empty HF cache (HF_HOME) for one test."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def closed_port_endpoint() -> str:
    """An http endpoint on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeTerminal:
    """A stand-in stderr that says it is a terminal and keeps what is written (progress-bar tests)."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


# Docstring examples that need an optional extra: module -> (import name, extra).
_DOCTEST_EXTRAS = {
    "facexpr/export.py": ("onnx", "export"),
    "facexpr/video.py": ("cv2", "detect"),
    "facexpr/webcam.py": ("cv2", "detect"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the docstring examples of a module whose optional extra is not installed.

    ``pip install ".[test]"`` then passes on its own; ``.[dev]`` runs every example.
    """
    import importlib.util

    missing = {
        module: (name, extra) for module, (name, extra) in _DOCTEST_EXTRAS.items()
        if importlib.util.find_spec(name) is None
    }
    for item in items:
        path = Path(str(item.path)).resolve()
        if type(item).__name__ != "DoctestItem" or REPO_ROOT not in path.parents:
            continue
        need = missing.get(path.relative_to(REPO_ROOT).as_posix())
        if need is not None:
            item.add_marker(pytest.mark.skip(reason=f"needs {need[0]}: pip install \"facexpr[{need[1]}]\""))
