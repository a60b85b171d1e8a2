"""``FaceDataset``: decoded faces in memory, the form every facexpr data set takes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

__all__ = ["FaceDataset"]


class FaceDataset(Dataset):
    """Grayscale faces held as one ``uint8`` tensor, with targets and class names.

    Targets are either class indices (``int64``, ``N``) or soft targets: a probability
    distribution over the classes for each face (``float32``, ``N x C``, rows summing to 1),
    such as FER+'s vote distributions. Indexing returns ``(image, target)`` with ``image`` a
    ``uint8`` ``1 x 48 x 48`` tensor, so the data set also works with a plain
    :class:`~torch.utils.data.DataLoader`; the :class:`~facexpr.training.Trainer` slices whole
    batches instead, which is much faster.

    Args:
        images: ``uint8`` tensor ``N x 48 x 48`` or ``N x 1 x 48 x 48``.
        targets: ``N`` class indices, or an ``N x C`` tensor of class probabilities.
        classes: Class names, indexed by target.
        paths: Optional source file of each image.

    Example:
        >>> import torch
        >>> ds = FaceDataset(torch.zeros(4, 48, 48, dtype=torch.uint8), torch.tensor([0, 1, 1, 0]),
        ...                  classes=("no", "yes"))
        >>> len(ds), ds[1][0].shape, ds.class_counts()
        (4, torch.Size([1, 48, 48]), [2, 2])
        >>> soft = FaceDataset(torch.zeros(2, 48, 48, dtype=torch.uint8), torch.tensor([[0.2, 0.8], [1.0, 0.0]]),
        ...                    classes=("no", "yes"))
        >>> soft.soft, soft.hard_targets.tolist(), soft[0][1].tolist()
        (True, [1, 0], [0.20000000298023224, 0.800000011920929])
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        classes: Sequence[str],
        paths: Sequence[str] | None = None,
    ) -> None:
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4 or images.shape[1] != 1 or images.dtype != torch.uint8:
            raise ValueError(
                "FaceDataset images must be a uint8 tensor of shape Nx48x48 or Nx1x48x48, got "
                f"shape {tuple(images.shape)} and dtype {images.dtype}."
            )
        targets = _check_targets(targets, images.shape[0], classes)
        if paths is not None and len(paths) != images.shape[0]:
            raise ValueError(f"FaceDataset got {images.shape[0]} images but {len(paths)} paths.")
        self.images = images
        self.targets = targets
        self.classes = tuple(classes)
        self.paths = list(paths) if paths is not None else None

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        if self.soft:
            return self.images[index], self.targets[index]
        return self.images[index], int(self.targets[index])

    @property
    def soft(self) -> bool:
        """Whether the targets are class probabilities (``N x C``) rather than indices.

        Example:
            >>> import torch
            >>> FaceDataset(torch.zeros(1, 48, 48, dtype=torch.uint8), torch.tensor([1]), classes=("no", "yes")).soft
            False
        """
        return self.targets.ndim == 2

    @property
    def hard_targets(self) -> torch.Tensor:
        """Class indices: the targets themselves, or each distribution's most probable class.

        Example:
            >>> import torch
            >>> FaceDataset(torch.zeros(1, 48, 48, dtype=torch.uint8), torch.tensor([[0.3, 0.7]]),
            ...             classes=("no", "yes")).hard_targets
            tensor([1])
        """
        return self.targets.argmax(dim=1) if self.soft else self.targets

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, classes={list(self.classes)})"

    def class_counts(self) -> list[int]:
        """Return the number of images of each class, in class order (soft targets: by
        their most probable class).

        Example:
            >>> import torch
            >>> ds = FaceDataset(torch.zeros(5, 48, 48, dtype=torch.uint8), torch.tensor([0, 1, 1, 0, 1]),
            ...                  classes=("no", "yes"))
            >>> ds.class_counts()
            [2, 3]
        """
        return torch.bincount(self.hard_targets, minlength=len(self.classes)).tolist()

    def subset(self, indices: Sequence[int] | torch.Tensor) -> FaceDataset:
        """Return a new data set holding only ``indices`` (shares no storage with this one).

        Example:
            >>> import torch
            >>> ds = FaceDataset(torch.zeros(5, 48, 48, dtype=torch.uint8), torch.tensor([0, 1, 1, 0, 1]),
            ...                  classes=("no", "yes"))
            >>> small = ds.subset([0, 1, 2])
            >>> small, small.class_counts()
            (FaceDataset(n=3, classes=['no', 'yes']), [1, 2])
        """
        index = torch.as_tensor(indices, dtype=torch.int64)
        paths = [self.paths[i] for i in index.tolist()] if self.paths is not None else None
        return FaceDataset(self.images[index].clone(), self.targets[index].clone(), self.classes, paths)


def _check_targets(targets: torch.Tensor | Sequence[int], n: int, classes: Sequence[str]) -> torch.Tensor:
    """Validate class indices (``N``) or class probabilities (``N x C``); return them as tensors."""
    targets = torch.as_tensor(targets)
    if targets.ndim == 2:
        if targets.shape != (n, len(classes)) or not targets.is_floating_point():
            raise ValueError(
                f"FaceDataset soft targets must be a float tensor of shape {n}x{len(classes)} (images x classes "
                f"{list(classes)}), got shape {tuple(targets.shape)} and dtype {targets.dtype}."
            )
        targets = targets.float()
        sums = targets.sum(dim=1)
        if n and (not bool(torch.isfinite(targets).all()) or float(targets.min()) < 0
                  or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3)):
            raise ValueError("FaceDataset soft targets must be probabilities: finite, >= 0, each row summing to 1.")
        return targets
    targets = targets.to(torch.int64)
    if targets.shape != (n,):
        raise ValueError(f"FaceDataset got {n} images but targets of shape {tuple(targets.shape)}.")
    if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= len(classes)):
        raise ValueError(
            f"FaceDataset targets must lie in [0, {len(classes) - 1}] for classes "
            f"{list(classes)}, got [{int(targets.min())}, {int(targets.max())}]."
        )
    return targets
