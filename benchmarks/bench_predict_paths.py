"""Benchmark prediction from image files against the same faces already in memory.

On the FER2013 test JPEGs (48x48 grayscale), in the same run and in interleaved rounds, so that
the ratios hold on a busy shared machine, images per second of:

* ``arrays``: ``model.predict(list of uint8 48x48 arrays)``, the faces decoded beforehand (the
  floor any file path can reach: only the forward passes and the bookkeeping);
* ``paths``: ``model.predict(list of paths)``: decoding, grayscale and rounding per image in
  PIL/numpy, each batch decoded in a background thread while the model runs on the previous one;
* ``predict_folder``: ``list(facexpr.predict_folder(folder, recursive=True, detect=False))`` with
  its default ``chunk``;
* ``cli --csv``: ``facexpr predict FOLDER --recursive --csv out.csv`` run in-process (``main``),
  model loading included.

Every mode runs twice per round: as the machine is, and with one more CPU-bound process that
this script starts (a Python busy loop) and stops. The table gives the median over the rounds,
the ratio of each mode to ``arrays`` under the same load, and the ratio of the loaded figure to
the unloaded one.

Usage, from the repository root::

    python -m benchmarks.bench_predict_paths --data ../shared/data/fer2013/test --threads 2 \\
        --batch-size 256 --rounds 3 --out docs/benchmarks/predict_paths.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import facexpr
from facexpr._io import list_images
from facexpr.cli import main as cli_main

from ._report import write_results

REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "fer2013" / "test"
MODES = ("arrays", "paths", "predict_folder", "cli --csv")
LOADS = ("as is", "+1 busy process")


def busy_process() -> subprocess.Popen:
    """Start a CPU-bound Python process (stopped with ``terminate``)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def runners(model: facexpr.FaceModel, folder: Path, paths: list[Path], arrays: list[np.ndarray],
            batch_size: int, tmp: Path) -> dict[str, Callable[[], int]]:
    """One callable per mode; each returns the number of images it predicted."""
    def arrays_run() -> int:
        return len(model.predict(arrays, batch_size=batch_size))

    def paths_run() -> int:
        return len(model.predict(paths, batch_size=batch_size))

    def folder_run() -> int:
        return len(list(facexpr.predict_folder(folder, recursive=True, model=model,
                                               batch_size=batch_size)))

    def cli_run() -> int:
        code = cli_main(["predict", str(folder), "--recursive", "--model", "better",
                         "--batch-size", str(batch_size), "--csv", str(tmp / "out.csv")])
        assert code == 0, code
        return len(paths)

    return {"arrays": arrays_run, "paths": paths_run, "predict_folder": folder_run, "cli --csv": cli_run}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of face crops (searched recursively)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--out", type=Path, help="write the table into this Markdown file (after its marker)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    paths = list_images(args.data, recursive=True)
    if not paths:
        sys.exit(f"No images in {args.data}.")
    arrays = [np.asarray(Image.open(p).convert("L")) for p in paths]
    model = facexpr.load("better")
    assert [p.label for p in model.predict(paths[:300])] == [p.label for p in model.predict(arrays[:300])]
    load_before = os.getloadavg()

    speeds: dict[tuple[str, str], list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        run = runners(model, args.data, paths, arrays, args.batch_size, Path(tmp))
        run["arrays"]()  # warm-up: first-call allocations, page cache
        for r in range(args.rounds):
            for load in LOADS:
                hog = busy_process() if load != "as is" else None
                try:
                    if hog is not None:
                        time.sleep(0.5)  # let it reach the CPU
                    for mode in args.modes:
                        start = time.perf_counter()
                        n = run[mode]()
                        speeds[mode, load].append(n / (time.perf_counter() - start))
                        print(f"round {r + 1} {load:<16} {mode:<15} {speeds[mode, load][-1]:8.0f} images/s",
                              flush=True)
                finally:
                    if hog is not None:
                        hog.terminate()
                        hog.wait()

    med = {key: statistics.median(values) for key, values in speeds.items()}
    lines = [
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} torch threads, batch "
        f"{args.batch_size}, {len(paths)} images from `{args.data.name}`, median of {args.rounds} interleaved "
        f"rounds; load average before the run {load_before[0]:.1f}. Command: "
        f"`python -m {shlex.join(['benchmarks.bench_predict_paths', *(argv if argv is not None else sys.argv[1:])])}`",
        "",
        "| mode | images/s, as is | vs arrays | images/s, +1 busy process | vs arrays | busy / as is |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode in args.modes:
        idle, busy = med[mode, LOADS[0]], med[mode, LOADS[1]]
        lines.append(f"| {mode} | {idle:.0f} | {idle / med['arrays', LOADS[0]]:.2f}x | {busy:.0f} | "
                     f"{busy / med['arrays', LOADS[1]]:.2f}x | {busy / idle:.2f}x |" if "arrays" in args.modes else
                     f"| {mode} | {idle:.0f} | - | {busy:.0f} | - | {busy / idle:.2f}x |")
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    if args.out is not None:
        write_results(args.out, "<!-- bench_predict_paths results -->", table)


if __name__ == "__main__":
    main()
