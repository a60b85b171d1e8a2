"""Int8 inference on the CPU: which CPUs get it, and the int8 twin of a model.

A :class:`~facexpr.models.FaceModel` stays a trainable float32 network. On a CPU its
predictions (:meth:`~facexpr.models.FaceModel.predict`, :func:`facexpr.predict`, video,
webcam, Ray) run through an *int8 twin*: the same weights exported to ONNX and statically
quantized by ONNX Runtime (QDQ, int8 weights per output channel, int8 activations with
ranges calibrated on :func:`calibration_faces`), run by an ONNX Runtime session.

* **Which CPUs** (:func:`int8_supported`): an x86-64 CPU with an integer dot-product
  instruction, AVX-512 VNNI, AVX-VNNI or AMX-INT8 (:data:`INT8_FEATURES`), as
  :func:`torch.cpu.get_capabilities` (or, with a torch that lacks it, ``/proc/cpuinfo``) reports it,
  and ``onnxruntime`` importable. It is a rule about the instruction set, never a timing.
  Other CPUs (ARM, older x86) and GPUs run the PyTorch model as it is.
* **Where the twin comes from** (:func:`int8_graph`): the official weights ship theirs
  (``facexpr/weights/<name>/model.int8.onnx``, with ``int8.json`` naming the sha256 of the
  weights it was built from, see :func:`weights_sha256`); any other weights (fine-tuned,
  from a folder or the Hub) get theirs built on first use, which takes a few seconds and
  needs the ``export`` extra (``onnx``, ``onnxscript``), and cached under
  ``cache_dir()/int8`` by the sha256 of the weights.
* **When it is rebuilt**: when the weights change. Every prediction compares each
  parameter's and buffer's identity, storage and version counter with those the twin was
  built from, so an optimiser step, ``load_state_dict``, ``reset_classifier`` or ``.to()``
  is noticed (a write through ``tensor.data`` bypasses the version counter and is not).
* **Opting out**: ``facexpr.load(..., precision="fp32")``, ``model.precision = "fp32"``,
  ``model.predict(..., precision="fp32")``, ``--precision fp32`` on the command line.

Calibration uses no data set: :func:`calibration_faces` makes 512 views of the public-domain
face shipped in :mod:`facexpr.assets` (random pose, scale, mirror, exposure, contrast and
noise, with a fixed seed), so every machine builds the same twin offline.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .._io import atomic_write

if TYPE_CHECKING:
    from ._base import FaceModel
    from ._onnx import ORTFaceModel
    from ._protocol import FaceClassifier

__all__ = [
    "INT8_FEATURES",
    "PRECISIONS",
    "calibration_faces",
    "check_precision",
    "cpu_int8_features",
    "int8_graph",
    "int8_supported",
    "quantize_onnx",
    "write_int8_files",
    "resolve_runner",
    "weights_sha256",
]

PRECISIONS = ("auto", "int8", "fp32")
"""Precisions accepted by ``facexpr.load(precision=)``, ``predict(precision=)`` and ``--precision``:
``"auto"`` (int8 on a CPU that :func:`int8_supported` accepts, else the model as it is),
``"int8"`` (the int8 twin on any CPU) and ``"fp32"`` (the PyTorch model as it is: float32 on a CPU,
its own dtype on a GPU)."""

INT8_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8")
"""x86-64 instructions that make int8 faster than float32 here: any one of them qualifies a CPU."""

CALIBRATION = "astronaut-views-v1"
"""Name of the calibration set of :func:`calibration_faces`, recorded in every int8 file."""

CALIBRATION_SIZE = 512
INT8_FILE = "model.int8.onnx"
INT8_JSON = "int8.json"
_warned: set[str] = set()


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise.

    Raises:
        ValueError: Naming the value and the allowed ones.

    Example:
        >>> check_precision("fp32")
        'fp32'
        >>> check_precision("fp16")
        Traceback (most recent call last):
        ...
        ValueError: Unknown precision 'fp16'. Available: auto, int8, fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}. Available: {', '.join(PRECISIONS)}.")
    return precision


def _proc_cpuinfo_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@lru_cache(maxsize=1)
def cpu_int8_features() -> tuple[str, ...]:
    """The :data:`INT8_FEATURES` this machine's CPU has (empty on ARM, older x86 or when unknown).

    Read from :func:`torch.cpu.get_capabilities` (where this torch has it), else from ``/proc/cpuinfo``
    (Linux), else nothing is assumed.

    Example:
        >>> set(cpu_int8_features()) <= set(INT8_FEATURES)
        True
    """
    getter = getattr(torch.cpu, "get_capabilities", None)
    if getter is not None:
        try:
            capabilities = dict(getter())
        except Exception:  # noqa: BLE001  (cpuinfo failing to read the CPU means: nothing known)
            capabilities = {}
        if capabilities.get("architecture", "x86_64") not in ("x86_64", "x86-64", "AMD64", "amd64"):
            return ()
        return tuple(name for name in INT8_FEATURES if capabilities.get(name))
    flags = _proc_cpuinfo_flags()
    return tuple(name for name in INT8_FEATURES if name in flags)


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def int8_supported() -> bool:
    """Whether ``precision="auto"`` runs models in int8 on this machine's CPU.

    The rule: the CPU is x86-64 with one of :data:`INT8_FEATURES` (see
    :func:`cpu_int8_features`) and ``onnxruntime`` can be imported. ``FACEXPR_INT8=0`` turns
    it off and ``FACEXPR_INT8=1`` on, whatever the CPU.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, FACEXPR_INT8="0"):
        ...     int8_supported()
        False
    """
    forced = os.environ.get("FACEXPR_INT8", "").strip()
    if forced in ("0", "1"):
        return forced == "1" and _has_onnxruntime()
    return bool(cpu_int8_features()) and _has_onnxruntime()


def calibration_faces(n: int = CALIBRATION_SIZE, size: int = 48, seed: int = 0) -> torch.Tensor:
    """``n`` grayscale ``uint8`` faces ``n x 1 x size x size`` for calibrating int8 ranges.

    Views of :data:`facexpr.assets.EXAMPLE_FACE` (public domain), each rotated by up to 20
    degrees, scaled by 0.8-1.25, shifted by up to 12% of the side, mirrored half of the
    time, with gamma 0.5-2, contrast 0.5-1.5, brightness +-0.2 and Gaussian noise up to
    0.05. The same ``seed`` gives the same faces on every machine. On FER2013 val, twins of
    ``vgg8_bn.ferplus`` calibrated on these and on 512 FER2013 training faces agree with the
    float32 model on 99.28% and 99.25% of the labels (``docs/benchmarks/int8.md``).

    Example:
        >>> faces = calibration_faces(8)
        >>> faces.shape, faces.dtype
        (torch.Size([8, 1, 48, 48]), torch.uint8)
        >>> bool((calibration_faces(8) == faces).all())
        True
    """
    from PIL import Image

    from ..assets import EXAMPLE_FACE

    generator = torch.Generator().manual_seed(seed)
    with Image.open(EXAMPLE_FACE) as img:
        face = torch.from_numpy(np.asarray(img.convert("L"), dtype=np.float32) / 255)[None, None]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle, scale = uniform(-math.radians(20), math.radians(20)), uniform(0.8, 1.25)
    shift_x, shift_y = uniform(-0.12, 0.12), uniform(-0.12, 0.12)
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift_x], 1), torch.stack([sin * mirror, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    x = F.grid_sample(face.expand(n, -1, -1, -1), grid, padding_mode="reflection", align_corners=False)
    x = x.clamp(0, 1) ** uniform(0.5, 2.0).view(n, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.5, 1.5).view(n, 1, 1, 1) + mean + uniform(-0.2, 0.2).view(n, 1, 1, 1)
    x = x + torch.randn(x.shape, generator=generator) * uniform(0, 0.05).view(n, 1, 1, 1)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _state(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, t) for n, t in itertools.chain(model.named_parameters(), model.named_buffers())
            if not n.endswith("num_batches_tracked")]


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 of what an int8 twin is built from: each tensor's name, dtype, shape and values.

    Parameters and buffers (BatchNorm's running statistics) count, in a contiguous layout
    (a channels-last copy hashes the same); ``num_batches_tracked`` does not.

    Example:
        >>> import facexpr
        >>> model = facexpr.load("simple", device="cpu")
        >>> weights_sha256(model) == weights_sha256(facexpr.load("simple", device="cpu"))
        True
    """
    digest = hashlib.sha256(b"facexpr-weights-v1\0")
    for name, tensor in _state(model):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _calibration_key(model: FaceModel) -> str:
    """What, besides the weights, decides the int8 file: the input view and the calibration."""
    config = model.config
    return json.dumps({"calibration": CALIBRATION, "n": CALIBRATION_SIZE, "input_size": config.input_size,
                       "mean": list(config.mean), "std": list(config.std), "crop_pct": config.crop_pct})


@lru_cache(maxsize=1)
def _shipped_index() -> dict[str, Path]:
    """``{(weights sha256, calibration key): model.int8.onnx}`` for the int8 files shipped in the wheel."""
    from ._builder import shipped_weights_dir

    index: dict[str, Path] = {}
    root = shipped_weights_dir("x").parent
    for meta in sorted(root.glob(f"*/{INT8_JSON}")):
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            key = data["weights_sha256"] + "\0" + json.dumps(data["calibration"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (meta.parent / INT8_FILE).is_file():
            index[key] = meta.parent / INT8_FILE
    return index


def _calibration_record(model: FaceModel) -> dict[str, Any]:
    return json.loads(_calibration_key(model))


def quantize_onnx(model: FaceModel, out: str | os.PathLike, *, faces: torch.Tensor | None = None) -> Path:
    """Build the int8 twin of ``model`` as an ONNX file (written atomically).

    The float32 model is exported with :func:`facexpr.export.export`, pre-processed
    (shape inference, BatchNorm folded into the convolutions) and quantized with
    :func:`onnxruntime.quantization.quantize_static`: QDQ format, int8 weights per output
    channel, int8 activations whose ranges are the minimum and maximum seen on the
    calibration faces (prepared as the model's own view of a face). The file's metadata
    holds facexpr's config, the weights' sha256 and the calibration.

    Args:
        model: The float32 model.
        out: The file to write.
        faces: Calibration faces, ``uint8`` ``N x 1 x H x W`` (e.g. some of your training
            faces); default: :func:`calibration_faces`, what facexpr's own twins use.

    Raises:
        ImportError: If ``onnx``, ``onnxscript`` or ``onnxruntime`` is missing; the message
            names the extra.

    Example:
        >>> import facexpr
        >>> from facexpr.models import quantize_onnx
        >>> quantize_onnx(facexpr.load("simple"), "simple.int8.onnx")  # doctest: +SKIP
        PosixPath('simple.int8.onnx')
    """
    try:
        import onnx
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"Building an int8 model needs the {err.name!r} package, which is not installed: "
            "pip install 'facexpr[export]'"
        ) from None
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ._onnx import config_metadata, write_onnx

    source = copy.deepcopy(model).to("cpu", torch.float32).eval()
    transform = source.transforms()
    given = faces is not None
    faces = faces if given else calibration_faces(CALIBRATION_SIZE, transform.size)
    if faces.dtype != torch.uint8 or faces.ndim != 4 or tuple(faces.shape[2:]) != (transform.size, transform.size):
        raise ValueError(f"faces must be uint8 N x 1 x {transform.size} x {transform.size}, got "
                         f"{faces.dtype} {tuple(faces.shape)}.")
    calibration = transform.center_crop(transform.normalize(faces))
    calibration_text = f"{len(faces)} faces given to quantize_onnx" if given else _calibration_key(source)
    batches = [{"input": np.ascontiguousarray(calibration[i : i + 64].numpy())} for i in range(0, len(calibration), 64)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    sha = weights_sha256(source)

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fp32, pre, quantized = (Path(work) / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
            write_onnx(source, fp32)
            quant_pre_process(str(fp32), str(pre))
            quantize_static(
                str(pre), str(quantized), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
            proto = onnx.load(str(quantized))
        del proto.metadata_props[:]
        for key, value in (("facexpr_config", config_metadata(source)), ("labels", json.dumps(list(source.labels))),
                           ("facexpr_precision", "int8"), ("weights_sha256", sha),
                           ("calibration", calibration_text)):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save_model(proto, str(tmp))

    return atomic_write(out, write)


def write_int8_files(model: FaceModel, folder: str | os.PathLike) -> Path:
    """Write ``model``'s int8 twin beside its weights: ``model.int8.onnx`` and ``int8.json``.

    ``int8.json`` records the sha256 of the weights the twin was built from (see
    :func:`weights_sha256`), the calibration, the sha256 of the ONNX file and the versions
    that built it. This is how the official weights ship their twins
    (``facexpr/weights/<name>/``), found by :func:`int8_graph` whatever name the weights
    are loaded by.

    Returns:
        The path of ``model.int8.onnx``.

    Example:
        >>> import facexpr
        >>> from facexpr.models import write_int8_files
        >>> write_int8_files(facexpr.load("simple"), "facexpr/weights/simple")  # doctest: +SKIP
        PosixPath('facexpr/weights/simple/model.int8.onnx')
    """
    import onnxruntime

    from .._version import __version__

    folder = Path(folder)
    path = quantize_onnx(model, folder / INT8_FILE)
    record = {
        "weights_sha256": weights_sha256(model),
        "calibration": _calibration_record(model),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "built_with": {"facexpr": __version__, "torch": torch.__version__.split("+")[0],
                       "onnxruntime": onnxruntime.__version__},
        "format": "ONNX, QDQ: int8 weights per output channel, int8 activations (MinMax over the calibration faces)",
    }
    atomic_write(folder / INT8_JSON, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"))
    _shipped_index.cache_clear()
    return path


def int8_cache_path(model: FaceModel, sha: str | None = None) -> Path:
    """Where the int8 twin built for ``model``'s weights is cached: ``cache_dir()/int8/ARCH-SHA.onnx``.

    Example:
        >>> import facexpr
        >>> from facexpr.models._int8 import int8_cache_path
        >>> int8_cache_path(facexpr.load("simple", device="cpu")).parent.name
        'int8'
    """
    from ..data._cache import cache_dir

    sha = sha or weights_sha256(model)
    key = hashlib.sha256(f"{sha}\0{_calibration_key(model)}".encode()).hexdigest()[:32]
    return cache_dir() / "int8" / f"{model.config.architecture}-{key}.onnx"


def int8_graph(model: FaceModel, *, cache: bool = True) -> str | bytes:
    """The int8 twin of ``model``: a shipped file's path, a cached file's path, or the bytes of a new build.

    Looked for in this order: the int8 files shipped with the official weights (matched by
    :func:`weights_sha256` and the calibration, not by name), facexpr's cache, a new build
    with :func:`quantize_onnx` (cached when the cache is writable and ``cache`` is true).

    Raises:
        ImportError: If a build is needed and the ``export`` extra is missing.

    Example:
        >>> import facexpr
        >>> from facexpr.models import int8_graph
        >>> print(int8_graph(facexpr.load("simple", device="cpu")))  # doctest: +ELLIPSIS
        /.../facexpr/weights/simple/model.int8.onnx
    """
    sha = weights_sha256(model)
    shipped = _shipped_index().get(sha + "\0" + json.dumps(_calibration_record(model)))
    if shipped is not None:
        return str(shipped)
    if cache:
        path = int8_cache_path(model, sha)
        if path.is_file():
            return str(path)
        try:
            return str(quantize_onnx(model, path))
        except OSError:  # read-only or full cache: build in a temporary folder instead
            pass
    with tempfile.TemporaryDirectory() as tmp:
        return quantize_onnx(model, Path(tmp) / INT8_FILE).read_bytes()


def _twin_key(model: FaceModel) -> tuple | None:
    """What the twin depends on, cheap to compare on every call: each tensor's identity,
    storage, version counter, device and dtype, the config's view and torch's thread count."""
    parts: list[Any] = [torch.get_num_threads(), _calibration_key(model)]
    for name, tensor in _state(model):
        try:
            version = tensor._version
        except RuntimeError:  # an inference tensor has no version counter: no cheap check
            return None
        parts.append((name, id(tensor), tensor.data_ptr(), version, tensor.device, tensor.dtype, tuple(tensor.shape)))
    return tuple(parts)


def _device_type(model: torch.nn.Module) -> str:
    try:
        return next(model.parameters()).device.type
    except StopIteration:
        return "cpu"


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, UserWarning, stacklevel=4)


def int8_twin(model: FaceModel) -> ORTFaceModel:
    """The int8 twin of ``model`` (built, or re-built after the weights changed, on demand).

    Kept on the model (not in its ``state_dict``, not pickled); see the module's notes for
    when it is rebuilt.
    """
    from ._onnx import ORTFaceModel

    key = _twin_key(model)
    held = model.__dict__.get("_int8_twin")
    if held is not None and key is not None and held[0] == key and held[1] is not None:
        return held[1]
    model.__dict__["_int8_twin"] = None
    was_training = model.training
    model.eval()
    try:
        twin = ORTFaceModel.from_graph(int8_graph(model), copy.deepcopy(model.config), precision="int8")
    finally:
        model.train(was_training)
    model.__dict__["_int8_twin"] = (key, twin)
    return twin


def resolve_runner(model: FaceClassifier, precision: str | None = None) -> FaceClassifier:
    """What runs ``model``'s predictions at ``precision``: the model itself or its int8 twin.

    Args:
        model: A :class:`~facexpr.models.FaceModel` or any :class:`~facexpr.models.FaceClassifier`
            (those other than a ``FaceModel`` run as they are).
        precision: One of :data:`PRECISIONS`; ``None`` takes the model's ``precision``
            attribute (set by ``facexpr.load(precision=)``, ``"auto"`` by default).

    Returns:
        The model (``"fp32"``; ``"auto"`` on a GPU, on a CPU that :func:`int8_supported`
        refuses, or when the twin cannot be built, with one warning saying why and no new try
        until the weights change), or its int8 twin, an :class:`~facexpr.models.ORTFaceModel`.

    Raises:
        ValueError: ``precision`` is unknown, or ``"int8"`` for a model on a GPU.
        ImportError: ``"int8"`` without ``onnxruntime`` (or, for weights with no shipped or
            cached twin, without the ``export`` extra).

    Example:
        >>> import facexpr
        >>> model = facexpr.load("simple", device="cpu")
        >>> resolve_runner(model, "fp32") is model
        True
        >>> resolve_runner(model, "int8")
        ORTFaceModel(architecture='simple', num_classes=7, backend='onnxruntime', precision='int8')
    """
    from ._base import FaceModel

    if not isinstance(model, FaceModel):
        if precision not in (None, "auto") and precision != getattr(model, "precision", precision):
            check_precision(precision)
            raise ValueError(f"This {type(model).__name__} runs in {getattr(model, 'precision', 'its own precision')}; "
                             f"precision={precision!r} needs the PyTorch model (facexpr.load(..., precision=...)).")
        return model
    precision = check_precision(precision if precision is not None else getattr(model, "precision", "auto"))
    if precision == "fp32":
        return model
    if _device_type(model) != "cpu":
        if precision == "int8":
            raise ValueError(f"precision='int8' runs on the CPU; this model is on {_device_type(model)}. "
                             "Move it with model.to('cpu') or use precision='fp32'.")
        return model
    if precision == "int8":
        from ._onnx import check_backend

        check_backend("onnxruntime", needs_exporter=False)
        return int8_twin(model)
    if not int8_supported():
        return model
    held = model.__dict__.get("_int8_twin")
    if held is not None and held[1] is None and held[0] is not None and held[0] == _twin_key(model):
        return model  # the twin of these weights could not be made: float32, without trying again
    try:
        return int8_twin(model)
    except ImportError as err:
        model.__dict__["_int8_twin"] = (_twin_key(model), None)
        _warn_once(f"import:{err}", f"Running in float32: {err}. Pass precision='fp32' to silence this.")
    except Exception as err:  # noqa: BLE001  (auto must not break predictions: say why, run float32)
        model.__dict__["_int8_twin"] = (_twin_key(model), None)
        _warn_once(f"build:{type(err).__name__}:{err}",
                   f"Running in float32: the int8 twin of this {type(model).__name__} could not be made "
                   f"({type(err).__name__}: {err}). precision='int8' shows the error; precision='fp32' silences this.")
    return model

