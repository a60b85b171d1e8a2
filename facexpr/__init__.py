"""facexpr: facial expression recognition in a few lines.

Example:
    >>> import facexpr
    >>> model = facexpr.load("better", pretrained=False)
    >>> model.labels
    ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
"""

from __future__ import annotations

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
from .training import Trainer
from .video import predict_video, process_video
from .webcam import run_webcam

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
