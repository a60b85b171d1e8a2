"""Training: the :class:`Trainer`, its callbacks, :class:`History` and metrics.

Example:
    >>> from facexpr.training import Trainer, EarlyStopping, ModelCheckpoint
"""

from __future__ import annotations

from .callbacks import Callback, CallbackList, CSVLogger, EarlyStopping, ModelCheckpoint, ProgressBar
from .history import History
from .metrics import classification_report, confusion_matrix, expected_calibration_error
from .trainer import Trainer

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "ModelCheckpoint",
    "ProgressBar",
    "Trainer",
    "classification_report",
    "confusion_matrix",
    "expected_calibration_error",
]
