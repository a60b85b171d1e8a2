"""The metadata stored with every set of weights: ``config.json`` and ``metrics.json``.

``config.json`` holds what loading and preprocessing need (architecture, labels, input size,
channels, mean/std, crop_pct, temperature, and the weights' sha256); ``metrics.json`` holds
what the weights achieved and how they were made (metrics by split, training recipe). Folders
written before the split, with metrics and recipe inside ``config.json``, still load.

Every value is checked when a config is built or read, before anything is allocated from it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from numbers import Real
from pathlib import Path
from typing import Any

from ..errors import InvalidConfigError
from ..labels import FER2013_LABELS

__all__ = ["ModelConfig", "CONFIG_NAME", "WEIGHTS_NAME", "METRICS_NAME"]

CONFIG_NAME = "config.json"
"""File name of the metadata in a saved model folder."""

WEIGHTS_NAME = "model.safetensors"
"""File name of the weights in a saved model folder."""

METRICS_NAME = "metrics.json"
"""File name of the metrics and training recipe in a saved model folder."""

INPUT_SIZE_RANGE = (8, 512)
"""Allowed ``input_size`` in pixels. 8 is the smallest side three 2x poolings (the shipped
CNNs) leave a pixel of; 512 covers every common face-model input (48 for FER2013, 112 and 224
for AffectNet-style backbones, 384 for ViTs) while a batch of 256 grayscale 512x512 faces stays
at 256 MiB, so a config cannot make ``predict`` allocate gigabytes for a few faces."""

IN_CHANS_CHOICES = (1, 3)
"""Allowed ``in_chans``: grayscale or RGB."""

CROP_PCT_RANGE = (0.5, 1.0)
"""Allowed ``crop_pct``: at most half of a face's side may be cut."""

MEAN_RANGE = (-10.0, 10.0)
"""Allowed ``mean`` values. Pixels are scaled to [0, 1] first, so useful means lie in [0, 1]."""

STD_RANGE = (1e-3, 1e3)
"""Allowed ``std`` values: normalised inputs stay finite in float32 (a tiny or denormal std
would turn every pixel into infinity, and every probability into NaN)."""

TEMPERATURE_RANGE = (1e-3, 1e6)
"""Allowed ``temperature``: below 1e-3 float32 logits can overflow to infinity before the
softmax; an untrained model can fit temperatures in the thousands, hence the high bound."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def default_labels(num_classes: int) -> tuple[str, ...]:
    """Return FER2013's labels for 7 classes, else ``class_0 ... class_{n-1}``."""
    if num_classes == len(FER2013_LABELS):
        return FER2013_LABELS
    return tuple(f"class_{i}" for i in range(num_classes))


def config_error(name: str, allowed: str, value: Any, source: str | None = None) -> InvalidConfigError:
    """The error for field ``name``; ``source`` names the file it was read from."""
    where = f"Model config '{source}': field {name!r}" if source else f"ModelConfig.{name}"
    err = InvalidConfigError(f"{where} must be {allowed}, got {value!r}.")
    err.field, err.allowed, err.value = name, allowed, value  # type: ignore[attr-defined]
    return err


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_labels(value: Any, name: str = "labels") -> tuple[str, ...]:
    """Return ``value`` as a tuple of class names, or raise :class:`~facexpr.errors.InvalidConfigError`.

    Allowed: a non-empty list or tuple of unique, non-empty strings (a single string is refused:
    ``"abc"`` is not three classes).

    Example:
        >>> check_labels(["neg", "pos"])
        ('neg', 'pos')
    """
    allowed = "a non-empty list of unique, non-empty strings"
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise config_error(name, allowed, value)
    value = tuple(value)
    if not value:
        raise config_error(name, allowed, list(value))
    if not all(isinstance(label, str) and label.strip() for label in value):
        raise config_error(name, allowed, list(value))
    if len(set(value)) != len(value):
        raise config_error(name, allowed + " (no duplicates)", list(value))
    return tuple(str(label) for label in value)


def _check_int(name: str, value: Any, low: int, high: int, unit: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise config_error(name, f"an int from {low} to {high} ({unit})", value)
    return value


def _check_number(name: str, value: Any, allowed: str, ok: Any) -> float:
    if not _is_number(value) or not math.isfinite(float(value)) or not ok(float(value)):
        raise config_error(name, allowed, value)
    return float(value)


def _check_channel_values(name: str, value: Any, in_chans: int, low: float, high: float) -> tuple[float, ...]:
    allowed = f"a list of 1 or in_chans ({in_chans}) numbers from {low:g} to {high:g}"
    if not isinstance(value, (list, tuple)) or len(value) not in (1, in_chans):
        raise config_error(name, allowed, value)
    for item in value:
        if not _is_number(item) or not math.isfinite(float(item)) or not low <= float(item) <= high:
            raise config_error(name, allowed, list(value))
    return tuple(float(item) for item in value)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model and feed it correctly.

    Attributes:
        architecture: Registered architecture name, e.g. ``"better"``.
        labels: Class names, indexed by the model's output position.
        input_size: Side of the square grayscale input, in pixels.
        in_chans: Number of input channels (1: grayscale).
        mean: Per-channel mean subtracted after scaling pixels to [0, 1].
        std: Per-channel standard deviation divided by after subtracting ``mean``.
        crop_pct: Share of the face's side that the model sees: ``predict`` cuts equal margins
            and resizes the central ``crop_pct`` back to ``input_size`` (timm's ``crop_pct``).
            Chosen on the validation split by ``facexpr release``; 1.0 = the whole face.
        temperature: Logits are divided by this before the softmax in ``predict``
            (1.0 = uncalibrated).
        metrics: Measured metrics by split, e.g. ``{"test": {"accuracy": 0.66}}`` (saved in
            ``metrics.json``).
        recipe: How the weights were trained (free-form, JSON-serialisable; saved in
            ``metrics.json``).
        sha256: sha256 of ``model.safetensors`` when saved; checked on load.
        facexpr_version: Library version that wrote the folder.

    Raises:
        InvalidConfigError: A value of the wrong type or out of range: labels must be unique,
            non-empty strings; input_size an int from 8 to 512; in_chans 1 or 3; mean and std
            1 or in_chans numbers, mean from -10 to 10 and std from 0.001 to 1000; crop_pct from
            0.5 to 1; temperature from 0.001 to 1e6. The message names the field, the value and
            what is allowed.

    Example:
        >>> import facexpr
        >>> from facexpr.models import ModelConfig
        >>> config = ModelConfig("better", labels=("negative", "neutral", "positive"))
        >>> config.num_classes, config.input_size, config.mean
        (3, 48, (0.5,))
        >>> facexpr.load("simple", pretrained=False).config.labels
        ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
    """

    architecture: str
    labels: tuple[str, ...] = FER2013_LABELS
    input_size: int = 48
    in_chans: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    crop_pct: float = 1.0
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] | None = None
    sha256: str | None = None
    facexpr_version: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.architecture, str):
            raise config_error("architecture", "a registered model name (a string)", self.architecture)
        self.labels = check_labels(self.labels)
        self.input_size = _check_int("input_size", self.input_size, *INPUT_SIZE_RANGE, "pixels")
        if self.in_chans not in IN_CHANS_CHOICES or isinstance(self.in_chans, bool):
            raise config_error("in_chans", f"one of {', '.join(map(str, IN_CHANS_CHOICES))}", self.in_chans)
        self.mean = _check_channel_values("mean", self.mean, self.in_chans, *MEAN_RANGE)
        self.std = _check_channel_values("std", self.std, self.in_chans, *STD_RANGE)
        low, high = CROP_PCT_RANGE
        self.crop_pct = _check_number(
            "crop_pct", self.crop_pct, f"between {low} and {high}", lambda v: low <= v <= high
        )
        low, high = TEMPERATURE_RANGE
        self.temperature = _check_number(
            "temperature", self.temperature, f"a number from {low:g} to {high:g}", lambda v: low <= v <= high
        )
        if not isinstance(self.metrics, dict):
            raise config_error("metrics", "a dict of metrics by split", self.metrics)
        if self.recipe is not None and not isinstance(self.recipe, dict):
            raise config_error("recipe", "a dict or null", self.recipe)
        if self.sha256 is not None and not (isinstance(self.sha256, str) and _SHA256.match(self.sha256)):
            raise config_error("sha256", "64 lowercase hex digits or null", self.sha256)
        if self.facexpr_version is not None and not isinstance(self.facexpr_version, str):
            raise config_error("facexpr_version", "a string or null", self.facexpr_version)

    @property
    def num_classes(self) -> int:
        """Number of output classes (``len(labels)``).

        Example:
            >>> ModelConfig("simple", labels=("no", "yes")).num_classes
            2
        """
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        """Return what ``config.json`` holds: loading and preprocessing fields, ``num_classes``.

        Metrics and recipe are left out; see :meth:`metrics_dict`.

        Example:
            >>> ModelConfig("better", labels=("no", "yes")).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'architecture': 'better', 'labels': ['no', 'yes'], 'input_size': 48, 'in_chans': 1,
             'mean': [0.5], 'std': [0.5], 'crop_pct': 1.0, 'temperature': 1.0, 'sha256': None,
             'facexpr_version': None, 'num_classes': 2}
        """
        return {
            "architecture": self.architecture,
            "labels": list(self.labels),
            "input_size": self.input_size,
            "in_chans": self.in_chans,
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_pct": self.crop_pct,
            "temperature": self.temperature,
            "sha256": self.sha256,
            "facexpr_version": self.facexpr_version,
            "num_classes": self.num_classes,
        }

    def metrics_dict(self) -> dict[str, Any]:
        """Return what ``metrics.json`` holds: the metrics by split and the training recipe.

        Example:
            >>> ModelConfig("better", metrics={"test": {"accuracy": 0.66}}).metrics_dict()
            {'metrics': {'test': {'accuracy': 0.66}}, 'recipe': None}
        """
        return {"metrics": self.metrics, "recipe": self.recipe}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | Path | None = None) -> ModelConfig:
        """Build a config from a dict such as one read from ``config.json``.

        Unknown keys are ignored so that folders written by newer versions still load, and
        ``metrics``/``recipe`` are read when present (folders written before ``metrics.json``).

        Args:
            data: The keys of ``config.json`` (and optionally of ``metrics.json``).
            source: The file ``data`` was read from, named in error messages.

        Raises:
            InvalidConfigError: A field is missing, of the wrong type or out of range, the
                architecture is not registered, or ``num_classes`` disagrees with ``labels``.
                The message names the file, the field, the value and what is allowed.

        Example:
            >>> config = ModelConfig.from_dict({"architecture": "simple", "num_classes": 7, "newer_key": 1})
            >>> config.labels
            ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
            >>> ModelConfig.from_dict({**config.to_dict(), **config.metrics_dict()}) == config
            True
            >>> ModelConfig.from_dict({"architecture": "simple", "input_size": "48px"}, source="config.json")
            Traceback (most recent call last):
                ...
            facexpr.errors.InvalidConfigError: Model config 'config.json': field 'input_size' must be an int from 8 to 512 (pixels), got '48px'.
        """
        from ._registry import list_models

        where = str(source) if source is not None else None
        if not isinstance(data, dict):
            raise InvalidConfigError(
                f"Model config{f' {where!r}' if where else ''} must be a JSON object, got {type(data).__name__}."
            )
        if "architecture" not in data:
            raise config_error("architecture", "present", f"no such key; keys are {sorted(data)}", where)
        architecture = data["architecture"]
        if not isinstance(architecture, str) or architecture not in list_models():
            raise config_error("architecture", f"a registered model name ({', '.join(list_models())})", architecture, where)
        declared = data.get("num_classes")
        if declared is not None and (not isinstance(declared, int) or isinstance(declared, bool) or declared < 1):
            raise config_error("num_classes", "a positive int", declared, where)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "labels" not in kwargs and declared is not None:
            kwargs["labels"] = default_labels(declared)
        try:
            config = cls(**kwargs)
        except InvalidConfigError as err:
            if where is None:
                raise
            raise config_error(err.field, err.allowed, err.value, where) from None  # type: ignore[attr-defined]
        if declared is not None and declared != config.num_classes:
            raise config_error("num_classes", f"the number of labels ({config.num_classes})", declared, where)
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        """Read a ``config.json`` file, and the ``metrics.json`` beside it when there is one.

        Raises:
            InvalidConfigError: If a file is not valid JSON or a field is invalid (see
                :meth:`from_dict`).

        Example:
            >>> import tempfile, facexpr
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     folder = facexpr.load("better", pretrained=False).save_pretrained(tmp)
            ...     config = ModelConfig.from_file(folder / "config.json")
            >>> config.architecture, config.num_classes
            ('better', 7)
        """
        path = Path(path)
        data = _read_json(path)
        extra = path.with_name(METRICS_NAME)
        if extra.is_file():
            results = _read_json(extra)
            data = {**data, **{k: results[k] for k in ("metrics", "recipe") if k in results}}
        return cls.from_dict(data, source=path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidConfigError(f"Model config '{path}' is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"Model config '{path}' must hold a JSON object, got {type(data).__name__}.")
    return data
