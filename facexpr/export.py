"""Export models to ONNX and TorchScript, with the preprocessing constants in the file.

ONNX files carry ``metadata_props`` and TorchScript files an extra file ``config.json``,
both holding the model's :class:`~facexpr.models.ModelConfig` (labels, input size, mean,
std, crop_pct, temperature), so that a runtime without facexpr can prepare inputs exactly as in training.
The exported graph takes normalised ``N x 1 x 48 x 48`` float inputs and returns logits.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from ._io import atomic_write, check_outputs
from .models import FaceModel, ORTFaceModel, int8_graph, load
from .models._onnx import config_metadata, write_onnx

__all__ = ["export", "EXPORT_FORMATS", "read_onnx_config"]

EXPORT_FORMATS = ("onnx", "torchscript")
"""Formats accepted by :func:`export`."""


def export(
    model: str | os.PathLike | FaceModel, out: str | os.PathLike, *, format: str = "onnx", opset: int | None = None,
    precision: str = "fp32",
) -> Path:
    """Export a model to ONNX or TorchScript (written atomically).

    Args:
        model: A loaded model, or anything :func:`facexpr.load` accepts.
        out: Output file (e.g. ``better.onnx`` or ``better.pt``).
        format: ``"onnx"`` (needs ``pip install facexpr[export]``) or ``"torchscript"``.
        opset: ONNX opset version (default: the exporter's).
        precision: ``"fp32"`` (default), or ``"int8"`` for the statically quantized graph
            that facexpr runs on CPUs (the one shipped with the weights, else built by
            :func:`~facexpr.models.quantize_onnx`; ONNX only, the exporter's opset).

    Returns:
        The written file.

    Raises:
        ValueError: If ``format`` or ``precision`` is unknown, ``precision="int8"`` with
            TorchScript or an ``opset``, ``opset`` is given for TorchScript, or ``out`` is the
            model's own file or lies in its folder.
        TypeError: If ``model`` is an :class:`~facexpr.models.ORTFaceModel` (already exported).
        ImportError: If the ONNX packages are missing; the message says what to install.

    Example:
        >>> import facexpr
        >>> from facexpr.export import export
        >>> export(facexpr.load("better"), "better.onnx")  # doctest: +SKIP
        PosixPath('better.onnx')
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {format!r}. Available: {', '.join(EXPORT_FORMATS)}.")
    if opset is not None and format != "onnx":
        raise ValueError(f"opset={opset} applies to ONNX only; a {format} export has no opset (leave it out).")
    if isinstance(model, (str, os.PathLike)) and Path(model).exists():
        check_outputs([("out", out)], [model])  # never over the model being exported
    if precision not in ("fp32", "int8"):
        raise ValueError(f"Unknown export precision {precision!r}. Available: fp32, int8.")
    if precision == "int8" and (format != "onnx" or opset is not None):
        raise ValueError("precision='int8' exports ONNX only, at the exporter's opset (format='onnx', no opset).")
    if isinstance(model, ORTFaceModel):
        raise TypeError(
            "This model is already an ONNX Runtime model (backend='onnxruntime'); export the PyTorch model: "
            "export(facexpr.load(name), out)."
        )
    if not isinstance(model, FaceModel):
        model = load(model, device="cpu")
    model = model.to("cpu").eval()
    size = model.config.input_size
    example = torch.zeros(2, model.config.in_chans, size, size)
    out = Path(out)
    if precision == "int8":  # the twin facexpr runs: shipped with the weights, cached, or built now
        graph = int8_graph(model)
        data = graph if isinstance(graph, bytes) else Path(graph).read_bytes()
        return atomic_write(out, lambda tmp: tmp.write_bytes(data))
    if format == "onnx":
        return write_onnx(model, out, opset=opset)

    def write_torchscript(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated.*")
            scripted = torch.jit.trace(model, example)
            torch.jit.save(scripted, str(tmp), _extra_files={"config.json": config_metadata(model)})

    return atomic_write(out, write_torchscript)


def read_onnx_config(path: str | os.PathLike) -> dict:
    """Return the facexpr config stored in an exported ONNX file's metadata.

    Needs the ``onnx`` package (``pip install facexpr[export]``).

    Raises:
        ValueError: If the file has no facexpr metadata.

    Example:
        >>> import tempfile, facexpr
        >>> from pathlib import Path
        >>> from facexpr.export import export, read_onnx_config
        >>> model = facexpr.load("simple", pretrained=False, labels=["neg", "neu", "pos"])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     config = read_onnx_config(export(model, Path(tmp) / "simple.onnx"))
        >>> config["labels"], config["input_size"], config["mean"], config["std"], config["temperature"]
        (['neg', 'neu', 'pos'], 48, [0.5], [0.5], 1.0)
    """
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    if "facexpr_config" not in props:
        raise ValueError(f"'{path}' has no facexpr metadata; was it written by facexpr.export?")
    return json.loads(props["facexpr_config"])
