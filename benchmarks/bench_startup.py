"""Benchmark start-up and single-image latency: what one ``facexpr predict`` costs.

Two tables:

* **Start-up**: wall time of fresh processes, run alternately so that the machine's load hits
  all of them alike: ``python -c "import torch"`` (the floor), ``python -c "import facexpr"``
  and ``python -m facexpr predict examples/images/astronaut_face.jpg`` (a face crop: load the
  shipped weights, decode, classify, print). Median and 90th percentile, and each median
  minus that of ``import torch``.
* **Latency** in one warm process, per call of :func:`facexpr.predict` with the default model
  (``facexpr.DEFAULT_MODEL``): one face crop (the
  file ``astronaut_face.jpg``, 125x125) and one decoded 640x480 photo (the example photo
  resized), with a stub detector callable that returns a fixed box (so the detector's own cost
  is left out) and with YuNet when ``--yunet`` names its ONNX file (default:
  ``../shared/models/face_detection_yunet/face_detection_yunet.onnx`` when present), on 1 and 2
  torch threads. Median and 90th percentile in milliseconds.

Usage, from the repository root::

    python -m benchmarks.bench_startup --repeats 10 --calls 50 --out docs/benchmarks/startup.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_YUNET = REPO_ROOT.parent / "shared" / "models" / "face_detection_yunet" / "face_detection_yunet.onnx"
CROP = "examples/images/astronaut_face.jpg"
COMMANDS = {
    "import torch": ["-c", "import torch"],
    "import facexpr": ["-c", "import facexpr"],
    f"facexpr predict {Path(CROP).name}": ["-m", "facexpr", "predict", CROP],
}


def percentiles(values: list[float]) -> tuple[float, float]:
    """(median, 90th percentile)."""
    return float(np.percentile(values, 50)), float(np.percentile(values, 90))


def startup_table(repeats: int) -> list[str]:
    """Run the commands alternately ``repeats`` times each; a Markdown table of wall times."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for r in range(repeats):
        for name, args in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
        print(f"start-up round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    floor = percentiles(times["import torch"])[0]
    lines = ["| command | median (s) | p90 (s) | median - import torch (s) |", "|---|---:|---:|---:|"]
    for name, values in times.items():
        p50, p90 = percentiles(values)
        lines.append(f"| `{name}` | {p50:.2f} | {p90:.2f} | {p50 - floor:+.2f} |")
    return lines


def latency_table(calls: int, yunet: Path | None) -> list[str]:
    """Milliseconds per facexpr.predict call, on 1 and 2 torch threads."""
    import torch
    from PIL import Image

    import facexpr
    from facexpr.assets import EXAMPLE_FACE, EXAMPLE_PHOTO

    model = facexpr.load(facexpr.DEFAULT_MODEL)  # as facexpr.predict loads it: int8 on a CPU that suits it
    photo = np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB").resize((640, 480), Image.BILINEAR))
    box = ([[250, 60, 150, 170]], [0.9])  # about where the face of the resized photo is

    cases: dict[str, Callable[[], object]] = {
        "face crop (125x125 file)": lambda: facexpr.predict(EXAMPLE_FACE, model=model),
        "640x480 photo, stub detector": lambda: facexpr.predict(photo, model=model, detector=lambda image: box),
    }
    if yunet is not None:
        from facexpr.detection import YuNetDetector

        detector = YuNetDetector(yunet)
        assert len(facexpr.predict(photo, model=model, detector=detector)) == 1
        cases["640x480 photo, YuNet"] = lambda: facexpr.predict(photo, model=model, detector=detector)
    results: dict[tuple[str, int], tuple[float, float]] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, run in cases.items():
            for _ in range(5):
                run()  # warm-up
            ms = []
            for _ in range(calls):
                start = time.perf_counter()
                run()
                ms.append(1000 * (time.perf_counter() - start))
            results[name, threads] = percentiles(ms)
            print(f"{threads} thread(s), {name}: p50 {results[name, threads][0]:.1f} ms, "
                  f"p90 {results[name, threads][1]:.1f} ms", flush=True)
    lines = ["| facexpr.predict on | 1 thread p50 (ms) | p90 | 2 threads p50 (ms) | p90 |", "|---|---:|---:|---:|---:|"]
    for name in cases:
        (a50, a90), (b50, b90) = results[name, 1], results[name, 2]
        lines.append(f"| {name} | {a50:.1f} | {a90:.1f} | {b50:.1f} | {b90:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs of each start-up command")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per latency case")
    parser.add_argument("--yunet", type=Path, default=DEFAULT_YUNET if DEFAULT_YUNET.exists() else None,
                        help="YuNet ONNX file for the photo case with a real detector")
    parser.add_argument("--out", type=Path, help="write the tables into this Markdown file (after its marker)")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    startup = startup_table(args.repeats)
    latency = latency_table(args.calls, args.yunet)
    header = (
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average before the run "
        f"{load_before[0]:.1f}. Command: `python -m "
        f"{shlex.join(['benchmarks.bench_startup', *(argv if argv is not None else sys.argv[1:])])}`"
    )
    text = "\n".join([header, "", f"Start-up, {args.repeats} runs of each command, alternated:", "", *startup, "",
                      f"Latency, {args.calls} calls each in one warm process:", "", *latency]) + "\n"
    print()
    print(text)
    if args.out is not None:
        from ._report import write_results

        write_results(args.out, "<!-- bench_startup results -->", text)


if __name__ == "__main__":
    main()
