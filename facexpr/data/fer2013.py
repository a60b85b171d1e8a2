"""FER2013 in both released layouts: image folders and the original CSV."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .._io import read_csv
from ..labels import FER2013_LABELS
from ._cache import fingerprint_files, load_cached, save_cached
from .dataset import FaceDataset
from .folder import load_folder

__all__ = ["FER2013", "SPLITS", "fer2013_layout", "parse_pixels"]

SPLITS: dict[str, str] = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
"""facexpr split name -> the ``Usage`` value of ``fer2013.csv``."""

_CSV_NAMES = ("fer2013.csv", "train.csv")


def _find_csv(root: Path) -> Path | None:
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    for name in _CSV_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def fer2013_layout(root: str | os.PathLike, split: str = "train") -> str | None:
    """Say whether ``root`` holds FER2013, and in which layout.

    FER2013 is recognised by its CSV (``root`` itself, ``root/fer2013.csv`` or
    ``root/train.csv``), or by a ``root/<split>/`` folder whose class folders are exactly
    FER2013's seven (any letter case). A folder with only some of those names, say
    ``happy/``, ``sad/`` and ``angry/``, is someone's own three-class data, not FER2013.

    Args:
        root: The data folder (or CSV file).
        split: The split folder to look at: ``"train"``, ``"val"`` or ``"test"``.

    Returns:
        ``"csv"``, ``"folders"``, or ``None`` when ``root`` is not FER2013.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from facexpr.labels import FER2013_LABELS
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name in ("happy", "sad", "angry"):
        ...         (Path(tmp) / "train" / name).mkdir(parents=True)
        ...     mine = fer2013_layout(tmp)
        ...     for name in FER2013_LABELS:
        ...         (Path(tmp) / "train" / name).mkdir(exist_ok=True)
        ...     print(mine, fer2013_layout(tmp))
        None folders
    """
    root = Path(root)
    if _find_csv(root) is not None:
        return "csv"
    split_dir = root / split
    if not split_dir.is_dir():
        return None
    names = {d.name.lower() for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")}
    return "folders" if names == set(FER2013_LABELS) else None


def parse_pixels(text: str, where: str) -> np.ndarray:
    """The 2304 gray values of a FER2013 ``pixels`` field as ``uint8``; anything else is refused, naming ``where``.

    Example:
        >>> parse_pixels(" ".join(["7"] * 2304), "x.csv line 2")[:3].tolist()
        [7, 7, 7]
        >>> parse_pixels("1 2 300", "x.csv line 2")
        Traceback (most recent call last):
        ...
        ValueError: x.csv line 2: pixel '300' is not a gray value 0-255 (pixels are whole numbers separated by spaces).
    """
    values = text.split()
    try:
        pixels = np.array(values, dtype=np.int64)
        ok = bool(((pixels >= 0) & (pixels <= 255)).all())
    except (ValueError, OverflowError):
        ok = False
    if not ok or len(values) != 48 * 48:
        bad = next((v for v in values if not (v.isascii() and v.isdigit() and int(v) <= 255)), None)
        if bad is not None:
            raise ValueError(f"{where}: pixel {bad!r} is not a gray value 0-255 (pixels are whole numbers "
                             "separated by spaces).")
        raise ValueError(f"{where}: expected 2304 pixels, got {len(values)}.")
    return pixels.astype(np.uint8)


def _read_csv(path: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    usage = SPLITS[split]
    images: list[np.ndarray] = []
    targets: list[int] = []
    rows = read_csv(path)
    _, header = next(rows, (1, []))
    columns = {name: i for i, name in enumerate(header)}
    if not {"emotion", "pixels"} <= set(columns):
        raise ValueError(f"'{path}' must have the columns emotion,pixels[,Usage]; it has {sorted(columns)}.")
    has_usage = "Usage" in columns
    if not has_usage and split != "train":
        raise ValueError(
            f"'{path}' has no Usage column, so it only holds the 'train' split; "
            f"split={split!r} needs fer2013.csv (emotion,pixels,Usage)."
        )
    for line, row in rows:
        if not row:  # a blank line
            continue
        if len(row) != len(header):
            raise ValueError(f"'{path}' line {line}: expected {len(header)} fields ({','.join(header)}), got {len(row)}.")
        if has_usage and row[columns["Usage"]] != usage:
            continue
        pixels = parse_pixels(row[columns["pixels"]], f"'{path}' line {line}")
        label_text = row[columns["emotion"]].strip()
        if not (label_text.isascii() and label_text.isdigit() and int(label_text) < len(FER2013_LABELS)):
            raise ValueError(f"'{path}' line {line}: emotion {label_text!r} is not one of 0-6.")
        images.append(pixels.reshape(48, 48))
        targets.append(int(label_text))
    if not images:
        raise ValueError(f"'{path}' has no rows for split {split!r} (Usage {usage!r}).")
    return torch.from_numpy(np.stack(images)).unsqueeze(1), torch.tensor(targets, dtype=torch.int64)


class FER2013(FaceDataset):
    """The FER2013 data set, with FER2013's label ids (0 angry ... 6 neutral).

    Reads either layout:

    * image folders ``root/{train,val,test}/<class name>/*.jpg`` (the Kaggle release); class
      folders are mapped by *name* to FER2013 ids, never by sort order;
    * the original CSV, ``root/fer2013.csv`` (``emotion,pixels,Usage``; ``Training`` -> train,
      ``PublicTest`` -> val, ``PrivateTest`` -> test) or the challenge's ``root/train.csv``
      (``emotion,pixels``, train split only). ``root`` may also be the CSV file itself.

    Decoded images are cached (see :func:`facexpr.data.cache_dir`), so later loads take
    well under a second.

    Args:
        root: Folder (or CSV file) holding the data set.
        split: ``"train"``, ``"val"`` (PublicTest) or ``"test"`` (PrivateTest).
        cache: Read and write the decoded-image cache.

    Raises:
        ValueError: If ``split`` is unknown or the CSV is malformed.
        FileNotFoundError: If neither layout is found under ``root``.

    Example:
        >>> train = FER2013("data/fer2013", split="train")  # doctest: +SKIP
        >>> len(train), train.classes[0]  # doctest: +SKIP
        (28709, 'angry')
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", *, cache: bool = True) -> None:
        if split not in SPLITS:
            raise ValueError(f"Unknown FER2013 split {split!r}. Expected one of: {', '.join(SPLITS)}.")
        self.root = Path(root)
        self.split = split
        split_dir = self.root / split
        csv_path = _find_csv(self.root)
        if split_dir.is_dir():
            ds = load_folder(split_dir, FER2013_LABELS, 48, cache, kind="fer2013")
            super().__init__(ds.images, ds.targets, FER2013_LABELS, ds.paths)
        elif csv_path is not None:
            key = fingerprint_files([csv_path], "fer2013-csv", split)
            cached = load_cached("fer2013csv", key) if cache else None
            if cached is None:
                images, targets = _read_csv(csv_path, split)
                if cache:
                    save_cached("fer2013csv", key, {"images": images, "targets": targets},
                                {"source": str(csv_path), "split": split})
            else:
                images, targets = cached["images"], cached["targets"]
            super().__init__(images, targets, FER2013_LABELS)
        else:
            raise FileNotFoundError(
                f"No FER2013 data under '{self.root}': expected a folder '{split_dir}' with class "
                f"folders, or one of {', '.join(_CSV_NAMES)}."
            )
