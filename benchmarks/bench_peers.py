"""facexpr next to the `fer` package: the same faces, the same photos, one run.

`fer` (https://github.com/justinshenk/fer) needs TensorFlow, so it runs in its own virtual
environment: this script starts ``benchmarks/_fer_worker.py`` with that environment's Python
(``--fer-python``) and talks to it over a pipe, one tool at a time (never both at once). Both
sides run on the same number of threads (``--threads``: torch and OpenCV here; OpenCV in the
worker, whose TFLite interpreter runs on one thread by default).

Measured for `fer` (its defaults: the quantized TFLite model, OpenCV's Haar cascade) and for each
facexpr model (``--models``; an 8-class FER+ model is read in FER2013's seven classes with
``classes=FER2013_LABELS``):

* **FER2013 test** (``PrivateTest``, 3,589 48x48 crops): accuracy, each crop's whole image taken
  as the face. `fer` classifies a box with a 10-pixel margin (``offsets=(10, 10)``), padding the
  image with a flat grey border where the margin leaves it; the box ``(10, 10, 28, 28)`` makes
  its crop exactly the 48x48 image, the input its model was trained on. The box of the whole
  image, ``(0, 0, 48, 48)``, is scored too (the face then fills 48 of the 68 pixels `fer` crops).
* **Throughput** on those crops, images per second, (a) from decoded ``uint8`` arrays already in
  memory and (b) from the JPEG files (decoding included). `fer` takes one image per call
  (``detect_emotions``; its TFLite path runs one face per ``invoke``), so it is measured at
  batch 1; facexpr at batch 1 (one ``predict_proba`` call per image, like `fer`) and at
  ``--batch-size`` (one call for the list). Every mode runs ``--rounds`` times, the rounds
  interleaved (each round runs every tool and mode once); the table gives the best round and
  the range, and each facexpr figure as a multiple of `fer`'s in the same mode.
* **One crop's latency**, milliseconds per call at the 50th and 90th percentiles, from decoded
  arrays: `fer`'s ``detect_emotions`` (every call of its batch-1 rounds) beside facexpr's
  ``model.predict(crop)`` and ``facexpr.predict(crop, model=model)`` (``--latency-calls`` crops
  a round, interleaved with the throughput rounds), each facexpr model as ``--models`` names it
  (``NAME@fp32`` for float32).
* **ExpW** (``../shared/data/expw``: 750 labelled faces in 600 web photos), the protocol of
  :mod:`benchmarks.protocol` (as ``bench_photos`` and ``bench_generalization``): accuracy on the labelled-box
  crops (recognition alone: facexpr crops the box squared, ``CropSpec(1.0, 0.0)``; `fer` gets the
  box shrunk by its 10-pixel margin, so that it crops the same square; the labelled box itself,
  which `fer` widens by its margin, is scored too); whole photos, each tool
  with its own detector (`fer`: ``detect_emotions(path)``, its Haar cascade at full resolution;
  facexpr: ``facexpr.predict(path, detector=YuNetDetector(...))``, which searches at most 1000
  pixels a side): face recall (a labelled face is found when a detected box, squared, overlaps it
  with IoU >= 0.4), accuracy over all labelled faces (a face not found counts as wrong) and over
  the faces found, and milliseconds per photo (decoding, detection and classification) at the
  50th and 90th percentiles. The photos go in chunks of 25, each chunk through every tool in
  turn.

Run it from the repository root::

    OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
        python -m benchmarks.bench_peers --out docs/benchmarks/peers.md

``--limit N`` takes N crops (evenly spread over the test split) and the first N photos, for a
quick run. Without `fer`'s environment the script says how to make it and leaves `fer`'s rows
empty; make it with::

    python3 -m venv ../fer-venv
    ../fer-venv/bin/pip install --no-deps fer==25.10.3
    ../fer-venv/bin/pip install tensorflow-cpu opencv-contrib-python-headless requests \\
        "setuptools<81" pillow numpy
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import facexpr
from facexpr.detection import YuNetDetector
from facexpr.errors import WeightsNotAvailableError
from facexpr.models import DEFAULT_MODEL
from facexpr.transforms import to_rgb_uint8

from ._report import Run, publish
from .protocol import SEVEN, Given, clip_box, load_labels, match_found, paired_bootstrap, wilson

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_peers results -->"
WORKER = Path(__file__).resolve().parent / "_fer_worker.py"
DEFAULT_FER_PYTHON = REPO_ROOT.parent / "fer-venv" / "bin" / "python"
FER_MARGIN = 10  # fer's offsets=(10, 10): the pixels it adds around a box before classifying it
FER_BOX = (FER_MARGIN, FER_MARGIN, 48 - 2 * FER_MARGIN, 48 - 2 * FER_MARGIN)  # + the margin: the 48x48 image
WHOLE_BOX = (0, 0, 48, 48)
CHUNK = 25  # ExpW photos per turn of each tool
MAKE_FER_ENV = (
    "python3 -m venv ../fer-venv && ../fer-venv/bin/pip install --no-deps fer==25.10.3 && "
    "../fer-venv/bin/pip install tensorflow-cpu opencv-contrib-python-headless requests "
    "'setuptools<81' pillow numpy"
)


# -- reading fer's answers -------------------------------------------------------------------------


def fer_label(scores: Sequence[float] | None) -> int:
    """Class id of `fer`'s top score: the first of equal maxima, as ``FER.top_emotion`` picks
    (`fer` rounds scores to two decimals, so ties happen); -1 when `fer` gave no face."""
    if scores is None:
        return -1
    if len(scores) != len(SEVEN):
        raise ValueError(f"expected {len(SEVEN)} scores, got {len(scores)}")
    return max(range(len(SEVEN)), key=lambda i: scores[i])


def is_tie(scores: Sequence[float] | None) -> bool:
    """Whether the top score is shared by two classes."""
    if scores is None:
        return False
    top = sorted(scores, reverse=True)
    return len(top) > 1 and top[0] == top[1]


def parse_reply(line: str, what: str) -> dict:
    """One JSON line of the worker -> its reply; an error reply or a dead worker raises."""
    if not line:
        raise RuntimeError(f"the fer worker stopped during {what}")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise RuntimeError(f"the fer worker failed during {what}:\n{reply.get('error', reply)}")
    return reply


def fer_box(box: Sequence[float], margin: int = FER_MARGIN) -> list[int]:
    """The box to give `fer` so that, once it adds its margin, it crops ``box`` (as facexpr does)."""
    x, y, w, h = (int(round(v)) for v in box)
    return [x + margin, y + margin, max(1, w - 2 * margin), max(1, h - 2 * margin)]


def nearest(truth: np.ndarray, boxes: np.ndarray) -> list[int]:
    """For each labelled box, the returned box whose centre is nearest (facexpr sorts faces left to right)."""
    t = np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tc, bc = t[:, :2] + t[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    return [int(np.hypot(*(bc - c).T).argmin()) for c in tc]


# -- the fer side ----------------------------------------------------------------------------------


class FerClient:
    """The worker process in fer's environment: one request at a time."""

    def __init__(self, python: Path, threads: int, log: Path) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
                   TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
        env.pop("PYTHONPATH", None)  # facexpr's paths mean nothing to fer's Python
        self.log = log
        self._stderr = open(log, "w", encoding="utf-8")
        self.proc = subprocess.Popen([str(python), str(WORKER), "--threads", str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        try:
            self.info = self._read("start-up")
        except Exception:
            self.close()
            raise

    def _read(self, what: str) -> dict:
        assert self.proc.stdout is not None
        try:
            return parse_reply(self.proc.stdout.readline(), what)
        except RuntimeError:
            tail = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
            if tail:
                print("(the last lines of the fer worker's stderr:)\n" + "\n".join(tail), file=sys.stderr)
            raise

    def call(self, cmd: str, **kwargs: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return self._read(cmd)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except (OSError, RuntimeError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._stderr.close()
        self.log.unlink(missing_ok=True)


def start_fer(python: Path, threads: int, log: Path) -> tuple[FerClient | None, str]:
    """The worker, or None and why not (said on the page and on stderr, with how to fix it)."""
    if not Path(python).is_file():
        why = (f"`fer` was not measured: no Python at `{python}`. Make fer's environment with "
               f"`{MAKE_FER_ENV}` (or pass `--fer-python`)")
    else:
        try:
            return FerClient(Path(python), threads, log), ""
        except (OSError, RuntimeError) as err:
            last = [line for line in str(err).splitlines() if line.strip()]
            why = (f"`fer` was not measured: its worker did not start with `{python}` "
                   f"({last[-1] if last else err}). Make fer's environment with `{MAKE_FER_ENV}`")
            print(err, file=sys.stderr)
    print(f"WARNING: {why}.", file=sys.stderr)
    return None, why


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One column of the comparison: `fer`, or one facexpr model."""

    name: str
    model: facexpr.FaceModel | None = None  # None: fer
    fer2013_pred: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rates: dict[str, list[float]] = field(default_factory=dict)  # mode -> images/s per round
    crops_pred: list[int] = field(default_factory=list)
    crops_own_pred: list[int] = field(default_factory=list)  # fer given the labelled box itself
    photos_pred: list[int] = field(default_factory=list)  # -1: not found
    photo_ms: list[float] = field(default_factory=list)
    call_ms: dict[str, list[float]] = field(default_factory=dict)  # call -> one crop's milliseconds

    def rate(self, mode: str, seconds: float, n: int) -> None:
        self.rates.setdefault(mode, []).append(n / seconds)


def time_facexpr(model: facexpr.FaceModel, items: list, batch: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    if batch == 1:
        probs = torch.cat([model.predict_proba(item, classes=SEVEN) for item in items])
    else:
        probs = model.predict_proba(items, batch_size=batch, classes=SEVEN)
    return time.perf_counter() - start, probs.argmax(1).numpy()


FER_CALL = "`detect_emotions(crop, face_rectangles=[box])`"
MODEL_CALL = "`model.predict(crop)`"
PREDICT_CALL = "`facexpr.predict(crop, model=model)`"


def time_calls(tool: Tool, crops: list[np.ndarray]) -> None:
    """One crop per call through ``model.predict`` and ``facexpr.predict``, each call timed (ms)."""
    assert tool.model is not None
    model = tool.model
    for name, call in ((MODEL_CALL, lambda crop: model.predict(crop)),
                       (PREDICT_CALL, lambda crop: facexpr.predict(crop, model=model))):
        times = tool.call_ms.setdefault(name, [])
        for crop in crops:
            start = time.perf_counter()
            call(crop)
            times.append(1000 * (time.perf_counter() - start))


def latency_rows(fer: Tool | None, tools: list[Tool]) -> list[str]:
    """The latency table: one crop per call, milliseconds at the 50th and 90th percentiles."""
    rows = ["| tool, model | call | calls timed | p50 ms | p90 ms |", "|---|---|---|---|---|"]
    for tool in ([fer] if fer else []) + tools:
        label = "`fer` (TFLite)" if tool.model is None else f"facexpr {tool.name}"
        for call, times in tool.call_ms.items():
            rows.append(f"| {label} | {call} | {len(times):,} | {np.percentile(times, 50):.2f} | "
                        f"{np.percentile(times, 90):.2f} |")
    return rows


def upright_size(path: Path) -> tuple[int, int]:
    """Width and height of a photo once its EXIF rotation is applied (as both tools decode it)."""
    with Image.open(path) as img:
        width, height = img.size
        orientation = img.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def fer2013_files(root: Path, limit: int | None) -> tuple[list[Path], np.ndarray]:
    files, targets = [], []
    for cls, label in enumerate(SEVEN):
        found = sorted((root / label).glob("*.jpg"))
        files += found
        targets += [cls] * len(found)
    if not files:
        raise SystemExit(f"no JPEG under {root}/<class>/: pass --fer2013 (the FER2013 test folder)")
    if limit:
        keep = np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)
        files, targets = [files[i] for i in keep], [targets[i] for i in keep]
    return files, np.array(targets)


def fmt_rate(rates: list[float] | None) -> str:
    if not rates:
        return ""
    if len(rates) == 1:
        return f"{rates[0]:,.0f}"
    return f"{max(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def fmt_ratio(ours: list[float] | None, theirs: list[float] | None) -> str:
    return f"{max(ours) / max(theirs):.2f}x" if ours and theirs else ""


def fmt(value: float, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def build_parser() -> argparse.ArgumentParser:
    """The script's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fer2013", type=Path, default=SHARED / "data" / "fer2013" / "test",
                        help="FER2013 test folder (<class>/*.jpg)")
    parser.add_argument("--expw", type=Path, default=SHARED / "data" / "expw", help="ExpW subset (faces.csv, images/)")
    parser.add_argument("--yunet", type=Path,
                        default=SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx",
                        help="YuNet .onnx file")
    parser.add_argument("--models", default=f"{DEFAULT_MODEL},{DEFAULT_MODEL}@fp32",
                        help="facexpr models, comma-separated; NAME@fp32 or NAME@int8 fixes the precision "
                        "(default: the default model as loaded, int8 on CPUs with VNNI/AMX, and in fp32)")
    parser.add_argument("--fer-python", type=Path, default=DEFAULT_FER_PYTHON,
                        help=f"Python of fer's environment (default: {DEFAULT_FER_PYTHON})")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 1),
                        help="threads per side: torch and OpenCV (default: $OMP_NUM_THREADS, else 1)")
    parser.add_argument("--batch-size", type=int, default=256, help="facexpr's batched mode (default: 256)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds (default: 3)")
    parser.add_argument("--latency-calls", type=int, default=200,
                        help="crops a round timed one per call through model.predict and facexpr.predict (default: 200)")
    parser.add_argument("--limit", type=int, default=None,
                        help="N FER2013 crops (evenly spread) and the first N ExpW photos (default: all)")
    parser.add_argument("--photo-limit", type=int, default=None,
                        help="the first N ExpW photos only (default: --limit's N, else all), e.g. for a run "
                        "about throughput")
    parser.add_argument("--resamples", type=int, default=10000, help="paired-bootstrap resamples (default: 10000)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) to this file")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, checked: the ExpW folder, the batch size and the YuNet file."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.expw / "faces.csv").is_file():
        parser.error(f"{args.expw} has no faces.csv; pass --expw (the ExpW subset of ../shared/data/expw)")
    if args.batch_size < 2:
        parser.error("--batch-size is facexpr's batched mode, next to batch 1: give 2 or more")
    if not args.yunet.is_file():
        parser.error(f"no YuNet model at {args.yunet}; pass --yunet")
    return args


def load_tools(models: str) -> list[Tool]:
    """One :class:`Tool` per facexpr model of ``--models`` that has weights."""
    tools: list[Tool] = []
    for name in [m.strip() for m in models.split(",") if m.strip()]:
        try:
            model_name, _, precision = name.partition("@")  # "NAME@fp32": that precision (default: auto)
            tools.append(Tool(name, facexpr.load(model_name, device="cpu", precision=precision or "auto")))
        except WeightsNotAvailableError:
            print(f"skipping {name}: no weights", file=sys.stderr)
    if not tools:
        build_parser().error("no facexpr model to measure")
    return tools


@dataclass
class Fer2013Run:
    """The FER2013 test crops, and what `fer` alone needs reported about them."""

    paths: list[str]
    arrays: list[np.ndarray]
    targets: np.ndarray
    fer_whole_pred: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fer_ties: int = 0

    @property
    def n(self) -> int:
        return len(self.paths)


def measure_fer2013(run: Fer2013Run, fer_client: FerClient | None, fer: Tool | None, tools: list[Tool],
                    batch_size: int, rounds: int, latency_calls: int = 200) -> None:
    """Accuracy, throughput and one crop's latency on the FER2013 test crops, every tool and mode
    in interleaved rounds."""
    n = run.n
    if fer_client:
        fer_client.call("load", files=run.paths)
        fer_client.call("crops", source="arrays", box=list(FER_BOX), limit=64)  # warm-up
        whole = fer_client.call("crops", source="arrays", box=list(WHOLE_BOX))["scores"]
        run.fer_whole_pred = np.array([fer_label(s) for s in whole])
    for tool in tools:
        assert tool.model is not None
        time_facexpr(tool.model, run.arrays[:64], batch_size)  # warm-up
        time_facexpr(tool.model, run.arrays[:8], 1)
    modes_fx = [(f"arrays, batch {batch_size}", run.arrays, batch_size),
                (f"files, batch {batch_size}", run.paths, batch_size),
                ("arrays, batch 1", run.arrays, 1), ("files, batch 1", run.paths, 1)]
    for r in range(rounds):
        if fer and fer_client:
            for source in ("arrays", "files"):
                reply = fer_client.call("crops", source=source, box=list(FER_BOX))
                fer.rate(f"{source}, batch 1", reply["seconds"], n)
                if source == "arrays":
                    fer.call_ms.setdefault(FER_CALL, []).extend(1000 * t for t in reply["calls"])
                pred = np.array([fer_label(s) for s in reply["scores"]])
                if r == 0 and source == "arrays":
                    fer.fer2013_pred = pred
                    run.fer_ties = sum(is_tie(s) for s in reply["scores"])
                elif not np.array_equal(pred, fer.fer2013_pred):
                    print(f"note: fer's {source} predictions differ from its arrays' in round {r + 1}",
                          file=sys.stderr)
        for tool in tools:
            for mode, items, batch in modes_fx:
                seconds, pred = time_facexpr(tool.model, items, batch)
                tool.rate(mode, seconds, n)
                if not len(tool.fer2013_pred):
                    tool.fer2013_pred = pred
                elif (pred != tool.fer2013_pred).sum():
                    print(f"note: {tool.name} {mode}: {(pred != tool.fer2013_pred).sum()} predictions differ "
                          "from its first pass", file=sys.stderr)
            time_calls(tool, run.arrays[:latency_calls])
        best = {t.name: {m: f"{max(v):.0f}" for m, v in t.rates.items()} for t in ([fer] if fer else []) + tools}
        print(f"round {r + 1}/{rounds}: {best}", file=sys.stderr)


def measure_fer_chunk(fer_client: FerClient, fer: Tool, photo_paths: list[str],
                      truths: list[tuple[np.ndarray, list[int]]]) -> None:
    """`fer` on one chunk of ExpW photos: the labelled boxes (shrunk by its margin, and as they are)
    and the whole photos with its own detector."""
    same = [{"path": p, "boxes": [fer_box(box) for box in b]} for p, (b, _) in zip(photo_paths, truths)]
    for per_photo in fer_client.call("boxes", items=same)["scores"]:
        fer.crops_pred += [fer_label(s) for s in per_photo]
    own = [{"path": p, "boxes": np.round(b).astype(int).tolist()} for p, (b, _) in zip(photo_paths, truths)]
    for per_photo in fer_client.call("boxes", items=own)["scores"]:
        fer.crops_own_pred += [fer_label(s) for s in per_photo]
    reply = fer_client.call("photos", paths=photo_paths)
    fer.photo_ms += [1000 * s for s in reply["seconds"]]
    for (boxes, _), faces in zip(truths, reply["faces"]):
        found = match_found(boxes, np.array([f["box"] for f in faces]))
        fer.photos_pred += [fer_label(faces[j]["scores"]) if j is not None else -1 for j in found]


def measure_facexpr_chunk(tool: Tool, photo_paths: list[str], truths: list[tuple[np.ndarray, list[int]]],
                          yunet: YuNetDetector) -> None:
    """One facexpr model on one chunk of ExpW photos: the labelled boxes, then the whole photos with YuNet."""
    for path, (boxes, _) in zip(photo_paths, truths):
        rgb = to_rgb_uint8(path)
        faces = facexpr.predict(rgb, model=tool.model, detect=True, detector=Given(boxes), classes=SEVEN)
        if len(faces) != len(boxes):
            raise RuntimeError(f"{path}: {len(boxes)} labelled faces but {len(faces)} crops came back")
        order = nearest(boxes, np.array([f.box for f in faces]))
        tool.crops_pred += [SEVEN.index(faces[j].label) for j in order]
    for path, (boxes, _) in zip(photo_paths, truths):
        t0 = time.perf_counter()
        faces = facexpr.predict(path, model=tool.model, detect=True, detector=yunet, classes=SEVEN)
        tool.photo_ms.append(1000 * (time.perf_counter() - t0))
        found = match_found(boxes, np.array([f.box for f in faces]))
        tool.photos_pred += [SEVEN.index(faces[j].label) if j is not None else -1 for j in found]


@dataclass
class ExpwRun:
    """The ExpW faces every tool was measured on."""

    names: list[str]
    truth: np.ndarray  # class id of each labelled face
    groups: np.ndarray  # photo index of each labelled face


def measure_expw(expw: Path, limit: int | None, fer_client: FerClient | None, fer: Tool | None,
                 tools: list[Tool], yunet: YuNetDetector) -> ExpwRun:
    """Labelled-box crops and whole photos of ExpW, in chunks of :data:`CHUNK` photos through every tool."""
    labels = load_labels(expw, SEVEN)
    names = sorted(labels)[:limit] if limit else sorted(labels)
    truth_ids: list[int] = []
    groups: list[int] = []
    for start in range(0, len(names), CHUNK):
        chunk = names[start:start + CHUNK]
        truths = []
        for image_name in chunk:
            width, height = upright_size(expw / "images" / image_name)
            boxes = np.stack([clip_box(b, width, height) for b, _ in labels[image_name]])
            truths.append((boxes, [SEVEN.index(label) for _, label in labels[image_name]]))
            truth_ids += truths[-1][1]
            groups += [start + len(truths) - 1] * len(boxes)
        photo_paths = [str(expw / "images" / name) for name in chunk]
        if fer and fer_client:
            measure_fer_chunk(fer_client, fer, photo_paths, truths)
        for tool in tools:
            measure_facexpr_chunk(tool, photo_paths, truths, yunet)
        if (start + len(chunk)) % 100 == 0 or start + len(chunk) == len(names):
            print(f"  ExpW: {start + len(chunk)}/{len(names)} photos", file=sys.stderr)
    return ExpwRun(names, np.array(truth_ids), np.array(groups))


def accuracy_rows(fer: Tool | None, tools: list[Tool], crops: Fer2013Run, expw: ExpwRun, fer_info: dict) -> list[str]:
    """The accuracy table: FER2013 test, ExpW crops and photos, face recall and ms per photo."""
    truth, n_faces = expw.truth, len(expw.truth)
    rows = [
        "| tool | model | FER2013 test | ExpW crops (labelled boxes) | 95% interval | detector | face recall | "
        "ExpW photos, all labelled faces | faces found | ms / photo, p50 | p90 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tool in [fer, *tools] if fer else [Tool("`fer`"), *tools]:
        if tool.model is None and not fer:
            rows.append("| `fer` | 2018 mini-Xception (not measured) | | | | Haar cascade | | | | | |")
            continue
        hits = np.array(tool.crops_pred) == truth
        photos = np.array(tool.photos_pred)
        found = photos >= 0
        low, high = wilson(int(hits.sum()), n_faces)
        ms50, ms90 = np.percentile(tool.photo_ms, [50, 90])
        is_fer = tool.model is None
        rows.append(
            f"| {'`fer` ' + fer_info.get('fer', '') if is_fer else 'facexpr'} | "
            f"{'2018 mini-Xception, TFLite (quantized)' if is_fer else tool.name} | "
            f"{(tool.fer2013_pred == crops.targets).mean():.3f} | {hits.mean():.3f} | {low:.3f}-{high:.3f} | "
            f"{'Haar cascade (full size)' if is_fer else 'YuNet (<= 1000 px)'} | {found.mean():.3f} | "
            f"{(photos == truth).mean():.3f} | {(photos == truth)[found].mean():.3f} | {ms50:.0f} | {ms90:.0f} |"
        )
    return rows


def speed_rows(fer: Tool | None, tools: list[Tool], batch_size: int) -> list[str]:
    """The throughput table: images per second from arrays and from files, and as multiples of `fer`'s."""
    rows = [
        "| tool, model | batch | from arrays, images/s | vs `fer` | from files, images/s | vs `fer` |",
        "|---|---|---|---|---|---|",
    ]
    fer_arrays = fer.rates.get("arrays, batch 1") if fer else None
    fer_files = fer.rates.get("files, batch 1") if fer else None
    if fer:
        rows.append(f"| `fer` (TFLite) | 1 (one image per call) | {fmt_rate(fer_arrays)} | 1.00x | "
                    f"{fmt_rate(fer_files)} | 1.00x |")
    else:
        rows.append("| `fer` (TFLite) | 1 (one image per call) | not measured | | not measured | |")
    for tool in tools:
        for batch in (1, batch_size):
            a, f = tool.rates[f"arrays, batch {batch}"], tool.rates[f"files, batch {batch}"]
            rows.append(f"| facexpr {tool.name} | {batch} | {fmt_rate(a)} | {fmt_ratio(a, fer_arrays)} | "
                        f"{fmt_rate(f)} | {fmt_ratio(f, fer_files)} |")
    return rows


def comparison_notes(fer: Tool | None, tools: list[Tool], crops: Fer2013Run, expw: ExpwRun, resamples: int,
                     fer_missing: str) -> list[str]:
    """What the tables need said: how `fer` was given its crops, and each model minus `fer` with 95% intervals."""
    if not fer:
        return [fer_missing + "."]
    targets, truth, n = crops.targets, expw.truth, crops.n
    whole = (crops.fer_whole_pred == targets).mean()
    notes = [
        f"`fer`'s FER2013 accuracy is measured with the box {FER_BOX}, which `fer` widens by its 10-pixel margin "
        f"to exactly the 48x48 image; with the box of the whole image, {WHOLE_BOX}, it crops 68x68 pixels "
        f"(the image inside a flat grey border) and reads {whole:.3f}. On the ExpW crops `fer` gets each "
        f"labelled box shrunk by its margin, so that it classifies the pixels facexpr classifies (the box "
        f"squared); given the labelled box itself, it adds its margin and reads "
        f"{(np.array(fer.crops_own_pred) == truth).mean():.3f}. `fer` rounds its scores to two decimals: "
        f"{crops.fer_ties} of the {n} crops have two classes tied at the top (the first one counts, as "
        "`FER.top_emotion` does)."]
    for tool in tools:
        diffs = []
        for what, ours, theirs, grp in (
                ("FER2013 test", tool.fer2013_pred == targets, fer.fer2013_pred == targets, np.arange(n)),
                ("ExpW crops", np.array(tool.crops_pred) == truth, np.array(fer.crops_pred) == truth, expw.groups),
                ("ExpW photos", np.array(tool.photos_pred) == truth, np.array(fer.photos_pred) == truth, expw.groups)):
            d, lo, hi, _ = paired_bootstrap(ours, theirs, grp, resamples=resamples, seed=0)
            diffs.append(f"{what} {100 * d:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f})")
        notes.append(f"facexpr {tool.name} minus `fer`, points (95% paired bootstrap, {resamples} "
                     f"resamples; ExpW resampled by photo): " + ", ".join(diffs) + ".")
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run()
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    tools = load_tools(args.models)
    yunet = YuNetDetector(str(args.yunet))
    files, targets = fer2013_files(args.fer2013, args.limit)
    crops = Fer2013Run([str(p) for p in files], [np.asarray(Image.open(p).convert("L")) for p in files], targets)

    log = Path(tempfile.mkstemp(prefix="fer_worker_", suffix=".log")[1])
    fer_client, fer_missing = start_fer(args.fer_python, args.threads, log)
    fer = Tool("`fer`") if fer_client else None
    try:
        measure_fer2013(crops, fer_client, fer, tools, args.batch_size, args.rounds, args.latency_calls)
        photo_limit = args.photo_limit if args.photo_limit is not None else args.limit
        expw = measure_expw(args.expw, photo_limit, fer_client, fer, tools, yunet)
        fer_info = fer_client.info if fer_client else {}
    finally:
        if fer_client:
            fer_client.close()

    notes = comparison_notes(fer, tools, crops, expw, args.resamples, fer_missing)
    versions = (f"`fer` {fer_info.get('fer')} (TensorFlow {fer_info.get('tensorflow')}, OpenCV "
                f"{fer_info.get('opencv')}, Python {fer_info.get('python')}, cascade: {fer_info.get('cascade')})"
                if fer else "`fer` not measured")
    threads = f"{args.threads} thread(s) per side (torch and OpenCV; `fer`'s TFLite interpreter runs on one)"
    publish(run, threads, "benchmarks.bench_peers", argv, [
        f"FER2013 test: {crops.n} crops. ExpW: {len(expw.truth)} labelled faces in {len(expw.names)} photos.",
        "",
        *accuracy_rows(fer, tools, crops, expw, fer_info),
        "",
        f"Throughput on the {crops.n} FER2013 test crops, images per second: the best of {args.rounds} interleaved "
        "rounds (the range in brackets); \"vs `fer`\" divides the best figures of the same run.",
        "",
        *speed_rows(fer, tools, args.batch_size),
        "",
        f"One crop's latency, from a decoded array: every call of `fer`'s batch-1 rounds, and "
        f"{args.latency_calls} crops a round through each facexpr call, over the same {args.rounds} interleaved "
        f"round(s); {args.threads} thread(s).",
        "",
        *latency_rows(fer, tools),
        "",
        *[line for note in notes for line in (note, "")],
    ], args.out, MARKER, "# facexpr next to the `fer` package",
        note="other work shared the machine: compare the ratios, measured side by side",
        versions=f" (torch {torch.__version__}, OpenCV {cv2.__version__}), {versions}",
        env="OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
