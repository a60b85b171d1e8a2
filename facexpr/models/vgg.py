"""``vgg8_bn``: facexpr's flagship, a VGG-style network with batch norm for 48x48 faces."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._base import FaceModel
from ..labels import FERPLUS_LABELS
from ._registry import PretrainedWeights, register_model, register_weights

__all__ = ["VGG8BN"]

WIDTHS = (32, 64, 128, 256)
"""Channels of the four stages (two convolutions each)."""


def _stage(in_chans: int, out_chans: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False), nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False), nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    ]


@register_model("vgg8_bn", weights=PretrainedWeights(
        repo_id="facexpr/vgg8_bn",
        sha256="ebbcf3854df48c0f2bad3109d11bf170a0415c1a3af6a761b7cdc36fab1b10f4",
    ))
class VGG8BN(FaceModel):
    """4 x [Conv3x3-BN-ReLU, Conv3x3-BN-ReLU, MaxPool2] (32/64/128/256) -> Linear(2304, 256)
    -> BatchNorm1d -> ReLU -> Dropout 0.5 -> Linear.

    Eight 3x3 convolutions in VGG's pattern, sized for 48x48 grayscale faces and a laptop CPU:
    1.8 M parameters and about 117 M multiply-adds per face (five times BetterCNN), with the
    4th stage seeing the face at 6x6. Kaiming initialisation. Dropout comes after the
    batch norm of the head, never before it, so that BatchNorm's running statistics match
    what it sees at inference.

    Args:
        num_classes: Number of output classes.
        labels: Class names (see :class:`~facexpr.models.FaceModel`).

    Example:
        >>> from facexpr.models import VGG8BN
        >>> sum(p.numel() for p in VGG8BN().parameters())
        1765031
    """

    def __init__(self, num_classes: int = 7, labels: Sequence[str] | None = None) -> None:
        super().__init__(num_classes, labels)
        layers: list[nn.Module] = []
        in_chans = 1
        for width in WIDTHS:
            layers += _stage(in_chans, width)
            in_chans = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(in_chans * 3 * 3, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(256, self.num_classes),
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def reset_classifier(self, num_classes: int, labels: Sequence[str] | None = None) -> None:
        super().reset_classifier(num_classes, labels)
        head = self.get_classifier()
        nn.init.kaiming_normal_(head.weight, nonlinearity="relu")
        nn.init.zeros_(head.bias)


register_weights("vgg8_bn.ferplus", PretrainedWeights(
    repo_id="facexpr/vgg8_bn.ferplus",
    sha256="5f00c9282f169a1efc20a27115ded34f04fc4f912434af93f0927978f345076b",
    labels=FERPLUS_LABELS,
))

register_weights("vgg8_bn.mixed", PretrainedWeights(
    repo_id="facexpr/vgg8_bn.mixed",
    sha256="7f717d8b8c2b1440e3b1f4dcf938ee418a34195db79496f3faa9346050d28abb",
    labels=FERPLUS_LABELS,
))
