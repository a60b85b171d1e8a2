"""Turn any face image into a model's input, exactly as the training data was prepared.

Training images are 48x48 grayscale ``uint8`` pixels. Every input (a path, a PIL image, a
numpy array or a torch tensor, of any size and mode) goes through the same steps:

1. decode (EXIF rotation applied) and composite any alpha channel onto white;
2. convert to grayscale with the ITU-R 601-2 luma weights;
3. resize to ``size x size`` (bilinear, antialiased) and round to ``uint8`` levels;
4. scale to [0, 1], subtract ``mean`` and divide by ``std``.

Example:
    >>> import numpy as np
    >>> from facexpr.transforms import FaceTransform
    >>> FaceTransform()(np.zeros((100, 80, 3), dtype=np.uint8)).shape
    torch.Size([1, 48, 48])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from .errors import ImageNotFoundError, InvalidImageError

__all__ = ["FaceTransform", "ImageInput", "TTA_ZOOM", "read_image", "to_face_uint8", "describe_input"]

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]
"""One image: a path, a PIL image, a numpy array (HxW, HxWxC) or a tensor (HxW, CxHxW)."""

_LUMA = (0.299, 0.587, 0.114)

TTA_ZOOM = 0.875
"""Side of the zoomed test-time view, as a share of the input side (42 of 48 pixels).

Chosen on FER2013 ``val`` with ``benchmarks/tta_views.py``: adding the zoomed view and its
mirror to the mirror pair lifted val accuracy of all four zoo models, by 0.9 to 1.7 points.
The gain is nearly flat for crops of 40 to 46 pixels; 42 had the best mean of the four-view
sets, and two zooms (six views, 1.5 times the cost) added 0.03 points.
"""


def describe_input(x: object) -> str:
    """Return a short description of an input for error messages.

    Example:
        >>> import numpy as np
        >>> describe_input("face.jpg")
        "'face.jpg'"
        >>> describe_input(np.zeros((48, 48), dtype=np.uint8))
        'numpy array (shape (48, 48), dtype uint8)'
    """
    if isinstance(x, (str, os.PathLike)):
        return f"'{os.fspath(x)}'"
    if isinstance(x, Image.Image):
        return f"PIL image (mode {x.mode}, size {x.size[0]}x{x.size[1]})"
    if isinstance(x, np.ndarray):
        return f"numpy array (shape {tuple(x.shape)}, dtype {x.dtype})"
    if isinstance(x, torch.Tensor):
        return f"tensor (shape {tuple(x.shape)}, dtype {x.dtype})"
    return f"{type(x).__name__} object"


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file, fully decoded and rotated upright by its EXIF orientation.

    Args:
        path: Path to an image file in any format Pillow reads.

    Returns:
        The decoded PIL image.

    Raises:
        ImageNotFoundError: If the path does not exist or is a directory.
        InvalidImageError: If the file is empty, not an image, truncated, or larger than
            Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).

    Example:
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> from facexpr.transforms import read_image
        >>> image = read_image(EXAMPLE_FACE)
        >>> image.size, image.mode
        ((125, 125), 'RGB')
    """
    p = Path(path)
    if not p.exists():
        raise ImageNotFoundError(f"Image file '{p}' does not exist.")
    if p.is_dir():
        raise ImageNotFoundError(f"'{p}' is a directory; expected an image file.")
    if p.stat().st_size == 0:
        raise InvalidImageError(f"Image file '{p}' is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                img.load()
                upright = ImageOps.exif_transpose(img)
                upright.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InvalidImageError(
            f"Image file '{p}' is too large to decode safely ({err}). Expected at most "
            f"{Image.MAX_IMAGE_PIXELS:,} pixels (PIL.Image.MAX_IMAGE_PIXELS)."
        ) from None
    except UnidentifiedImageError:
        raise InvalidImageError(
            f"'{p}' is not an image file Pillow can read (JPEG, PNG, BMP, ...)."
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise InvalidImageError(f"Image file '{p}' is truncated or corrupt: {err}.") from None
    return upright


def _pil_to_chw(img: Image.Image) -> torch.Tensor:
    """PIL image -> float C x H x W in [0, 1] (C = 1, 3 or 4)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 65535.0
        else:
            top = float(arr.max()) if arr.size else 0.0
            scale = 1.0 if (mode == "F" and top <= 1.0) else 255.0 if top <= 255 else 65535.0
            arr = np.clip(arr / scale, 0.0, 1.0)
        return torch.from_numpy(arr.astype(np.float32))[None]
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    tensor = torch.from_numpy(arr.copy())
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor.float().div_(255.0)


def _array_to_chw(arr: np.ndarray, name: str) -> torch.Tensor:
    """numpy H x W (x C) -> float C x H x W in [0, 1]."""
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        chw = np.moveaxis(arr, 2, 0)
    elif arr.ndim == 2:
        chw = arr[None]
    else:
        raise InvalidImageError(
            f"{name}: expected a numpy array of shape HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA), "
            f"got shape {tuple(arr.shape)}."
        )
    return _scale_to_unit(torch.from_numpy(np.ascontiguousarray(chw)), name)


def _scale_to_unit(t: torch.Tensor, name: str) -> torch.Tensor:
    """Integer or float tensor -> float32 in [0, 1], with checks."""
    if t.numel() == 0:
        raise InvalidImageError(f"{name}: the image is empty; expected at least 1x1 pixels.")
    if t.dtype == torch.bool or t.is_complex():
        raise InvalidImageError(f"{name}: expected uint8, uint16 or float pixels, got {t.dtype}.")
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    if t.dtype == torch.uint16:
        return t.float().div_(65535.0)
    if not t.is_floating_point():
        low, high = int(t.min()), int(t.max())
        if low < 0 or high > 255:
            raise InvalidImageError(
                f"{name}: integer pixels must lie in [0, 255], got values in [{low}, {high}]."
            )
        return t.float().div_(255.0)
    t = t.float()
    if not bool(torch.isfinite(t).all()):
        raise InvalidImageError(f"{name}: the image contains NaN or infinite values.")
    low, high = float(t.min()), float(t.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise InvalidImageError(
            f"{name}: float pixels must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]. "
            "Divide 8-bit data by 255 or pass it as uint8."
        )
    return t.clamp_(0.0, 1.0)


def _chw_to_gray(chw: torch.Tensor) -> torch.Tensor:
    """float (N x) C x H x W in [0,1] -> (N x) 1 x H x W: alpha onto white, then luma."""
    channels = chw.shape[-3]
    if channels == 4:
        rgb, alpha = chw[..., :3, :, :], chw[..., 3:, :, :]
        chw = rgb * alpha + (1.0 - alpha)
        channels = 3
    if channels == 3:
        weights = torch.tensor(_LUMA, dtype=chw.dtype, device=chw.device).view(3, 1, 1)
        return (chw * weights).sum(dim=-3, keepdim=True)
    return chw


def _to_uint8_size(gray: torch.Tensor, size: int) -> torch.Tensor:
    """float (N x) 1 x H x W in [0,1] -> uint8 (N x) 1 x size x size."""
    if gray.shape[-2:] != (size, size):
        gray = TF.resize(gray, [size, size], antialias=True)
    return gray.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def _upright_pil(img: Image.Image, name: str) -> Image.Image:
    """Decode a PIL image fully (errors name the input) and apply its EXIF rotation."""
    try:
        img.load()
    except OSError as err:
        raise InvalidImageError(f"{name}: the PIL image cannot be decoded: {err}.") from None
    if img.width == 0 or img.height == 0:
        raise InvalidImageError(f"{name}: the image is empty; expected at least 1x1 pixels.")
    return ImageOps.exif_transpose(img)


def _single_to_chw(x: object, name: str) -> torch.Tensor:
    if isinstance(x, (str, os.PathLike)):
        return _pil_to_chw(read_image(x))
    if isinstance(x, Image.Image):
        return _pil_to_chw(_upright_pil(x, name))
    if isinstance(x, np.ndarray):
        return _array_to_chw(x, name)
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise InvalidImageError(
                f"{name}: expected a tensor of shape HxW or CxHxW with C in (1, 3, 4), "
                f"got shape {tuple(x.shape)}."
            )
        return _scale_to_unit(t, name)
    raise InvalidImageError(
        f"{name}: expected a path, PIL image, numpy array or torch tensor, got "
        f"{type(x).__name__}."
    )


def to_face_uint8(x: ImageInput, size: int = 48, *, name: str | None = None) -> torch.Tensor:
    """Turn one image into the ``uint8`` ``1 x size x size`` grayscale face of the training data.

    Args:
        x: A path, PIL image, numpy array or tensor (see :data:`ImageInput`).
        size: Output side in pixels.
        name: How to call the input in error messages (defaults to a description of it).

    Returns:
        A ``uint8`` tensor of shape ``1 x size x size``.

    Raises:
        InvalidImageError: If ``x`` cannot be read or has the wrong shape, dtype or values.

    Example:
        >>> import numpy as np
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> from facexpr.transforms import to_face_uint8
        >>> face = to_face_uint8(EXAMPLE_FACE)
        >>> face.shape, face.dtype
        (torch.Size([1, 48, 48]), torch.uint8)
        >>> to_face_uint8(np.full((100, 80, 3), 255, dtype=np.uint8), size=32).unique()
        tensor([255], dtype=torch.uint8)
    """
    name = name or describe_input(x)
    chw = _single_to_chw(x, name)
    return _to_uint8_size(_chw_to_gray(chw), size)


class FaceTransform:
    """The preprocessing that belongs to a set of weights (see ``model.transforms()``).

    Args:
        size: Side of the square model input.
        mean: Per-channel mean, subtracted after scaling to [0, 1].
        std: Per-channel standard deviation.
        crop_pct: Share of the face's side that the model sees (see :meth:`center_crop`).

    Example:
        >>> import torch
        >>> t = FaceTransform(size=48, mean=(0.5,), std=(0.5,))
        >>> t.batch([torch.zeros(3, 64, 64), torch.ones(48, 48)]).shape
        torch.Size([2, 1, 48, 48])
    """

    def __init__(
        self, size: int = 48, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,), crop_pct: float = 1.0
    ) -> None:
        self.size = int(size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.crop_pct = float(crop_pct)

    def __repr__(self) -> str:
        return f"FaceTransform(size={self.size}, mean={self.mean}, std={self.std}, crop_pct={self.crop_pct:g})"

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Scale ``uint8`` faces (``... x 1 x size x size``) to normalised float inputs.

        Example:
            >>> import torch
            >>> faces = torch.tensor([[[0, 255]]], dtype=torch.uint8)  # black and white pixels
            >>> FaceTransform(mean=(0.5,), std=(0.5,)).normalize(faces)
            tensor([[[-1.,  1.]]])
        """
        mean = torch.tensor(self.mean, device=images.device).view(-1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(-1, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def center_crop(self, inputs: torch.Tensor) -> torch.Tensor:
        """Cut equal margins off faces and resize the central ``crop_pct`` back to full size.

        This is the model's own view of a face (timm's ``crop_pct``): a model trained with
        random resized crops sees faces slightly larger than the whole 48x48 crop, and
        ``facexpr release`` chooses the share on the validation split. At ``crop_pct=1`` the
        inputs are returned as they are.

        Args:
            inputs: Faces ``N x C x size x size`` (``uint8`` levels or normalised floats).

        Returns:
            Float inputs of the same shape.

        Example:
            >>> import torch
            >>> ramp = torch.arange(48.0).expand(1, 1, 48, 48)  # brightness = column index
            >>> cropped = FaceTransform(crop_pct=46 / 48).center_crop(ramp)  # 1 pixel cut per side
            >>> cropped.shape, round(float(cropped[0, 0, 0, 0]), 2), round(float(cropped[0, 0, 0, -1]), 2)
            (torch.Size([1, 1, 48, 48]), 1.0, 46.0)
        """
        return _central_zoom(inputs, self.crop_pct)

    def __call__(self, x: ImageInput) -> torch.Tensor:
        """Return the model's ``1 x size x size`` input for one image (normalised, cropped)."""
        return self.center_crop(self.normalize(to_face_uint8(x, self.size))[None])[0]

    def to_uint8_batch(self, items: Sequence[ImageInput] | torch.Tensor) -> torch.Tensor:
        """Return ``uint8`` faces ``N x 1 x size x size`` for many images.

        A ``N x C x H x W`` tensor is converted in one vectorised step; in a list, a bad item
        is reported by its index.

        Raises:
            InvalidImageError: If an item cannot be converted; the message names its index.

        Example:
            >>> import numpy as np
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> faces = FaceTransform().to_uint8_batch([EXAMPLE_FACE, np.zeros((100, 80), dtype=np.uint8)])
            >>> faces.shape, faces.dtype
            (torch.Size([2, 1, 48, 48]), torch.uint8)
        """
        if isinstance(items, torch.Tensor):
            if items.ndim != 4 or items.shape[1] not in (1, 3, 4):
                raise InvalidImageError(
                    f"{describe_input(items)}: expected a tensor of shape HxW, CxHxW or a batch NxCxHxW, C in "
                    "(1, 3, 4)."
                )
            if items.shape[0] == 0:
                return torch.empty(0, 1, self.size, self.size, dtype=torch.uint8)
            if items.dtype == torch.uint8 and items.shape[1:] == (1, self.size, self.size):
                return items.detach().cpu()
            unit = _scale_to_unit(items.detach().cpu(), describe_input(items))
            return _to_uint8_size(_chw_to_gray(unit), self.size)
        if isinstance(items, (list, tuple)) and items and all(
            isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.shape == (self.size, self.size)
            for item in items
        ):  # face crops already at the model's size: nothing to convert, one copy
            return torch.from_numpy(np.stack(items))[:, None]
        faces = []
        for index, item in enumerate(items):
            try:
                faces.append(to_face_uint8(item, self.size))
            except InvalidImageError as err:
                raise type(err)(f"item {index}: {err}") from None
        if not faces:
            return torch.empty(0, 1, self.size, self.size, dtype=torch.uint8)
        return torch.stack(faces)

    def batch(self, items: Sequence[ImageInput] | torch.Tensor) -> torch.Tensor:
        """Return the model's inputs ``N x 1 x size x size`` for many images (normalised, cropped).

        Example:
            >>> import torch
            >>> inputs = FaceTransform().batch(torch.rand(4, 3, 64, 64))  # a batch of RGB images
            >>> inputs.shape, inputs.dtype
            (torch.Size([4, 1, 48, 48]), torch.float32)
        """
        return self.center_crop(self.normalize(self.to_uint8_batch(items)))

    def tta_views(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Return the test-time views of a batch that ``predict(..., tta=True)`` averages.

        The views are the whole faces, their mirror images, the central ``TTA_ZOOM`` of each
        face resized back to the full side (a 6% margin cut on each side, bilinear), and the
        mirror images of that. They do not depend on ``crop_pct``: on FER2013 ``val``, the
        whole face did better in this set than the model's own cropped view. The margins are
        equal, so the set of views is the same for a face and for its mirror image.

        Args:
            inputs: Normalised faces ``N x C x size x size``, not yet cropped.

        Returns:
            Four float tensors shaped like ``inputs``; the first is ``inputs`` itself.

        Example:
            >>> import torch
            >>> inputs = FaceTransform().batch(torch.rand(2, 1, 48, 48))
            >>> views = FaceTransform().tta_views(inputs)
            >>> len(views), views[0] is inputs, views[2].shape
            (4, True, torch.Size([2, 1, 48, 48]))
        """
        zoomed = _central_zoom(inputs, TTA_ZOOM)
        return [inputs, torch.flip(inputs, dims=[-1]), zoomed, torch.flip(zoomed, dims=[-1])]


def _central_zoom(inputs: torch.Tensor, share: float) -> torch.Tensor:
    """Resize the central ``share`` of each ``... x side x side`` image (equal margins) to full size."""
    side = inputs.shape[-1]
    margin = round(side * (1 - share) / 2)
    if margin == 0:
        return inputs if inputs.is_floating_point() else inputs.float()
    crop = side - 2 * margin
    return TF.resized_crop(inputs.float(), margin, margin, crop, crop, [side, side], antialias=True)
