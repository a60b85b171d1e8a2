"""``simple``: the seed project's SimpleCNN."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._base import FaceModel
from ._registry import PretrainedWeights, register_model

__all__ = ["SimpleCNN"]


@register_model("simple", weights=PretrainedWeights(
        repo_id="facexpr/simple",
        sha256="0a360605687a09f971dd7d17a9fc6c820af6665c321542a7f2242005f6a53207",
    ))
class SimpleCNN(FaceModel):
    """3 x [Conv3x3 -> ReLU -> MaxPool2] (32/64/128) -> Linear(4608, 256) -> ReLU -> Linear.

    Exactly the seed project's architecture (same layers and parameter shapes, same order).

    Args:
        num_classes: Number of output classes.
        labels: Class names (see :class:`~facexpr.models.FaceModel`).

    Example:
        >>> from facexpr.models import SimpleCNN
        >>> sum(p.numel() for p in SimpleCNN().parameters())
        1274375
    """

    def __init__(self, num_classes: int = 7, labels: Sequence[str] | None = None) -> None:
        super().__init__(num_classes, labels)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(128 * 6 * 6, 256), nn.ReLU(inplace=True), nn.Linear(256, self.num_classes),
        )
