"""Keras-style callbacks for :class:`~facexpr.training.Trainer`.

Every hook receives ``logs``, a plain ``dict[str, float]``. Validation keys carry a ``val_``
prefix. A callback sees the run's settings as ``self.params`` (epochs, steps, optimizer, lr,
...), the model being trained as ``self.model``, and the trainer as ``self.trainer``, whose
public ``history`` it may read and whose ``stop_training`` it may set to ``True``.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._io import atomic_write

if TYPE_CHECKING:
    from torch import nn

    from .history import History
    from .trainer import Trainer

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "ModelCheckpoint",
    "CSVLogger",
    "ProgressBar",
    "TensorBoard",
    "WandbLogger",
]


class Callback:
    """Base class: override the hooks you need (Keras's names).

    Set the class attribute ``rank_zero_only = True`` for callbacks that write files or log
    somewhere: in distributed training they then run on rank 0 only.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, round(logs["loss"], 3))
    """

    trainer: Trainer
    params: dict[str, Any] = {}
    rank_zero_only: bool = False

    @property
    def model(self) -> nn.Module:
        """The model being trained, without any distributed wrapper (Keras's ``Callback.model``).

        Example:
            >>> import facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> callback = Callback()
            >>> callback.set_trainer(Trainer(facexpr.load("simple", pretrained=False), device="cpu"))
            >>> type(callback.model).__name__
            'SimpleCNN'
        """
        return self.trainer.unwrapped_model

    def set_params(self, params: dict[str, Any]) -> None:
        """Receive the run's settings (Keras's ``set_params``); they are ``self.params`` afterwards.

        :meth:`Trainer.fit <facexpr.training.Trainer.fit>` calls it before training starts,
        with :attr:`Trainer.params <facexpr.training.Trainer.params>`: ``epochs``, ``steps``
        (batches per epoch), ``batch_size``, ``optimizer``, ``lr``, ``scheduler``, ``seed``...

        Example:
            >>> callback = Callback()
            >>> callback.set_params({"epochs": 3, "steps": 10})
            >>> callback.params["epochs"]
            3
        """
        self.params = dict(params)

    def set_trainer(self, trainer: Trainer) -> None:
        """Attach the trainer that runs this callback.

        :meth:`Trainer.fit <facexpr.training.Trainer.fit>` calls it before training starts.

        Example:
            >>> import facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False))
            >>> callback = Callback()
            >>> callback.set_trainer(trainer)
            >>> callback.trainer is trainer
            True
        """
        self.trainer = trainer

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Called once before the first epoch.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> class Announce(Callback):
            ...     def on_train_begin(self, logs=None):
            ...         print(f"training for {self.params['epochs']} epochs")
            >>> _ = trainer.fit((faces, targets), epochs=2, batch_size=4, callbacks=[Announce()],
            ...                 progress=False)
            training for 2 epochs
        """

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Called once after the last epoch (or after early stopping).

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> class Report(Callback):
            ...     def on_train_end(self, logs=None):
            ...         print(self.trainer.history)
            >>> _ = trainer.fit((faces, targets), epochs=2, batch_size=4, callbacks=[Report()], progress=False)
            History(epochs=2, keys=['accuracy', 'loss', 'lr', 'seconds'])
        """

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called at the start of every epoch.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> class EpochNumber(Callback):
            ...     def on_epoch_begin(self, epoch, logs=None):
            ...         print(f"epoch {epoch + 1}/{self.params['epochs']}")
            >>> _ = trainer.fit((faces, targets), epochs=2, batch_size=4, callbacks=[EpochNumber()],
            ...                 progress=False)
            epoch 1/2
            epoch 2/2
        """

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called at the end of every epoch, with training and validation logs.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> class LogKeys(Callback):
            ...     def on_epoch_end(self, epoch, logs=None):
            ...         print(epoch, sorted(logs))
            >>> _ = trainer.fit((faces, targets), val=(faces, targets), epochs=1, batch_size=4,
            ...                 callbacks=[LogKeys()], progress=False)
            0 ['accuracy', 'loss', 'lr', 'seconds', 'val_accuracy', 'val_loss']
        """

    def on_train_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Called before every training batch.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> class CountBatches(Callback):
            ...     def on_train_batch_begin(self, batch, logs=None):
            ...         print("batch", batch)
            >>> _ = trainer.fit((faces, targets), epochs=1, batch_size=4, callbacks=[CountBatches()],
            ...                 progress=False)
            batch 0
            batch 1
        """

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Called after every training batch, with running ``loss`` and ``accuracy``.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Callback, Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> class BatchLogs(Callback):
            ...     def on_train_batch_end(self, batch, logs=None):
            ...         print(batch, sorted(logs))
            >>> _ = trainer.fit((faces, targets), epochs=1, batch_size=4, callbacks=[BatchLogs()],
            ...                 progress=False)
            0 ['accuracy', 'loss']
            1 ['accuracy', 'loss']
        """


class CallbackList(Callback):
    """Runs a sequence of callbacks in order; only rank 0 runs ``rank_zero_only`` ones.

    :meth:`Trainer.fit <facexpr.training.Trainer.fit>` wraps its callbacks in one.

    Args:
        callbacks: The callbacks, called in this order.

    Example:
        >>> class Say(Callback):
        ...     def __init__(self, word):
        ...         self.word = word
        ...     def on_epoch_begin(self, epoch, logs=None):
        ...         print(self.word, epoch)
        >>> callbacks = CallbackList([Say("first"), Say("second")])
        >>> callbacks.on_epoch_begin(0)
        first 0
        second 0
    """

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def set_trainer(self, trainer: Trainer) -> None:
        super().set_trainer(trainer)
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)

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

    def replay(self, history: History) -> tuple[int | None, int]:
        """Fold in the epochs of a resumed run; return ``(best epoch, epochs since it)``."""
        best_epoch, since = None, 0
        for epoch, value in zip(history.epoch, history.history.get(self.monitor, ())):
            if math.isnan(value):
                continue
            if self.improved(value):
                self.best, best_epoch, since = value, epoch, 0
            else:
                since += 1
        return best_epoch, since


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    When ``fit(..., resume=...)`` continues a run, the epochs already in the history count:
    the best value and the epochs waited since it are taken from there.

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

    @property
    def best(self) -> float:
        """Best value of the monitored key so far.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> stop = EarlyStopping(monitor="val_loss", patience=2)
            >>> stop.best
            inf
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> history = trainer.fit((faces, targets), val=(faces, targets), epochs=2, batch_size=4,
            ...                       callbacks=[stop], progress=False)
            >>> stop.best == min(history.history["val_loss"])
            True
        """
        return self._monitor.best

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._monitor.best = math.inf if self._monitor.mode == "min" else -math.inf
        self._best_state = None
        self.stopped_epoch = None
        self.best_epoch, self.wait = self._monitor.replay(self.trainer.history)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        value = self._monitor.value(logs)
        model = self.model
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self._best_state = copy.deepcopy(model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.restore_best_weights and self._best_state is not None:
                model.load_state_dict(self._best_state)


class ModelCheckpoint(Callback):
    """Save the model (``save_pretrained`` folder: safetensors + config) during training.

    Args:
        dirpath: Folder to write; ``{epoch}`` and logged keys may appear in it, e.g.
            ``"ckpt/epoch{epoch:02d}"``.
        monitor: Logged key that decides which epoch is best.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_best_only: Write only when ``monitor`` improves (the folder then always holds
            the best model so far, with its metrics in ``config.json``). When
            ``fit(..., resume=...)`` continues a run, the best value of the epochs already in
            the history counts, so a resumed run never overwrites a better model.
        initial_value_threshold: The best value known before training (Keras's argument of
            that name), e.g. that of a model already in ``dirpath``: only a better epoch
            overwrites it.

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
        initial_value_threshold: float | None = None,
    ) -> None:
        self.dirpath = str(dirpath)
        self._monitor = _Monitor(monitor, mode)
        if initial_value_threshold is not None:
            self._monitor.best = float(initial_value_threshold)
        self.save_best_only = save_best_only
        self.best_epoch: int | None = None
        self.last_saved: Path | None = None

    @property
    def best(self) -> float:
        """Best value of the monitored key so far.

        Example:
            >>> import tempfile, torch, facexpr
            >>> from facexpr.training import Trainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     best = ModelCheckpoint(tmp, monitor="val_accuracy")
            ...     history = trainer.fit((faces, targets), val=(faces, targets), epochs=2, batch_size=4,
            ...                           callbacks=[best], progress=False)
            >>> best.best == max(history.history["val_accuracy"])
            True
        """
        return self._monitor.best

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        best_epoch, _ = self._monitor.replay(self.trainer.history)
        if best_epoch is not None:
            self.best_epoch = best_epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        value = self._monitor.value(logs)
        if self.save_best_only and not self._monitor.improved(value):
            return
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
        path = Path(self.dirpath.format(epoch=epoch, **logs))
        model = self.model
        model.config.metrics = {**model.config.metrics, "checkpoint": {"epoch": epoch, **logs}}
        self.last_saved = model.save_pretrained(path)


class CSVLogger(Callback):
    """Write the per-epoch logs to a CSV file, rewritten atomically after every epoch.

    The file holds the whole :class:`~facexpr.training.History` (one row per epoch, resumed
    epochs included), so it is complete even after a kill and a resume.

    Args:
        filename: Path of the CSV file.

    Example:
        >>> logger = CSVLogger("runs/history.csv")
    """

    rank_zero_only = True

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = Path(filename)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        text = self.trainer.history.to_csv()
        atomic_write(self.filename, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def interactive(stream: Any) -> bool:
    """True when ``stream`` shows a live progress bar: a terminal, or a Jupyter kernel.

    Example:
        >>> import io
        >>> interactive(io.StringIO())
        False
    """
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class ProgressBar(Callback):
    """A tqdm progress bar per epoch with live loss and accuracy, or one line per epoch.

    :meth:`Trainer.fit <facexpr.training.Trainer.fit>` adds one unless ``progress=False``.
    It writes to stderr: a live bar on a terminal (or in Jupyter), otherwise (a log file, a
    pipe, a batch job) one line per epoch with its logs, so logs are not filled with bar
    redraws. Runs on rank 0 only.

    Example:
        >>> import torch, facexpr
        >>> from facexpr.training import Trainer
        >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 2
        >>> trainer = Trainer(facexpr.load("simple", pretrained=False, num_classes=2))
        >>> history = trainer.fit((faces, targets), epochs=1, batch_size=4, progress=False,
        ...                       callbacks=[ProgressBar()])  # same as progress=True
    """

    rank_zero_only = True

    def __init__(self) -> None:
        self._bar: Any = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if not interactive(sys.stderr):
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.params.get("steps"),
            desc=f"epoch {epoch + 1}/{self.params.get('epochs')}",
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
        )

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if logs and batch % 10 == 0:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        shown = {k: f"{v:.4f}" for k, v in (logs or {}).items() if k not in ("seconds",)}
        if self._bar is not None:
            self._bar.set_postfix(shown)
            self._bar.close()
            self._bar = None
            return
        seconds = (logs or {}).get("seconds")
        took = f" ({seconds:.1f} s)" if seconds is not None else ""
        items = " - ".join(f"{k} {v}" for k, v in shown.items())
        print(f"epoch {epoch + 1}/{self.params.get('epochs')}{took}: {items}", file=sys.stderr, flush=True)


def _import_optional(module: str, user: str, package: str) -> ModuleType:
    """Import an optional dependency, or say exactly what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{user} needs the optional package '{package}', which is not installed "
            f"({err}). Install it with: pip install {package}"
        ) from None


def _hparams(callback: Callback) -> dict[str, Any]:
    """The model's identity and the run's settings as JSON-friendly values, for trackers."""
    config = getattr(callback.model, "config", None)
    settings = {k: v for k, v in callback.params.items() if k != "steps"}
    return {
        "architecture": getattr(config, "architecture", type(callback.model).__name__),
        "labels": list(getattr(config, "labels", ())),
        **settings,
    }


def _tensorboard_tag(key: str) -> str:
    if key in ("lr", "seconds"):
        return key
    if key.startswith("val_"):
        return f"{key[4:]}/val"
    return f"{key}/train"


class TensorBoard(Callback):
    """Log every epoch's metrics to TensorBoard (``tensorboard --logdir LOG_DIR``).

    Training and validation values of a metric share one chart (``loss/train`` and
    ``loss/val``); ``lr`` and ``seconds`` have their own. The trainer's settings are written
    once as text (``hparams``). Needs the optional ``tensorboard`` package; uses
    :class:`torch.utils.tensorboard.SummaryWriter`. Runs on rank 0 only.

    Args:
        log_dir: Folder for the event files.

    Raises:
        ImportError: If ``tensorboard`` is not installed (``pip install tensorboard``).

    Example:
        >>> trainer.fit(train, val=val, epochs=10, callbacks=[TensorBoard("runs/tb")])  # doctest: +SKIP
    """

    rank_zero_only = True

    def __init__(self, log_dir: str | os.PathLike = "runs/facexpr") -> None:
        _import_optional("tensorboard", "TensorBoard", "tensorboard")
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        text = json.dumps(_hparams(self), indent=2)
        self.writer.add_text("hparams", f"```\n{text}\n```")

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.writer is None:
            return
        for key, value in (logs or {}).items():
            self.writer.add_scalar(_tensorboard_tag(key), value, global_step=epoch)
        self.writer.flush()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class WandbLogger(Callback):
    """Log every epoch's metrics and the trainer's settings to Weights & Biases.

    Starts a run with ``wandb.init(project=..., config=<trainer settings>, ...)`` and finishes
    it when training ends, or logs into the run you already started with ``wandb.init``
    (and leaves it open). Works without a network with ``WANDB_MODE=offline`` (or
    ``mode="offline"``): the run is written under ``dir`` and uploaded later with
    ``wandb sync``. Needs the optional ``wandb`` package. Runs on rank 0 only.

    Args:
        project: W&B project name.
        name: Run name (W&B picks one by default).
        config: Extra settings recorded with the trainer's own.
        **init_kwargs: Passed to ``wandb.init`` (``entity``, ``tags``, ``dir``, ``mode``, ...).

    Raises:
        ImportError: If ``wandb`` is not installed (``pip install wandb``).

    Example:
        >>> import os
        >>> os.environ["WANDB_MODE"] = "offline"  # doctest: +SKIP
        >>> trainer.fit(train, val=val, epochs=10, callbacks=[WandbLogger("fer")])  # doctest: +SKIP
    """

    rank_zero_only = True

    def __init__(
        self,
        project: str = "facexpr",
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        **init_kwargs: Any,
    ) -> None:
        self._wandb = _import_optional("wandb", "WandbLogger", "wandb")
        self.project = project
        self.name = name
        self.config = dict(config or {})
        self.init_kwargs = init_kwargs
        self.run: Any = None
        self._owns_run = False

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        settings = {**_hparams(self), **self.config}
        self._owns_run = self._wandb.run is None
        if self._owns_run:
            self.run = self._wandb.init(
                project=self.project, name=self.name, config=settings, **self.init_kwargs
            )
        else:
            self.run = self._wandb.run
            self.run.config.update(settings, allow_val_change=True)
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.run is not None:
            self.run.log({"epoch": epoch, **(logs or {})})

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.run is not None and self._owns_run:
            self.run.finish()
        self.run = None
