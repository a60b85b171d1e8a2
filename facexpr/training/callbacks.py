"""Keras-style callbacks for :class:`~facexpr.training.Trainer`.

Every hook receives ``logs``, a plain ``dict[str, float]``. Validation keys carry a ``val_``
prefix. A callback sees the trainer as ``self.trainer`` and may set
``trainer.stop_training = True``.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import atomic_write

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "ModelCheckpoint",
    "CSVLogger",
    "ProgressBar",
]


class Callback:
    """Base class: override the hooks you need (Keras's names)."""

    trainer: Trainer

    def set_trainer(self, trainer: Trainer) -> None:
        """Attach the trainer that runs this callback."""
        self.trainer = trainer

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Called once after the last epoch (or after early stopping)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called at the end of every epoch, with training and validation logs."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Called before every training batch."""

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Called after every training batch, with running ``loss`` and ``accuracy``."""


class CallbackList(Callback):
    """Runs a sequence of callbacks in order; only rank 0 runs ``rank_zero_only`` ones."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def set_trainer(self, trainer: Trainer) -> None:
        super().set_trainer(trainer)
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def _call(self, name: str, *args: Any) -> None:
        for cb in self.callbacks:
            if getattr(cb, "rank_zero_only", False) and not self.trainer.is_main_process:
                continue
            getattr(cb, name)(*args)

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self._call("on_train_batch_end", batch, logs)


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode == "auto":
        return "max" if any(k in monitor for k in ("acc", "f1", "precision", "recall")) else "min"
    return mode


class _Monitor:
    """Tracks the best value of a monitored key."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        self.monitor = monitor
        self.mode = _resolve_mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def value(self, logs: dict[str, float] | None) -> float:
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(
                f"Monitored key {self.monitor!r} is not in the logs {sorted(logs)}; pass val= to "
                "fit() to get val_* keys."
            )
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    Args:
        monitor: Logged key to watch.
        patience: Epochs without improvement before stopping.
        min_delta: Smallest change that counts as an improvement.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the key's name).
        restore_best_weights: Put back the weights of the best epoch when stopping.

    Example:
        >>> stop = EarlyStopping(monitor="val_accuracy", patience=5, restore_best_weights=True)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_state: dict[str, Any] | None = None

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        value = self._monitor.value(logs)
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self._best_state = copy.deepcopy(self.trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.restore_best_weights and self._best_state is not None:
                self.trainer.model.load_state_dict(self._best_state)


class ModelCheckpoint(Callback):
    """Save the model (``save_pretrained`` folder: safetensors + config) during training.

    Args:
        dirpath: Folder to write; ``{epoch}`` and logged keys may appear in it, e.g.
            ``"ckpt/epoch{epoch:02d}"``.
        monitor: Logged key that decides which epoch is best.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_best_only: Write only when ``monitor`` improves (the folder then always holds
            the best model so far, with its metrics in ``config.json``).

    Example:
        >>> best = ModelCheckpoint("runs/best", monitor="val_accuracy")
    """

    rank_zero_only = True

    def __init__(
        self,
        dirpath: str | os.PathLike,
        *,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = True,
    ) -> None:
        self.dirpath = str(dirpath)
        self._monitor = _Monitor(monitor, mode)
        self.save_best_only = save_best_only
        self.best_epoch: int | None = None
        self.last_saved: Path | None = None

    @property
    def best(self) -> float:
        """Best value of the monitored key so far."""
        return self._monitor.best

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        value = self._monitor.value(logs)
        if self.save_best_only and not self._monitor.improved(value):
            return
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
        path = Path(self.dirpath.format(epoch=epoch, **logs))
        model = self.trainer.unwrapped_model
        model.config.metrics = {**model.config.metrics, "checkpoint": {"epoch": epoch, **logs}}
        self.last_saved = model.save_pretrained(path)


class CSVLogger(Callback):
    """Write the per-epoch logs to a CSV file, rewritten atomically after every epoch.

    Args:
        filename: Path of the CSV file.
    """

    rank_zero_only = True

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = Path(filename)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        text = self.trainer.history.to_csv()
        atomic_write(self.filename, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class ProgressBar(Callback):
    """A tqdm progress bar per epoch with live loss and accuracy."""

    rank_zero_only = True

    def __init__(self) -> None:
        self._bar: Any = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.trainer.steps_per_epoch,
            desc=f"epoch {epoch + 1}/{self.trainer.epochs}",
            leave=True,
            dynamic_ncols=True,
        )

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if logs and batch % 10 == 0:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self._bar is not None:
            shown = {k: f"{v:.4f}" for k, v in (logs or {}).items() if k not in ("seconds",)}
            self._bar.set_postfix(shown)
            self._bar.close()
            self._bar = None
