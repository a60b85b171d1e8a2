"""Export a model to ONNX (or TorchScript) and check that the exported file agrees with PyTorch.

The exported graph takes normalised ``N x 1 x 48 x 48`` float inputs and returns logits; the
model's config (labels, input size, mean/std, temperature) travels in the file's metadata.
ONNX needs ``pip install "facexpr[export]"``. Command line: ``facexpr export better --out better.onnx``.

Usage:
    python examples/export_model.py --model better --out better.onnx
    python examples/export_model.py --model my-model/ --format torchscript --out my-model.pt
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch

import facexpr
from facexpr.assets import EXAMPLE_FACE
from facexpr.export import export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="better", help="model name, saved folder or Hub repo (default: better)")
    parser.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    parser.add_argument("--out", required=True, help="file to write, e.g. better.onnx")
    args = parser.parse_args(argv)

    model = facexpr.load(args.model, device="cpu")
    path = export(model, args.out, format=args.format)
    print(f"exported {args.model} to {path} ({path.stat().st_size:,} bytes)")

    # Feed the exported file the same preprocessed face as PyTorch and compare the logits.
    inputs = model.transforms().batch([EXAMPLE_FACE])          # 1 x 1 x 48 x 48, normalised
    with torch.inference_mode():
        expected = model(inputs).numpy()
    if args.format == "onnx":
        try:
            import onnxruntime
        except ImportError:
            print("onnxruntime is not installed: skipping the check")
            return 0
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    else:
        with warnings.catch_warnings():  # recent torch marks TorchScript as deprecated
            warnings.simplefilter("ignore", FutureWarning)
            got = torch.jit.load(str(path))(inputs).detach().numpy()
    diff = float(abs(got - expected).max())
    print(f"largest difference from PyTorch's logits: {diff:.2e}")
    return 0 if diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
