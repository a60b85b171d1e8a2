"""facexpr: facial expression recognition in a few lines.

Example:
    >>> import facexpr
    >>> model = facexpr.load("better", pretrained=False)
    >>> model.labels
    ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    ChecksumMismatchError,
    FacexprError,
    ImageNotFoundError,
    InvalidImageError,
    WeightsNotAvailableError,
)
from .inference import Prediction, predict
from .labels import FER2013_LABELS
from .models import FaceModel, ModelConfig, list_models, load
from .training import Trainer

__all__ = [
    "ChecksumMismatchError",
    "FER2013_LABELS",
    "FaceModel",
    "FacexprError",
    "ImageNotFoundError",
    "InvalidImageError",
    "ModelConfig",
    "Prediction",
    "Trainer",
    "WeightsNotAvailableError",
    "__version__",
    "list_models",
    "load",
    "predict",
]
