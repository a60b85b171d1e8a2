"""Example images shipped with facexpr (public-domain NASA photographs).

Example:
    >>> import facexpr
    >>> from facexpr.assets import EXAMPLE_FACE
    >>> facexpr.load("simple", pretrained=False).predict(EXAMPLE_FACE).label in facexpr.FER2013_LABELS
    True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSETS_DIR", "EXAMPLE_FACE", "EXAMPLE_PHOTO"]

ASSETS_DIR = Path(__file__).resolve().parent
"""Folder of the shipped example images (``examples/images`` in the source tree links here)."""

EXAMPLE_FACE = ASSETS_DIR / "astronaut_face.jpg"
"""A 125x125 face crop of astronaut Eileen Collins."""

EXAMPLE_PHOTO = ASSETS_DIR / "astronaut.jpg"
"""The 512x512 photograph the crop comes from (one face)."""
