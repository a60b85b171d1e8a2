"""Predict the expression of face crops (images that are one face each).

Usage:
    python examples/predict_crop.py                       # the example face shipped with facexpr
    python examples/predict_crop.py face1.jpg face2.png --top-k 3 --tta
    python examples/predict_crop.py face.jpg --model path/to/saved-model
"""

from __future__ import annotations

import argparse
import sys

import facexpr
from facexpr.assets import EXAMPLE_FACE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", default=[str(EXAMPLE_FACE)], help="face crops (default: the example face)")
    parser.add_argument("--model", default="better", help="model name, saved folder or Hub repo (default: better)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to show per face (default: 3)")
    parser.add_argument("--tta", action="store_true", help="average each face over its mirror and a central zoom of both (4 forward passes)")
    args = parser.parse_args(argv)

    # Pretrained weights ship inside the package: this reads them offline (sha256-checked).
    model = facexpr.load(args.model)

    # One call for all images: they are decoded, converted to 48x48 grayscale exactly like
    # the training data, and classified in batches. model.predict reads every image as one
    # face and gives one Prediction per image. (facexpr.predict(images, detect=False) does the
    # same, but gives each image the list of its faces: [Prediction] with the whole image as box.)
    results = model.predict(args.images, tta=args.tta)
    for path, result in zip(args.images, results):
        top = ", ".join(f"{label} {p:.2f}" for label, p in result.top_k(args.top_k))
        print(f"{path}: {result.label} ({result.confidence:.2f}); top {args.top_k}: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
