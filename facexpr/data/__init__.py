"""Data sets, caching and batch augmentation for training facexpr models.

Example:
    >>> from facexpr.data import FER2013, ImageFolder, train_val_split
    >>> train = FER2013("data/fer2013", split="train")  # doctest: +SKIP
    >>> train, val = train_val_split(ImageFolder("my_faces/"), 0.1, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from ._cache import cache_dir
from .augment import AUGMENT_PRESETS, BatchAugment, get_augment
from .dataset import FaceDataset
from .degrade import Degrade
from .faceboxes import FaceBoxes, faceboxes_layout
from .fer2013 import FER2013, fer2013_layout
from .ferplus import FERPlus
from .folder import ImageFolder
from .split import train_val_split

__all__ = [
    "AUGMENT_PRESETS",
    "BatchAugment",
    "Degrade",
    "FER2013",
    "FERPlus",
    "FaceBoxes",
    "FaceDataset",
    "ImageFolder",
    "cache_dir",
    "faceboxes_layout",
    "fer2013_layout",
    "get_augment",
    "train_val_split",
]
