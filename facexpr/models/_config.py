"""The metadata stored with every set of weights (``config.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..labels import FER2013_LABELS

__all__ = ["ModelConfig", "CONFIG_NAME", "WEIGHTS_NAME"]

CONFIG_NAME = "config.json"
"""File name of the metadata in a saved model folder."""

WEIGHTS_NAME = "model.safetensors"
"""File name of the weights in a saved model folder."""


def default_labels(num_classes: int) -> tuple[str, ...]:
    """Return FER2013's labels for 7 classes, else ``class_0 ... class_{n-1}``."""
    if num_classes == len(FER2013_LABELS):
        return FER2013_LABELS
    return tuple(f"class_{i}" for i in range(num_classes))


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
        metrics: Measured metrics by split, e.g. ``{"test": {"accuracy": 0.66}}``.
        recipe: How the weights were trained (free-form, JSON-serialisable).
        sha256: sha256 of ``model.safetensors`` when saved; checked on load.
        facexpr_version: Library version that wrote the folder.

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
        self.labels = tuple(str(label) for label in self.labels)
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        if not self.labels:
            raise ValueError("ModelConfig.labels must name at least one class.")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"ModelConfig.labels must be unique, got {list(self.labels)}.")
        self.crop_pct = float(self.crop_pct)
        if not 0.5 <= self.crop_pct <= 1.0:
            raise ValueError(f"ModelConfig.crop_pct must be between 0.5 and 1.0, got {self.crop_pct}.")
        if self.temperature <= 0:
            raise ValueError(f"ModelConfig.temperature must be > 0, got {self.temperature}.")

    @property
    def num_classes(self) -> int:
        """Number of output classes (``len(labels)``).

        Example:
            >>> ModelConfig("simple", labels=("no", "yes")).num_classes
            2
        """
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-serialisable dict (``num_classes`` included).

        Example:
            >>> ModelConfig("better", labels=("no", "yes")).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'architecture': 'better', 'labels': ['no', 'yes'], 'input_size': 48, 'in_chans': 1,
             'mean': [0.5], 'std': [0.5], 'crop_pct': 1.0, 'temperature': 1.0, 'metrics': {}, 'recipe': None,
             'sha256': None, 'facexpr_version': None, 'num_classes': 2}
        """
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        data["num_classes"] = self.num_classes
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build a config from a dict such as one read from ``config.json``.

        Unknown keys are ignored so that folders written by newer versions still load.

        Raises:
            ValueError: If ``architecture`` is missing or ``num_classes`` disagrees with
                ``labels``.

        Example:
            >>> config = ModelConfig.from_dict({"architecture": "simple", "num_classes": 7, "newer_key": 1})
            >>> config.labels
            ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
            >>> ModelConfig.from_dict(config.to_dict()) == config
            True
        """
        if "architecture" not in data:
            raise ValueError(f"Model config has no 'architecture' key; keys are {sorted(data)}.")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        config = cls(**kwargs)
        declared = data.get("num_classes")
        if declared is not None and int(declared) != config.num_classes:
            raise ValueError(
                f"Model config says num_classes={declared} but lists {config.num_classes} labels."
            )
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        """Read a ``config.json`` file.

        Raises:
            ValueError: If the file is not valid JSON or not a model config.

        Example:
            >>> import tempfile, facexpr
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     folder = facexpr.load("better", pretrained=False).save_pretrained(tmp)
            ...     config = ModelConfig.from_file(folder / "config.json")
            >>> config.architecture, config.num_classes
            ('better', 7)
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}.")
        return cls.from_dict(data)
