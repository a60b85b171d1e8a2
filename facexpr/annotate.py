"""Drawing predictions on images: a box per face, its label and probabilities (Pillow).

Example:
    >>> import facexpr, numpy as np
    >>> face = facexpr.Prediction("happy", 3, {"happy": 0.9, "sad": 0.1}, box=(10, 10, 40, 40))
    >>> facexpr.annotate(np.zeros((80, 120, 3), np.uint8), [face]).size
    (120, 80)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ._io import atomic_write
from .results import Prediction
from .transforms import ImageInput, to_rgb_uint8

__all__ = ["LABEL_COLORS", "annotate", "save_image"]

LABEL_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (230, 57, 70),
    "disgust": (106, 153, 78),
    "fear": (155, 93, 229),
    "happy": (255, 190, 11),
    "sad": (58, 134, 255),
    "surprise": (255, 0, 110),
    "neutral": (200, 200, 200),
}
"""Box colour of each FER2013 expression (other labels cycle through these colours)."""

_CYCLE = list(LABEL_COLORS.values())


def _color(label: str, index: int) -> tuple[int, int, int]:
    return LABEL_COLORS.get(label, _CYCLE[index % len(_CYCLE)])


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def annotate(
    image: ImageInput,
    results: Prediction | Sequence[Prediction],
    *,
    top_k: int = 2,
    show_score: bool = False,
    font_size: int | None = None,
    line_width: int | None = None,
) -> Image.Image:
    """Draw each face's box, label and probabilities on a copy of an image.

    A result without a ``box`` (a face crop) is drawn as a label in the image's top-left
    corner. The image itself is never modified.

    Args:
        image: The image the results belong to (path, PIL image, array or tensor; EXIF
            rotation applied, so boxes line up with :func:`facexpr.predict`'s).
        results: One :class:`~facexpr.Prediction` or a list of them.
        top_k: How many classes to list per face, with their probabilities.
        show_score: Also print the detection score.
        font_size: Text size in pixels (default: scaled to the image).
        line_width: Box line width in pixels (default: scaled to the image).

    Returns:
        A new RGB PIL image.

    Raises:
        InvalidImageError: If ``image`` cannot be read.
        ValueError: If ``top_k`` < 1.

    Example:
        >>> faces = facexpr.predict("group.jpg")  # doctest: +SKIP
        >>> facexpr.annotate("group.jpg", faces).save("annotated.png")  # doctest: +SKIP
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}.")
    faces = [results] if isinstance(results, Prediction) else list(results)
    canvas = Image.fromarray(to_rgb_uint8(image))
    draw = ImageDraw.Draw(canvas)
    short = min(canvas.size)
    width = line_width or max(1, round(short / 250))
    base_font = font_size or max(10, round(short / 40))
    for index, face in enumerate(faces):
        color = _color(face.label, index)
        lines = [f"{label} {prob:.2f}" for label, prob in face.top_k(top_k)]
        if show_score and face.score is not None:
            lines[0] += f" ({face.score:.2f})"
        if face.box is not None:
            x, y, w, h = face.box
            draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=width)
            size = font_size or max(10, min(base_font, round(w / 5)))
        else:
            x, y, w, h = 0, 0, canvas.width, canvas.height
            size = base_font
        font = ImageFont.load_default(size=size)
        text = "\n".join(lines)
        left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font, spacing=2)
        pad = max(1, size // 6)
        box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
        tx = min(max(0, x), max(0, canvas.width - box_w))
        ty = y - box_h if face.box is not None and y - box_h >= 0 else y  # above the box, else inside
        ty = min(max(0, ty), max(0, canvas.height - box_h))
        draw.rectangle([tx, ty, tx + box_w - 1, ty + box_h - 1], fill=color)
        draw.multiline_text((tx + pad - left, ty + pad - top), text, fill=_text_color(color), font=font, spacing=2)
    return canvas


def save_image(image: Image.Image | np.ndarray, path: str | os.PathLike) -> Path:
    """Write an image atomically, in the format its file name ends with (``.png``, ``.jpg``...).

    Args:
        image: A PIL image or an RGB ``uint8`` array.
        path: Where to write it; the folder is created if needed.

    Returns:
        The path written.

    Raises:
        ValueError: If the file name's ending is not an image format Pillow writes.

    Example:
        >>> save_image(facexpr.annotate("group.jpg", faces), "out/annotated.png")  # doctest: +SKIP
        PosixPath('out/annotated.png')
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ValueError(
            f"Cannot save an image as '{path}': expected a file name ending in an image format "
            "such as .png, .jpg, .webp or .bmp."
        )
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    if fmt == "JPEG" and pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    return atomic_write(path, lambda tmp: pil.save(tmp, format=fmt))
