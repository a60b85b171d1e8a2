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
from .detection import DlibDetector, YuNetDetector, get_detector
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
from .models import FaceModel, ModelConfig, list_models, load
from .photos import predict, predict_folder, predict_iter, predict_photo, predict_photos
from .results import FrameResult, ImageResult, Prediction

if TYPE_CHECKING:
    from .training import Trainer
    from .video import predict_video, process_video
    from .webcam import run_webcam

# Training, video and webcam are imported on first use, so that a prediction does not pay for
# them: they were a third of what `import facexpr` adds to `import torch` (see
# docs/benchmarks/startup.md).
_LAZY = {"Trainer": "training", "predict_video": "video", "process_video": "video", "run_webcam": "webcam"}


def __getattr__(name: str) -> object:
    """Import the names of :data:`_LAZY` from their module on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'facexpr' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

__all__ = [
    "ChecksumMismatchError",
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
