"""``History``: what ``Trainer.fit`` returns, as in Keras."""

from __future__ import annotations

import csv
import io
from typing import Any

__all__ = ["History"]


class History:
    """Per-epoch logs of a training run.

    Attributes:
        epoch: Epoch numbers (0-based) that were run.
        history: Metric name -> one value per epoch, e.g. ``history["val_accuracy"]``.

    Example:
        >>> h = History()
        >>> h.append(0, {"loss": 1.2, "val_accuracy": 0.5})
        >>> h.append(1, {"loss": 0.9, "val_accuracy": 0.6})
        >>> h.best("val_accuracy")
        (1, 0.6)
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the logs of one epoch.

        A key missing from an epoch's logs is recorded as ``nan`` for that epoch.

        Example:
            >>> h = History()
            >>> h.append(0, {"loss": 1.0})
            >>> h.append(1, {"loss": 0.8, "val_loss": 0.9})
            >>> h.epoch, h.history
            ([0, 1], {'loss': [1.0, 0.8], 'val_loss': [nan, 0.9]})
        """
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, [float("nan")] * (len(self.epoch) - 1)).append(float(value))
        for key, values in self.history.items():
            if len(values) < len(self.epoch):
                values.append(float("nan"))

    def best(self, monitor: str, mode: str = "auto") -> tuple[int, float]:
        """Return ``(epoch, value)`` of the best value of ``monitor``.

        Args:
            monitor: A logged key such as ``"val_accuracy"``.
            mode: ``"max"``, ``"min"`` or ``"auto"`` (max for accuracy/F1 keys, else min).

        Raises:
            KeyError: If ``monitor`` was never logged.

        Example:
            >>> h = History()
            >>> h.append(0, {"loss": 1.2, "val_accuracy": 0.5})
            >>> h.append(1, {"loss": 0.9, "val_accuracy": 0.6})
            >>> h.best("loss"), h.best("val_accuracy", mode="min")
            ((1, 0.9), (0, 0.5))
        """
        if monitor not in self.history:
            raise KeyError(f"{monitor!r} was not logged; logged keys: {sorted(self.history)}.")
        values = self.history[monitor]
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "f1", "precision", "recall")) else "min"
        pick = max if mode == "max" else min
        index = pick(range(len(values)), key=lambda i: values[i])
        return self.epoch[index], values[index]

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"epoch": [...], "history": {...}}`` (JSON-serialisable).

        Example:
            >>> h = History()
            >>> h.append(0, {"loss": 1.2, "val_accuracy": 0.5})
            >>> h.to_dict()
            {'epoch': [0], 'history': {'loss': [1.2], 'val_accuracy': [0.5]}}
        """
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> h = History.from_dict({"epoch": [0, 1], "history": {"loss": [1.2, 0.9]}})
            >>> h, h.best("loss")
            (History(epochs=2, keys=['loss']), (1, 0.9))
        """
        history = cls()
        history.epoch = [int(e) for e in data.get("epoch", [])]
        history.history = {k: [float(x) for x in v] for k, v in data.get("history", {}).items()}
        return history

    def to_csv(self) -> str:
        """Return the history as CSV text, one row per epoch.

        Example:
            >>> h = History()
            >>> h.append(0, {"loss": 1.2, "val_accuracy": 0.5})
            >>> h.append(1, {"loss": 0.9, "val_accuracy": 0.6})
            >>> h.to_csv().splitlines()
            ['epoch,loss,val_accuracy', '0,1.2,0.5', '1,0.9,0.6']
        """
        out = io.StringIO()
        keys = sorted(self.history)
        writer = csv.writer(out)
        writer.writerow(["epoch", *keys])
        for row, epoch in enumerate(self.epoch):
            writer.writerow([epoch, *(repr(self.history[k][row]) for k in keys)])
        return out.getvalue()

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"
