"""The photo engine: images in, found faces classified, :class:`~facexpr.ImageResult` out.

:class:`PhotoEngine` is what :func:`facexpr.predict`, :func:`facexpr.predict_iter`,
:func:`facexpr.predict_video`, :func:`facexpr.run_webcam`, :mod:`facexpr.ray` and the
benchmarks run. It holds a model and a detector and works in two steps, so that the slow
parts can overlap and the model sees large batches:

1. :meth:`PhotoEngine.prepare` (or :meth:`~PhotoEngine.prepare_rgb` for a decoded frame): an
   image is decoded once, upright and with transparency on white; if it is a photo (see
   :func:`is_photo_size`) the detector finds its faces and each is cut out with the margin
   FER2013 faces have (the detector's :class:`~facexpr.detection.CropSpec`) and turned straight
   into the model's ``uint8`` input; a face crop is one face whose box is the whole image.
   The result, a :class:`PreparedImage`, holds no model output yet: this step may run in
   another thread.
2. :meth:`PhotoEngine.finish`: the faces of several prepared images are classified together in
   batches and come back as one :class:`~facexpr.ImageResult` per image, each face a
   :class:`~facexpr.Prediction` with its box, detection score and the detector that found it.

:meth:`PhotoEngine.run` does both for a list.

Example:
    >>> import facexpr, numpy as np
    >>> model = facexpr.load("simple", pretrained=False)
    >>> engine = PhotoEngine(model, lambda image: ([[300, 200, 60, 80]], [0.9]), detect=True)
    >>> (result,) = engine.run([np.zeros((480, 640, 3), np.uint8)])
    >>> [(face.box, face.score, face.detector) for face in result.faces]
    [((300, 200, 60, 80), 0.9, '<lambda>')]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .detection import Detections, DetectorLike, get_detector, run_detector
from .errors import InvalidImageError
from .inference import predict_proba, prediction_from_row, select_classes
from .results import ImageResult
from .transforms import CROP_MAX_SIDE, is_photo_size
from .transforms import (
    ImageInput, crop_square, describe_input, image_size, read_image, rgb_to_face_uint8, to_face_uint8, to_rgb_uint8,
)

if TYPE_CHECKING:
    from .models import FaceModel

__all__ = ["PhotoEngine", "PreparedImage", "face_inputs", "resolve_model"]

def face_inputs(rgb: np.ndarray, detections: Detections, size: int) -> torch.Tensor:
    """The model inputs of every detected face: ``uint8`` ``N x 1 x size x size``.

    Each face is cut out as its detector's :class:`~facexpr.detection.CropSpec` says
    (:func:`facexpr.transforms.crop_square`) and turned into the model's grayscale input.

    Example:
        >>> found = Detections(np.array([[10, 10, 40, 40]]), np.array([0.9]))
        >>> face_inputs(np.zeros((100, 100, 3), np.uint8), found, 48).shape
        torch.Size([1, 1, 48, 48])
    """
    if not len(detections):
        return torch.empty(0, 1, size, size, dtype=torch.uint8)
    crops = detections.crop_spec.crop_boxes(detections.boxes)
    return torch.stack([rgb_to_face_uint8(crop_square(rgb, box, size), size) for box in crops])


def resolve_model(model: str | os.PathLike | FaceModel, device: str | torch.device | None = None) -> FaceModel:
    """A loaded model as it is, or :func:`facexpr.load` of a name, folder or Hub repo.

    Example:
        >>> resolve_model("simple").config.arch  # doctest: +SKIP
        'simple'
    """
    if isinstance(model, (str, os.PathLike)):
        from .models import load

        return load(model, device=device)
    return model


@dataclass
class PreparedImage:
    """One image after :meth:`PhotoEngine.prepare`: its faces, ready for the model.

    Attributes:
        source: The image's path, or ``None`` for an in-memory image.
        width: Image width in pixels (upright).
        height: Image height in pixels (upright).
        boxes: ``N x 4`` face boxes ``(x, y, width, height)`` (a crop: the whole image).
        scores: ``N`` detection scores (``nan`` for a crop).
        faces: ``uint8`` model inputs ``N x 1 x size x size``.
        detector: Which detector found the faces (``None`` for a crop).

    Example:
        >>> import facexpr
        >>> engine = PhotoEngine(facexpr.load("simple", pretrained=False), detect=False)
        >>> prepared = engine.prepare(np.zeros((60, 80), np.uint8))
        >>> prepared.boxes.tolist(), tuple(prepared.faces.shape), prepared.detector
        ([[0.0, 0.0, 80.0, 60.0]], (1, 1, 48, 48), None)
    """

    source: str | None
    width: int
    height: int
    boxes: np.ndarray
    scores: np.ndarray
    faces: torch.Tensor
    detector: str | None = None


class PhotoEngine:
    """Detector + model: images -> :class:`PreparedImage` -> :class:`~facexpr.ImageResult`.

    Args:
        model: A loaded :class:`~facexpr.FaceModel`.
        detector: A detector name or callable (see :func:`facexpr.detection.get_detector`),
            made on first use (images that are crops never need one); ``None`` is ``"auto"``.
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views.
        detect: Which images are photos (see :func:`is_photo_size`).
        crop_limit: Overrides ``detect``: every image larger than ``crop_limit`` a side is
            searched (0: every image, as for video frames).
        classes: Answer in these classes only, renormalised.

    Raises:
        ValueError: If ``batch_size`` < 1 or ``classes`` names a class the model lacks.

    Example:
        >>> import facexpr, numpy as np
        >>> engine = PhotoEngine(facexpr.load("simple", pretrained=False), detect=False)
        >>> [len(r.faces) for r in engine.run([np.zeros((48, 48), np.uint8)] * 2)]
        [1, 1]
    """

    def __init__(
        self, model: FaceModel, detector: DetectorLike | None = "auto", *, batch_size: int = 256, tta: bool = False,
        detect: bool | None = True, crop_limit: int | None = None, classes: Sequence[str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.model = model
        self.size = model.transforms().size
        self.detect = True if crop_limit is not None else detect
        self.photo_side = self.size if crop_limit is None else crop_limit  # for detect=True
        self._detector_spec = detector
        self._detector: Callable[[np.ndarray], Any] | None = None
        self.batch_size = batch_size
        self.tta = tta
        self.classes = classes
        self.labels = select_classes(torch.empty(0, model.num_classes), model.labels, classes)[1]

    @property
    def detector(self) -> Callable[[np.ndarray], Any]:
        """The detector, made on first use (images that are crops never need one).

        Example:
            >>> import facexpr
            >>> def mine(image):
            ...     return [], []
            >>> PhotoEngine(facexpr.load("simple", pretrained=False), mine).detector is mine
            True
        """
        if self._detector is None:
            self._detector = get_detector(self._detector_spec if self._detector_spec is not None else "auto")
        return self._detector

    def prepare(self, x: ImageInput, name: str | None = None) -> PreparedImage:
        """Decode one image, and find and cut out its faces if it is a photo.

        Args:
            x: A path, PIL image, array or tensor.
            name: How to call it in error messages (default: :func:`describe_input`).

        Raises:
            InvalidImageError: If it cannot be read.

        Example:
            >>> import facexpr
            >>> engine = PhotoEngine(facexpr.load("simple", pretrained=False), lambda im: ([[5, 5, 30, 30]], [0.8]))
            >>> prepared = engine.prepare(np.zeros((100, 100, 3), np.uint8))  # larger than 48: a photo
            >>> prepared.boxes.tolist(), prepared.scores.tolist(), prepared.detector
            ([[5.0, 5.0, 30.0, 30.0]], [0.8], '<lambda>')
        """
        name = describe_input(x) if name is None else name
        source = os.fspath(x) if isinstance(x, (str, os.PathLike)) else None
        if source is not None:
            x = read_image(x)  # the file is read once: its size decides photo or face crop
        size = image_size(x)
        if is_photo_size(size, self.detect, self.photo_side):
            return self.prepare_rgb(to_rgb_uint8(x, name=name), source)
        face = to_face_uint8(x, self.size, name=name)
        width, height = size if size is not None else (self.size, self.size)
        return PreparedImage(source, width, height, np.array([[0, 0, width, height]], dtype=np.float64),
                             np.array([np.nan]), face[None])

    def prepare_rgb(self, rgb: np.ndarray, source: str | None = None) -> PreparedImage:
        """Find and cut out the faces of a decoded RGB ``uint8`` photo (e.g. a video frame).

        Example:
            >>> import facexpr
            >>> engine = PhotoEngine(facexpr.load("simple", pretrained=False), lambda im: ([], []))
            >>> len(engine.prepare_rgb(np.zeros((480, 640, 3), np.uint8)).faces)
            0
        """
        detections = run_detector(self.detector, rgb)
        faces = face_inputs(rgb, detections, self.size)
        return PreparedImage(source, rgb.shape[1], rgb.shape[0], detections.boxes, detections.scores, faces,
                             detections.detector)

    def finish(self, prepared: Sequence[PreparedImage]) -> list[ImageResult]:
        """Classify the faces of several prepared images in batches; one result per image.

        Example:
            >>> import facexpr
            >>> engine = PhotoEngine(facexpr.load("simple", pretrained=False), detect=False)
            >>> prepared = [engine.prepare(np.zeros((48, 48), np.uint8)) for _ in range(3)]
            >>> [len(result.faces) for result in engine.finish(prepared)]
            [1, 1, 1]
        """
        counts = [len(p.faces) for p in prepared]
        if sum(counts):
            probs = predict_proba(self.model, torch.cat([p.faces for p in prepared]),
                                  batch_size=self.batch_size, tta=self.tta, classes=self.classes)
        else:
            probs = torch.empty(0, len(self.labels))
        labels = self.labels
        rows = probs.tolist()
        out, start = [], 0
        for p, n in zip(prepared, counts):
            faces = []
            for i in range(n):
                score = float(p.scores[i]) if np.isfinite(p.scores[i]) else None
                faces.append(prediction_from_row(labels, rows[start + i], box=_int_box(p.boxes[i]), score=score,
                                                 source=p.source, detector=p.detector))
            out.append(ImageResult(p.source, faces, p.width, p.height))
            start += n
        return out

    def run(self, images: Sequence[ImageInput], *, name_items: bool = True) -> list[ImageResult]:
        """Prepare and finish several images at once; a bad one raises, named by its index.

        Raises:
            InvalidImageError: If an image cannot be read (``item N: ...`` with ``name_items``).

        Example:
            >>> import facexpr
            >>> engine = PhotoEngine(facexpr.load("simple", pretrained=False), detect=False)
            >>> (result,) = engine.run([np.zeros((48, 64), np.uint8)])
            >>> result.faces[0].box, (result.width, result.height)
            ((0, 0, 64, 48), (64, 48))
        """
        prepared = []
        for index, item in enumerate(images):
            try:
                prepared.append(self.prepare(item, describe_input(item)))
            except InvalidImageError as err:
                if not name_items:
                    raise
                raise type(err)(f"item {index}: {err}") from None
        return self.finish(prepared)


def _int_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """Float (x, y, w, h) -> integer pixels, rounding the corners (so the box stays inside)."""
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)
