"""``better``: the seed project's BetterCNN."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._base import FaceModel
from ..labels import FERPLUS_LABELS
from ._registry import PretrainedWeights, register_model, register_weights

__all__ = ["BetterCNN"]


def _block(in_chans: int, out_chans: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_chans, out_chans, 3, padding=1), nn.BatchNorm2d(out_chans),
        nn.LeakyReLU(inplace=True), nn.MaxPool2d(2),
    ]


@register_model("better", weights=PretrainedWeights(
        repo_id="facexpr/better",
        sha256="4e9b0c9a32c74def0659fbc00e10de08dbda728e4e485ec75aff75cdb26d7e8c",
    ))
class BetterCNN(FaceModel):
    """3 x [Conv3x3 -> BatchNorm -> LeakyReLU -> MaxPool2] (32/64/128) -> Linear(4608, 256) ->
    BatchNorm1d -> LeakyReLU -> Dropout 0.5 -> Linear, with Kaiming initialisation.

    Exactly the seed project's architecture (same layers and parameter shapes, same order).

    Args:
        num_classes: Number of output classes.
        labels: Class names (see :class:`~facexpr.models.FaceModel`).

    Example:
        >>> from facexpr.models import BetterCNN
        >>> sum(p.numel() for p in BetterCNN().parameters())
        1275335
    """

    def __init__(self, num_classes: int = 7, labels: Sequence[str] | None = None) -> None:
        super().__init__(num_classes, labels)
        self.features = nn.Sequential(*_block(1, 32), *_block(32, 64), *_block(64, 128))
        self.classifier = nn.Sequential(
            nn.Linear(128 * 6 * 6, 256), nn.BatchNorm1d(256), nn.LeakyReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(256, self.num_classes),
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)

    def reset_classifier(self, num_classes: int, labels: Sequence[str] | None = None) -> None:
        super().reset_classifier(num_classes, labels)
        head = self.get_classifier()
        nn.init.kaiming_normal_(head.weight, nonlinearity="leaky_relu")
        nn.init.zeros_(head.bias)


register_weights("better.ferplus", PretrainedWeights(
    repo_id="facexpr/better.ferplus",
    sha256="ae89f06d330415740ed9af263d82d73a43c0331f8854788ab71a2fe3528bd9b3",
    labels=FERPLUS_LABELS,
))
