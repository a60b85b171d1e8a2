"""Emotion names and their FER2013 label ids, used everywhere else in facexpr.

FER2013 numbers its classes ``0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral``. That is *not* alphabetical order, so data loaders map folder names through
:data:`FER2013_LABELS` and never through sort order.

Example:
    >>> from facexpr.labels import FER2013_LABELS, label_to_index
    >>> FER2013_LABELS[3]
    'happy'
    >>> label_to_index("neutral")
    6
    >>> label_to_index("contempt")
    7
"""

from __future__ import annotations

__all__ = ["FER2013_LABELS", "FERPLUS_LABELS", "NUM_FER2013_CLASSES", "label_to_index"]

FER2013_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The seven FER2013 expression names, indexed by their FER2013 label id."""

FERPLUS_LABELS: tuple[str, ...] = (*FER2013_LABELS, "contempt")
"""FER+'s eight expressions: FER2013's seven with their ids, and ``contempt`` as id 7."""

NUM_FER2013_CLASSES: int = len(FER2013_LABELS)
"""Number of FER2013 classes (7)."""


def label_to_index(name: str) -> int:
    """Return the label id of an expression name (FER2013's 0-6, FER+'s ``contempt`` 7).

    Args:
        name: An expression name such as ``"happy"``; case and surrounding spaces are ignored.

    Returns:
        The label id (0-7).

    Raises:
        ValueError: If ``name`` is not one of the eight expressions.

    Example:
        >>> label_to_index("Fear")
        2
    """
    key = name.strip().lower()
    try:
        return FERPLUS_LABELS.index(key)
    except ValueError:
        raise ValueError(
            f"Unknown expression {name!r}. Expected one of: {', '.join(FERPLUS_LABELS)}."
        ) from None
