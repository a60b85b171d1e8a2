"""facexpr's architectures, their registry and their weights.

Example:
    >>> from facexpr.models import list_models, BetterCNN
    >>> list_models()[:3]
    ['better', 'improved', 'simple']
"""

from __future__ import annotations

from .._device import memory_format_of, to_memory_format
from ._base import FaceModel
from ._builder import load, shipped_weights_dir
from ._config import CONFIG_NAME, METRICS_NAME, WEIGHTS_NAME, ModelConfig
from ._onnx import BACKENDS, ORTFaceModel, onnx_cache_path
from ._registry import DEFAULT_MODEL, ModelEntry, PretrainedWeights, get_model_entry, list_models, register_model, register_weights
from .better import BetterCNN
from .improved import ImprovedCNN
from .simple import SimpleCNN
from .vgg import VGG8BN

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "BetterCNN",
    "CONFIG_NAME",
    "FaceModel",
    "ImprovedCNN",
    "METRICS_NAME",
    "ModelConfig",
    "ModelEntry",
    "ORTFaceModel",
    "PretrainedWeights",
    "SimpleCNN",
    "VGG8BN",
    "WEIGHTS_NAME",
    "get_model_entry",
    "list_models",
    "load",
    "memory_format_of",
    "onnx_cache_path",
    "register_model",
    "register_weights",
    "shipped_weights_dir",
    "to_memory_format",
]
