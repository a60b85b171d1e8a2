"""Building a model: from a registered name, a saved folder or a Hub repo, to a model on a device.

``load`` resolves a name to a folder (the wheel's shipped weights, a local folder, or the HF
cache through :mod:`facexpr._hf`), checks the weights' sha256, builds the architecture, adapts
the classifier and places the model. Talking to the Hub is :mod:`facexpr._hf`'s job; writing
folders and model cards is :mod:`facexpr.models._hub`'s.
"""

from __future__ import annotations

import os
import re
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file

from .. import _hf
from .._device import channels_last_suits, resolve_device
from .._io import sha256_file
from ..errors import ChecksumMismatchError, WeightsNotAvailableError
from ._config import CONFIG_NAME, METRICS_NAME, WEIGHTS_NAME, ModelConfig, check_labels, config_error
from ._int8 import check_precision
from ._onnx import ORTFaceModel, check_backend
from ._registry import get_model_entry, list_models

if TYPE_CHECKING:
    from ._base import FaceModel

__all__ = ["load", "shipped_weights_dir"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def shipped_weights_dir(name: str) -> Path:
    """Folder inside the installed package where the official ``name`` weights ship.

    Example:
        >>> shipped_weights_dir("better").name
        'better'
    """
    return Path(str(resources.files("facexpr"))) / "weights" / name


def verify_sha256(path: Path, expected: str | None) -> None:
    """Raise :class:`~facexpr.ChecksumMismatchError` if ``path``'s sha256 is not ``expected``."""
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"Refusing to load weights file '{path}': its sha256 is {actual}, expected {expected}. "
            "The file is corrupt or was tampered with; delete it to download it again."
        )


def build(
    config: ModelConfig, weights: Path | None = None, pin: str | None = None, *, source: str | Path | None = None
) -> FaceModel:
    """Build ``config.architecture`` with ``config``, then load ``weights`` after checking their hash.

    Args:
        config: A validated config.
        weights: A safetensors file, or ``None`` for fresh weights.
        pin: The sha256 the weights must have (default: ``config.sha256``).
        source: The file ``config`` was read from, named in error messages.

    Raises:
        InvalidConfigError: If the config's input shape is not the one the architecture takes.
    """
    entry = get_model_entry(config.architecture)
    model = entry.cls(labels=config.labels)
    for name in ("input_size", "in_chans"):  # the layers are built for one input shape
        built_for = getattr(model.config, name)
        if getattr(config, name) != built_for:
            raise config_error(name, f"{built_for} for architecture {config.architecture!r}", getattr(config, name),
                               str(source) if source is not None else None)
    model.config = config
    if weights is not None:
        verify_sha256(weights, pin or config.sha256)
        try:
            state = load_file(weights)
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(
                f"'{weights}' is not a valid safetensors file ({err}); facexpr never loads pickled "
                "checkpoints."
            ) from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(
                f"Weights file '{weights}' does not fit architecture '{config.architecture}': {err}"
            ) from None
    return model


def load_folder(folder: Path, pin: str | None = None) -> FaceModel:
    """Load a ``save_pretrained`` folder: its config is validated before anything is built."""
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise FileNotFoundError(
                f"Model folder '{folder}' has no {needed.name}; expected {CONFIG_NAME} and "
                f"{WEIGHTS_NAME} as written by save_pretrained()."
            )
    return build(ModelConfig.from_file(config_path), weights_path, pin, source=config_path)


def _download(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None, token: str | None) -> Path:
    """Fetch config.json (+ metrics.json when there is one) and the weights; return the folder."""
    paths = _hf.fetch(repo_id, (CONFIG_NAME, WEIGHTS_NAME), what="Hub model", revision=revision,
                      cache_dir=cache_dir, token=token, optional=(METRICS_NAME,))
    return paths[1].parent


def _adapt_head(model: FaceModel, num_classes: int | None, labels: list[str] | tuple[str, ...] | None) -> None:
    if num_classes is not None and (
        num_classes != model.num_classes or (labels is not None and tuple(labels) != model.labels)
    ):
        model.reset_classifier(num_classes, labels)


def _place(model: FaceModel, device: str | torch.device | None) -> FaceModel:
    target = resolve_device(device)
    model = model.to(target).eval()
    if channels_last_suits(model, target):
        model = model.to(memory_format=torch.channels_last)  # faster convolutions
    return model


def load(
    name_or_path: str | os.PathLike,
    *,
    pretrained: bool = True,
    num_classes: int | None = None,
    labels: list[str] | tuple[str, ...] | None = None,
    device: str | torch.device | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
    backend: str = "torch",
    precision: str = "auto",
) -> FaceModel | ORTFaceModel:
    """Load a model by official name, from a saved folder, or from a Hugging Face Hub repo.

    Official names (see :func:`facexpr.list_models`) read the weights shipped inside the
    package after checking their pinned sha256, with no network access. An official name wins
    over a folder of the same name in the working directory (a warning says so; pass
    ``"./better"`` for the folder). Other weights come from the Hub through the standard HF
    cache (``HF_HOME``, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` are honoured); when the Hub does
    not answer and nothing is cached, a :class:`~facexpr.WeightsNotAvailableError` is raised
    within about two seconds (``$FACEXPR_HUB_TIMEOUT``, 1.5 s by default, is a wall-clock limit).

    Every value of a folder's ``config.json`` is checked before the model is built (see
    :class:`~facexpr.ModelConfig`).

    The model is returned in ``eval()`` mode on ``device``, its convolution weights stored
    channels-last on CPU and CUDA (faster; the numbers are the same up to float rounding).

    It is always the trainable float32 network. On a CPU, its predictions run in int8 where
    the CPU has an integer dot-product instruction (x86-64 with AVX-512 VNNI, AVX-VNNI or
    AMX-INT8; see :meth:`FaceModel.inference_model <facexpr.models.FaceModel.inference_model>`
    and :func:`~facexpr.models.int8_supported`): ``precision="fp32"`` opts out; GPUs run
    the model as it is.

    With ``backend="onnxruntime"`` (``pip install 'facexpr[onnx]'``) the model is exported to
    ONNX (cached, see :func:`~facexpr.models.onnx_cache_path`) and returned as an
    :class:`~facexpr.models.ORTFaceModel` that runs in ONNX Runtime on the CPU: the same
    labels, transforms, ``predict`` and ``predict_proba``, the same probabilities within 1e-4,
    faster on CPU, and no training.

    Args:
        name_or_path: ``"simple"``, ``"improved"``, ``"better"`` (or another registered
            name), a folder written by ``save_pretrained``, or a Hub repo id ``"user/repo"``.
        pretrained: Load trained weights; ``False`` builds a freshly initialised model
            (registered names only).
        num_classes: Replace the classifier with a new one of this many classes (fine-tuning).
        labels: Class names of the new classifier (implies ``num_classes``).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``...; default: the best available.
        revision: Hub revision (branch, tag or commit) to download.
        cache_dir: Hub cache folder (default: the standard HF cache).
        token: Hub token for private repositories.
        backend: ``"torch"`` (default) or ``"onnxruntime"`` (CPU only).
        precision: How predictions run on a CPU: ``"auto"`` (default: int8 where the CPU
            qualifies), ``"int8"`` or ``"fp32"``; stored as the model's ``precision``. With
            ``backend="onnxruntime"``, ``"int8"`` opens the int8 graph and ``"auto"`` and
            ``"fp32"`` the float one.

    Returns:
        The model, in eval mode.

    Raises:
        ValueError: Unknown name (the message lists the available ones), or arguments that
            contradict each other.
        InvalidConfigError: A folder's ``config.json`` holds a bad value (the message names
            the file, the field and the allowed values).
        WeightsNotAvailableError: The weights are not shipped, cached or reachable.
        ChecksumMismatchError: The weights file's sha256 differs from the pinned one.
        ImportError: ``backend="onnxruntime"`` without onnxruntime installed (the message
            names the extra).
        ValueError: Unknown ``precision``.

    Example:
        >>> import facexpr
        >>> model = facexpr.load("better", pretrained=False)
        >>> model.training
        False
        >>> facexpr.load("better", backend="onnxruntime")
        ORTFaceModel(architecture='better', num_classes=7, backend='onnxruntime', precision='fp32')
        >>> facexpr.load("better", precision="fp32").precision
        'fp32'
    """
    check_precision(precision)
    check_backend(backend)
    if backend != "torch" and device is not None and resolve_device(device).type != "cpu":
        raise ValueError(f"backend={backend!r} runs on the CPU only, got device={device!r}; pass device='cpu' "
                         "or use backend='torch'.")
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1):
        raise ValueError(f"num_classes must be an int >= 1 (the classes of a new head), got {num_classes!r}.")
    if labels is not None:
        labels = check_labels(labels)
        if num_classes is not None and num_classes != len(labels):
            raise ValueError(f"num_classes={num_classes} contradicts the {len(labels)} labels {list(labels)}.")
        num_classes = len(labels)
    name = os.fspath(name_or_path)
    if name in list_models(tags=True):
        if Path(name).is_dir():
            warnings.warn(
                f"load({name!r}) loads facexpr's official {name!r} model, not the folder "
                f"'{Path(name).resolve()}' of the same name; pass './{name}' to load the folder.",
                UserWarning, stacklevel=2,
            )
        entry = get_model_entry(name)
        if not pretrained:
            tagged = entry.weights.labels if entry.weights is not None else None
            model = entry.cls(num_classes=num_classes or len(tagged or ()) or 7, labels=labels or tagged)
            num_classes = None
        else:
            model = _load_official(name, revision, cache_dir, token)
    else:
        if not pretrained:
            raise ValueError(
                f"pretrained=False needs an architecture name ({', '.join(list_models())}), "
                f"got {name!r}."
            )
        path = Path(name).expanduser()
        if path.is_dir():
            model = load_folder(path)
        elif path.exists():
            raise ValueError(f"'{path}' is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}.")
        elif _REPO_ID.match(name):
            model = load_folder(_download(name, revision, cache_dir, token))
        else:
            raise ValueError(
                f"Unknown model {name!r}. Available: {', '.join(list_models(tags=True))}; or pass a folder "
                "written by save_pretrained() or a Hugging Face Hub repo id 'user/name'."
            )
    _adapt_head(model, num_classes, labels)
    model.precision = precision
    if backend == "onnxruntime":
        return ORTFaceModel.from_model(model.eval(), precision="int8" if precision == "int8" else "fp32")
    return _place(model, device)


def _load_official(
    name: str, revision: str | None, cache_dir: str | os.PathLike | None, token: str | None
) -> FaceModel:
    weights = get_model_entry(name).weights
    if weights is None or weights.sha256 is None:
        tagged = [other for other in list_models(f"{name}.*", tags=True)
                  if (found := get_model_entry(other).weights) is not None and found.sha256 is not None]
        others = f" (released weights of this architecture: {', '.join(tagged)})" if tagged else ""
        raise WeightsNotAvailableError(
            f"No pretrained weights have been released for '{name}' yet{others}. Use "
            f"facexpr.load({name!r}, pretrained=False) for a fresh model, or train one with "
            f"`facexpr train --recipe {name}`."
        )
    pinned = revision is None or revision == weights.revision
    shipped = shipped_weights_dir(name)
    if pinned and weights.shipped and (shipped / WEIGHTS_NAME).is_file():
        return load_folder(shipped, pin=weights.sha256)
    folder = _download(weights.repo_id, revision or weights.revision, cache_dir, token)
    return load_folder(folder, pin=weights.sha256 if pinned else None)
