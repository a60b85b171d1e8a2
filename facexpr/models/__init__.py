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
from ._int8 import (
    INT8_FEATURES, PRECISIONS, calibration_faces, check_precision, cpu_int8_features, int8_graph, int8_supported, quantize_onnx,
    resolve_runner, weights_sha256, write_int8_files,
)
from ._onnx import BACKENDS, ORTFaceModel, onnx_cache_path
from ._protocol import FaceClassifier
from ._registry import DEFAULT_MODEL, ModelEntry, PretrainedWeights, get_model_entry, list_models, register_model, register_weights
from .better import BetterCNN
from .improved import ImprovedCNN
from .simple import SimpleCNN
from .vgg import VGG7BN, VGG8BN

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "BetterCNN",
    "CONFIG_NAME",
    "FaceClassifier",
    "FaceModel",
    "INT8_FEATURES",
    "ImprovedCNN",
    "METRICS_NAME",
    "ModelConfig",
    "ModelEntry",
    "ORTFaceModel",
    "PRECISIONS",
    "PretrainedWeights",
    "SimpleCNN",
    "VGG7BN",
    "VGG8BN",
    "WEIGHTS_NAME",
    "calibration_faces",
    "check_precision",
    "cpu_int8_features",
    "get_model_entry",
    "int8_graph",
    "int8_supported",
    "list_models",
    "load",
    "memory_format_of",
    "onnx_cache_path",
    "quantize_onnx",
    "register_model",
    "register_weights",
    "shipped_weights_dir",
    "resolve_runner",
    "to_memory_format",
    "weights_sha256",
    "write_int8_files",
]
