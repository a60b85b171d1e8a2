"""The ONNX Runtime backend: :class:`ORTFaceModel`, a :class:`~facexpr.models.FaceClassifier` whose
forward pass runs an :class:`onnxruntime.InferenceSession` on the CPU.

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
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._io import atomic_write

if TYPE_CHECKING:
    import onnxruntime

    from ._base import FaceModel
    from ._config import ModelConfig

    from ..results import Prediction
    from ..transforms import FaceTransform, ImageInput

__all__ = ["BACKENDS", "ORTFaceModel", "check_backend", "onnx_cache_path"]

BACKENDS = ("torch", "onnxruntime")
"""Backends :func:`facexpr.load` accepts: ``"torch"`` (default) and ``"onnxruntime"`` (CPU)."""

_CACHE_FORMAT = "1"


def check_backend(backend: str, *, needs_exporter: bool = True) -> None:
    """Raise if ``backend`` is unknown, or is ``"onnxruntime"`` and the package is missing.

    Args:
        backend: ``"torch"`` or ``"onnxruntime"``.
        needs_exporter: Also check for the exporter's packages (``onnx``, ``onnxscript``);
            ``False`` when the graph exists already (a shipped or cached int8 twin).

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
            import onnxruntime  # noqa: F401

            if needs_exporter:
                import onnx  # noqa: F401
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


class ORTFaceModel:
    """A model whose forward pass runs in ONNX Runtime on the CPU; made by
    ``facexpr.load(..., backend="onnxruntime")`` and, as the int8 twin of a
    :class:`~facexpr.models.FaceModel`, by CPU inference (see :mod:`facexpr.models._int8`).

    It satisfies :class:`~facexpr.models.FaceClassifier`, what inference needs: the same
    ``config``, ``labels``, :meth:`transforms`, :meth:`predict` and :meth:`predict_proba` as
    the PyTorch model, and ``model(x)`` takes normalised ``N x 1 x 48 x 48`` tensors and
    returns logits as a CPU tensor. It runs an exported graph and has no layers or
    parameters, so it offers nothing for training, summaries or saving: load the model with
    ``backend="torch"`` for those. :class:`~facexpr.training.Trainer` refuses it.

    Args:
        session: An ONNX Runtime session on a graph written by :func:`facexpr.export.export`
            (input ``"input"``, output ``"logits"``) or by
            :func:`~facexpr.models.quantize_onnx`.
        config: The config of the exported model.
        precision: ``"fp32"`` or ``"int8"``: what the graph computes in.

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better", backend="onnxruntime")
        >>> model
        ORTFaceModel(architecture='better', num_classes=7, backend='onnxruntime', precision='fp32')
        >>> model.predict(EXAMPLE_FACE).label
        'happy'
    """

    training = False
    """Always ``False``: an ONNX Runtime model only predicts."""

    def __init__(self, session: onnxruntime.InferenceSession, config: ModelConfig, *, precision: str = "fp32") -> None:
        if precision not in ("fp32", "int8"):
            raise ValueError(f"An ONNX Runtime graph computes in 'fp32' or 'int8', got precision={precision!r}.")
        self.config = config
        self.session = session
        self.precision = precision
        self._input_name = session.get_inputs()[0].name

    @classmethod
    def from_graph(
        cls, graph: str | os.PathLike | bytes, config: ModelConfig, *, precision: str = "fp32",
        num_threads: int | None = None,
    ) -> ORTFaceModel:
        """Open an exported ONNX graph (a file's path or its bytes) in ONNX Runtime.

        Args:
            graph: The graph, as written by :func:`facexpr.export.export` or
                :func:`~facexpr.models.quantize_onnx`.
            config: The config of the model it was exported from.
            precision: What the graph computes in, ``"fp32"`` or ``"int8"``.
            num_threads: ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``,
                which follows ``OMP_NUM_THREADS`` and ``torch.set_num_threads``).

        Example:
            >>> import facexpr
            >>> from facexpr.models import ORTFaceModel, int8_graph
            >>> model = facexpr.load("simple", device="cpu")
            >>> ORTFaceModel.from_graph(int8_graph(model), model.config, precision="int8")
            ORTFaceModel(architecture='simple', num_classes=7, backend='onnxruntime', precision='int8')
        """
        check_backend("onnxruntime", needs_exporter=False)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between runs
        source = graph if isinstance(graph, bytes) else os.fspath(graph)
        session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        return cls(session, config, precision=precision)

    @classmethod
    def from_model(
        cls, model: FaceModel, *, cache: bool = True, num_threads: int | None = None, precision: str = "fp32"
    ) -> ORTFaceModel:
        """Export a PyTorch model (or reuse its cached export) and open it in ONNX Runtime.

        Args:
            model: A loaded model.
            cache: Keep the exported file in facexpr's cache (see :func:`onnx_cache_path`);
                ``False`` exports in memory every time.
            num_threads: ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``,
                which follows ``OMP_NUM_THREADS`` and ``torch.set_num_threads``).
            precision: ``"fp32"`` (the exported graph) or ``"int8"`` (the model's int8 twin,
                see :func:`~facexpr.models.quantize_onnx`).

        Example:
            >>> import facexpr
            >>> from facexpr.models import ORTFaceModel
            >>> model = facexpr.load("simple", device="cpu")
            >>> ORTFaceModel.from_model(model).labels == model.labels
            True
        """
        if precision not in ("fp32", "int8"):
            raise ValueError(f"ORTFaceModel.from_model takes precision 'fp32' or 'int8', got {precision!r}.")
        check_backend("onnxruntime")
        if precision == "int8":
            from ._int8 import int8_graph

            graph = int8_graph(model, cache=cache)
        else:
            graph = _onnx_bytes(model, cache)
        return cls.from_graph(graph, copy.deepcopy(model.config), precision=precision, num_threads=num_threads)

    @property
    def num_classes(self) -> int:
        """Number of output classes.

        Example:
            >>> import facexpr
            >>> facexpr.load("vgg8_bn.ferplus", backend="onnxruntime").num_classes
            8
        """
        return self.config.num_classes

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names, indexed by output position.

        Example:
            >>> import facexpr
            >>> facexpr.load("vgg8_bn.ferplus", backend="onnxruntime").labels[-1]
            'contempt'
        """
        return self.config.labels

    def transforms(self) -> FaceTransform:
        """The preprocessing that turns any face image into this model's input (as the PyTorch model's).

        Example:
            >>> import facexpr
            >>> facexpr.load("better", backend="onnxruntime").transforms()
            FaceTransform(size=48, mean=(0.5,), std=(0.5,), crop_pct=0.958333)
        """
        from ..transforms import FaceTransform

        return FaceTransform(
            size=self.config.input_size, mean=self.config.mean, std=self.config.std, crop_pct=self.config.crop_pct
        )

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

    __call__ = forward

    def predict(
        self, x: ImageInput, *, batch_size: int = 256, tta: bool = False, classes: Sequence[str] | None = None
    ) -> Prediction | list[Prediction]:
        """Classify face crops, as :meth:`FaceModel.predict <facexpr.models.FaceModel.predict>`.

        Example:
            >>> import facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> facexpr.load("better", backend="onnxruntime").predict(EXAMPLE_FACE).label
            'happy'
        """
        from ..inference import predict_faces

        return predict_faces(self, x, batch_size=batch_size, tta=tta, classes=classes)

    def predict_proba(
        self, x: ImageInput, *, batch_size: int = 256, tta: bool = False, classes: Sequence[str] | None = None
    ) -> torch.Tensor:
        """Calibrated class probabilities ``N x num_classes``, as :meth:`FaceModel.predict_proba
        <facexpr.models.FaceModel.predict_proba>`.

        Example:
            >>> import facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> facexpr.load("better", backend="onnxruntime").predict_proba([EXAMPLE_FACE]).shape
            torch.Size([1, 7])
        """
        from ..inference import predict_proba

        return predict_proba(self, x, batch_size=batch_size, tta=tta, classes=classes)

    def inference_model(self, precision: str | None = None) -> ORTFaceModel:
        """What runs this model's predictions: the model itself, which has one precision.

        Raises:
            ValueError: If ``precision`` asks for another precision than the model's.

        Example:
            >>> import facexpr
            >>> model = facexpr.load("better", backend="onnxruntime")
            >>> model.inference_model() is model
            True
        """
        from ._int8 import resolve_runner

        return resolve_runner(self, precision)  # type: ignore[return-value]

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "An ORTFaceModel holds an ONNX Runtime session, which cannot be pickled; send the model's name "
            "or folder (or the PyTorch model) and load it where it runs."
        )

    def __repr__(self) -> str:
        return (f"ORTFaceModel(architecture={self.config.architecture!r}, num_classes={self.num_classes}, "
                f"backend='onnxruntime', precision={self.precision!r})")
