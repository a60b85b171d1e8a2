"""Optimisers and learning-rate schedules by name, all built from :mod:`torch.optim`.

:class:`~facexpr.training.Trainer` resolves its ``optimizer=`` and ``scheduler=`` arguments
here; the functions are public so that a custom loop can build the same pieces.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "build_optimizer",
    "build_scheduler",
    "optimizer_name",
    "steps_per_batch",
]

OPTIMIZERS = ("adam", "adamw", "sgd")
"""Optimiser names accepted by ``Trainer(optimizer=...)`` (all from :mod:`torch.optim`)."""

SCHEDULERS = ("cosine", "onecycle", "step", "plateau")
"""Schedule names accepted by ``Trainer(scheduler=...)`` (all from ``torch.optim.lr_scheduler``)."""

_PER_STEP = ("cosine", "onecycle")
"""Schedules stepped after every batch (the others step once per epoch)."""


def check_scheduler(name: str | None) -> None:
    """Raise :class:`ValueError` unless ``name`` is ``None`` or one of :data:`SCHEDULERS`.

    Example:
        >>> check_scheduler("cosine")
        >>> check_scheduler("linear")
        Traceback (most recent call last):
        ...
        ValueError: Unknown scheduler 'linear'. Available: cosine, onecycle, step, plateau.
    """
    if name is not None and name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {name!r}. Available: {', '.join(SCHEDULERS)}.")


def optimizer_name(optimizer: str | torch.optim.Optimizer) -> str:
    """Return the name of an optimiser argument: the name itself, or the optimiser's class name.

    Example:
        >>> import torch
        >>> optimizer_name("adamw"), optimizer_name(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))
        ('adamw', 'SGD')
    """
    return optimizer if isinstance(optimizer, str) else type(optimizer).__name__


def build_optimizer(
    optimizer: str | torch.optim.Optimizer,
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """Build an optimiser by name, or return one already built as it is.

    Args:
        optimizer: ``"adam"``, ``"adamw"`` (decoupled weight decay), ``"sgd"`` (Nesterov
            momentum when ``momentum`` > 0) or a :class:`torch.optim.Optimizer`.
        params: The parameters to optimise.
        lr: Learning rate.
        weight_decay: L2 penalty (decoupled for AdamW).
        momentum: SGD momentum.

    Raises:
        ValueError: If the name is not one of :data:`OPTIMIZERS`.

    Example:
        >>> import torch
        >>> build_optimizer("sgd", torch.nn.Linear(2, 2).parameters(), lr=0.1).defaults["nesterov"]
        True
    """
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    name = str(optimizer).lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {optimizer!r}. Available: {', '.join(OPTIMIZERS)}.")


def build_scheduler(
    name: str | None, optimizer: torch.optim.Optimizer, *, lr: float, epochs: int, steps: int
) -> Any:
    """Build a learning-rate schedule by name (``None`` gives ``None``).

    ``"cosine"`` and ``"onecycle"`` are laid out over ``epochs * steps`` batches, ``"step"``
    divides the rate by 10 every third of the run, and ``"plateau"`` halves it after 3 epochs
    without improvement.

    Args:
        name: ``None`` or one of :data:`SCHEDULERS`.
        optimizer: The optimiser whose rate it drives.
        lr: The peak rate of ``"onecycle"``.
        epochs: Epochs of the run.
        steps: Batches per epoch.

    Raises:
        ValueError: If the name is not one of :data:`SCHEDULERS`.

    Example:
        >>> import torch
        >>> opt = build_optimizer("adam", torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> type(build_scheduler("cosine", opt, lr=0.1, epochs=2, steps=5)).__name__
        'CosineAnnealingLR'
    """
    check_scheduler(name)
    sched = torch.optim.lr_scheduler
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs * steps)
    if name == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps)
    if name == "step":
        return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "plateau":
        return sched.ReduceLROnPlateau(optimizer, factor=0.5, patience=3)
    return None


def steps_per_batch(name: str | None) -> bool:
    """True when the schedule ``name`` is stepped after every batch, not every epoch.

    Example:
        >>> steps_per_batch("onecycle"), steps_per_batch("plateau"), steps_per_batch(None)
        (True, False, False)
    """
    return name in _PER_STEP
