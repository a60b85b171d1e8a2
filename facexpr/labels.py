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
"""

from __future__ import annotations

__all__ = ["FER2013_LABELS", "NUM_FER2013_CLASSES", "label_to_index"]

FER2013_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The seven FER2013 expression names, indexed by their FER2013 label id."""

NUM_FER2013_CLASSES: int = len(FER2013_LABELS)
"""Number of FER2013 classes (7)."""


def label_to_index(name: str) -> int:
    """Return the FER2013 label id of an expression name.

    Args:
        name: An expression name such as ``"happy"``; case and surrounding spaces are ignored.

    Returns:
        The FER2013 label id (0-6).

    Raises:
        ValueError: If ``name`` is not one of the seven FER2013 expressions.

    Example:
        >>> label_to_index("Fear")
        2
    """
    key = name.strip().lower()
    try:
        return FER2013_LABELS.index(key)
    except ValueError:
        raise ValueError(
            f"Unknown FER2013 label {name!r}. Expected one of: {', '.join(FER2013_LABELS)}."
        ) from None
