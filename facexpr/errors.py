"""Exceptions raised by facexpr.

Every facexpr error subclasses a builtin, so ``except ValueError`` keeps working for code
that does not know about facexpr.

Example:
    >>> import facexpr
    >>> issubclass(facexpr.InvalidImageError, ValueError)
    True
"""

from __future__ import annotations

__all__ = [
    "FacexprError",
    "InvalidImageError",
    "ImageNotFoundError",
    "WeightsNotAvailableError",
    "ChecksumMismatchError",
    "DetectorNotAvailableError",
]


class FacexprError(Exception):
    """Base class of every error facexpr raises on purpose."""


class InvalidImageError(FacexprError, ValueError):
    """An input could not be turned into a face image (bad file, shape, dtype or values)."""


class ImageNotFoundError(InvalidImageError, FileNotFoundError):
    """An image path that does not exist or is not a file."""


class WeightsNotAvailableError(FacexprError, FileNotFoundError):
    """Pretrained weights that are neither shipped, cached nor reachable on the Hub."""


class ChecksumMismatchError(FacexprError, ValueError):
    """A weights file whose sha256 differs from the pinned one."""


class DetectorNotAvailableError(FacexprError, ImportError):
    """No face detector can run: OpenCV (``pip install facexpr[detect]``) or its model is missing."""
