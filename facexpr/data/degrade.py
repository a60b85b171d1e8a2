"""Photo degradations for training: what a face cut from a real photo looks like.

FER2013's faces are sharp 48x48 crops. A face that a detector cuts from a web photo is often
smaller (upscaled), softer, JPEG-compressed and lit differently. :class:`Degrade` draws, per
sample, a downscale-and-upscale, a Gaussian blur, a gamma and contrast change and a JPEG
re-encoding, so that a model trained with it does not rely on detail that real crops lack.
It is the second half of :class:`~facexpr.data.BatchAugment` (``degrade=...``), applied after
the geometric part.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["Degrade"]


@dataclass(frozen=True)
class Degrade:
    """Random per-sample degradations of float ``N x C x H x W`` images in [0, 1].

    Each degradation is applied to a sample with its probability; its strength is drawn
    uniformly from its range (log-uniformly for gamma and contrast). The order is that of a
    camera and a web page: resolution, blur, exposure (gamma, contrast), then compression.

    Attributes:
        downscale: Probability of shrinking a face and scaling it back up (a small face in a
            photo, upscaled to the model's input).
        downscale_size: Range of the side, in pixels, the face is shrunk to.
        blur: Probability of a Gaussian blur.
        blur_sigma: Range of the blur's standard deviation, in pixels.
        gamma: Probability of a gamma change (``x ** g``).
        gamma_range: Range of ``g``.
        contrast: Probability of a contrast change around the image's mean.
        contrast_range: Range of the contrast factor.
        jpeg: Probability of a JPEG re-encoding.
        jpeg_quality: Range of the JPEG quality (integers, inclusive).

    Example:
        >>> import torch
        >>> from facexpr.data import Degrade
        >>> out = Degrade(jpeg=1.0)(torch.rand(4, 1, 48, 48), generator=torch.Generator().manual_seed(0))
        >>> out.shape, bool(out.min() >= 0), bool(out.max() <= 1)
        (torch.Size([4, 1, 48, 48]), True, True)
    """

    downscale: float = 0.0
    downscale_size: tuple[int, int] = (16, 40)
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    gamma: float = 0.0
    gamma_range: tuple[float, float] = (0.6, 1.6)
    contrast: float = 0.0
    contrast_range: tuple[float, float] = (0.6, 1.4)
    jpeg: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        for name in ("downscale", "blur", "gamma", "contrast", "jpeg"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Degrade.{name} is a probability, expected a value in [0, 1], got {p!r}.")
        checks = {
            "downscale_size": (1, None), "blur_sigma": (0.0, None), "gamma_range": (1e-3, None),
            "contrast_range": (0.0, None), "jpeg_quality": (1, 95),
        }
        for name, (low, high) in checks.items():
            lo, hi = getattr(self, name)
            if not (low <= lo <= hi and (high is None or hi <= high)):
                bound = f"<= {high}" if high is not None else "any size"
                raise ValueError(
                    f"Degrade.{name} must be a range (low, high) with {low} <= low <= high ({bound}), "
                    f"got {(lo, hi)!r}."
                )

    def is_identity(self) -> bool:
        """True when no degradation can ever apply (every probability is 0).

        Example:
            >>> Degrade().is_identity(), Degrade(blur=0.1).is_identity()
            (True, False)
        """
        return not any((self.downscale, self.blur, self.gamma, self.contrast, self.jpeg))

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return a degraded copy of ``images`` (float ``N x C x H x W`` in [0, 1])."""
        n = images.shape[0]
        if n == 0 or self.is_identity():
            return images
        out = images.clone()
        # Every draw is made for every sample, whether or not it applies, so that one
        # sample's randomness does not depend on what happened to the others.
        draws = torch.rand(5, n, generator=generator)
        amounts = torch.rand(5, n, generator=generator)
        if self.downscale:
            out = self._downscale(out, draws[0] < self.downscale, amounts[0])
        if self.blur:
            out = self._blur(out, draws[1] < self.blur, amounts[1])
        if self.gamma:
            g = _log_uniform(amounts[2], self.gamma_range)
            g = torch.where(draws[2] < self.gamma, g, torch.ones(n)).view(n, 1, 1, 1).to(out)
            out = out.clamp(0.0, 1.0).pow(g)
        if self.contrast:
            c = _log_uniform(amounts[3], self.contrast_range)
            c = torch.where(draws[3] < self.contrast, c, torch.ones(n)).view(n, 1, 1, 1).to(out)
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            out = ((out - mean) * c + mean).clamp(0.0, 1.0)
        if self.jpeg:
            out = self._jpeg(out, draws[4] < self.jpeg, amounts[4])
        return out

    def _downscale(self, images: torch.Tensor, apply: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        low, high = self.downscale_size
        sides = (low + amount * (high - low + 1)).floor().clamp(max=high).long()
        for i in torch.nonzero(apply).flatten().tolist():
            side = int(sides[i])
            if side >= max(height, width):
                continue
            small = F.interpolate(images[i : i + 1], size=(side, side), mode="bilinear", antialias=True,
                                  align_corners=False)
            images[i : i + 1] = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
        return images.clamp_(0.0, 1.0)

    def _blur(self, images: torch.Tensor, apply: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
        n, channels = images.shape[:2]
        low, high = self.blur_sigma
        sigma = (low + amount * (high - low)).clamp(min=1e-3)
        radius = max(1, math.ceil(3 * high))
        offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
        kernel = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma.view(-1, 1).to(images.dtype) ** 2))
        kernel = kernel / kernel.sum(1, keepdim=True)  # n x k, one 1-D Gaussian per sample
        kernel = kernel.repeat_interleave(channels, 0).to(images.device)  # (n*c) x k
        flat = images.reshape(1, n * channels, *images.shape[-2:])
        flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
        flat = F.conv2d(flat, kernel.view(n * channels, 1, 1, -1), groups=n * channels)
        flat = F.conv2d(flat, kernel.view(n * channels, 1, -1, 1), groups=n * channels)
        blurred = flat.view_as(images)
        mask = apply.view(n, 1, 1, 1).to(images.device)
        return torch.where(mask, blurred, images)

    def _jpeg(self, images: torch.Tensor, apply: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
        low, high = self.jpeg_quality
        qualities = (low + amount * (high - low + 1)).floor().clamp(max=high).long()
        for i in torch.nonzero(apply).flatten().tolist():
            images[i] = _jpeg_roundtrip(images[i], int(qualities[i]))
        return images


def _log_uniform(unit: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """Map uniform draws in [0, 1) to a log-uniform value in ``bounds``."""
    low, high = math.log(bounds[0]), math.log(bounds[1])
    return torch.exp(low + unit * (high - low))


def _jpeg_roundtrip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode one ``C x H x W`` image in [0, 1] as JPEG at ``quality`` and decode it again."""
    pixels = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    gray = pixels.shape[2] == 1
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if gray else pixels).save(buffer, "JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L" if gray else "RGB"),
                         dtype=np.float32) / 255.0
    decoded = decoded.reshape(pixels.shape)
    return torch.from_numpy(decoded).permute(2, 0, 1).to(image.device, image.dtype)
