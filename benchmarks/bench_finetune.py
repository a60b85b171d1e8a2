"""Fine-tuning a released model on faces from photos: what it gains, with how many faces, and what it forgets.

Each run is exactly what a user types::

    facexpr train --model MODEL --pretrained --data SUBSET --out OUT --epochs E --lr LR [--freeze features] [--teacher T]

on ``SUBSET``, a stratified, seeded subset of a face-box data set (by default
``../shared/data/expw-train``: its ``faces.csv`` rows, the photos read in place), which holds out
a tenth of each class to choose the epoch. The result is scored, single view, on:

* the **dev** faces (by default ``../shared/data/expw``: other photos, never trained on), over
  FER2013's seven classes: what fine-tuning gains;
* **FER2013 val** (its own labels, seven classes) and **FER+ val** (majority, the model's eight
  classes when it has them): what it forgets.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_finetune --sizes 100,300,1000,all \\
        --settings "lr=1e-4,epochs=4" "lr=3e-4,epochs=8" "lr=1e-4,epochs=4,freeze=features" \\
        --out docs/benchmarks/finetune.md
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
from collections import defaultdict
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import torch

import facexpr
from facexpr.cli import main as facexpr_main
from facexpr.data import FER2013, FaceBoxes, FERPlus
from facexpr.labels import FER2013_LABELS
from facexpr.models import DEFAULT_MODEL

from ._report import Run, publish

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_finetune results -->"
SEVEN = tuple(FER2013_LABELS)


def subset(source: Path, size: int | None, seed: int, folder: Path) -> Path:
    """Write ``folder/faces.csv`` with ``size`` rows of ``source``'s (stratified, seeded) and link its photos."""
    with open(source / "faces.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames or [], list(reader)
    if size is not None and size < len(rows):
        by_label: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            by_label[row["label"]].append(row)
        rng = random.Random(seed)
        share = size / len(rows)
        rows = [row for label in sorted(by_label) for row in
                rng.sample(by_label[label], max(2, round(share * len(by_label[label]))))]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "faces.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    (folder / "images").symlink_to((source / "images").resolve())
    return folder


def score(model: facexpr.FaceModel, dev: FaceBoxes, fer: FER2013, plus: FERPlus) -> dict[str, float]:
    """Dev accuracy (seven classes), FER2013 val (seven), FER+ val (the model's classes)."""
    def accuracy(images: torch.Tensor, targets: torch.Tensor, classes: tuple[str, ...] | None) -> float:
        return float((model.predict_proba(images, classes=classes).argmax(1) == targets).float().mean())

    eight = tuple(model.labels) == tuple(plus.classes)
    return {
        "dev": accuracy(dev.images, dev.targets, SEVEN),
        "fer2013": accuracy(fer.images, fer.targets, SEVEN),
        "ferplus": accuracy(plus.images, plus.targets, None) if eight else float("nan"),
    }


def parse_setting(text: str) -> dict[str, str]:
    """``"lr=1e-4,epochs=4,freeze=features,teacher=vgg8_bn.mixed"`` -> a dict."""
    setting = dict(part.split("=", 1) for part in text.split(",") if part)
    unknown = set(setting) - {"lr", "epochs", "freeze", "teacher"}
    if unknown or not {"lr", "epochs"} <= set(setting):
        raise SystemExit(f"a setting needs lr= and epochs= (and may have freeze=features, teacher=MODEL), got {text!r}")
    return setting


def main(argv: list[str] | None = None) -> int:
    """Fine-tune on subsets with each setting; print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model to fine-tune (default: {DEFAULT_MODEL})")
    parser.add_argument("--train", type=Path, default=SHARED / "data" / "expw-train", help="face-box training data")
    parser.add_argument("--dev", type=Path, default=SHARED / "data" / "expw", help="face-box data to measure the gain on")
    parser.add_argument("--fer2013", type=Path, default=SHARED / "data" / "fer2013", help="FER2013 folder")
    parser.add_argument("--ferplus", type=Path, default=SHARED / "data" / "ferplus", help="FER+ folder")
    parser.add_argument("--sizes", default="all", help="comma-separated numbers of training faces, or 'all'")
    parser.add_argument("--settings", nargs="+", default=["lr=1e-4,epochs=4"], help="lr=...,epochs=...[,freeze=features][,teacher=MODEL]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsets (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    run = Run()
    dev, fer, plus = FaceBoxes(args.dev), FER2013(args.fer2013, "val"), FERPlus(args.ferplus, "val", labels="majority")
    start = score(facexpr.load(args.model, device="cpu"), dev, fer, plus)
    lines = [
        "| training faces | setting | dev crops | change | FER2013 val | change | FER+ val | change |",
        "|---|---|---|---|---|---|---|---|",
        f"| 0 (the released `{args.model}`) | | {start['dev']:.4f} | | {start['fer2013']:.4f} | | {start['ferplus']:.4f} | |",
    ]
    sizes = [None if s.strip() == "all" else int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            data = subset(args.train, size, args.seed, Path(tmp) / f"faces-{size}")
            n = len(FaceBoxes(data, cache=False))
            for text in args.settings:
                setting = parse_setting(text)
                out = Path(tmp) / f"run-{size}-{len(lines)}"
                command = ["train", "--model", args.model, "--pretrained", "--data", str(data), "--out", str(out),
                           "--epochs", setting["epochs"], "--lr", setting["lr"], "--device", "cpu"]
                if "freeze" in setting:
                    command += ["--freeze", setting["freeze"]]
                if "teacher" in setting:  # distilled while fine-tuned: the teacher's scores keep what it knew
                    command += ["--teacher", setting["teacher"]]
                with redirect_stdout(StringIO()):
                    code = facexpr_main(command)
                if code != 0:
                    raise SystemExit(f"facexpr {' '.join(command)} failed with exit status {code}")
                got = score(facexpr.load(out / "best", device="cpu"), dev, fer, plus)
                print(f"{n} faces, {text}: {got}", flush=True)
                lines.append(
                    f"| {n} | {text.replace(',', ', ')} | {got['dev']:.4f} | {100 * (got['dev'] - start['dev']):+.1f} | "
                    f"{got['fer2013']:.4f} | {100 * (got['fer2013'] - start['fer2013']):+.1f} | {got['ferplus']:.4f} | "
                    f"{100 * (got['ferplus'] - start['ferplus']):+.1f} |")
    body = [
        f"Fine-tuning `{args.model}` on faces of `{args.train.name}` (a tenth of each class held out to choose the "
        f"epoch); dev: {len(dev)} faces of `{args.dev.name}`; FER2013 val {len(fer)} faces, FER+ val {len(plus)} faces. "
        "Changes in points against the released model.",
        "",
        *lines,
    ]
    publish(run, torch.get_num_threads(), "benchmarks.bench_finetune", argv, body, args.out, MARKER,
            "# Fine-tuning on faces from photos")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
