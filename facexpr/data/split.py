"""Stratified, seeded splits of a :class:`~facexpr.data.FaceDataset`."""

from __future__ import annotations

import torch

from .dataset import FaceDataset

__all__ = ["train_val_split"]


def train_val_split(
    data: FaceDataset, val_fraction: float = 0.1, *, seed: int = 0
) -> tuple[FaceDataset, FaceDataset]:
    """Split a data set into training and validation parts, class by class.

    Each class contributes ``round(count * val_fraction)`` images to the validation part, but
    a class with at least two images always keeps at least one on each side, so every class
    is both learnt and measured. Which images go where depends on ``seed`` alone; both parts
    keep the original order (and class names, and source paths).

    Args:
        data: The data set to split (:class:`~facexpr.data.ImageFolder`, ``FER2013``, ...).
        val_fraction: Share of every class held out for validation, in (0, 1).
        seed: Seed of the random choice.

    Returns:
        ``(train, val)``, two new :class:`~facexpr.data.FaceDataset` objects.

    Raises:
        TypeError: If ``data`` is not a :class:`~facexpr.data.FaceDataset`.
        ValueError: If ``val_fraction`` is not strictly between 0 and 1.

    Example:
        >>> import torch
        >>> ds = FaceDataset(torch.zeros(20, 48, 48, dtype=torch.uint8),
        ...                  torch.tensor([0] * 10 + [1] * 10), classes=("a", "b"))
        >>> train, val = train_val_split(ds, 0.2, seed=0)
        >>> train.class_counts(), val.class_counts()
        ([8, 8], [2, 2])
    """
    if not isinstance(data, FaceDataset):
        raise TypeError(
            f"train_val_split needs a facexpr FaceDataset (ImageFolder, FER2013, ...), got "
            f"{type(data).__name__}."
        )
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}.")
    generator = torch.Generator().manual_seed(seed)
    val_parts: list[torch.Tensor] = []
    for label in range(len(data.classes)):
        members = (data.targets == label).nonzero().flatten()
        count = len(members)
        n_val = int(round(count * val_fraction))
        if count >= 2:
            n_val = min(max(n_val, 1), count - 1)
        chosen = torch.randperm(count, generator=generator)[:n_val]
        val_parts.append(members[chosen])
    is_val = torch.zeros(len(data), dtype=torch.bool)
    if val_parts:
        is_val[torch.cat(val_parts)] = True
    return data.subset(is_val.logical_not().nonzero().flatten()), data.subset(is_val.nonzero().flatten())
