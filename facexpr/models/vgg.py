"""VGG-style networks with batch norm for 48x48 faces: ``vgg8_bn`` and the faster ``vgg7_bn``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._base import FaceModel
from ..labels import FERPLUS_LABELS
from ._registry import PretrainedWeights, register_model, register_weights

__all__ = ["VGG7BN", "VGG8BN"]

WIDTHS = (32, 64, 128, 256)
"""Channels of the four stages (two convolutions each)."""


VGG7_WIDTHS = (24, 48, 96, 192)
"""Channels of ``vgg7_bn``'s four stages (one convolution in the first, two in the others)."""


def _stage(in_chans: int, out_chans: int, convs: int = 2) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for index in range(convs):
        layers += [
            nn.Conv2d(in_chans if index == 0 else out_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True),
        ]
    return layers + [nn.MaxPool2d(2)]


class _VGGBN(FaceModel):
    """What the VGG-style networks share: their stages, head and Kaiming initialisation."""

    def _build(self, widths: Sequence[int], convs: Sequence[int]) -> None:
        """Stages of ``convs[i]`` convolutions with ``widths[i]`` channels, each halving the face,
        then ``vgg8_bn``'s head (Linear -> BatchNorm1d -> ReLU -> Dropout 0.5 -> Linear)."""
        layers: list[nn.Module] = []
        in_chans = 1
        for width, count in zip(widths, convs):
            layers += _stage(in_chans, width, count)
            in_chans = width
        self.features = nn.Sequential(*layers)
        side = 48 // 2 ** len(widths)
        self.classifier = nn.Sequential(
            nn.Linear(in_chans * side * side, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
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


@register_model("vgg8_bn", weights=PretrainedWeights(
        repo_id="facexpr/vgg8_bn",
        sha256="ebbcf3854df48c0f2bad3109d11bf170a0415c1a3af6a761b7cdc36fab1b10f4",
    ))
class VGG8BN(_VGGBN):
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
        self._build(WIDTHS, (2, 2, 2, 2))


@register_model("vgg7_bn")
class VGG7BN(_VGGBN):
    """``vgg8_bn`` made faster: [Conv3x3-BN-ReLU, MaxPool2] (24) -> 3 x [Conv3x3-BN-ReLU,
    Conv3x3-BN-ReLU, MaxPool2] (48/96/192) -> Linear(1728, 256) -> BatchNorm1d -> ReLU ->
    Dropout 0.5 -> Linear.

    Seven 3x3 convolutions: ``vgg8_bn`` without the second convolution of its first stage (the
    costliest layer, at full 48x48 resolution) and with three quarters of its channels. 1.1 M
    parameters and about 55 M multiply-adds per face, under half of ``vgg8_bn``'s; in int8 on a
    CPU it reads 1.7-1.9 times as many faces per second as ``vgg8_bn``, and 1.17-1.67 times as many as
    the ``fer`` package's model, side by side on one thread (three runs; the model zoo page). Kaiming
    initialisation; the head is ``vgg8_bn``'s. Its released weights are ``vgg7_bn.mixed``, the
    default model, shrunk from ``vgg8_bn.mixed`` (:func:`facexpr.training.shrink`).

    Args:
        num_classes: Number of output classes.
        labels: Class names (see :class:`~facexpr.models.FaceModel`).

    Example:
        >>> from facexpr.models import VGG7BN
        >>> sum(p.numel() for p in VGG7BN().parameters())
        1099727
    """

    def __init__(self, num_classes: int = 7, labels: Sequence[str] | None = None) -> None:
        super().__init__(num_classes, labels)
        self._build(VGG7_WIDTHS, (1, 2, 2, 2))


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

register_weights("vgg7_bn.mixed", PretrainedWeights(
    repo_id="facexpr/vgg7_bn.mixed",
    sha256="fe82b945edde1def0f4effc45ea25dafa97135f74f9506caa2f26373b938640e",
    labels=FERPLUS_LABELS,
))
