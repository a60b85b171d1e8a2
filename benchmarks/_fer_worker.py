"""Runs the `fer` package for ``benchmarks/bench_peers.py``, inside fer's own environment.

`fer` needs TensorFlow, which facexpr's environment does not have, so ``bench_peers.py`` starts
this script with the Python of a separate virtual environment (``--fer-python``) and talks to it
over a pipe: one JSON request per line on stdin, one JSON reply per line on stdout. Everything
else the worker or TensorFlow prints goes to stderr. The worker only uses the standard library,
numpy, OpenCV and `fer` itself (imported when the worker starts, not when this module is
imported), so its request handling can be tested without TensorFlow.

Requests (``{"cmd": NAME, ...}``); every reply carries ``"ok": true`` or ``"ok": false`` with
``"error"`` (the traceback):

* ``load``: ``files``: decode these images with ``cv2.imread`` (what `fer` does with a path) and
  keep them in memory; replies ``n`` and ``seconds``;
* ``crops``: ``source`` (``"arrays"``: the loaded images, ``"files"``: their paths) and ``box``
  (``[x, y, w, h]``): ``FER.detect_emotions(image, face_rectangles=[box])`` on each, one image
  per call; replies ``seconds`` (the loop, decoding included for files), ``calls`` (each call's
  seconds: one crop's latency) and ``scores`` (one list of seven scores per image, ``null`` where
  `fer` gave no face);
* ``boxes``: ``items`` (``[{"path": ..., "boxes": [[x, y, w, h], ...]}, ...]``): each photo
  decoded, then classified at the given boxes; replies ``scores`` (per photo, per box);
* ``photos``: ``paths``: ``FER.detect_emotions(path)``: decoding, `fer`'s own face detector and
  classification, timed per photo; replies ``seconds`` (per photo) and ``faces`` (per photo, a
  list of ``{"box": [x, y, w, h], "scores": [...]}``);
* ``quit``.

The seven scores are in `fer`'s label order (``LABELS``, FER2013's), rounded to two decimals
by `fer`, as its users get them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Iterable
from typing import Any, TextIO

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's _get_labels()


def _scores(face: dict) -> list[float]:
    return [float(face["emotions"][label]) for label in LABELS]


def _box(box: Iterable) -> list[int]:
    return [int(v) for v in box]


class Worker:
    """The requests, on one `fer` detector (``detector.detect_emotions``) and one image reader."""

    def __init__(self, detector: Any, imread: Any) -> None:
        self.detector = detector
        self.imread = imread
        self.files: list[str] = []
        self.arrays: list[Any] = []

    def do_load(self, files: list[str]) -> dict:
        start = time.perf_counter()
        arrays = [self.imread(path) for path in files]
        missing = [path for path, image in zip(files, arrays) if image is None]
        if missing:
            raise ValueError(f"cannot read {len(missing)} images, e.g. {missing[0]}")
        self.files, self.arrays = list(files), arrays
        return {"n": len(arrays), "seconds": time.perf_counter() - start}

    def do_crops(self, source: str, box: list[int], limit: int | None = None) -> dict:
        if source not in ("arrays", "files"):
            raise ValueError(f"source must be 'arrays' or 'files', got {source!r}")
        items = (self.arrays if source == "arrays" else self.files)[:limit]
        rect = [tuple(_box(box))]
        detect = self.detector.detect_emotions
        results, calls = [], []
        start = time.perf_counter()
        for item in items:
            begun = time.perf_counter()
            results.append(detect(item, face_rectangles=rect))
            calls.append(time.perf_counter() - begun)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "calls": calls,
                "scores": [_scores(faces[0]) if faces else None for faces in results]}

    def do_boxes(self, items: list[dict]) -> dict:
        out = []
        for item in items:
            image = self.imread(item["path"])
            if image is None:
                raise ValueError(f"cannot read {item['path']}")
            asked = [tuple(_box(b)) for b in item["boxes"]]
            faces = self.detector.detect_emotions(image, face_rectangles=asked)
            # fer drops a box whose crop it cannot resize: match what came back to what was asked
            by_box = {tuple(_box(face["box"])): _scores(face) for face in faces}
            out.append([by_box.get(b) for b in asked])
        return {"scores": out}

    def do_photos(self, paths: list[str]) -> dict:
        seconds, found = [], []
        for path in paths:
            start = time.perf_counter()
            faces = self.detector.detect_emotions(path)
            seconds.append(time.perf_counter() - start)
            found.append([{"box": _box(face["box"]), "scores": _scores(face)} for face in faces])
        return {"seconds": seconds, "faces": found}

    def do_quit(self) -> dict:
        return {}


def serve(worker: Worker, requests: TextIO, replies: TextIO) -> None:
    """Answer one JSON line per request line until ``quit`` or the end of ``requests``."""
    for line in requests:
        if not line.strip():
            continue
        cmd = "?"
        try:
            request = json.loads(line)
            cmd = request.pop("cmd")
            handler = getattr(worker, f"do_{cmd}", None)
            if handler is None:
                raise ValueError(f"unknown command {cmd!r}")
            reply = {"ok": True, **handler(**request)}
        except Exception:  # noqa: BLE001 -- the caller gets the traceback and decides
            reply = {"ok": False, "error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        if cmd == "quit":
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default: 1)")
    args = parser.parse_args()

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the protocol's own copy of stdout
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever else prints lands on stderr
    sys.stdout = sys.stderr
    try:
        import cv2

        cv2.setNumThreads(args.threads)
        import fer as fer_package

        try:
            from fer import FER
        except ImportError:  # fer 25.10.3's __init__ does not export FER (its README says it does)
            from fer.fer import FER
        import tensorflow as tf

        # The bundled copy of OpenCV's cascade: FER() looks in cv2.data.haarcascades, which
        # OpenCV 5 no longer fills (it is the same file as OpenCV 4's).
        cascade = os.path.join(os.path.dirname(fer_package.__file__), "data", "haarcascade_frontalface_default.xml")
        if not os.path.isfile(cascade):
            cascade = None
        detector = FER(cascade_file=cascade, mtcnn=False)  # its default: the quantized TFLite model
        hello = {
            "ok": True,
            "fer": getattr(fer_package, "__version__", "?"),
            "tensorflow": tf.__version__,
            "opencv": cv2.__version__,
            "cascade": "fer's bundled copy" if cascade else "cv2.data.haarcascades",
            "python": sys.version.split()[0],
            "threads": args.threads,
        }
    except Exception:  # noqa: BLE001
        replies.write(json.dumps({"ok": False, "error": traceback.format_exc()}) + "\n")
        replies.flush()
        return 1
    replies.write(json.dumps(hello) + "\n")
    replies.flush()
    serve(Worker(detector, cv2.imread), sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
