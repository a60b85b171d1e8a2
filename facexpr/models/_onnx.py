"""The ONNX Runtime backend: a :class:`~facexpr.models.FaceModel` whose forward pass runs an
:class:`onnxruntime.InferenceSession` on the CPU.

``facexpr.load(name, backend="onnxruntime")`` loads the PyTorch model as usual, exports it with
:func:`facexpr.export.export` (dynamic batch axis) and wraps the session in an
:class:`ORTFaceModel`. The exported file is cached under ``$FACEXPR_CACHE/onnx`` (see
:func:`facexpr.data.cache_dir`), named by a sha256 of the weights' tensors, the config and
the torch version: the first load exports (2-4 s), later loads open the cached file (tens of
milliseconds), and a changed weight, label or torch release gives another file, never a stale
one. Files are written atomically; an unwritable cache falls back to an export in memory.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import torch

from .._io import atomic_write
from ._base import FaceModel
from ._config import ModelConfig

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["BACKENDS", "ORTFaceModel", "check_backend", "onnx_cache_path"]

BACKENDS = ("torch", "onnxruntime")
"""Backends :func:`facexpr.load` accepts: ``"torch"`` (default) and ``"onnxruntime"`` (CPU)."""

_CACHE_FORMAT = "1"


def check_backend(backend: str) -> None:
    """Raise if ``backend`` is unknown, or is ``"onnxruntime"`` and the package is missing.

    Raises:
        ValueError: If ``backend`` is not one of :data:`BACKENDS`.
        ImportError: If ``backend="onnxruntime"`` and ``onnxruntime`` (or the exporter's
            ``onnx`` / ``onnxscript``) is not installed; the message names the extra.

    Example:
        >>> check_backend("torch")
        >>> check_backend("tensorrt")
        Traceback (most recent call last):
        ...
        ValueError: Unknown backend 'tensorrt'. Available: torch, onnxruntime.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}. Available: {', '.join(BACKENDS)}.")
    if backend == "onnxruntime":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as err:
            raise ImportError(
                f"backend='onnxruntime' needs the {err.name!r} package, which is not installed: "
                "pip install 'facexpr[onnx]'"
            ) from None


def config_metadata(model: FaceModel) -> str:
    """The facexpr config stored in an exported file's metadata, as JSON, with the input layout spelled out."""
    data = model.config.to_dict()
    data["input_layout"] = (
        "N x 1 x H x W float32, (pixel / 255 - mean) / std; the central crop_pct of each face's side "
        "(equal margins) resized back to H x W, bilinear"
    )
    data["output"] = "logits; probabilities = softmax(logits / temperature)"
    return json.dumps(data)


def write_onnx(model: FaceModel, out: str | Path, *, opset: int | None = None) -> Path:
    """Export a PyTorch model to ONNX (dynamic batch axis, facexpr's config in the metadata), atomically.

    This is :func:`facexpr.export.export` with ``format="onnx"``, and what the ONNX Runtime
    backend runs.

    Raises:
        ImportError: If ``onnx`` or ``onnxscript`` is missing; the message says what to install.
    """
    try:
        import onnx
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"ONNX export needs the 'onnx' and 'onnxscript' packages ({err.name} is missing): "
            "pip install 'facexpr[export]'"
        ) from None
    model = model.to("cpu").eval()
    size = model.config.input_size
    example = torch.zeros(2, model.config.in_chans, size, size)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, (example,), dynamo=True, opset_version=opset, input_names=["input"],
                output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
            )
        proto = program.model_proto
        for key, value in (("facexpr_config", config_metadata(model)), ("labels", json.dumps(list(model.labels)))):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save_model(proto, str(tmp))

    return atomic_write(out, write)


def _fingerprint(model: FaceModel) -> str:
    """sha256 of what the exported file holds: the weights' tensors, the config, the exporter."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{torch.__version__}\0{model.config.architecture}\0".encode())
    digest.update(config_metadata(model).encode() + b"\0")
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def onnx_cache_path(model: FaceModel) -> Path:
    """Where the ONNX export of ``model`` is cached: ``cache_dir()/onnx/ARCH-SHA256.onnx``.

    The name is a sha256 of the model's tensors, its config and the torch version, so
    different weights never share a file.

    Example:
        >>> import facexpr
        >>> from facexpr.models import onnx_cache_path
        >>> path = onnx_cache_path(facexpr.load("simple", device="cpu"))
        >>> path.parent.name, path.name.startswith("simple-"), path.suffix
        ('onnx', True, '.onnx')
    """
    from ..data._cache import cache_dir

    return cache_dir() / "onnx" / f"{model.config.architecture}-{_fingerprint(model)[:32]}.onnx"


def _onnx_bytes(model: FaceModel, cache: bool) -> bytes | str:
    """The exported model: a cached file's path, or the bytes of an export made in memory."""
    if cache:
        path = onnx_cache_path(model)
        if path.is_file():
            return str(path)
        try:
            return str(write_onnx(model, path))
        except OSError:  # read-only or full cache: export in memory instead
            pass
    with tempfile.TemporaryDirectory() as tmp:
        return write_onnx(model, Path(tmp) / "model.onnx").read_bytes()


def _refuse(what: str) -> NoReturn:
    raise NotImplementedError(
        f"An ONNX Runtime model cannot {what}: it runs an exported graph, with no PyTorch layers or "
        f"parameters. Load it with facexpr.load(..., backend='torch') for that."
    )


def _refusal(name: str, args: str, what: str) -> Any:
    """A method of :class:`ORTFaceModel` that raises: a :class:`FaceModel` method it cannot offer."""

    def method(self: ORTFaceModel, *_args: Any, **_kwargs: Any) -> NoReturn:
        _refuse(what)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"""Not available: an ONNX Runtime model cannot {what}; use ``backend="torch"``.

        Raises:
            NotImplementedError: Always.

        Example:
            >>> import torch, facexpr
            >>> facexpr.load("simple", backend="onnxruntime").{name}({args})
            Traceback (most recent call last):
            ...
            NotImplementedError: An ONNX Runtime model cannot {what}: ...
        """
    return method


class ORTFaceModel(FaceModel):
    """A model whose forward pass runs in ONNX Runtime on the CPU; made by
    ``facexpr.load(..., backend="onnxruntime")``.

    It keeps the PyTorch model's contract for prediction: the same ``config``, ``labels``,
    :meth:`transforms`, :meth:`predict` and :meth:`predict_proba`, and ``model(x)`` takes
    normalised ``N x 1 x 48 x 48`` tensors and returns logits as a CPU tensor. It has no
    PyTorch layers and no parameters, so it cannot be trained, fine-tuned, summarised or
    saved: load the model with ``backend="torch"`` for that.

    Args:
        session: An ONNX Runtime session on a graph written by :func:`facexpr.export.export`
            (input ``"input"``, output ``"logits"``).
        config: The config of the exported model.

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better", backend="onnxruntime")
        >>> model
        ORTFaceModel(architecture='better', num_classes=7, backend='onnxruntime')
        >>> model.predict(EXAMPLE_FACE).label
        'happy'
    """

    def __init__(self, session: onnxruntime.InferenceSession, config: ModelConfig) -> None:
        super().__init__(labels=config.labels)
        self.config = config
        self.session = session
        self._input_name = session.get_inputs()[0].name
        super().train(False)

    @classmethod
    def from_model(cls, model: FaceModel, *, cache: bool = True, num_threads: int | None = None) -> ORTFaceModel:
        """Export a PyTorch model (or reuse its cached export) and open it in ONNX Runtime.

        Args:
            model: A loaded model.
            cache: Keep the exported file in facexpr's cache (see :func:`onnx_cache_path`);
                ``False`` exports in memory every time.
            num_threads: ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``,
                which follows ``OMP_NUM_THREADS`` and ``torch.set_num_threads``).

        Example:
            >>> import facexpr
            >>> from facexpr.models import ORTFaceModel
            >>> model = facexpr.load("simple", device="cpu")
            >>> ORTFaceModel.from_model(model).labels == model.labels
            True
        """
        check_backend("onnxruntime")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between runs
        session = onnxruntime.InferenceSession(_onnx_bytes(model, cache), options, providers=["CPUExecutionProvider"])
        return cls(session, copy.deepcopy(model.config))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``N x num_classes`` (CPU, float32) for normalised inputs ``N x 1 x 48 x 48``.

        Example:
            >>> import torch, facexpr
            >>> model = facexpr.load("simple", backend="onnxruntime")
            >>> model(torch.zeros(3, 1, 48, 48)).shape
            torch.Size([3, 7])
        """
        if x.shape[0] == 0:
            return torch.empty(0, self.num_classes)
        inputs = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        (logits,) = self.session.run(None, {self._input_name: inputs})
        return torch.from_numpy(logits)

    def train(self, mode: bool = True) -> ORTFaceModel:
        """``train(False)`` (``eval()``) is allowed; ``train(True)`` raises.

        Raises:
            NotImplementedError: On ``train(True)``: an ONNX Runtime model has no gradients.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", backend="onnxruntime").train()
            Traceback (most recent call last):
            ...
            NotImplementedError: An ONNX Runtime model cannot be trained: ...
        """
        if mode:
            _refuse("be trained")
        return super().train(False)

    forward_features = _refusal("forward_features", "torch.zeros(1, 1, 48, 48)", "return features")
    forward_head = _refusal("forward_head", "torch.zeros(1, 128, 6, 6)", "run its head alone")
    get_classifier = _refusal("get_classifier", "", "return its classifier")
    reset_classifier = _refusal("reset_classifier", "3", "reset its classifier")
    summary = _refusal("summary", "", "print a layer summary")
    save_pretrained = _refusal("save_pretrained", "'folder'", "be saved with save_pretrained")
    push_to_hub = _refusal("push_to_hub", "'user/repo'", "be pushed to the Hub")

    def extra_repr(self) -> str:
        """The architecture, number of classes and backend shown in ``repr(model)``.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", backend="onnxruntime").extra_repr()
            "architecture='simple', num_classes=7, backend='onnxruntime'"
        """
        return f"architecture={self.config.architecture!r}, num_classes={self.num_classes}, backend='onnxruntime'"
