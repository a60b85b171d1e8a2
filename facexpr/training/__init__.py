"""Training: the :class:`Trainer` loop, :class:`DistillationTrainer`, callbacks, :class:`History`
and :func:`shrink` (a small network started from a large trained one).

The metrics live in :mod:`facexpr.metrics` (re-exported here); optimisers and schedules by
name in :mod:`facexpr.training.optim`.

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
from ..metrics import classification_report, confusion_matrix, expected_calibration_error, kl_divergence
from .distillation import DistillationTrainer
from .history import History
from .optim import OPTIMIZERS, SCHEDULERS
from .checkpoint import CheckpointError
from .shrinking import shrink
from .trainer import Trainer

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "CheckpointError",
    "DistillationTrainer",
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
    "kl_divergence",
    "shrink",
]
