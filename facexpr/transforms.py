"""Decoding every image input, and turning faces into a model's input as the training data was.

This module is the one place images are decoded. Every input (a path, a PIL image, a numpy
array or a torch tensor, of any size and mode) is decoded once, upright (EXIF rotation
applied), and any alpha channel is composited onto white. From there:

* a photo becomes an RGB ``uint8`` array for face detectors (:func:`to_rgb_uint8`);
* a face becomes the model's input (:func:`to_face_uint8`, :class:`FaceTransform`). Training
  images are 48x48 grayscale ``uint8`` pixels, and every face goes through the same steps:

  1. decode, with transparency on white;
  2. convert to grayscale with the ITU-R 601-2 luma weights;
  3. resize to ``size x size`` (bilinear, antialiased) and round to ``uint8`` levels;
  4. scale to [0, 1], subtract ``mean`` and divide by ``std``.

  A face cut from a decoded photo starts at step 2 (:func:`rgb_to_face_uint8`).

Example:
    >>> import numpy as np
    >>> from facexpr.transforms import FaceTransform
    >>> FaceTransform()(np.zeros((100, 80, 3), dtype=np.uint8)).shape
    torch.Size([1, 48, 48])
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
import torch.nn.functional as F

from .errors import ImageNotFoundError, InvalidImageError

__all__ = [
    "FaceTransform",
    "ImageInput",
    "CROP_MAX_SIDE",
    "TTA_ZOOM",
    "crop_square",
    "describe_input",
    "faces_from_items",
    "image_size",
    "is_photo_size",
    "read_image",
    "rgb_to_face_uint8",
    "to_face_uint8",
    "to_rgb_uint8",
]

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]
"""One image: a path, a PIL image, a numpy array (HxW, HxWxC) or a tensor (HxW, CxHxW)."""

_LUMA = (0.299, 0.587, 0.114)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # scheme://...: not a file path

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
            Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), or if the path
            is a URL (images are not downloaded).

    Example:
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> from facexpr.transforms import read_image
        >>> image = read_image(EXAMPLE_FACE)
        >>> image.size, image.mode
        ((125, 125), 'RGB')
    """
    if isinstance(path, str) and _URL.match(path):
        raise InvalidImageError(
            f"'{path}' is a URL: facexpr reads local image files and does not download them. "
            "Download the image first (e.g. with urllib.request.urlretrieve) and pass the file's path."
        )
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


# -- decoding: any input -> pixels H x W x C ------------------------------------------------------
#
# Every input goes through _decode once, to a numpy array H x W x C (C = 1, 3 or 4). It keeps the
# source's precision: uint8 for 8-bit images, float32 in [0, 1] for 16-bit and float ones; an
# alpha channel is kept. From there, _composite_on_white (the one place transparency is handled)
# feeds both outputs: the grayscale face (_gray, _faces_uint8) and the RGB photo (to_rgb_uint8).
#
# Per-image work runs in PIL and numpy, outside torch: every torch op pays for torch's intra-op
# thread pool, which on 2 threads of a busy machine made a 48x48 face cost 5.7 ms instead of
# 0.3 ms. Only the resize stays in torch (torch.nn.functional.interpolate: no numpy or PIL
# resize gives its pixels), one call per group of same-sized images. The float32 arithmetic is
# the same, in the same order, as the torch version it replaced, so the pixels are identical.

_PIL_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_LUMA_F32 = np.array(_LUMA, dtype=np.float32)
_RESIZE_BUDGET = 1 << 22  # pixels of pending same-size images resized in one call (16 MiB of float32)


def _pil_pixels(img: Image.Image) -> np.ndarray:
    """Upright PIL image -> pixels H x W x C (C = 1, 3 or 4)."""
    mode = img.mode
    if mode in _PIL_WIDE_MODES:  # 16-bit and 32-bit modes: float in [0, 1]
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 65535.0
        else:
            top = float(arr.max()) if arr.size else 0.0
            scale = 1.0 if (mode == "F" and top <= 1.0) else 255.0 if top <= 255 else 65535.0
            arr = np.clip(arr / scale, 0.0, 1.0)
        return arr.astype(np.float32)[..., None]
    if mode == "La":  # premultiplied alpha, which Pillow converts only to LA
        img, mode = img.convert("LA"), "LA"
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _array_pixels(arr: np.ndarray, name: str) -> np.ndarray:
    """numpy H x W (x C) -> pixels H x W x C."""
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise InvalidImageError(
            f"{name}: expected a numpy array of shape HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA), "
            f"got shape {tuple(arr.shape)}."
        )
    if arr.dtype.kind not in "biufc":
        raise InvalidImageError(f"{name}: expected uint8, uint16 or float pixels, got dtype {arr.dtype}.")
    return _checked_pixels(arr[..., None] if arr.ndim == 2 else arr, name)


def _tensor_pixels(t: torch.Tensor, name: str) -> np.ndarray:
    """Tensor ``... x C x H x W`` -> pixels ``... x H x W x C`` (a view where the dtype allows)."""
    t = t.detach().cpu()
    if t.dtype == torch.bool or t.is_complex():
        raise InvalidImageError(f"{name}: expected uint8, uint16 or float pixels, got {t.dtype}.")
    if t.is_floating_point() and t.dtype not in (torch.float16, torch.float32, torch.float64):
        t = t.float()  # bfloat16 and other float types numpy lacks
    return _checked_pixels(t.movedim(-3, -1).numpy(), name)


def _checked_pixels(arr: np.ndarray, name: str) -> np.ndarray:
    """Pixels of any dtype -> uint8 (8-bit levels) or float32 in [0, 1], with checks."""
    if arr.size == 0:
        raise InvalidImageError(f"{name}: the image is empty; expected at least 1x1 pixels.")
    kind = arr.dtype.kind
    if kind in "bc":
        raise InvalidImageError(f"{name}: expected uint8, uint16 or float pixels, got dtype {arr.dtype}.")
    if arr.dtype == np.uint8:
        return arr
    if kind == "u" and arr.dtype.itemsize == 2:
        return arr.astype(np.float32) / np.float32(65535.0)
    if kind in "iu":
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high > 255:
            raise InvalidImageError(
                f"{name}: integer pixels must lie in [0, 255], got values in [{low}, {high}]."
            )
        return arr.astype(np.uint8)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf: refused below
        unit = arr.astype(np.float32)
    if not bool(np.isfinite(unit).all()):
        raise InvalidImageError(f"{name}: the image contains NaN or infinite values.")
    low, high = float(unit.min()), float(unit.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise InvalidImageError(
            f"{name}: float pixels must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]. "
            "Divide 8-bit data by 255 or pass it as uint8."
        )
    return np.clip(unit, np.float32(0.0), np.float32(1.0))


def _upright_pil(img: Image.Image, name: str) -> Image.Image:
    """Decode a PIL image fully (errors name the input) and apply its EXIF rotation."""
    try:
        img.load()
    except OSError as err:
        raise InvalidImageError(f"{name}: the PIL image cannot be decoded: {err}.") from None
    if img.width == 0 or img.height == 0:
        raise InvalidImageError(f"{name}: the image is empty; expected at least 1x1 pixels.")
    return ImageOps.exif_transpose(img)


def _decode(x: object, name: str) -> np.ndarray:
    """Decode one image: pixels ``H x W x C`` (C = 1, 3 or 4, alpha not yet composited).

    8-bit images stay ``uint8``; 16-bit, 32-bit and float ones become float32 in [0, 1].
    """
    if isinstance(x, (str, os.PathLike)):
        return _pil_pixels(read_image(x))
    if isinstance(x, Image.Image):
        return _pil_pixels(_upright_pil(x, name))
    if isinstance(x, np.ndarray):
        return _array_pixels(x, name)
    if isinstance(x, torch.Tensor):
        if not (x.ndim == 2 or (x.ndim == 3 and x.shape[0] in (1, 3, 4))):
            raise InvalidImageError(
                f"{name}: expected a tensor of shape HxW or CxHxW with C in (1, 3, 4), "
                f"got shape {tuple(x.shape)}."
            )
        return _tensor_pixels(x[None] if x.ndim == 2 else x, name)
    raise InvalidImageError(
        f"{name}: expected a path, PIL image, numpy array or torch tensor, got "
        f"{type(x).__name__}."
    )


def _to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 levels -> float32 in [0, 1]; float pixels are returned as they are."""
    if pixels.dtype == np.uint8:
        return np.divide(pixels, np.float32(255.0), dtype=np.float32)
    return pixels


def _composite_on_white(pixels: np.ndarray) -> np.ndarray:
    """Pixels ``... x C`` without alpha: a 4th (alpha) channel is composited onto white.

    Images without alpha are returned as they are; an RGBA image becomes float RGB in [0, 1].
    """
    if pixels.shape[-1] != 4:
        return pixels
    unit = _to_unit(pixels)
    rgb, alpha = unit[..., :3], unit[..., 3:]
    return rgb * alpha + (np.float32(1.0) - alpha)


def _gray(pixels: np.ndarray) -> np.ndarray:
    """Pixels ``... x H x W x C`` -> grayscale ``... x H x W``: uint8 levels, or float32 in [0, 1].

    Grayscale ``uint8`` images come back as they are (a view): their levels are the face's.
    """
    pixels = _composite_on_white(pixels)
    if pixels.shape[-1] == 1:
        return pixels[..., 0]
    unit = _to_unit(pixels)
    return unit[..., 0] * _LUMA_F32[0] + unit[..., 1] * _LUMA_F32[1] + unit[..., 2] * _LUMA_F32[2]


def _to_levels(unit: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] -> ``uint8`` levels (rounded half to even, as torch rounds)."""
    return np.clip(np.rint(unit * np.float32(255.0)), 0, 255).astype(np.uint8)


def _faces_uint8(grays: Iterable[np.ndarray], size: int) -> torch.Tensor:
    """Grayscale images (from :func:`_gray`) -> ``uint8`` faces ``N x 1 x size x size``.

    Faces already ``size x size`` are only rounded to levels; the others are resized in torch,
    stacked by shape so that each group is one call. ``grays`` is read lazily and at most
    ``_RESIZE_BUDGET`` pixels wait for their resize, so memory stays bounded for long lists of
    large images. Every face gets the same pixels as if it were resized alone.
    """
    faces: list[np.ndarray] = []
    groups: dict[tuple[int, ...], dict[int, np.ndarray]] = {}
    pending = 0

    def flush() -> None:
        for group in groups.values():
            units = torch.from_numpy(np.stack([_to_unit(gray) for gray in group.values()])[:, None])
            for i, face in zip(group, _to_levels(_resize(units, size)[:, 0].numpy())):
                faces[i] = face
        groups.clear()

    for gray in grays:
        faces.append(gray)
        if gray.shape == (size, size):
            if gray.dtype != np.uint8:
                faces[-1] = _to_levels(gray)
            continue
        groups.setdefault(gray.shape, {})[len(faces) - 1] = gray
        pending += gray.size
        if pending >= _RESIZE_BUDGET:
            flush()
            pending = 0
    flush()
    if not faces:
        return torch.empty(0, 1, size, size, dtype=torch.uint8)
    return torch.from_numpy(np.stack(faces))[:, None]


def faces_from_items(items: Sequence[ImageInput], size: int, *, start: int = 0) -> torch.Tensor:
    """Turn a list of images into ``uint8`` faces ``N x 1 x size x size``; a bad item is named by its index.

    What :meth:`FaceTransform.to_uint8_batch` does with a list, and what
    :func:`facexpr.inference.predict_proba` decodes each batch of a long list with (ahead of the
    model). Face crops already ``uint8`` at ``size x size`` are stacked without conversion.

    Args:
        items: Paths, PIL images, arrays or tensors (see :data:`ImageInput`).
        size: The faces' side in pixels.
        start: The index of ``items[0]`` in the user's list, for the error messages.

    Raises:
        InvalidImageError: If an item cannot be read; the message names its index.

    Example:
        >>> import numpy as np
        >>> faces_from_items([np.zeros((48, 48), np.uint8), np.zeros((96, 96, 3), np.uint8)], 48).shape
        torch.Size([2, 1, 48, 48])
        >>> faces_from_items(["missing.jpg"], 48, start=5)
        Traceback (most recent call last):
        ...
        facexpr.errors.ImageNotFoundError: item 5: Image file 'missing.jpg' does not exist.
    """
    if items and all(isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.shape == (size, size)
                     for item in items):  # face crops already at the model's size: nothing to convert, one copy
        return torch.from_numpy(np.stack(items))[:, None]

    def grays() -> Iterator[np.ndarray]:
        for index, item in enumerate(items, start):
            try:
                yield _gray(_decode(item, describe_input(item)))
            except InvalidImageError as err:
                raise type(err)(f"item {index}: {err}") from None

    return _faces_uint8(grays(), size)


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
    return _faces_uint8([_gray(_decode(x, name or describe_input(x)))], size)[0]


def rgb_to_face_uint8(rgb: np.ndarray, size: int = 48) -> torch.Tensor:
    """Turn an already decoded RGB ``uint8`` ``H x W x 3`` array into a ``uint8`` face.

    This is :func:`to_face_uint8` without the decoding and checks, for faces cut from a photo
    that :func:`to_rgb_uint8` decoded: the same grayscale conversion and resize, so the result
    is identical.

    Example:
        >>> import numpy as np
        >>> rgb = np.random.default_rng(0).integers(0, 256, (90, 70, 3), dtype=np.uint8)
        >>> torch.equal(rgb_to_face_uint8(rgb), to_face_uint8(rgb))
        True
    """
    return _faces_uint8([_gray(rgb)], size)[0]


def to_rgb_uint8(x: ImageInput, *, name: str | None = None) -> np.ndarray:
    """Decode any image input to an upright RGB ``uint8`` ``H x W x 3`` array.

    This is the photo decoder (what face detectors see): EXIF rotation is applied,
    transparency is composited onto white and grayscale is repeated over three channels,
    exactly as :func:`to_face_uint8` decodes a face before its grayscale conversion.

    Args:
        x: A path, PIL image (any mode), numpy array (HxW, HxWx1, HxWx3 RGB, HxWx4 RGBA;
            uint8, uint16 or float in [0, 1]) or tensor (HxW, CxHxW).
        name: How to call the input in error messages.

    Returns:
        The image as an RGB ``uint8`` array (an RGB ``uint8`` array comes back as it is).

    Raises:
        InvalidImageError: If the input cannot be read or has the wrong shape or values.

    Example:
        >>> import numpy as np
        >>> to_rgb_uint8(np.zeros((2, 3), np.uint8)).shape
        (2, 3, 3)
        >>> to_rgb_uint8(np.zeros((1, 1, 4), np.uint8))  # fully transparent: white
        array([[[255, 255, 255]]], dtype=uint8)
    """
    pixels = _composite_on_white(_decode(x, name or describe_input(x)))
    if pixels.dtype != np.uint8:
        pixels = _to_levels(pixels)
    if pixels.shape[-1] == 1:
        pixels = np.broadcast_to(pixels, (*pixels.shape[:2], 3))
    return np.ascontiguousarray(pixels)


def _upright_size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    if img.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientations that swap the sides
        return height, width
    return width, height


def image_size(x: object) -> tuple[int, int] | None:
    """Return an image's upright ``(width, height)`` cheaply (file header only), or ``None``.

    ``None`` means the size cannot be known without decoding (an unreadable file, an input
    of the wrong kind); decoding it then reports why.

    Example:
        >>> import numpy as np
        >>> image_size(np.zeros((30, 40, 3), np.uint8))
        (40, 30)
    """
    try:
        if isinstance(x, (str, os.PathLike)):
            if isinstance(x, str) and _URL.match(x):
                return None
            with Image.open(x) as img:
                return _upright_size(img)
        if isinstance(x, Image.Image):
            return _upright_size(x)
        if isinstance(x, np.ndarray) and x.ndim in (2, 3):
            return int(x.shape[1]), int(x.shape[0])
        if isinstance(x, torch.Tensor) and x.ndim in (2, 3):
            return int(x.shape[-1]), int(x.shape[-2])
    except Exception:  # unreadable: whoever decodes it reports the error
        return None
    return None


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
            return _faces_uint8(_gray(_tensor_pixels(items, describe_input(items))), self.size)
        if not items:
            return torch.empty(0, 1, self.size, self.size, dtype=torch.uint8)
        return faces_from_items(items, self.size)

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
    return _resize(inputs.float()[..., margin : side - margin, margin : side - margin], side)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize float images ``... x C x H x W`` to ``size x size``: bilinear, antialiased.

    This is torchvision's ``resize(..., antialias=True)`` on float tensors, which calls the same
    :func:`torch.nn.functional.interpolate` (half-pixel centres, ``align_corners=False``), so the
    pixels are the same without importing torchvision. Images of that size come back as they are.
    """
    shape = images.shape
    if shape[-2:] == (size, size):
        return images
    out_shape = (*shape[:-2], size, size)
    if images.numel() == 0:
        return images.new_empty(out_shape)
    flat = images.reshape(-1, *shape[-3:])
    return F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False, antialias=True).reshape(out_shape)


_PAD_LIMIT_BYTES = 1 << 26
"""Largest full-size square (64 MiB) :func:`crop_square` builds before shrinking it."""


def crop_square(rgb: np.ndarray, box: np.ndarray | Sequence[float], size: int) -> np.ndarray:
    """Cut the square ``box = (x, y, side, side)`` out of a photo, repeating edge pixels past its border.

    This is how :func:`facexpr.predict` and the face-box data sets
    (:class:`~facexpr.data.FaceBoxes`) cut a face before :func:`rgb_to_face_uint8` turns it
    into a model input. A face much larger than ``size`` is box-filtered down first, which
    changes nothing in the ``size x size`` result but the time it takes.

    Args:
        rgb: The photo, ``H x W x C`` ``uint8``.
        box: The square, in the photo's pixels (``box[3]`` is ignored: the side is ``box[2]``).
        size: Side of the model input the crop will be resized to.

    Returns:
        The crop, ``side x side x C`` (or smaller when box-filtered).

    Example:
        >>> rgb = np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, axis=2)
        >>> crop_square(rgb, (2, 2, 4, 4), 48)[:, :, 0].tolist()
        [[10, 11, 11, 11], [14, 15, 15, 15], [14, 15, 15, 15], [14, 15, 15, 15]]
    """
    height, width = rgb.shape[:2]
    side = max(1, int(round(box[2])))
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = x0 + side, y0 + side
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:  # cannot happen for boxes inside the image; be safe
        cx0, cy0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
        cx1, cy1 = cx0 + 1, cy0 + 1
    patch = rgb[cy0:cy1, cx0:cx1]
    pad = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0))
    factor = side // (4 * size)
    if factor >= 2 and side * side * rgb.shape[2] > _PAD_LIMIT_BYTES:
        # A huge square that is mostly border (a box far wider than the image is tall, say):
        # shrink what lies inside the image first, then repeat its edges at the shrunk scale,
        # instead of building the full-size square (42292 x 40 pixels would make 5 GB).
        small = np.array(Image.fromarray(np.ascontiguousarray(patch)).reduce(factor))
        side_small = -(-side // factor)
        top, left = round(pad[0][0] / factor), round(pad[1][0] / factor)
        small = small[: side_small - top, : side_small - left]
        bottom = max(side_small - top - small.shape[0], 0)
        right = max(side_small - left - small.shape[1], 0)
        return np.pad(small, ((top, bottom), (left, right), (0, 0)), mode="edge")
    if any(p for pair in pad for p in pair):
        patch = np.pad(patch, pad, mode="edge")
    if factor >= 2:  # a very large face: box-filter it down first (fast, exact for the 48x48 result)
        patch = np.array(Image.fromarray(patch).reduce(factor))
    return patch


CROP_MAX_SIDE = 160
"""With ``detect=None``, images at most this many pixels a side are read as face crops.

Face crops are small (FER2013: 48, RAF-DB: 100, detector crops: 112-160 pixels), while photos
worth searching are larger; ``detect=True`` searches every image larger than the model input.
"""


def is_photo_size(size: tuple[int, int] | None, detect: bool | None, input_size: int) -> bool:
    """The rule of :func:`facexpr.photos.is_photo` (and of :class:`facexpr.data.ImageFolder`), on an image's ``(width, height)``.

    Args:
        size: The image's ``(width, height)``; ``None`` when it cannot be read (then it is read
            as a crop, which reports why).
        detect: ``None``: a photo when larger than :data:`CROP_MAX_SIDE` a side; ``True``: when
            larger than ``input_size``; ``False``: never.
        input_size: The model's input side.

    Example:
        >>> is_photo_size((640, 480), None, 48), is_photo_size((100, 100), None, 48), is_photo_size((100, 100), True, 48)
        (True, False, True)
    """
    if detect is False or size is None:
        return False
    return max(size) > (CROP_MAX_SIDE if detect is None else input_size)
