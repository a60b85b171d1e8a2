"""benchmarks/bench_crop_geometry.py: each variant cuts the photo's pixels as it says, on a tiny face-box set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks import bench_crop_geometry as geometry
from facexpr.data import FaceBoxes
from facexpr.detection import CropSpec, Detections


def test_jitter_moves_and_rescales_the_square_within_its_bounds() -> None:
    rng = np.random.default_rng(0)
    square = np.array([100.0, 50.0, 80.0, 80.0])
    draws = np.stack([geometry.jitter(square, rng) for _ in range(500)])
    centres = draws[:, :2] + draws[:, 2:3] / 2 - (square[:2] + 40)
    assert np.all(np.abs(centres) <= geometry.SHIFT * 80 + 1e-9)
    assert np.all((draws[:, 2] >= 0.9 * 80 - 1e-9) & (draws[:, 2] <= 1.2 * 80 + 1e-9))
    assert np.array_equal(draws[:, 2], draws[:, 3]) and len(np.unique(draws[:, 0])) == 500


def test_each_variant_cuts_its_own_box_from_the_photo(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "images").mkdir()
    rows = ["image,face,x,y,width,height,label"]
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
        rows.append(f"{i}.png,0,40,30,50,60,{('happy', 'sad', 'angry')[i]}")
    (tmp_path / "faces.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    faces = FaceBoxes(tmp_path, classes=geometry.SEVEN, cache=False)
    detected_box = np.array([[45.0, 35.0, 44.0, 52.0]])

    def detector(image: np.ndarray) -> Detections:  # finds the labelled face, a little off
        return Detections(detected_box, np.array([0.9]), CropSpec())

    labelled = {f"{i}.png": np.array([40.0, 30.0, 50.0, 60.0]) for i in range(3)}
    cuts = geometry.training_cuts(faces, faces.boxes, labelled, copies=2, detector=detector, seed=0)
    assert cuts.found == cuts.total == 3
    assert all(len(cuts.faces[v]) == 6 and cuts.faces[v].targets.tolist() == [3, 3, 4, 4, 0, 0] for v in geometry.VARIANTS)
    assert torch.equal(cuts.faces["labelled"].images[::2], faces.images)  # FaceBoxes's own cut, repeated
    photo = np.array(Image.open(tmp_path / "images" / "0.png").convert("RGB"))
    by_detector = geometry.cut(photo, CropSpec().crop_boxes(detected_box)[0])
    assert torch.equal(cuts.faces["detector"].images[0].reshape(by_detector.shape), by_detector)
    jittered = cuts.faces["jittered"].images
    assert not torch.equal(jittered[0], jittered[1]) and not torch.equal(jittered[0], faces.images[0])


def test_a_face_the_detector_misses_keeps_its_labelled_cut(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((100, 100, 3), 90, np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "faces.csv").write_text("image,face,x,y,width,height,label\na.png,0,10,10,40,40,fear\n", encoding="utf-8")
    faces = FaceBoxes(tmp_path, classes=geometry.SEVEN, cache=False)
    cuts = geometry.training_cuts(faces, faces.boxes, {"a.png": np.array([10.0, 10.0, 40.0, 40.0])}, copies=1,
                                  detector=lambda image: (np.zeros((0, 4)), np.zeros(0)), seed=0)
    assert cuts.found == 0 and torch.equal(cuts.faces["detector"].images, cuts.faces["labelled"].images)
