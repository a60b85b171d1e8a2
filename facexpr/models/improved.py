"""``improved``: the seed project's ImprovedCNN."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._base import FaceModel
from ._registry import PretrainedWeights, register_model

__all__ = ["ImprovedCNN"]


def _block(in_chans: int, out_chans: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_chans, out_chans, 3, padding=1), nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True), nn.MaxPool2d(2),
    ]


@register_model("improved", weights=PretrainedWeights(
        repo_id="facexpr/improved",
        sha256="9f5071cf80ff06dc86b57967fca0a54659e182114dad23f652abc9332e6d9ef8",
    ))
class ImprovedCNN(FaceModel):
    """4 x [Conv3x3 -> BatchNorm -> ReLU -> MaxPool2] (32/64/128/256) -> Dropout 0.5 ->
    Linear(2304, 512) -> ReLU -> Dropout 0.3 -> Linear.

    Exactly the seed project's architecture (same layers and parameter shapes, same order).

    Args:
        num_classes: Number of output classes.
        labels: Class names (see :class:`~facexpr.models.FaceModel`).

    Example:
        >>> from facexpr.models import ImprovedCNN
        >>> sum(p.numel() for p in ImprovedCNN().parameters())
        1572551
    """

    def __init__(self, num_classes: int = 7, labels: Sequence[str] | None = None) -> None:
        super().__init__(num_classes, labels)
        self.features = nn.Sequential(
            *_block(1, 32), *_block(32, 64), *_block(64, 128), *_block(128, 256)
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 3 * 3, 512), nn.ReLU(inplace=True),
            nn.Dropout(0.3), nn.Linear(512, self.num_classes),
        )
