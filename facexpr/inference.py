"""Turning any input into predictions: face crops or whole photos in, labels and probabilities out.

:func:`predict_faces` and :func:`predict_proba` treat every input as one face crop
(grayscale, resized to the model's input). Inputs are converted with the model's own
:meth:`~facexpr.models.FaceModel.transforms`, batched, and run in ``torch.inference_mode`` in
eval mode on the model's device. :func:`predict` also takes whole photos: it finds their faces
first (see :mod:`facexpr.photos`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from .errors import InvalidImageError
from ._device import to_memory_format
from .transforms import ImageInput

if TYPE_CHECKING:
    from .detection import DetectorLike
    from .models import FaceModel

__all__ = ["Prediction", "predict", "predict_faces", "predict_proba"]


@dataclass(frozen=True)
class Prediction:
    """The prediction for one face.

    Attributes:
        label: Most probable class name.
        index: Its class index.
        probabilities: Probability of every class, by name, in class order.
        box: Face box ``(x, y, width, height)`` in the source image's pixels, when the face was
            detected in a larger photo; ``None`` for a crop.
        score: Detection score of the face, when detected.

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
        """
        return sorted(self.probabilities.items(), key=lambda kv: kv[1], reverse=True)[:k]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict.

        ``box``, ``score`` and ``source`` are included when set.

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
        return data


def _is_single(x: object) -> bool:
    if isinstance(x, torch.Tensor):
        return x.ndim in (2, 3)
    return isinstance(x, (str, os.PathLike, Image.Image, np.ndarray))


def _as_batch(x: object) -> Sequence[ImageInput] | torch.Tensor:
    if _is_single(x):
        return [x]  # type: ignore[list-item]
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        if not x:
            raise InvalidImageError("Got an empty list; expected at least one image.")
        return list(x)
    raise InvalidImageError(
        f"Expected a path, PIL image, numpy array, torch tensor or a list of them, got "
        f"{type(x).__name__}."
    )


def _device_of(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.inference_mode()
def predict_proba(
    model: FaceModel, x: ImageInput | Sequence[ImageInput], *, batch_size: int = 256, tta: bool = False
) -> torch.Tensor:
    """Return class probabilities ``N x num_classes`` (CPU, float32) for face crops.

    Logits are divided by the model's calibrated ``config.temperature`` before the softmax.
    With ``tta=True`` the probabilities are averaged over each face's test-time views: the
    face, its mirror image, and a central zoom of both
    (:meth:`~facexpr.transforms.FaceTransform.tta_views`). It costs four forward passes.

    Raises:
        InvalidImageError: If an input cannot be read; in a list, the message names its index.

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> from facexpr.inference import predict_proba
        >>> model = facexpr.load("better")
        >>> probs = predict_proba(model, [EXAMPLE_FACE, EXAMPLE_FACE], tta=True)
        >>> probs.shape, probs.device.type
        (torch.Size([2, 7]), 'cpu')
        >>> [model.labels[i] for i in probs.argmax(1)]
        ['happy', 'happy']
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    faces = model.transforms().to_uint8_batch(_as_batch(x))
    logits = _view_logits(model, faces, batch_size=batch_size, tta=tta)
    return (logits / model.config.temperature).softmax(2).mean(0)


@torch.inference_mode()
def _view_logits(model: FaceModel, faces: torch.Tensor, *, batch_size: int = 256, tta: bool = False) -> torch.Tensor:
    """Return the logits ``V x N x C`` (CPU, float32) of ``uint8`` faces ``N x 1 x size x size``.

    ``V`` is 1 (the model's own view, its ``crop_pct``) or, with ``tta=True``, the test-time
    views of :meth:`~facexpr.transforms.FaceTransform.tta_views`. The model runs in eval mode
    on its own device; its training mode is restored afterwards.

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better")
        >>> faces = model.transforms().to_uint8_batch([EXAMPLE_FACE])
        >>> _view_logits(model, faces).shape, _view_logits(model, faces, tta=True).shape
        (torch.Size([1, 1, 7]), torch.Size([4, 1, 7]))
    """
    transform = model.transforms()
    device = _device_of(model)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        for start in range(0, max(faces.shape[0], 1), batch_size):  # one (empty) batch for no faces
            inputs = to_memory_format(model, transform.normalize(faces[start : start + batch_size].to(device)))
            views = transform.tta_views(inputs) if tta else [transform.center_crop(inputs)]
            chunks.append(torch.stack([model(to_memory_format(model, view)).float().cpu() for view in views]))
    finally:
        model.train(was_training)
    return torch.cat(chunks, dim=1)


def _sources(x: object, n: int) -> list[str | None]:
    items = [x] if _is_single(x) else (list(x) if isinstance(x, (list, tuple)) else [None] * n)
    return [os.fspath(i) if isinstance(i, (str, os.PathLike)) else None for i in items]


def predict_faces(
    model: FaceModel, x: ImageInput | Sequence[ImageInput], *, batch_size: int = 256, tta: bool = False
) -> Prediction | list[Prediction]:
    """Classify face crops with ``model``; one :class:`Prediction` per face.

    Returns:
        A single :class:`Prediction` for a single image, else a list in input order.

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> from facexpr.inference import predict_faces
        >>> model = facexpr.load("better")
        >>> predict_faces(model, EXAMPLE_FACE).label
        'happy'
        >>> [p.label for p in predict_faces(model, [EXAMPLE_FACE, EXAMPLE_FACE])]
        ['happy', 'happy']
    """
    probs = predict_proba(model, x, batch_size=batch_size, tta=tta)
    labels = model.labels
    sources = _sources(x, probs.shape[0])
    results = []
    for row, source in zip(probs.tolist(), sources):
        index = int(np.argmax(row))
        results.append(
            Prediction(labels[index], index, dict(zip(labels, row)), source=source)
        )
    return results[0] if _is_single(x) else results


def _looks_like_photos(x: object) -> bool:
    """Whether ``detect=None`` means detection: any image larger than a face crop."""
    from .photos import CROP_MAX_SIDE, image_size

    if isinstance(x, torch.Tensor) and x.ndim == 4:
        return False  # a batch tensor is a batch of face crops
    items = [x] if _is_single(x) else (list(x) if isinstance(x, (list, tuple)) else [])
    for item in items:
        dims = image_size(item)
        if dims is not None and max(dims) > CROP_MAX_SIDE:
            return True
    return False


def predict(
    x: ImageInput | Sequence[ImageInput],
    *,
    model: str | FaceModel = "better",
    detect: bool | None = None,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    tta: bool = False,
    device: str | torch.device | None = None,
) -> Prediction | list[Prediction] | list[list[Prediction]]:
    """Predict facial expressions: find the faces in photos, or read face crops.

    With detection (the default for photos), every face of each image is found, cropped the
    way FER2013 faces were cropped and classified in one batch; each face's
    :class:`Prediction` carries its ``box`` (``x, y, width, height`` in the original image's
    pixels) and detection ``score``, sorted left to right. A photo without a face gives an
    empty list. With ``detect=False`` each image is one face crop.

    ``detect=None`` decides from the input: when an image is larger than
    :data:`facexpr.photos.CROP_MAX_SIDE` (160) pixels a side, the images are photos and are
    searched for faces (smaller ones among them count as one face each); otherwise, and for
    ``N x C x H x W`` batch tensors, they are face crops. Pass ``detect`` explicitly for a
    return type that does not depend on image sizes.

    Args:
        x: A path, PIL image (any mode: RGB, RGBA, L, I;16, P, CMYK; EXIF rotation applied),
            numpy array (HxW, HxWx3 RGB, HxWx4 RGBA; uint8 or float in [0, 1]), tensor (HxW,
            CxHxW, or a batch NxCxHxW), or a list of any of these.
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detect: ``True``: find the faces of every image larger than the model input (48x48
            ones count as one face each); ``False``: each image is one face crop; ``None``:
            decide as above.
        detector: Face detector: ``"auto"`` (YuNet, else dlib offline), ``"yunet"``,
            ``"dlib"``, or a callable (see :mod:`facexpr.detection`).
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        device: Device for a model loaded by name (default: the best available).

    Returns:
        Face crops: one :class:`Prediction` for a single image, a list for a list or a batch
        tensor. Photos: a list of :class:`Prediction` (one per face) for a single image, a list
        of such lists for a list.

    Raises:
        InvalidImageError: If an input cannot be read (named, with its index in a list).
        DetectorNotAvailableError: If faces must be found and no detector can run (the message
            says what to install).

    Example:
        >>> import facexpr, numpy as np
        >>> model = facexpr.load("simple", pretrained=False)
        >>> facexpr.predict(np.zeros((48, 48), dtype=np.uint8), model=model).label in model.labels
        True
        >>> facexpr.predict(np.zeros((480, 640, 3), np.uint8), model=model,
        ...                 detector=lambda image: ([[300, 200, 60, 80]], [0.9]))[0].box
        (300, 200, 60, 80)
    """
    if isinstance(model, (str, os.PathLike)):
        from .models import load

        model = load(model, device=device)
    auto = detect is None
    if auto:
        detect = _looks_like_photos(x)
    if not detect:
        return predict_faces(model, x, batch_size=batch_size, tta=tta)
    from .photos import CROP_MAX_SIDE, _predict_photos

    crop_limit = CROP_MAX_SIDE if auto else None
    if _is_single(x):
        return _predict_photos([x], model, detector, batch_size, tta, crop_limit)[0]  # type: ignore[list-item]
    return _predict_photos(list(_as_batch(x)), model, detector, batch_size, tta, crop_limit)
