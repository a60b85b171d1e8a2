"""The one rule that opens a data set from a path, whatever its layout.

``facexpr train``, ``facexpr evaluate``, the recipes and ``facexpr release`` all open their
data through :func:`find_layout` and :func:`open_split`, so a folder means the same thing to
each of them.

Example:
    >>> from facexpr.data.layouts import find_layout, open_split
    >>> find_layout("data/expw")  # doctest: +SKIP
    'faceboxes'
    >>> faces = open_split("data/expw", "test")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from .dataset import FaceDataset
from .faceboxes import FaceBoxes, faceboxes_layout
from .fer2013 import FER2013, fer2013_layout
from .ferplus import FERPlus, ferplus_layout
from .folder import ImageFolder

__all__ = ["LAYOUTS", "Layout", "describe_layout", "find_layout", "open_split"]

Layout = Literal["ferplus", "fer2013", "faceboxes", "split-folders", "class-folders"]

LAYOUTS: dict[str, str] = {
    "ferplus": "FER+ votes (ferplus.csv with the FER2013 folders, fer2013new.csv beside fer2013.csv, "
               "or FER2013Train/ FER2013Valid/ FER2013Test/ with label.csv)",
    "fer2013": "FER2013 (train/ val/ test/ with the seven class folders, or fer2013.csv)",
    "faceboxes": "labelled faces in photos (faces.csv: image, x, y, width, height, label; photos in images/)",
    "split-folders": "your own train/<class>/ and val/<class>/ (and test/<class>/) folders",
    "class-folders": "your own <class>/ folders",
}
"""Every layout :func:`find_layout` recognises, in the order it looks for them, described."""


def find_layout(root: str | os.PathLike, split: str = "train") -> Layout:
    """Say which layout ``root`` holds (the first of :data:`LAYOUTS` that matches).

    Args:
        root: A data folder (or a FER2013/FER+ CSV file).
        split: The split whose presence decides between FER2013 and your own split folders.

    Raises:
        FileNotFoundError: ``root`` does not exist or holds none of the layouts.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (Path(tmp) / "calm").mkdir()
        ...     print(find_layout(tmp))
        class-folders
    """
    path = Path(root)
    if not path.exists():
        raise FileNotFoundError(f"Data '{path}' does not exist.")
    if ferplus_layout(path) is not None:
        return "ferplus"
    if fer2013_layout(path, split) is not None:
        return "fer2013"
    if faceboxes_layout(path) or (path / split).is_dir() and faceboxes_layout(path / split):
        return "faceboxes"
    if path.is_dir() and (path / "train").is_dir() and (path / "val").is_dir():
        return "split-folders"
    if path.is_dir() and any(d.is_dir() and not d.name.startswith(".") for d in path.iterdir()):
        return "class-folders"
    raise FileNotFoundError(f"'{path}' holds no data set facexpr can read. Expected one of: "
                            + "; ".join(LAYOUTS.values()) + ".")


def describe_layout(layout: Layout) -> str:
    """One line that names a layout, for messages.

    Example:
        >>> describe_layout("fer2013")
        'FER2013 (train/ val/ test/ with the seven class folders, or fer2013.csv)'
    """
    return LAYOUTS[layout]


def open_split(
    root: str | os.PathLike,
    split: str = "test",
    *,
    classes: Sequence[str] | None = None,
    ferplus_labels: Literal["majority", "probability"] = "probability",
    prefer_fer2013: bool = False,
) -> FaceDataset:
    """Open one split of the data set at ``root``, by the rule of :func:`find_layout`.

    * FER+ (``ferplus_labels``: vote distributions or majority labels; with
      ``prefer_fer2013`` and FER2013 folders at the same root, FER2013's own labels instead);
    * FER2013: its ``train``/``val``/``test`` split;
    * face boxes: ``root/<split>/faces.csv`` when there is one, else every face of
      ``root/faces.csv``;
    * your own ``root/<split>/<class>/`` folders, or ``root/<class>/`` as a whole.

    Args:
        root: The data root.
        split: ``"train"``, ``"val"`` or ``"test"``.
        classes: Class names for class folders and face boxes (e.g. a model's labels).
        ferplus_labels: The targets of FER+ data.
        prefer_fer2013: Read FER2013's labels where a root holds both layouts.

    Raises:
        FileNotFoundError: ``root`` holds no known layout, or lacks the split.

    Example:
        >>> import os, tempfile
        >>> from pathlib import Path
        >>> from unittest import mock
        >>> from PIL import Image
        >>> with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"FACEXPR_CACHE": tmp}):
        ...     for name in ("calm", "excited"):
        ...         (Path(tmp) / "faces" / name).mkdir(parents=True)
        ...         Image.new("L", (48, 48), 100).save(Path(tmp) / "faces" / name / "a.png")
        ...     print(open_split(Path(tmp) / "faces").classes)
        ('calm', 'excited')
    """
    path = Path(root)
    layout = find_layout(path, split)
    if layout == "ferplus" and not (prefer_fer2013 and fer2013_layout(path, split) is not None):
        return FERPlus(path, split, labels=ferplus_labels)
    if layout in ("ferplus", "fer2013"):
        return FER2013(path, split)
    if layout == "faceboxes":
        return FaceBoxes(path / split if faceboxes_layout(path / split) else path, classes=classes)
    if layout == "split-folders":
        if not (path / split).is_dir():
            raise FileNotFoundError(f"'{path}' has train/ and val/ folders but no '{split}/'.")
        return ImageFolder(path / split, classes=classes)
    return ImageFolder(path, classes=classes)
