"""Face crops in, predictions out: the model's side of every prediction.

:func:`predict_faces` and :func:`predict_proba` treat every input as one face crop
(grayscale, resized to the model's input). Inputs are converted with the model's own
:meth:`~facexpr.models.FaceModel.transforms`, batched, and run in ``torch.inference_mode`` in
eval mode on the model's device. This is what :meth:`FaceModel.predict
<facexpr.FaceModel.predict>` runs; :func:`facexpr.predict`, which also finds the faces of
photos, lives in :mod:`facexpr.photos` and ends here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
from PIL import Image

from .errors import InvalidImageError
from ._device import to_memory_format
from .results import Prediction
from .transforms import FaceTransform, ImageInput, describe_input, faces_from_items

if TYPE_CHECKING:
    from .models import FaceClassifier

__all__ = [
    "as_batch", "face_logits", "is_single", "predict_faces", "predict_proba", "prediction_from_row", "read_ahead",
    "select_classes",
]

_T = TypeVar("_T")


def is_single(x: object) -> bool:
    """Whether ``x`` is one image (a path, PIL image, array, or a 2-D/3-D tensor), not a list or batch.

    Example:
        >>> import numpy as np
        >>> is_single(np.zeros((48, 48), np.uint8)), is_single([np.zeros((48, 48), np.uint8)])
        (True, False)
    """
    if isinstance(x, torch.Tensor):
        return x.ndim in (2, 3)
    return isinstance(x, (str, os.PathLike, Image.Image, np.ndarray))


def as_batch(x: object) -> Sequence[ImageInput] | torch.Tensor:
    """One image, a list of images or a batch tensor -> a sequence of images (or the batch tensor).

    Raises:
        InvalidImageError: An empty list, a tensor of another shape, or another type.

    Example:
        >>> len(as_batch("face.png")), len(as_batch(["a.png", "b.png"]))
        (1, 2)
    """
    if is_single(x):
        return [x]  # type: ignore[list-item]
    if isinstance(x, torch.Tensor):
        if x.ndim != 4:
            raise InvalidImageError(
                f"{describe_input(x)}: expected a tensor of shape HxW, CxHxW or a batch NxCxHxW, C in (1, 3, 4)."
            )
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


def select_classes(
    probs: torch.Tensor, labels: Sequence[str], classes: Sequence[str] | None
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Keep the columns of ``classes`` (in that order) and renormalise each row to sum to 1.

    This is how an 8-class FER+ model answers in FER2013's seven classes
    (``classes=FER2013_LABELS``): the probability of a class given that the face shows one of
    ``classes``.

    Args:
        probs: Probabilities ``N x len(labels)``.
        labels: The class name of each column.
        classes: Class names to keep, or ``None`` for all of ``labels`` as they are.

    Returns:
        ``(probabilities N x len(classes), classes)``.

    Raises:
        ValueError: If ``classes`` is empty, repeats a name or names a class not in ``labels``.

    Example:
        >>> probs, kept = select_classes(torch.tensor([[0.2, 0.6, 0.2]]), ["a", "b", "c"], ["c", "a"])
        >>> probs.tolist(), kept
        ([[0.5, 0.5]], ('c', 'a'))
    """
    labels = tuple(labels)
    if classes is None:
        return probs, labels
    if isinstance(classes, str):
        raise ValueError(f"classes must be a list of class names, got the string {classes!r}.")
    kept = tuple(classes)
    unknown = [name for name in kept if name not in labels]
    if not kept or unknown or len(set(kept)) != len(kept):
        raise ValueError(
            f"classes must be distinct names among the model's labels ({', '.join(labels)}); got {list(kept)}."
        )
    chosen = probs[:, [labels.index(name) for name in kept]]
    return chosen / chosen.sum(dim=1, keepdim=True).clamp_min(torch.finfo(chosen.dtype).tiny), kept


@torch.inference_mode()
def predict_proba(
    model: FaceClassifier,
    x: ImageInput | Sequence[ImageInput],
    *,
    batch_size: int = 256,
    tta: bool = False,
    classes: Sequence[str] | None = None,
    precision: str | None = None,
) -> torch.Tensor:
    """Return class probabilities ``N x num_classes`` (CPU, float32) for face crops.

    ``model`` is a :class:`~facexpr.models.FaceModel` or any
    :class:`~facexpr.models.FaceClassifier` (an :class:`~facexpr.models.ORTFaceModel`). A
    ``FaceModel`` on a CPU runs through its int8 twin where the CPU qualifies
    (:meth:`~facexpr.models.FaceModel.inference_model`); ``precision`` (``"auto"``,
    ``"int8"``, ``"fp32"``; default: the model's ``precision``) chooses for this call.

    Logits are divided by the model's calibrated ``config.temperature`` before the softmax.
    With ``tta=True`` the probabilities are averaged over each face's test-time views: the
    face, its mirror image, and a central zoom of both
    (:meth:`~facexpr.transforms.FaceTransform.tta_views`). It costs four forward passes.
    With ``classes``, only those classes are kept, in that order, and renormalised (see
    :func:`select_classes`): ``classes=FER2013_LABELS`` reads an 8-class FER+ model in
    FER2013's seven classes.

    Raises:
        InvalidImageError: If an input cannot be read; in a list, the message names its index.
        ValueError: If ``classes`` names a class the model does not have.

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
        >>> predict_proba(model, EXAMPLE_FACE, classes=["happy", "sad"]).sum().item()
        1.0
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if classes is not None:
        select_classes(torch.empty(0, model.num_classes), model.labels, classes)  # refuse bad names first
    runner = model.inference_model(precision)  # the model itself, or its int8 twin
    transform = model.transforms()
    batch = as_batch(x)
    if isinstance(batch, torch.Tensor) or len(batch) <= batch_size:
        chunks: Iterable[torch.Tensor] = [transform.to_uint8_batch(batch)]
    else:  # decode each batch of images while the model runs on the previous one
        chunks = read_ahead(partial(faces_from_items, batch[start : start + batch_size], transform.size, start=start)
                             for start in range(0, len(batch), batch_size))
    logits = torch.cat([face_logits(runner, faces, batch_size=batch_size, tta=tta, transform=transform)
                        for faces in chunks], dim=1)
    probs = (logits / model.config.temperature).softmax(2).mean(0)
    return select_classes(probs, model.labels, classes)[0]


def read_ahead(tasks: Iterable[Callable[[], _T]]) -> Iterator[_T]:
    """Yield the results of ``tasks`` in order, each computed in a background thread while the
    caller works on the previous result.

    This is how decoding images overlaps the model's forward pass: PIL and numpy release the
    GIL while they decode and convert, and torch while it computes. The thread (one, named
    ``facexpr-read``) starts on the first ``next()`` and is shut down when the tasks run out,
    when a task raises (its error is raised here, in order), or when the iterator is closed.

    Example:
        >>> list(read_ahead(lambda i=i: i * i for i in range(4)))
        [0, 1, 4, 9]
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facexpr-read")
    try:
        ahead: Future[_T] | None = None
        for task in tasks:
            future = pool.submit(task)
            if ahead is not None:
                yield ahead.result()
            ahead = future
        if ahead is not None:
            yield ahead.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@torch.inference_mode()
def face_logits(
    model: FaceClassifier,
    faces: torch.Tensor,
    *,
    batch_size: int = 256,
    tta: bool = False,
    transform: FaceTransform | None = None,
    forward: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Return the logits ``V x N x C`` (CPU, float32) of ``uint8`` faces ``N x 1 x size x size``.

    The one place where facexpr turns prepared faces into logits: prediction
    (:func:`predict_proba`), release (:func:`facexpr.release.split_logits`,
    :func:`facexpr.release.evaluate_split`) and the trainer's evaluation
    (:meth:`facexpr.training.Trainer.evaluate`) all call it. Each batch is normalised with the
    model's preprocessing, cut to the model's own view (its ``crop_pct``) and put in the
    model's memory format. ``V`` is 1 (the model's own view) or, with ``tta=True``, the
    test-time views of :meth:`~facexpr.transforms.FaceTransform.tta_views`. The model runs in
    eval mode on its own device; its training mode is restored afterwards.

    Args:
        model: The model (a :class:`~facexpr.FaceModel` or any module mapping normalised
            batches to logits).
        faces: ``uint8`` faces at the model's input size.
        batch_size: Faces per forward pass.
        tta: Score every test-time view instead of the model's own view only.
        transform: The preprocessing (default: ``model.transforms()``).
        forward: Called as ``forward(inputs, start)`` on each prepared batch instead of
            ``model(inputs)``, where ``start`` is the index of the batch's first face; it
            returns the batch's logits (the trainer computes its loss there too).

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better")
        >>> faces = model.transforms().to_uint8_batch([EXAMPLE_FACE])
        >>> face_logits(model, faces).shape, face_logits(model, faces, tta=True).shape
        (torch.Size([1, 1, 7]), torch.Size([4, 1, 7]))
    """
    transform = model.transforms() if transform is None else transform
    run = forward if forward is not None else (lambda inputs, start: model(inputs))
    module = model if isinstance(model, torch.nn.Module) else None
    device = _device_of(module) if module is not None else torch.device("cpu")
    layout = (lambda t: to_memory_format(module, t)) if module is not None else (lambda t: t)
    was_training = module is not None and module.training
    if module is not None:
        module.eval()
    chunks = []
    try:
        for start in range(0, max(faces.shape[0], 1), batch_size):  # one (empty) batch for no faces
            inputs = layout(transform.normalize(faces[start : start + batch_size].to(device)))
            views = transform.tta_views(inputs) if tta else [transform.center_crop(inputs)]
            chunks.append(torch.stack([run(layout(view), start).float().cpu() for view in views]))
    finally:
        if module is not None:
            module.train(was_training)
    return torch.cat(chunks, dim=1)


def prediction_from_row(labels: Sequence[str], row: Sequence[float], **fields: object) -> Prediction:
    """One row of probabilities -> a :class:`~facexpr.Prediction` (``fields``: box, score, ...).

    Example:
        >>> prediction_from_row(["sad", "happy"], [0.2, 0.8], score=0.9).label
        'happy'
    """
    index = int(np.argmax(row))
    return Prediction(labels[index], index, dict(zip(labels, row)), **fields)  # type: ignore[arg-type]


def _sources(x: object, n: int) -> list[str | None]:
    items = [x] if is_single(x) else (list(x) if isinstance(x, (list, tuple)) else [None] * n)
    return [os.fspath(i) if isinstance(i, (str, os.PathLike)) else None for i in items]


def predict_faces(
    model: FaceClassifier, x: ImageInput | Sequence[ImageInput], *, batch_size: int = 256, tta: bool = False,
    classes: Sequence[str] | None = None, precision: str | None = None,
) -> Prediction | list[Prediction]:
    """Classify face crops with ``model``; one :class:`~facexpr.Prediction` per face.

    This is :meth:`FaceModel.predict <facexpr.FaceModel.predict>`. The predictions have no
    ``box``; :func:`facexpr.predict` gives each face crop the whole image as its box.
    ``precision`` as in :func:`predict_proba`.

    Returns:
        A single :class:`~facexpr.Prediction` for a single image, else a list in input order.

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
    probs = predict_proba(model, x, batch_size=batch_size, tta=tta, classes=classes, precision=precision)
    labels = tuple(classes) if classes is not None else model.labels
    sources = _sources(x, probs.shape[0])
    results = [prediction_from_row(labels, row, source=source) for row, source in zip(probs.tolist(), sources)]
    return results[0] if is_single(x) else results
