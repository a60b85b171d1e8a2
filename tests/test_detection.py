"""Face detectors: the protocol, YuNet's model through the Hub and the HF cache, the fallbacks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

import facexpr
from facexpr.detection import (
    YUNET_FILENAME,
    YUNET_REPO_ID,
    CropSpec,
    Detections,
    YuNetDetector,
    as_detections,
    detect,
    get_detector,
    yunet_model_path,
)

from ._photo_helpers import ASTRONAUT_FACE_BOX
from .conftest import YUNET_ONNX
from ._hub_server import FakeHub


def test_as_detections_accepts_the_documented_forms() -> None:
    shape = (100, 200, 3)
    pair = as_detections(([[10, 20, 30, 40]], [0.5]), shape)
    five = as_detections(np.array([[10, 20, 30, 40, 0.5]]), shape)
    four = as_detections([[10, 20, 30, 40]], shape)
    assert pair.boxes.tolist() == five.boxes.tolist() == four.boxes.tolist() == [[10, 20, 30, 40]]
    assert pair.scores.tolist() == [0.5] and np.isnan(four.scores[0])
    assert len(as_detections(([], []), shape)) == len(as_detections(None, shape)) == 0
    clipped = as_detections([[-10, 90, 50, 50], [300, 0, 10, 10]], shape)  # second one is outside
    assert clipped.boxes.tolist() == [[0, 90, 40, 10]]


def test_detections_sort_left_to_right_and_crop_spec() -> None:
    d = Detections(np.array([[100, 0, 10, 10], [0, 50, 10, 10], [0, 0, 10, 10]]), np.array([1, 2, 3]))
    assert d.sorted_left_to_right().scores.tolist() == [3, 2, 1]
    spec = CropSpec(scale=1.5, shift_y=0.1)
    (x, y, w, h), = spec.crop_boxes(np.array([[10, 20, 40, 60]]))
    assert (w, h) == (90, 90) and x + w / 2 == 30 and y + h / 2 == pytest.approx(50 + 9)
    with pytest.raises(ValueError, match="one score per box"):
        Detections(np.zeros((2, 4)), np.zeros(3))


def test_the_protocol_and_custom_callables() -> None:
    def mine(image: np.ndarray) -> tuple[list, list]:
        return [[5, 5, 20, 20], [1, 1, 2, 2]], [0.9, 0.1]

    assert isinstance(mine, facexpr.detection.Detector)
    assert get_detector(mine) is mine
    found = detect(np.zeros((50, 50, 3), np.uint8), mine)
    assert found.boxes[:, 0].tolist() == [1, 5]  # left to right
    with pytest.raises(TypeError, match="callable"):
        get_detector(42)  # type: ignore[arg-type]


def test_yunet_finds_the_example_face(yunet: Path, astronaut: np.ndarray) -> None:
    detector = YuNetDetector()
    assert detector.model_path == yunet
    found = detector(astronaut)
    assert len(found) == 1 and found.crop_spec == YuNetDetector.crop_spec
    assert facexpr.detection.box_iou(found.boxes, [ASTRONAUT_FACE_BOX])[0, 0] > 0.9
    assert 0.6 <= found.scores[0] <= 1
    with pytest.raises(ValueError, match="RGB uint8"):
        detector(astronaut[..., 0])


def test_yunet_refuses_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="bogus.onnx"):
        YuNetDetector(bogus)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        YuNetDetector(tmp_path / "missing.onnx")


def test_missing_opencv_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(facexpr.DetectorNotAvailableError, match=r"pip install facexpr\[detect\]"):
        YuNetDetector(YUNET_ONNX)
    with pytest.raises(ImportError, match=r"pip install facexpr\[detect\]"):
        facexpr.predict_video("clip.mp4")


# -- YuNet's model through huggingface_hub -------------------------------------------------------

@pytest.fixture
def hub_with_yunet(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    if not YUNET_ONNX.is_file():
        pytest.skip(f"YuNet model not found at {YUNET_ONNX} (the shared folder is absent)")
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    fake_hub.files[(YUNET_REPO_ID, YUNET_FILENAME)] = YUNET_ONNX.read_bytes()
    return fake_hub


def test_yunet_downloads_once_then_uses_the_cache(hub_with_yunet: FakeHub, tmp_path: Path,
                                                  astronaut: np.ndarray) -> None:
    pytest.importorskip("cv2")
    path = yunet_model_path()
    assert path.read_bytes() == YUNET_ONNX.read_bytes()
    assert str(path).startswith(str(tmp_path / "hf-home" / "hub"))  # the standard HF cache layout
    assert f"models--{YUNET_REPO_ID.replace('/', '--')}" in str(path)
    assert any(method == "GET" for method, _ in hub_with_yunet.requests)
    hub_with_yunet.stop()  # offline from now on: the cached copy is used without any request
    start = time.monotonic()
    detector = get_detector("auto")
    assert isinstance(detector, YuNetDetector) and detector.model_path == path
    assert time.monotonic() - start < 1.0
    assert len(detector(astronaut)) == 1


def test_unreachable_hub_fails_fast_and_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str, tmp_path: Path
) -> None:
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(facexpr.WeightsNotAvailableError) as info:
        yunet_model_path()
    assert time.monotonic() - start < 2.5
    message = str(info.value)
    assert YUNET_FILENAME in message and YUNET_REPO_ID in message and "could not be reached" in message
    assert "FACEXPR_YUNET_MODEL" in message


def test_offline_mode_and_missing_file_on_the_hub(hub_with_yunet: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(facexpr.WeightsNotAvailableError, match="HF_HUB_OFFLINE"):
        yunet_model_path()
    assert hub_with_yunet.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    del hub_with_yunet.files[(YUNET_REPO_ID, YUNET_FILENAME)]
    hub_with_yunet.files[(YUNET_REPO_ID, "README.md")] = b"other file"
    with pytest.raises(facexpr.WeightsNotAvailableError, match=YUNET_FILENAME):
        yunet_model_path()


def test_env_var_and_explicit_path(yunet: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert yunet_model_path() == yunet
    assert yunet_model_path(yunet) == yunet
    monkeypatch.setenv("FACEXPR_YUNET_MODEL", str(tmp_path / "nope.onnx"))
    with pytest.raises(FileNotFoundError, match=r"nope.onnx.*FACEXPR_YUNET_MODEL"):
        yunet_model_path()


# -- "auto": YuNet, else dlib, else a clear error ---------------------------------------------------

def test_auto_falls_back_to_dlib_offline(monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str,
                                         tmp_path: Path, astronaut: np.ndarray) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("dlib", reason="dlib (pip install dlib-bin) is not installed")
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.warns(UserWarning, match="dlib"):
        detector = get_detector("auto")
    assert isinstance(detector, facexpr.DlibDetector)
    found = detector(astronaut)
    assert facexpr.detection.box_iou(found.boxes, [ASTRONAUT_FACE_BOX]).max() > 0.4


def test_auto_without_any_detector_lists_the_fixes(monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str,
                                                   tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(facexpr.DetectorNotAvailableError) as info:
        get_detector("auto")
    message = str(info.value)
    for hint in ("FACEXPR_YUNET_MODEL", "pip install dlib-bin", "detect=False"):
        assert hint in message
    with pytest.raises(facexpr.DetectorNotAvailableError, match="pip install dlib-bin"):
        get_detector("dlib")


# -- thread safety ----------------------------------------------------------------------------------

def test_one_yunet_detector_shared_by_four_threads_finds_the_same_boxes(
    yunet: Path, astronaut: np.ndarray, expw_faces: dict
) -> None:
    """cv2.FaceDetectorYN keeps per-call state (its input size); each thread must get its own."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from .conftest import EXPW_ROOT

    images = [astronaut]
    for name in sorted(expw_faces)[:7]:  # real photos of different sizes: each call resizes the net
        with Image.open(EXPW_ROOT / "images" / name) as img:
            images.append(np.array(img.convert("RGB")))
    assert len({image.shape for image in images}) > 1
    detector = YuNetDetector(yunet)
    expected = [detector(image).boxes for image in images]
    jobs = [i % len(images) for i in range(64)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda i: detector(images[i]).boxes, jobs))
    for i, boxes in zip(jobs, found):
        np.testing.assert_array_equal(boxes, expected[i])
