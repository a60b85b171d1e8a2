"""facexpr: facial expression recognition in a few lines.

Example:
    >>> import facexpr
    >>> model = facexpr.load("better", pretrained=False)
    >>> model.labels
    ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

from .annotate import annotate
from .detection import DlibDetector, SlimefaceDetector, YuNetDetector, get_detector
from .errors import (
    ChecksumMismatchError,
    DeviceNotAvailableError,
    DetectorNotAvailableError,
    FacexprError,
    HubError,
    ImageNotFoundError,
    InvalidConfigError,
    InvalidImageError,
    WeightsNotAvailableError,
)
from .labels import FER2013_LABELS
from .models import DEFAULT_MODEL, FaceModel, ModelConfig, list_models, load
from .photos import predict, predict_folder, predict_iter, predict_photo, predict_photos
from .results import FrameResult, ImageResult, Prediction

if TYPE_CHECKING:
    from . import data, engine, training
    from .training import Trainer
    from .video import predict_video, process_video
    from .webcam import run_webcam

# Training, video and webcam are imported on first use, so that a prediction does not pay for
# them: they were a third of what `import facexpr` adds to `import torch` (see
# docs/benchmarks/startup.md).
_LAZY = {"Trainer": "training", "predict_video": "video", "process_video": "video", "run_webcam": "webcam"}
# Sub-packages and modules reached as attributes (``facexpr.data.ImageFolder``), imported on first use.
_LAZY_MODULES = ("data", "training", "engine", "video", "webcam")


def __getattr__(name: str) -> object:
    """Import the names of :data:`_LAZY` and the modules of :data:`_LAZY_MODULES` on first use (PEP 562)."""
    if name in _LAZY_MODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'facexpr' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_MODULES})

__all__ = [
    "ChecksumMismatchError",
    "DEFAULT_MODEL",
    "DeviceNotAvailableError",
    "DetectorNotAvailableError",
    "DlibDetector",
    "FER2013_LABELS",
    "FaceModel",
    "FacexprError",
    "FrameResult",
    "HubError",
    "ImageNotFoundError",
    "ImageResult",
    "InvalidConfigError",
    "InvalidImageError",
    "ModelConfig",
    "Prediction",
    "SlimefaceDetector",
    "Trainer",
    "WeightsNotAvailableError",
    "YuNetDetector",
    "__version__",
    "annotate",
    "get_detector",
    "list_models",
    "load",
    "predict",
    "predict_folder",
    "predict_iter",
    "predict_photo",
    "predict_photos",
    "predict_video",
    "process_video",
    "run_webcam",
]
