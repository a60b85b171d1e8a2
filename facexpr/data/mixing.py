"""Training on several label sources at once: FER2013's labels, FER+'s votes, faces from photos.

FER2013's labels and FER+'s votes describe the *same* 28,709 training faces and often disagree
(on FER+ test they name the same class for 63% of the faces), and faces cut from web photos
look unlike both. :func:`mix_sources` builds one training set from all three, so that one model
learns what each holds: every FER2013 face gets a target that blends its FER+ vote distribution
with its FER2013 label, and the photo faces are repeated so that they weigh in every epoch.

Example:
    >>> from facexpr.data.mixing import mix_sources
    >>> train, val = mix_sources(["data/fer2013", "data/ferplus", "data/expw-train"])  # doctest: +SKIP
    >>> train.classes[7], train.soft  # doctest: +SKIP
    ('contempt', True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..labels import FERPLUS_LABELS
from .dataset import FaceDataset
from .faceboxes import FaceBoxes, faceboxes_layout
from .fer2013 import FER2013, fer2013_layout
from .ferplus import FERPlus, ferplus_layout
from .split import train_val_split

__all__ = ["MixedSources", "find_sources", "mix_sources", "onto_classes"]


@dataclass(frozen=True)
class MixedSources:
    """The data roots :func:`mix_sources` takes, each recognised by its layout.

    Attributes:
        fer2013: FER2013 (class folders or CSV).
        ferplus: FER+'s votes (any of :class:`~facexpr.data.FERPlus`'s layouts).
        faceboxes: Labelled faces in photos (:class:`~facexpr.data.FaceBoxes`), or ``None``.
    """

    fer2013: Path
    ferplus: Path
    faceboxes: Path | None = None


def find_sources(roots: Sequence[str | os.PathLike]) -> MixedSources:
    """Recognise each root's layout: FER2013, FER+ or face boxes (each at most once).

    Raises:
        ValueError: A root holds none of the three layouts, two roots hold the same one, or
            FER2013 or FER+ is missing.

    Example:
        >>> find_sources(["data/fer2013"])  # doctest: +SKIP
        Traceback (most recent call last):
        ValueError: ... needs FER+'s votes too ...
    """
    found: dict[str, Path] = {}
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"Training data '{root}' does not exist.")
        if ferplus_layout(root) is not None:
            kind = "ferplus"
        elif fer2013_layout(root) is not None:
            kind = "fer2013"
        elif faceboxes_layout(root):
            kind = "faceboxes"
        else:
            raise ValueError(f"'{root}' holds none of the layouts a mixed recipe trains on: FER2013 "
                             "(train/ val/ class folders or fer2013.csv), FER+ votes (ferplus.csv, "
                             "fer2013new.csv, FER2013Train/) or face boxes (faces.csv and images/).")
        if kind in found:
            raise ValueError(f"'{found[kind]}' and '{root}' both hold {kind} data; give each source once.")
        found[kind] = root
    missing = [kind for kind in ("fer2013", "ferplus") if kind not in found]
    if missing:
        raise ValueError(f"A mixed recipe trains on FER2013's labels and FER+'s votes, optionally with "
                         f"face boxes from photos; no {' or '.join(missing)} data among {[str(r) for r in roots]}.")
    return MixedSources(found["fer2013"], found["ferplus"], found.get("faceboxes"))


def onto_classes(data: FaceDataset, classes: Sequence[str]) -> FaceDataset:
    """Re-index ``data``'s targets onto ``classes``, a superset of its own class names.

    Soft targets get zero probability for the classes ``data`` lacks.

    Raises:
        ValueError: If a class of ``data`` is not in ``classes``.

    Example:
        >>> faces = FaceDataset(torch.zeros(2, 48, 48, dtype=torch.uint8), torch.tensor([0, 1]), ("sad", "happy"))
        >>> onto_classes(faces, ("happy", "neutral", "sad")).targets.tolist()
        [2, 0]
    """
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    missing = [name for name in data.classes if name.lower() not in lookup]
    if missing:
        raise ValueError(f"Classes {missing} of the data are not among {list(classes)}.")
    index = torch.tensor([lookup[name.lower()] for name in data.classes], dtype=torch.int64)
    if data.soft:
        targets = torch.zeros(len(data), len(classes))
        targets[:, index] = data.targets
    else:
        targets = index[data.targets]
    return FaceDataset(data.images, targets, tuple(classes), data.paths)


def _one_hot(data: FaceDataset, classes: Sequence[str]) -> torch.Tensor:
    hard = onto_classes(data, classes).hard_targets
    return torch.nn.functional.one_hot(hard, len(classes)).float()


def _concat(parts: Sequence[FaceDataset], classes: Sequence[str]) -> FaceDataset:
    paths = [p for part in parts for p in (part.paths or [""] * len(part))]
    return FaceDataset(torch.cat([p.images for p in parts]), torch.cat([p.targets for p in parts]), classes, paths)


def mix_sources(
    roots: Sequence[str | os.PathLike],
    *,
    votes_weight: float = 0.7,
    faceboxes_repeat: int = 4,
    faceboxes_val_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[FaceDataset, FaceDataset, dict[str, FaceDataset]]:
    """One training set from FER2013's labels, FER+'s votes and (optionally) faces in photos.

    Training targets are distributions over FER+'s eight classes:

    * each FER2013 training face: ``votes_weight`` x its FER+ vote distribution plus
      ``1 - votes_weight`` x its FER2013 label (faces FER+ dropped as not a face or unknown keep
      their FER2013 label alone);
    * each face-box face (the training part: ``faceboxes_val_fraction`` of every class is held
      out, seeded): its label, the face repeated ``faceboxes_repeat`` times.

    The validation set chooses the epoch: FER+ val (majority label), FER2013 val (its own
    labels) and the held-out face boxes, each face box repeated so that the three sources weigh
    about equally in ``val_accuracy``.

    Args:
        roots: The data roots (see :func:`find_sources`).
        votes_weight: Weight of the FER+ votes against FER2013's label, in ``[0, 1]``.
        faceboxes_repeat: How often each training face box appears in an epoch (>= 1).
        faceboxes_val_fraction: Share of each face-box class held out for validation.
        seed: Seed of that split.

    Returns:
        ``(train, val, parts)``: ``parts`` holds each validation source on its own
        (``"ferplus"``, ``"fer2013"``, ``"faceboxes"``) to report them apart, and the
        face-box validation part serves calibration.

    Raises:
        ValueError: On an out-of-range argument or an unrecognised root.
    """
    if not 0.0 <= votes_weight <= 1.0:
        raise ValueError(f"votes_weight must lie in [0, 1], got {votes_weight}.")
    if int(faceboxes_repeat) != faceboxes_repeat or faceboxes_repeat < 1:
        raise ValueError(f"faceboxes_repeat must be a whole number >= 1, got {faceboxes_repeat}.")
    sources = find_sources(roots)
    classes = FERPLUS_LABELS
    fer_train = FER2013(sources.fer2013, "train")
    plus_train = FERPlus(sources.ferplus, "train", labels="probability", fer2013=sources.fer2013)
    targets = _one_hot(fer_train, classes)
    row = {os.path.realpath(p): i for i, p in enumerate(fer_train.paths or [])}
    joined = torch.tensor([row.get(os.path.realpath(p), -1) for p in plus_train.paths or []], dtype=torch.int64)
    if len(joined) and int(joined.min()) < 0:
        raise ValueError(f"FER+ votes of '{sources.ferplus}' name faces that are not among FER2013's training "
                         f"faces of '{sources.fer2013}'.")
    targets[joined] = votes_weight * onto_classes(plus_train, classes).targets + (1 - votes_weight) * targets[joined]
    train_parts = [FaceDataset(fer_train.images, targets, classes, fer_train.paths)]
    val_parts = {
        "ferplus": onto_classes(FERPlus(sources.ferplus, "val", labels="majority", fer2013=sources.fer2013), classes),
        "fer2013": onto_classes(FER2013(sources.fer2013, "val"), classes),
    }
    val_list = [val_parts["ferplus"], val_parts["fer2013"]]
    if sources.faceboxes is not None:
        boxes_train, boxes_val = train_val_split(FaceBoxes(sources.faceboxes), faceboxes_val_fraction, seed=seed)
        boxes_train = FaceDataset(boxes_train.images, _one_hot(boxes_train, classes), classes, boxes_train.paths)
        train_parts += [boxes_train] * int(faceboxes_repeat)
        val_parts["faceboxes"] = onto_classes(boxes_val, classes)
        weight = max(1, round(len(val_parts["fer2013"]) / max(1, len(boxes_val))))
        val_list += [val_parts["faceboxes"]] * weight
    return _concat(train_parts, classes), _concat(val_list, classes), val_parts
