"""Training: the :class:`Trainer`, its callbacks, :class:`History` and metrics.

Example:
    >>> from facexpr.training import Trainer, EarlyStopping, ModelCheckpoint

Distributed training: run the same script with ``torchrun --nproc_per_node=N script.py``.
"""

from __future__ import annotations

from .callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ProgressBar,
    TensorBoard,
    WandbLogger,
)
from .history import History
from .metrics import classification_report, confusion_matrix, expected_calibration_error
from .trainer import OPTIMIZERS, SCHEDULERS, Trainer

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "ModelCheckpoint",
    "OPTIMIZERS",
    "ProgressBar",
    "SCHEDULERS",
    "TensorBoard",
    "Trainer",
    "WandbLogger",
    "classification_report",
    "confusion_matrix",
    "expected_calibration_error",
]
