"""``facexpr export``: a model as ONNX or TorchScript, with its preprocessing in the file's metadata."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import output_file, positive_int

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``export`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    p = subparsers.add_parser("export", parents=parents, help="export a model to ONNX or TorchScript",
                              description="Export a model with its preprocessing constants in the file's metadata. "
                              "The graph takes normalised N x 1 x 48 x 48 float inputs and returns logits.")
    p.add_argument("model", help="model name, saved folder or Hub repo")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", required=True, type=output_file, help="output file, e.g. better.onnx")
    p.add_argument("--opset", type=positive_int, default=None, help="ONNX opset version")
    p.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                   help="fp32: the float graph; int8: the statically quantized graph that facexpr runs on "
                   "CPUs (ONNX only) (default: fp32)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr export`` with the parsed ``args``; return the exit status."""
    from ..export import export

    path = export(args.model, args.out, format=args.format, opset=args.opset, precision=args.precision)
    print(f"Exported {args.model} ({args.format}, {args.precision}) to {path}")
    return 0
