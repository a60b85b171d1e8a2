"""Whole photos: find every face, crop it the way FER2013 faces were cropped, read it.

For each photo: decode it upright (EXIF rotation applied, transparency on white), find the
faces with a detector (see :mod:`facexpr.detection`), cut a square around each face with the
margin FER2013 faces have (:class:`~facexpr.detection.CropSpec`), turn every crop into the
model's 48x48 grayscale input with the model's own transform, and classify all the faces in
one batch. Results come one per face, sorted left to right, with the box in the original
image's pixels and the detection score. A photo without a face gives an empty list.

An image no larger than the model's input (48x48, the FER2013 format) is already a face crop:
it is read as one face whose box is the whole image, without running the detector. Where
``detect=None`` (the default of :func:`facexpr.predict`, :func:`predict_iter`,
:func:`predict_folder` and the CLI), so is any image at most :data:`CROP_MAX_SIDE` pixels a
side.

Folders and long lists are processed as a stream (:func:`predict_folder`,
:func:`predict_iter`): a bounded number of images at a time, unreadable files skipped with a
warning and counted.

Example:
    >>> import facexpr, numpy as np
    >>> model = facexpr.load("simple", pretrained=False)
    >>> facexpr.predict_photo(np.zeros((480, 640, 3), np.uint8), model=model,
    ...                       detector=lambda image: ([], []))
    []
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from PIL import Image

from .detection import Detections, DetectorLike, _run_detector, get_detector
from .errors import InvalidImageError
from .inference import Prediction, predict_proba
from .transforms import ImageInput, _single_to_chw, _upright_pil, describe_input, read_image, to_face_uint8

if TYPE_CHECKING:
    from .models import FaceModel

__all__ = [
    "CROP_MAX_SIDE",
    "IMAGE_EXTENSIONS",
    "ImageResult",
    "PredictionStream",
    "csv_header",
    "csv_rows",
    "image_size",
    "list_images",
    "predict_folder",
    "predict_iter",
    "predict_photo",
    "predict_photos",
    "to_rgb_uint8",
]

CROP_MAX_SIDE = 160
"""With ``detect=None``, images at most this many pixels a side are read as face crops.

Face crops are small (FER2013: 48, RAF-DB: 100, detector crops: 112-160 pixels), while photos
worth searching are larger; ``detect=True`` searches every image larger than the model input.
"""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
"""File name endings :func:`list_images` picks up (case-insensitive)."""


# -- decoding any input to RGB uint8 -------------------------------------------------------------


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.round(rgb * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        return _composite_on_white(np.asarray(img.convert("RGBA")))
    if mode in ("RGB", "L"):
        arr = np.asarray(img)
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr)
    if mode in ("1", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        return np.asarray(img.convert("RGB"))
    return _chw_float_to_rgb(_single_to_chw(img, describe_input(img)))  # 16-bit and float modes


def _chw_float_to_rgb(chw: torch.Tensor) -> np.ndarray:
    """float C x H x W in [0, 1] (C = 1, 3 or 4) -> RGB uint8 H x W x 3."""
    if chw.shape[0] == 4:
        rgb, alpha = chw[:3], chw[3:]
        chw = rgb * alpha + (1.0 - alpha)
    elif chw.shape[0] == 1:
        chw = chw.expand(3, -1, -1)
    return chw.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def to_rgb_uint8(x: ImageInput, *, name: str | None = None) -> np.ndarray:
    """Decode any image input to an upright RGB ``uint8`` ``H x W x 3`` array.

    EXIF rotation is applied, transparency is composited onto white and grayscale is
    repeated over three channels, as :func:`facexpr.transforms.to_face_uint8` does.

    Args:
        x: A path, PIL image (any mode), numpy array (HxW, HxWx1, HxWx3 RGB, HxWx4 RGBA;
            uint8, uint16 or float in [0, 1]) or tensor (HxW, CxHxW).
        name: How to call the input in error messages.

    Returns:
        The image as an RGB ``uint8`` array.

    Raises:
        InvalidImageError: If the input cannot be read or has the wrong shape or values.

    Example:
        >>> to_rgb_uint8(np.zeros((2, 3), np.uint8)).shape
        (2, 3, 3)
    """
    name = name or describe_input(x)
    if isinstance(x, (str, os.PathLike)):
        return _pil_to_rgb(read_image(x))
    if isinstance(x, Image.Image):
        return _pil_to_rgb(_upright_pil(x, name))
    if isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.size:
        if x.ndim == 2:
            return np.repeat(x[..., None], 3, axis=2)
        if x.ndim == 3 and x.shape[2] == 1:
            return np.repeat(x, 3, axis=2)
        if x.ndim == 3 and x.shape[2] == 3:
            return np.ascontiguousarray(x)
        if x.ndim == 3 and x.shape[2] == 4:
            return _composite_on_white(x)
    return _chw_float_to_rgb(_single_to_chw(x, name))


def _upright_size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    if img.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientations that swap the sides
        return height, width
    return width, height


def image_size(x: object) -> tuple[int, int] | None:
    """Return an image's ``(width, height)`` cheaply (file header only), or ``None`` if unknown.

    Example:
        >>> image_size(np.zeros((30, 40, 3), np.uint8))
        (40, 30)
    """
    try:
        if isinstance(x, (str, os.PathLike)):
            with Image.open(x) as img:
                return _upright_size(img)
        if isinstance(x, Image.Image):
            return _upright_size(x)
        if isinstance(x, np.ndarray) and x.ndim in (2, 3):
            return int(x.shape[1]), int(x.shape[0])
        if isinstance(x, torch.Tensor) and x.ndim in (2, 3):
            return int(x.shape[-1]), int(x.shape[-2])
    except Exception:  # unreadable: whoever decodes it reports the error
        return None
    return None


# -- crops -----------------------------------------------------------------------------------------


def _crop_square(rgb: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Cut a square ``(x, y, side, side)`` from ``rgb``, repeating edge pixels past the border."""
    height, width = rgb.shape[:2]
    side = max(1, int(round(box[2])))
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = x0 + side, y0 + side
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:  # cannot happen for boxes inside the image; be safe
        cx0, cy0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
        cx1, cy1 = cx0 + 1, cy0 + 1
    patch = rgb[cy0:cy1, cx0:cx1]
    pad = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0))
    if any(p for pair in pad for p in pair):
        patch = np.pad(patch, pad, mode="edge")
    factor = side // (4 * size)
    if factor >= 2:  # a very large face: box-filter it down first (fast, exact for the 48x48 result)
        patch = np.asarray(Image.fromarray(patch).reduce(factor))
    return patch


def _faces_to_uint8(rgb: np.ndarray, detections: Detections, size: int) -> torch.Tensor:
    """Crops of every detected face -> ``uint8`` ``N x 1 x size x size`` model inputs."""
    if not len(detections):
        return torch.empty(0, 1, size, size, dtype=torch.uint8)
    crops = detections.crop_spec.crop_boxes(detections.boxes)
    return torch.stack([to_face_uint8(_crop_square(rgb, box, size), size, name="face crop") for box in crops])


@dataclass(frozen=True)
class ImageResult:
    """The faces found in one image.

    Attributes:
        source: The image's path, or ``None`` for an in-memory image.
        faces: One :class:`~facexpr.Prediction` per face, left to right (may be empty).
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


@dataclass
class _Pending:
    source: str | None
    width: int
    height: int
    boxes: np.ndarray
    scores: np.ndarray
    faces: torch.Tensor


class _Pipeline:
    """Detector + model: photos -> pending uint8 faces -> predictions."""

    def __init__(
        self, model: FaceModel, detector: DetectorLike | None, *, batch_size: int, tta: bool,
        crop_limit: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.model = model
        self.size = model.transforms().size
        # Images no larger than crop_limit a side are face crops (default: the model input).
        self.crop_limit = self.size if crop_limit is None else crop_limit
        self.search = detector is not None
        self._detector_spec = detector
        self._detector: Callable[[np.ndarray], Any] | None = None
        self.batch_size = batch_size
        self.tta = tta

    @property
    def detector(self) -> Callable[[np.ndarray], Any]:
        """The detector, made on first use (images that are crops never need one)."""
        if self._detector is None:
            self._detector = get_detector(self._detector_spec if self._detector_spec is not None else "auto")
        return self._detector

    def prepare(self, x: ImageInput, name: str) -> _Pending:
        """Decode, detect and crop one image (detector=None: the whole image is one face)."""
        source = os.fspath(x) if isinstance(x, (str, os.PathLike)) else None
        size = image_size(x)
        if not self.search or (size is not None and max(size) <= self.crop_limit):
            face = to_face_uint8(x, self.size, name=name)
            width, height = size if size is not None else (self.size, self.size)
            box = np.array([[0, 0, width, height]], dtype=np.float64)
            return _Pending(source, width, height, box if self.search else np.zeros((0, 4)),
                            np.array([np.nan]), face[None])
        rgb = to_rgb_uint8(x, name=name)
        detections = _run_detector(self.detector, rgb)
        faces = _faces_to_uint8(rgb, detections, self.size)
        return _Pending(source, rgb.shape[1], rgb.shape[0], detections.boxes, detections.scores, faces)

    def finish(self, pending: Sequence[_Pending]) -> list[ImageResult]:
        """Classify the faces of several prepared images in batches."""
        counts = [len(p.faces) for p in pending]
        if sum(counts):
            probs = predict_proba(self.model, torch.cat([p.faces for p in pending]),
                                  batch_size=self.batch_size, tta=self.tta)
        else:
            probs = torch.empty(0, self.model.num_classes)
        labels = self.model.labels
        rows = probs.tolist()
        out, start = [], 0
        for p, n in zip(pending, counts):
            faces = []
            for i in range(n):
                row = rows[start + i]
                index = int(np.argmax(row))
                box = _int_box(p.boxes[i]) if len(p.boxes) else None
                score = float(p.scores[i]) if i < len(p.scores) and np.isfinite(p.scores[i]) else None
                faces.append(Prediction(labels[index], index, dict(zip(labels, row)), box=box,  # type: ignore[arg-type]
                                        score=score, source=p.source))
            out.append(ImageResult(p.source, faces, p.width, p.height))
            start += n
        return out


def _int_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """Float (x, y, w, h) -> integer pixels, rounding the corners (so the box stays inside)."""
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def _resolve_model(model: str | os.PathLike | FaceModel, device: str | torch.device | None) -> FaceModel:
    if isinstance(model, (str, os.PathLike)):
        from .models import load

        return load(model, device=device)
    return model


def predict_photos(
    images: Sequence[ImageInput],
    *,
    model: str | os.PathLike | FaceModel = "better",
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    tta: bool = False,
    device: str | torch.device | None = None,
) -> list[list[Prediction]]:
    """Find and classify every face in several photos; one list of faces per photo.

    All faces of all photos are classified together in batches of ``batch_size``. For
    thousands of photos use :func:`predict_iter`, which keeps memory bounded.

    Args:
        images: Photos: paths, PIL images, numpy arrays or tensors of any size and mode.
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detector: ``"auto"``, ``"yunet"``, ``"dlib"`` or a callable (see
            :mod:`facexpr.detection`).
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        device: Device for a model loaded by name.

    Returns:
        For each photo, its faces left to right (an empty list when none is found).

    Raises:
        InvalidImageError: If a photo cannot be read; the message names its index.
        DetectorNotAvailableError: If no detector can run (the message says what to install).

    Example:
        >>> import facexpr, numpy as np
        >>> model = facexpr.load("simple", pretrained=False)
        >>> faces = facexpr.predict_photos([np.zeros((100, 100), np.uint8)], model=model,
        ...                                detector=lambda im: ([[10, 10, 50, 60]], [0.9]))
        >>> faces[0][0].box, faces[0][0].score
        ((10, 10, 50, 60), 0.9)
    """
    return _predict_photos(images, _resolve_model(model, device), detector, batch_size, tta, None)


def _predict_photos(
    images: Sequence[ImageInput], model: FaceModel, detector: DetectorLike, batch_size: int, tta: bool,
    crop_limit: int | None,
) -> list[list[Prediction]]:
    pipeline = _Pipeline(model, detector, batch_size=batch_size, tta=tta, crop_limit=crop_limit)
    pending = []
    for index, item in enumerate(images):
        try:
            pending.append(pipeline.prepare(item, describe_input(item)))
        except InvalidImageError as err:
            raise type(err)(f"item {index}: {err}") from None
    return [result.faces for result in pipeline.finish(pending)]


def predict_photo(
    image: ImageInput,
    *,
    model: str | os.PathLike | FaceModel = "better",
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    tta: bool = False,
    device: str | torch.device | None = None,
) -> list[Prediction]:
    """Find and classify every face in one photo.

    Args:
        image: A path, PIL image, numpy array or tensor of any size and mode (EXIF rotation
            applied, transparency on white).
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detector: ``"auto"``, ``"yunet"``, ``"dlib"`` or a callable (see
            :mod:`facexpr.detection`).
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        device: Device for a model loaded by name.

    Returns:
        One :class:`~facexpr.Prediction` per face, sorted left to right, each with its ``box``
        (``x, y, width, height`` in the image's pixels) and detection ``score``; an empty list
        when no face is found.

    Raises:
        InvalidImageError: If the image cannot be read.
        DetectorNotAvailableError: If no detector can run (the message says what to install).

    Example:
        >>> import facexpr
        >>> faces = facexpr.predict_photo("group.jpg")  # doctest: +SKIP
        >>> [(f.label, f.box) for f in faces]  # doctest: +SKIP
        [('happy', (34, 50, 61, 80)), ('neutral', (210, 44, 58, 77))]
    """
    pipeline = _Pipeline(_resolve_model(model, device), detector, batch_size=batch_size, tta=tta)
    return pipeline.finish([pipeline.prepare(image, describe_input(image))])[0].faces


# -- streams over many images --------------------------------------------------------------------


def list_images(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Return the image files of a folder (by extension, see :data:`IMAGE_EXTENSIONS`), sorted.

    Hidden files and folders (starting with ``.``) are left out.

    Args:
        folder: The folder to list.
        recursive: Also list every subfolder.

    Returns:
        Paths in a stable order (sorted by relative path).

    Raises:
        FileNotFoundError: If ``folder`` does not exist.
        NotADirectoryError: If ``folder`` is a file.

    Example:
        >>> list_images("photos/", recursive=True)  # doctest: +SKIP
        [PosixPath('photos/a.jpg'), PosixPath('photos/trip/b.png')]
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"Folder '{root}' does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"'{root}' is a file; expected a folder of images.")
    found: list[Path] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(Path(dirpath) / f for f in sorted(filenames)
                         if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
    else:
        found = sorted(p for p in root.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(IMAGE_EXTENSIONS))
    return found


OnError = Literal["warn", "skip", "raise"]


class PredictionStream(Iterator[ImageResult]):
    """Predictions over many images, produced a few at a time (bounded memory).

    Iterate over it to get one :class:`ImageResult` per image, in input order. Unreadable
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
        pipeline: _Pipeline,
        *,
        on_error: OnError | Callable[[str, Exception], None] = "warn",
        chunk: int = 32,
        total: int | None = None,
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}.")
        if not callable(on_error) and on_error not in ("warn", "skip", "raise"):
            raise ValueError(f"on_error must be 'warn', 'skip', 'raise' or a callable, got {on_error!r}.")
        self._items = iter(items)
        self._pipeline = pipeline
        self._on_error = on_error
        self._chunk = chunk
        self._ready: list[ImageResult] = []
        self._index = 0
        self._total = total
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
            self._fill()
        if not self._ready:
            raise StopIteration
        result = self._ready.pop(0)
        self.done += 1
        self.faces += len(result.faces)
        return result

    def _fill(self) -> None:
        pending: list[_Pending] = []
        n_faces = 0
        while len(pending) < self._chunk and n_faces < self._pipeline.batch_size:
            try:
                item = next(self._items)
            except StopIteration:
                break
            index = self._index
            self._index += 1
            name = describe_input(item)
            try:
                prepared = self._pipeline.prepare(item, name)
            except InvalidImageError as err:
                self._skip(item, name, index, err)
                continue
            pending.append(prepared)
            n_faces += len(prepared.faces)
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
    model: str | os.PathLike | FaceModel = "better",
    detect: bool | None = None,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    chunk: int = 32,
    tta: bool = False,
    device: str | torch.device | None = None,
    on_error: OnError | Callable[[str, Exception], None] = "warn",
) -> PredictionStream:
    """Predict over any number of images lazily, a chunk at a time, skipping unreadable ones.

    At most ``chunk`` images (and ``batch_size`` faces) are held at once, so memory does not
    grow with the number of images.

    Args:
        images: Paths, PIL images, arrays or tensors (any iterable, e.g. a generator).
        model: A model name, folder or Hub repo, or a loaded model.
        detect: ``True``: find the faces of every image larger than the model input;
            ``False``: each image is one face crop; ``None``: images at most
            :data:`CROP_MAX_SIDE` pixels a side are face crops, larger ones are searched.
        detector: Detector name or callable (when searching).
        batch_size: Faces per forward pass.
        chunk: Images decoded before each batch is classified.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        device: Device for a model loaded by name.
        on_error: What to do with an unreadable image: ``"warn"`` (skip with a warning),
            ``"skip"`` (silently), ``"raise"``, or a callable ``(source, error)`` that may
            raise to stop.

    Returns:
        A :class:`PredictionStream` of :class:`ImageResult`, in input order.

    Example:
        >>> import facexpr, numpy as np
        >>> model = facexpr.load("simple", pretrained=False)
        >>> stream = facexpr.predict_iter([np.zeros((48, 48), np.uint8)] * 3, model=model, detect=False)
        >>> [len(r.faces) for r in stream]
        [1, 1, 1]
    """
    pipeline = _Pipeline(_resolve_model(model, device), None if detect is False else detector,
                         batch_size=batch_size, tta=tta, crop_limit=CROP_MAX_SIDE if detect is None else None)
    total = len(images) if isinstance(images, Sequence) else None
    return PredictionStream(images, pipeline, on_error=on_error, chunk=chunk, total=total)


def predict_folder(
    folder: str | os.PathLike,
    *,
    recursive: bool = False,
    model: str | os.PathLike | FaceModel = "better",
    detect: bool | None = None,
    detector: DetectorLike = "auto",
    batch_size: int = 256,
    chunk: int = 32,
    tta: bool = False,
    device: str | torch.device | None = None,
    on_error: OnError | Callable[[str, Exception], None] = "warn",
) -> PredictionStream:
    """Predict over every image of a folder (see :func:`list_images`), lazily.

    Args:
        folder: Folder of images.
        recursive: Include subfolders.
        model: A model name, folder or Hub repo, or a loaded model.
        detect: ``True``, ``False`` or ``None`` (see :func:`predict_iter`).
        detector: Detector name or callable (when searching).
        batch_size: Faces per forward pass.
        chunk: Images decoded before each batch is classified.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        device: Device for a model loaded by name.
        on_error: ``"warn"``, ``"skip"``, ``"raise"`` or a callable (see :func:`predict_iter`).

    Returns:
        A :class:`PredictionStream` (with a length) of :class:`ImageResult`.

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
                        chunk=chunk, tta=tta, device=device, on_error=on_error)


# -- CSV rows ------------------------------------------------------------------------------------


def csv_header(labels: Sequence[str], leading: Sequence[str] = ("image",)) -> list[str]:
    """Column names of the per-face CSV tables: ``leading`` + face, box, score, label, probs.

    Example:
        >>> csv_header(["sad", "happy"])
        ['image', 'face', 'x', 'y', 'width', 'height', 'score', 'label', 'confidence', 'p_sad', 'p_happy']
    """
    return [*leading, "face", "x", "y", "width", "height", "score", "label", "confidence",
            *(f"p_{label}" for label in labels)]


def csv_rows(faces: Sequence[Prediction], labels: Sequence[str], leading: Sequence[Any]) -> list[list[Any]]:
    """One row per face (see :func:`csv_header`); a row with empty face fields when there is none.

    Example:
        >>> csv_rows([], ["sad", "happy"], ["a.jpg"])
        [['a.jpg', '', '', '', '', '', '', '', '', '', '']]
    """
    if not faces:
        return [[*leading, *([""] * (8 + len(labels)))]]
    rows = []
    for i, face in enumerate(faces):
        box = list(face.box) if face.box is not None else [""] * 4
        score = f"{face.score:.4f}" if face.score is not None else ""
        probs = [f"{face.probabilities.get(label, float('nan')):.6f}" for label in labels]
        rows.append([*leading, i, *box, score, face.label, f"{face.confidence:.6f}", *probs])
    return rows
