"""Label millions of images on a Ray cluster: a predictor class for Ray Data's ``map_batches``.

Install with ``pip install "facexpr[ray]"``. :class:`Predictor` loads the model once per Ray
worker and turns each batch of image paths (or of image bytes, from
``ray.data.read_binary_files``) into one row per face, with the columns of
``facexpr predict DIR --csv`` and the results of :func:`facexpr.predict_folder`.
:func:`read_image_paths` makes the dataset of a folder's images, picked as
:func:`~facexpr.predict_folder` picks them. Ray itself is imported only by
:func:`read_image_paths`; ``import facexpr`` never needs it. See :doc:`/scaling`.

Example:
    >>> import ray, facexpr.ray  # doctest: +SKIP
    >>> paths = facexpr.ray.read_image_paths("photos/", recursive=True)  # doctest: +SKIP
    >>> faces = paths.map_batches(facexpr.ray.Predictor, fn_constructor_kwargs={"model": "better"},
    ...                           batch_size=256, compute=ray.data.ActorPoolStrategy(size=4))  # doctest: +SKIP
    >>> faces.write_parquet("faces/")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._io import csv_header, list_images
from .detection import DetectorLike, get_detector
from .errors import InvalidImageError
from .models._registry import DEFAULT_MODEL
from .photos import predict
from .results import Prediction

if TYPE_CHECKING:
    import pyarrow
    import ray.data
    import torch

    from .models import FaceClassifier

__all__ = ["Predictor", "read_image_paths"]

OnError = Literal["warn", "skip", "raise"]


def read_image_paths(folder: str | os.PathLike, *, recursive: bool = False, column: str = "path") -> ray.data.Dataset:
    """A Ray dataset of a folder's image paths, one row each: the images :func:`facexpr.predict_folder` reads.

    The folder must be readable at the same path on every node of the cluster (a shared file
    system). For object storage, use ``ray.data.read_binary_files(..., include_paths=True)``
    instead: :class:`Predictor` reads the ``bytes`` column it gives.

    Args:
        folder: Folder of images (files with an image ending; hidden files left out).
        recursive: Include subfolders.
        column: Name of the column of paths (strings).

    Returns:
        A ``ray.data.Dataset`` with one string column, in sorted order.

    Raises:
        ImportError: If Ray Data is not installed (``pip install "facexpr[ray]"``).
        FileNotFoundError: If ``folder`` does not exist.
        NotADirectoryError: If it is a file.

    Example:
        >>> import facexpr.ray
        >>> facexpr.ray.read_image_paths("photos/").take(1)  # doctest: +SKIP
        [{'path': 'photos/a.jpg'}]
    """
    data = _import_ray_data()
    paths = list_images(folder, recursive=recursive)
    return data.from_items([{column: os.fspath(p)} for p in paths])


def _import_ray_data() -> Any:
    try:
        import ray.data
    except ImportError as err:
        raise ImportError(
            f"facexpr.ray needs Ray Data, which is not installed ({err}). Install it with "
            "`pip install \"facexpr[ray]\"` (or `pip install \"ray[data]\"`)."
        ) from None
    return ray.data


class _LazyDetector:
    """A built-in detector made on first use, then kept: crops never need one, photos reuse it."""

    def __init__(self, spec: DetectorLike) -> None:
        self._spec = spec
        self._detector: Callable[..., Any] | None = None

    def _get(self) -> Callable[..., Any]:
        if self._detector is None:
            self._detector = get_detector(self._spec)
        return self._detector

    def __call__(self, image: Any) -> Any:
        return self._get()(image)

    def __getattr__(self, name: str) -> Any:  # crop_spec, name: the real detector's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._get(), name)


class Predictor:
    """A callable class for ``ray.data.Dataset.map_batches``: image paths in, one row per face out.

    Ray makes one instance per worker, so the model is loaded once per worker, not per batch.
    Each call takes a batch (``batch_format="numpy"``, Ray's default) with a column of image
    paths, and optionally a column of the images' encoded bytes (as
    ``ray.data.read_binary_files(..., include_paths=True)`` gives: ``path`` and ``bytes``), and
    returns a ``pyarrow.Table`` with the columns of ``facexpr predict DIR --csv`` (see
    :attr:`columns`): ``image, face, x, y, width, height, score, detector, label, confidence`` and one
    ``p_<label>`` per class. The values are those of :func:`facexpr.predict_folder` on the same
    images, typed (integers and float64, not text) and at full precision. An image without a
    face gives one row whose other fields are null; an unreadable image gives no row
    (``on_error``).

    Args:
        model: A model name, folder or Hub repo (loaded by :func:`facexpr.load` in each worker:
            the folder or the Hub cache must be reachable from every node), or a loaded model
            (sent to each worker).
        path_column: Column of the batch with the image paths; they fill the ``image`` column.
        bytes_column: Column with the encoded images, used instead of reading the paths when
            the batch has it.
        detect: ``None`` (photos are the images over 160 pixels a side), ``True`` or ``False``
            (see :func:`facexpr.predict`).
        detector: Face detector (see :func:`facexpr.predict`), made once per worker on first use.
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views.
        classes: Answer in these classes only, renormalised (the ``p_`` columns follow them).
        device: Device for a model loaded by name (default: the best one the worker has; ask
            Ray for GPUs with ``map_batches(..., num_gpus=1)``).
        precision: How a PyTorch model predicts on a CPU: ``"auto"`` (int8 where the worker's
            CPU qualifies), ``"int8"`` or ``"fp32"``; default: ``"auto"`` for a model loaded
            by name, the model's own ``precision`` for a loaded one (see
            :meth:`FaceModel.inference_model <facexpr.models.FaceModel.inference_model>`).
        on_error: What to do with an unreadable image: ``"warn"`` (skip it with a warning),
            ``"skip"`` (silently) or ``"raise"`` (fail the batch, and so the job).

    Raises:
        ValueError: If ``on_error`` is not one of the three.

    Example:
        >>> import facexpr
        >>> from facexpr.ray import Predictor
        >>> predictor = Predictor(facexpr.load("simple", pretrained=False), detect=False)
        >>> predictor.columns[:10]
        ['image', 'face', 'x', 'y', 'width', 'height', 'score', 'detector', 'label', 'confidence']
        >>> predictor.columns[10:]
        ['p_angry', 'p_disgust', 'p_fear', 'p_happy', 'p_sad', 'p_surprise', 'p_neutral']
        >>> import ray  # doctest: +SKIP
        >>> table = ray.data.from_items([{"path": "face.jpg"}]).map_batches(
        ...     Predictor, fn_constructor_kwargs={"model": "better"},
        ...     compute=ray.data.ActorPoolStrategy(size=2))  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
        *,
        path_column: str = "path",
        bytes_column: str = "bytes",
        detect: bool | None = None,
        detector: DetectorLike = "auto",
        batch_size: int = 256,
        tta: bool = False,
        classes: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        precision: str | None = None,
        on_error: OnError = "warn",
    ) -> None:
        if on_error not in ("warn", "skip", "raise"):
            raise ValueError(f"on_error must be 'warn', 'skip' or 'raise', got {on_error!r}.")
        from .models import FaceModel, check_precision

        if precision is not None:
            check_precision(precision)
        if isinstance(model, (str, os.PathLike)):
            from .models import load

            model = load(model, device=device, precision=precision or "auto")
        elif precision is not None and isinstance(model, FaceModel) and model.precision != precision:
            model = copy.copy(model)  # the same weights, its own precision: the caller's model is left as it is
            model.precision = precision
        self.model = model
        self.path_column = path_column
        self.bytes_column = bytes_column
        self.detect = detect
        self.detector = detector if not isinstance(detector, str) else _LazyDetector(detector)
        self.batch_size = batch_size
        self.tta = tta
        self.classes = tuple(classes) if classes is not None else None
        self.on_error = on_error
        if self.classes is not None:  # refuse unknown names now, not in the first batch
            import torch

            from .inference import select_classes

            select_classes(torch.empty(0, model.num_classes), model.labels, self.classes)

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes of the ``p_`` columns, in order: ``classes``, else the model's.

        Example:
            >>> import facexpr
            >>> Predictor(facexpr.load("simple", pretrained=False), classes=["sad", "happy"]).labels
            ('sad', 'happy')
        """
        return self.classes if self.classes is not None else tuple(self.model.labels)

    @property
    def columns(self) -> list[str]:
        """The output's column names: those of ``facexpr predict DIR --csv``.

        Example:
            >>> import facexpr
            >>> Predictor(facexpr.load("simple", pretrained=False), classes=["happy"]).columns[-3:]
            ['label', 'confidence', 'p_happy']
        """
        return csv_header(self.labels)

    def __call__(self, batch: Mapping[str, Any]) -> pyarrow.Table:
        """One batch of Ray Data (a mapping of columns) -> a ``pyarrow.Table`` of face rows."""
        if self.path_column not in batch:
            raise KeyError(
                f"The batch has no column {self.path_column!r} (its columns: {', '.join(map(repr, batch))}); "
                "pass path_column= to name the column of image paths."
            )
        names = [_text(p) for p in batch[self.path_column]]
        if self.bytes_column in batch:
            items: list[Any | None] = [self._open(data, name) for data, name in zip(batch[self.bytes_column], names)]
        else:
            items = list(names)
        good = [i for i, item in enumerate(items) if item is not None]
        faces = self._predict([items[i] for i in good], [names[i] for i in good])
        return self._table([(names[i], f) for i, f in zip(good, faces) if f is not None])

    def _predict(self, items: list[Any], names: list[str]) -> list[list[Prediction] | None]:
        """Faces of each item; ``None`` for an unreadable one (after ``on_error``)."""
        if not items:
            return []
        kwargs = dict(model=self.model, detect=self.detect, detector=self.detector, batch_size=self.batch_size,
                      tta=self.tta, classes=self.classes)
        try:
            return list(predict(items, **kwargs))  # type: ignore[arg-type]
        except InvalidImageError:
            pass
        # A bad image in the batch (rare): find it one image at a time, then classify the good
        # ones together again, so that their faces share a forward pass as in predict_folder.
        good = []
        for i, (item, name) in enumerate(zip(items, names)):
            try:
                predict([item], **kwargs)  # type: ignore[arg-type]
            except InvalidImageError as err:
                if self.on_error == "raise":
                    raise type(err)(f"Image '{name}': {err}") from None
                self._skip(name, err)
            else:
                good.append(i)
        out: list[list[Prediction] | None] = [None] * len(items)
        if good:
            for i, faces in zip(good, predict([items[i] for i in good], **kwargs)):  # type: ignore[arg-type]
                out[i] = faces  # type: ignore[assignment]
        return out

    def _open(self, data: Any, name: str) -> Any | None:
        """Encoded bytes -> a PIL image (decoded by facexpr later), or ``None`` if unreadable."""
        from PIL import Image, UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(bytes(data)))
                image.load()
            return image
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            error = InvalidImageError(f"Image '{name}' is too large to decode safely ({err}).")
        except UnidentifiedImageError:
            error = InvalidImageError(f"'{name}' is not an image file Pillow can read (JPEG, PNG, BMP, ...).")
        except (OSError, SyntaxError, ValueError) as err:
            error = InvalidImageError(f"Image '{name}' is truncated or corrupt: {err}.")
        if self.on_error == "raise":
            raise error
        self._skip(name, error)
        return None

    def _skip(self, name: str, err: Exception) -> None:
        if self.on_error == "warn":
            warnings.warn(f"Skipping unreadable image '{name}': {err}", stacklevel=3)

    def _table(self, results: list[tuple[str, list[Prediction]]]) -> pyarrow.Table:
        import pyarrow as pa

        labels = self.labels
        ints = ("face", "x", "y", "width", "height")
        columns: dict[str, list[Any]] = {name: [] for name in self.columns}
        for name, faces in results:
            for i, face in enumerate(faces or [None]):  # type: ignore[list-item]
                columns["image"].append(name)
                box = face.box if face is not None and face.box is not None else (None,) * 4
                for key, value in zip(ints, (i if face is not None else None, *box)):
                    columns[key].append(value)
                columns["score"].append(face.score if face is not None else None)
                columns["detector"].append(face.detector if face is not None else None)
                columns["label"].append(face.label if face is not None else None)
                columns["confidence"].append(face.confidence if face is not None else None)
                for label in labels:
                    columns[f"p_{label}"].append(face.probabilities.get(label) if face is not None else None)
        types = {"image": pa.string(), "detector": pa.string(), "label": pa.string(),
                 **{key: pa.int32() for key in ints}}
        schema = pa.schema([(name, types.get(name, pa.float64())) for name in self.columns])
        return pa.table(columns, schema=schema)


def _text(value: Any) -> str:
    """A path from a batch (str, bytes or a numpy scalar) as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)
