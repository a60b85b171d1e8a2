"""FER+: ten crowd-sourced votes per FER2013 face, over eight emotions.

FER+ (Barsoum et al., ICMI 2016) relabelled every FER2013 face with 10 votes over ``neutral,
happiness, surprise, sadness, anger, disgust, fear, contempt`` plus ``unknown`` and ``NF`` (not
a face). facexpr reads the votes in the three layouts they are found in, and turns them into
labels with the paper's protocol:

* faces whose top vote is ``unknown`` or ``NF`` are dropped;
* ``"majority"``: the emotion with the most votes (ties go to the first in FER+'s column order);
* ``"probability"``: each emotion's votes divided by the votes over the eight emotions.

Labels use facexpr's ids: FER2013's ``0 angry ... 6 neutral`` and ``7 contempt``
(:data:`facexpr.labels.FERPLUS_LABELS`).

Example:
    >>> from facexpr.data import FERPlus
    >>> test = FERPlus("data/ferplus", split="test", labels="probability")  # doctest: +SKIP
    >>> test.targets.shape, test.classes[7]  # doctest: +SKIP
    (torch.Size([3137, 8]), 'contempt')
"""

from __future__ import annotations

import csv
import math
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .._io import read_csv
from ..labels import FERPLUS_LABELS
from ._cache import fingerprint_files, load_cached, save_cached
from .dataset import FaceDataset
from .fer2013 import SPLITS, FER2013, parse_pixels
from .folder import decode_images

__all__ = ["FERPLUS_COLUMNS", "FERPlus", "LabelMode", "ferplus_layout", "votes_to_targets"]

FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
"""The vote columns of every FER+ file, in FER+'s order."""

_TO_FACEXPR = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
               "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt"}
# Column j of FER+'s eight emotions holds facexpr label id _ORDER[j].
_ORDER = [FERPLUS_LABELS.index(_TO_FACEXPR[name]) for name in FERPLUS_COLUMNS[:8]]
_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
_FILE_NAME = re.compile(r"^fer\d{7}\.png$")

LabelMode = Literal["majority", "probability"]


def votes_to_targets(votes: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Turn FER+ vote rows (``N x 10``, FER+'s column order) into facexpr's labels.

    Args:
        votes: Vote counts, one row per face, columns :data:`FERPLUS_COLUMNS`.

    Returns:
        ``(kept, majority, distribution)``: the indices of the rows kept (top vote not
        ``unknown``/``NF``), their majority class ids (``int64``; ties go to the first emotion
        in FER+'s column order), and their vote distributions over the eight emotions
        (``N x 8`` float, facexpr's class order).

    Example:
        >>> kept, majority, dist = votes_to_targets(np.array([[6, 4, 0, 0, 0, 0, 0, 0, 0, 0],
        ...                                                   [0, 0, 0, 0, 0, 0, 0, 0, 3, 7]]))
        >>> kept.tolist(), majority.tolist(), dist[0, 6].item(), dist[0, 3].item()
        ([0], [6], 0.6000000238418579, 0.4000000059604645)
    """
    votes = np.asarray(votes, dtype=np.float64).reshape(-1, len(FERPLUS_COLUMNS))
    emotions = votes[:, :8]
    kept = np.flatnonzero((votes.argmax(axis=1) < 8) & (emotions.sum(axis=1) > 0))
    emotions = emotions[kept]
    distribution = np.zeros_like(emotions)
    distribution[:, _ORDER] = emotions / emotions.sum(axis=1, keepdims=True)
    majority = np.asarray(_ORDER, dtype=np.int64)[emotions.argmax(axis=1)]
    return kept, torch.from_numpy(majority), torch.from_numpy(distribution.astype(np.float32))


def ferplus_layout(root: str | os.PathLike) -> str | None:
    """Which FER+ layout ``root`` holds, as :class:`FERPlus` looks for them; ``None`` if none.

    Returns:
        ``"joined"`` (``ferplus.csv``, or ``root`` is a CSV file with its columns), ``"official"``
        (``fer2013new.csv`` beside ``fer2013.csv``), ``"folders"`` (``FER2013Train/label.csv``)
        or ``None``.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     before = ferplus_layout(tmp)
        ...     _ = (Path(tmp) / "ferplus.csv").write_text("image,usage")
        ...     print(before, ferplus_layout(tmp))
        None joined
    """
    root = Path(root)
    if root.is_file():  # a joined CSV by another name: known by its header
        with open(root, newline="", encoding="utf-8", errors="replace") as handle:
            header = next(csv.reader(handle), [])
        return "joined" if {"image", "usage", *FERPLUS_COLUMNS} <= set(header) else None
    if (root / "ferplus.csv").is_file():
        return "joined"
    if (root / "fer2013new.csv").is_file() and (root / "fer2013.csv").is_file():
        return "official"
    if any((root / folder / "label.csv").is_file() for folder in _FOLDERS.values()):
        return "folders"
    return None


def _vote_row(row: list[str], where: str) -> list[int]:
    """The ten votes of a row as integers; anything but a whole number >= 0 is refused, naming ``where``."""
    if len(row) != len(FERPLUS_COLUMNS):
        raise ValueError(f"{where}: expected {len(FERPLUS_COLUMNS)} vote counts ({', '.join(FERPLUS_COLUMNS)}), "
                         f"got {row}.")
    votes = []
    for name, text in zip(FERPLUS_COLUMNS, row):
        count = _vote_count(text)
        if count is None:
            raise ValueError(f"{where}: the {name} vote {text!r} is not a whole number >= 0; FER+ votes count "
                             f"annotators (row: {row}).")
        votes.append(count)
    return votes


def _vote_count(text: str) -> int | None:
    """``"3"`` (or ``"3.0"``) -> 3; ``None`` for a fraction, a negative, ``inf``, ``nan`` or not a number."""
    text = text.strip()
    if text.isdigit() and text.isascii():
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value >= 0 and value.is_integer() else None


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    return read_csv(path)


def _check_header(path: Path, header: list[str], needed: tuple[str, ...]) -> dict[str, int]:
    missing = [name for name in needed if name not in header]
    if missing:
        raise ValueError(f"'{path}' line 1: missing the column(s) {', '.join(missing)}; it has {header}.")
    return {name: header.index(name) for name in header}


def _from_joined_csv(path: Path, fer2013_root: Path, split: str, cache: bool) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """``ferplus.csv`` (image path under the FER2013 folders + votes) -> images, votes, paths."""
    usage = SPLITS[split]
    faces = FER2013(fer2013_root, split, cache=cache)
    by_path = {os.path.relpath(p, fer2013_root): i for i, p in enumerate(faces.paths or [])}
    rows = _rows(path)
    _, header = next(rows, (1, []))
    column = _check_header(path, header, ("image", "usage", *FERPLUS_COLUMNS))
    index, votes, paths = [], [], []
    for line, row in rows:
        if len(row) != len(header):
            raise ValueError(f"'{path}' line {line}: expected {len(header)} fields, got {len(row)}.")
        if row[column["usage"]] not in SPLITS.values():
            raise ValueError(f"'{path}' line {line}: unknown usage {row[column['usage']]!r}; "
                             f"expected one of {', '.join(SPLITS.values())}.")
        if row[column["usage"]] != usage:
            continue
        image = os.path.normpath(row[column["image"]])
        if image not in by_path:
            raise FileNotFoundError(f"'{path}' line {line}: image '{image}' is not among the readable "
                                    f"{split} images of '{fer2013_root}'.")
        index.append(by_path[image])
        paths.append(str(fer2013_root / image))
        votes.append(_vote_row([row[column[name]] for name in FERPLUS_COLUMNS], f"'{path}' line {line}"))
    if not index:
        raise ValueError(f"'{path}' has no rows for split {split!r} (usage {usage!r}).")
    return faces.images[torch.tensor(index)], np.array(votes), paths


def _from_official_csv(new_csv: Path, old_csv: Path, split: str) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """``fer2013new.csv`` (votes) beside ``fer2013.csv`` (pixels), row by row."""
    usage = SPLITS[split]
    new_rows, old_rows = _rows(new_csv), _rows(old_csv)
    _, new_header = next(new_rows, (1, []))
    _, old_header = next(old_rows, (1, []))
    new_col = _check_header(new_csv, new_header, ("Usage", "Image name", *FERPLUS_COLUMNS))
    old_col = _check_header(old_csv, old_header, ("pixels", "Usage"))
    images, votes, names = [], [], []
    count = 1
    for (line, new), old in zip(new_rows, old_rows):
        count = line
        where = f"'{new_csv}' line {line}"
        if len(new) != len(new_header):
            raise ValueError(f"{where}: expected {len(new_header)} fields ({','.join(new_header)}), got {len(new)}.")
        if len(old[1]) != len(old_header):
            raise ValueError(f"'{old_csv}' line {old[0]}: expected {len(old_header)} fields "
                             f"({','.join(old_header)}), got {len(old[1])}.")
        if new[new_col["Usage"]] != old[1][old_col["Usage"]]:
            raise ValueError(f"{where} says usage {new[new_col['Usage']]!r} but '{old_csv}' line {line} says "
                             f"{old[1][old_col['Usage']]!r}: the two files must list the same faces in the same order.")
        name = new[new_col["Image name"]].strip()
        if new[new_col["Usage"]] != usage or not name:  # FER+ left this face out
            continue
        images.append(parse_pixels(old[1][old_col["pixels"]], f"'{old_csv}' line {line}").reshape(1, 48, 48))
        votes.append(_vote_row([new[new_col[c]] for c in FERPLUS_COLUMNS], where))
        names.append(name)
    leftover_new, leftover_old = next(new_rows, None), next(old_rows, None)
    if leftover_new is not None or leftover_old is not None:
        longer, shorter = (new_csv, old_csv) if leftover_new is not None else (old_csv, new_csv)
        raise ValueError(f"'{longer}' has more rows than '{shorter}' ({count} lines); the two files must list "
                         "the same faces in the same order.")
    if not images:
        raise ValueError(f"'{new_csv}' has no labelled rows for split {split!r} (Usage {usage!r}).")
    return torch.from_numpy(np.stack(images)), np.array(votes), names


def _from_folder(folder: Path, split: str, cache: bool) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """``FER2013{Train,Valid,Test}/label.csv`` + ``ferNNNNNNN.png`` files."""
    label_csv = folder / "label.csv"
    if not label_csv.is_file():
        raise FileNotFoundError(f"FER+ folder '{folder}' has no label.csv.")
    files, votes = [], []
    for line, row in _rows(label_csv):
        if not row:
            continue
        where = f"'{label_csv}' line {line}"
        if len(row) != 2 + len(FERPLUS_COLUMNS) or not _FILE_NAME.match(row[0]):
            raise ValueError(f"{where}: expected 'ferNNNNNNN.png,(x, y, w, h),' and {len(FERPLUS_COLUMNS)} "
                             f"vote counts, got {row}.")
        if not (folder / row[0]).is_file():
            raise FileNotFoundError(f"{where}: image '{folder / row[0]}' does not exist.")
        files.append(folder / row[0])
        votes.append(_vote_row(row[2:], where))
    if not files:
        raise ValueError(f"'{label_csv}' lists no faces.")
    key = fingerprint_files([label_csv, *files], "ferplus-folder", split)
    cached = load_cached("ferplus", key) if cache else None
    if cached is None:
        images, kept, bad, _ = decode_images(files)
        if bad:
            raise ValueError(f"'{label_csv}' lists {len(bad)} unreadable image(s), e.g. '{bad[0]}'.")
        if cache:
            save_cached("ferplus", key, {"images": images}, {"source": str(folder), "split": split})
    else:
        images = cached["images"]
    return images, np.array(votes), [str(f) for f in files]


def _warn_dropped(root: Path, split: str, votes: np.ndarray) -> None:
    """One warning that counts the faces left out, by reason (the rule of :func:`votes_to_targets`); an error if all are."""
    not_emotion = votes.argmax(axis=1) >= 8
    no_votes = ~not_emotion & (votes[:, :8].sum(axis=1) == 0)
    dropped = int(not_emotion.sum() + no_votes.sum())
    if dropped == len(votes):
        raise ValueError(f"FER+ '{root}' {split}: all {len(votes)} faces are left out ({int(not_emotion.sum())} whose "
                         f"top vote is unknown or NF, {int(no_votes.sum())} without any emotion vote): no face to use.")
    if dropped:
        warnings.warn(
            f"FER+ '{root}' {split}: left out {dropped} of {len(votes)} faces: {int(not_emotion.sum())} whose top "
            f"vote is unknown or NF (not a face), {int(no_votes.sum())} without any emotion vote.",
            UserWarning, stacklevel=3,
        )


class FERPlus(FaceDataset):
    """FER2013's faces with FER+'s votes: eight classes, majority or probability targets.

    Reads any of three layouts, looked for in this order under ``root``:

    * ``ferplus.csv``, the FER+ votes joined to the image folders of FER2013 (columns
      ``image,usage,ferplus_name,neutral,...,NF``; ``image`` is a path under the FER2013 folder,
      given as ``fer2013=`` or found as ``root/../fer2013``);
    * the official ``fer2013new.csv`` beside the original ``fer2013.csv`` (same row order;
      rows without an image name are the faces FER+ left out);
    * the FER+ image folders ``FER2013Train/``, ``FER2013Valid/``, ``FER2013Test/``, each with
      ``label.csv`` and ``ferNNNNNNN.png`` files.

    Splits are FER2013's: ``train`` (Training), ``val`` (PublicTest), ``test`` (PrivateTest).
    Faces whose top vote is ``unknown`` or ``NF``, and faces without any emotion vote, are
    left out, counted by reason in one warning. Votes must be whole numbers >= 0 (``3`` or
    ``3.0``); anything else is refused with the file and line.

    Args:
        root: Folder holding one of the layouts (or the ``ferplus.csv`` file itself).
        split: ``"train"``, ``"val"`` or ``"test"``.
        labels: ``"majority"``: ``targets`` are class ids; ``"probability"``: ``targets`` are
            each face's vote distribution over the eight classes (``N x 8``).
        fer2013: FER2013 folder that ``ferplus.csv``'s image paths are relative to.
        cache: Read and write the decoded-image cache.

    Attributes:
        votes: Each face's vote distribution over the eight classes (``N x 8``, facexpr's class
            order), whatever ``labels`` is; for evaluating probabilities against the votes.
        majority: Each face's majority class id (``N``).

    Raises:
        ValueError: Unknown split or label mode, or files that do not match (the message names
            the file and the line).
        FileNotFoundError: No layout under ``root``, or a listed image that does not exist.

    Example:
        >>> ds = FERPlus("../shared/data/ferplus", split="val")  # doctest: +SKIP
        >>> ds.classes  # doctest: +SKIP
        ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral', 'contempt')
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        labels: LabelMode = "majority",
        fer2013: str | os.PathLike | None = None,
        cache: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"Unknown FER+ split {split!r}. Expected one of: {', '.join(SPLITS)}.")
        if labels not in ("majority", "probability"):
            raise ValueError(f"FER+ labels must be 'majority' or 'probability', got {labels!r}.")
        root = Path(root)
        joined = root if root.is_file() else root / "ferplus.csv"
        if joined.is_file():
            fer_root = Path(fer2013) if fer2013 is not None else joined.parent.parent / "fer2013"
            if not fer_root.is_dir():
                raise FileNotFoundError(f"'{joined}' lists images of the FER2013 folders, but '{fer_root}' is not "
                                        "a folder; pass fer2013='path/to/fer2013'.")
            images, votes, paths = _from_joined_csv(joined, fer_root, split, cache)
        elif (root / "fer2013new.csv").is_file():
            if not (root / "fer2013.csv").is_file():
                raise FileNotFoundError(f"'{root / 'fer2013new.csv'}' holds FER+'s votes, but the pixels are in "
                                        f"fer2013.csv, which is not in '{root}'.")
            images, votes, paths = _from_official_csv(root / "fer2013new.csv", root / "fer2013.csv", split)
        elif (root / _FOLDERS[split]).is_dir():
            images, votes, paths = _from_folder(root / _FOLDERS[split], split, cache)
        else:
            raise FileNotFoundError(
                f"No FER+ data under '{root}': expected ferplus.csv, fer2013new.csv beside fer2013.csv, or "
                f"the folder {_FOLDERS[split]}/ with label.csv."
            )
        kept, majority, distribution = votes_to_targets(votes)
        _warn_dropped(root, split, np.asarray(votes, dtype=np.int64).reshape(-1, len(FERPLUS_COLUMNS)))
        targets = majority if labels == "majority" else distribution
        index = torch.from_numpy(kept)
        super().__init__(images[index], targets, FERPLUS_LABELS, [paths[i] for i in kept.tolist()])
        self.root = root
        self.split = split
        self.label_mode = labels
        self.votes = distribution
        self.majority = majority

    @property
    def hard_targets(self) -> torch.Tensor:
        """The majority class of each face (ties broken in FER+'s column order, as for ``"majority"``).

        With ``labels="probability"`` this is not each distribution's most probable class id
        when votes tie: FER+'s column order decides, as for the majority labels.

        Example:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from PIL import Image
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     (Path(tmp) / "FER2013Train").mkdir()
            ...     Image.new("L", (48, 48)).save(Path(tmp) / "FER2013Train" / "fer0000000.png")
            ...     _ = (Path(tmp) / "FER2013Train" / "label.csv").write_text("fer0000000.png,box,0,0,0,5,5,0,0,0,0,0")
            ...     ds = FERPlus(tmp, "train", labels="probability", cache=False)
            >>> ds.classes[int(ds.hard_targets[0])], ds.classes[int(ds.targets.argmax(1)[0])]
            ('sad', 'angry')
        """
        return self.majority
