"""Batch augmentation on tensors, with per-sample randomness.

All geometric augmentations of one batch (flip, rotation, random resized crop) are folded
into one affine matrix per sample and applied by a single :func:`torch.nn.functional.grid_sample`
call, which is far cheaper on a CPU than per-image PIL transforms and resamples each image once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .degrade import Degrade

__all__ = ["BatchAugment", "AUGMENT_PRESETS", "get_augment"]


@dataclass(frozen=True)
class BatchAugment:
    """Random flip, rotation, resized crop and erasing for a batch of faces.

    Works on float images ``N x C x H x W`` in [0, 1]; every sample draws its own parameters.
    The geometric part follows torchvision's ``RandomHorizontalFlip`` -> ``RandomRotation`` ->
    ``RandomResizedCrop`` (areas outside the rotated image are filled with 0, as there).

    Attributes:
        hflip: Probability of a horizontal flip.
        degrees: Rotation angle drawn uniformly from ``[-degrees, degrees]``.
        scale: Range of the crop's area, as a fraction of the image (``RandomResizedCrop``).
        ratio: Range of the crop's aspect ratio (drawn log-uniformly).
        crop_retries: ``0`` clamps a crop that does not fit in the image to its borders
            (which also stretches it); ``k > 0`` does as torchvision's ``RandomResizedCrop``:
            up to ``k`` draws until the crop fits, else the whole image. With
            ``scale=(1, 1)`` there is no crop at all.
        erase: Probability of erasing one random rectangle (``RandomErasing``).
        erase_scale: Range of the erased area, as a fraction of the image.
        erase_value: Pixel value written in the erased rectangle.
        translate: Extra shift of the crop's centre, drawn uniformly from
            ``[-translate, translate]`` in each direction, as a fraction of half the image
            side: the jitter of a face detector's box.
        padding: What fills the area outside the image that rotation and shifts bring in:
            ``"zeros"`` (black, as torchvision) or ``"border"`` (the edge pixels repeated,
            as facexpr does for a face box that reaches past a photo's border).
        degrade: Photo degradations applied after the geometric part (resolution, blur,
            gamma, contrast, JPEG; see :class:`~facexpr.data.Degrade`), or ``None``.

    Example:
        >>> import torch
        >>> aug = AUGMENT_PRESETS["seed"]
        >>> aug(torch.rand(8, 1, 48, 48), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([8, 1, 48, 48])
    """

    hflip: float = 0.5
    degrees: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    crop_retries: int = 0
    erase: float = 0.0
    erase_scale: tuple[float, float] = (0.02, 0.2)
    erase_value: float = 0.5
    translate: float = 0.0
    padding: str = "zeros"
    degrade: Degrade | None = None

    def __post_init__(self) -> None:
        if self.padding not in ("zeros", "border"):
            raise ValueError(f"BatchAugment.padding must be 'zeros' or 'border', got {self.padding!r}.")
        if not 0.0 <= self.translate <= 1.0:
            raise ValueError(f"BatchAugment.translate must be in [0, 1], got {self.translate!r}.")

    def _crop_size(self, n: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Width and height of each crop, as fractions of the image side."""
        tries = max(1, self.crop_retries)
        area = torch.rand(tries, n, generator=generator) * (self.scale[1] - self.scale[0]) + self.scale[0]
        low, high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(torch.rand(tries, n, generator=generator) * (high - low) + low)
        width, height = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
        if self.scale == (1.0, 1.0):
            return torch.ones(n), torch.ones(n)
        if self.crop_retries <= 0:
            return width[0].clamp(max=1.0), height[0].clamp(max=1.0)
        fits = (width <= 1.0) & (height <= 1.0)
        first = fits.to(torch.int8).argmax(0)  # the first draw that fits (0 if none does)
        columns = torch.arange(n)
        found = fits.any(0)
        one = torch.ones(n)
        return torch.where(found, width[first, columns], one), torch.where(found, height[first, columns], one)

    def _affine(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(n, generator=generator) * (high - low) + low

        width, height = self._crop_size(n, generator)
        cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
        cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
        angle = uniform(-self.degrees, self.degrees) * (math.pi / 180)
        flip = torch.where(torch.rand(n, generator=generator) < self.hflip, -1.0, 1.0)
        if self.translate:  # drawn last, so that presets without it keep their random streams
            cx = cx + uniform(-self.translate, self.translate)
            cy = cy + uniform(-self.translate, self.translate)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # input = Flip . Rot . (crop_center + CropScale . output)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = flip * cos * width
        theta[:, 0, 1] = -flip * sin * height
        theta[:, 0, 2] = flip * (cos * cx - sin * cy)
        theta[:, 1, 0] = sin * width
        theta[:, 1, 1] = cos * height
        theta[:, 1, 2] = sin * cx + cos * cy
        return theta

    def _is_identity(self) -> bool:
        return self.hflip == 0 and self.degrees == 0 and self.scale == (1.0, 1.0) and self.translate == 0

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return an augmented copy of ``images`` (float ``N x C x H x W`` in [0, 1])."""
        n = images.shape[0]
        out = images
        if not self._is_identity() and n:
            theta = self._affine(n, generator).to(images.device, images.dtype)
            grid = F.affine_grid(theta, list(images.shape), align_corners=False)
            out = F.grid_sample(images, grid, mode="bilinear", padding_mode=self.padding, align_corners=False)
        if self.degrade is not None and n:
            out = self.degrade(out, generator)
        if self.erase > 0 and n:
            out = self._erase(out, generator)
        return out

    def _erase(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, _, h, w = images.shape
        rand = lambda: torch.rand(n, generator=generator)  # noqa: E731
        area = (rand() * (self.erase_scale[1] - self.erase_scale[0]) + self.erase_scale[0]) * h * w
        aspect = torch.exp(rand() * (math.log(3.3) - math.log(0.3)) + math.log(0.3))
        eh = torch.sqrt(area * aspect).clamp(1, h).floor()
        ew = torch.sqrt(area / aspect).clamp(1, w).floor()
        top = (rand() * (h - eh + 1)).floor()
        left = (rand() * (w - ew + 1)).floor()
        apply = rand() < self.erase
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        mask = (
            (rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1))
            & apply.view(n, 1, 1)
        ).unsqueeze(1).to(images.device)
        return torch.where(mask, torch.full_like(images, self.erase_value), images)


AUGMENT_PRESETS: dict[str, BatchAugment | None] = {
    "none": None,
    "flip": BatchAugment(hflip=0.5),
    # The seed project's BetterCNN augmentation: flip, rotation +-10, RandomResizedCrop(0.9-1).
    "seed": BatchAugment(hflip=0.5, degrees=10.0, scale=(0.9, 1.0), crop_retries=10),
    # facexpr's recipes: wider crops and rotations plus random erasing.
    "strong": BatchAugment(hflip=0.5, degrees=15.0, scale=(0.75, 1.0), erase=0.25),
    # "strong" plus what real photos do to a face: a detector's box jitter, small upscaled
    # faces, blur, exposure and JPEG (each degradation on 30% of the faces).
    "wild": BatchAugment(
        hflip=0.5, degrees=15.0, scale=(0.75, 1.0), erase=0.25, translate=0.08, padding="border",
        degrade=Degrade(downscale=0.3, blur=0.3, gamma=0.3, contrast=0.3, jpeg=0.3),
    ),
}
"""Named augmentation presets, used by recipes and ``Trainer(augment=...)``."""


def get_augment(augment: str | BatchAugment | None) -> BatchAugment | None:
    """Resolve a preset name (or pass a :class:`BatchAugment` / ``None`` through).

    Raises:
        ValueError: If ``augment`` is an unknown preset name.

    Example:
        >>> from facexpr.data import get_augment
        >>> augment = get_augment("seed")
        >>> augment.hflip, augment.degrees, augment.scale
        (0.5, 10.0, (0.9, 1.0))
        >>> get_augment("none") is None, get_augment(augment) is augment
        (True, True)
    """
    if augment is None or isinstance(augment, BatchAugment):
        return augment
    if callable(augment):
        return augment  # type: ignore[return-value]
    try:
        return AUGMENT_PRESETS[augment]
    except KeyError:
        raise ValueError(
            f"Unknown augmentation preset {augment!r}. Available: {', '.join(AUGMENT_PRESETS)}."
        ) from None
