"""Int8 against float32 on the CPU: accuracy, agreement, faces per second and one crop's latency.

For each model (``--models``), its float32 network and its int8 twin (what ``precision="auto"``
runs on a CPU with VNNI/AMX; see ``facexpr.models.int8_supported``), measured on:

* **Accuracy and agreement**: FER2013 val (PublicTest, 3,589 faces; an 8-class FER+ model is read
  in FER2013's seven classes with ``classes=FER2013_LABELS``) and FER+ val (majority labels;
  8-class models only): accuracy of each precision and the share of faces whose label is the
  same in both. Test accuracy (FER2013 test, FER+ test) is reported once, for the record.
  ``--fer2013-calibration`` adds a twin calibrated on 512 FER2013 training faces (random, seed 0)
  instead of the shipped views of the example face, to show what the calibration set costs.
* **Faces per second**: ``model.predict_proba`` on the 3,589 FER2013 test crops as a ``uint8``
  tensor, at ``--batch-size``; the precisions interleaved, ``--rounds`` rounds, best and range.
* **One crop's latency**: ``model.predict(crop)`` and ``facexpr.predict(crop, model=model)`` on
  one 48x48 FER2013 test crop (a numpy array), ``--calls`` calls each (the precisions and the two
  calls interleaved in blocks of 20), 50th and 90th percentiles in milliseconds.

Run it from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_int8 --out docs/benchmarks/int8.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.labels import FER2013_LABELS, FERPLUS_LABELS
from facexpr.models import DEFAULT_MODEL, ORTFaceModel, cpu_int8_features, quantize_onnx

from ._report import Run, publish

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MARKER = "<!-- bench_int8 results -->"


def labels_of(runner: object, model: facexpr.FaceModel, faces: torch.Tensor, seven: bool) -> torch.Tensor:
    """Predicted class ids (FER2013's seven, or the model's own classes)."""
    classes = FER2013_LABELS if seven and model.labels != FER2013_LABELS else None
    if isinstance(runner, ORTFaceModel):
        probs = runner.predict_proba(faces, classes=classes)
    else:
        probs = model.predict_proba(faces, classes=classes, precision=runner)
    return probs.argmax(1)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=f"{DEFAULT_MODEL},better.ferplus", help="comma-separated models")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200, help="calls per latency figure (default: 200)")
    parser.add_argument("--fer2013-calibration", action="store_true",
                        help="also measure a twin calibrated on 512 FER2013 training faces")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    run = Run()
    from facexpr.data import FER2013, FERPlus

    fer = {split: FER2013(SHARED / "data" / "fer2013", split) for split in ("val", "test")}
    ferplus = {split: FERPlus(SHARED / "data" / "ferplus", split) for split in ("val", "test")}
    calibration_train = None
    if args.fer2013_calibration:
        train = FER2013(SHARED / "data" / "fer2013", "train")
        calibration_train = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:512]]

    accuracy_rows, speed_rows, latency_rows = [], [], []
    crop = fer["test"].images[0, 0].numpy()  # one 48x48 face crop, as a numpy array
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        model = facexpr.load(name, device="cpu")
        runners: dict[str, object] = {"fp32": "fp32", "int8": "int8"}
        if calibration_train is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = quantize_onnx(model, Path(tmp) / "fer2013.onnx", faces=calibration_train)
                runners["int8, FER2013 calibration"] = ORTFaceModel.from_graph(str(path), model.config, precision="int8")
        eight = model.labels == FERPLUS_LABELS
        preds: dict[tuple[str, str], torch.Tensor] = {}
        for split in ("val", "test"):
            for key, runner in runners.items():
                preds[(key, f"fer2013 {split}")] = labels_of(runner, model, fer[split].images, seven=True)
                if eight:
                    preds[(key, f"ferplus {split}")] = labels_of(runner, model, ferplus[split].images, seven=False)
        for key in runners:
            row = [name, key]
            for split in ("val", "test"):
                fer_acc = (preds[(key, f"fer2013 {split}")] == fer[split].targets).float().mean().item()
                fer_agree = (preds[(key, f"fer2013 {split}")] == preds[("fp32", f"fer2013 {split}")]).float().mean().item()
                if eight:
                    fp_acc = (preds[(key, f"ferplus {split}")] == ferplus[split].majority).float().mean().item()
                    fp_agree = (preds[(key, f"ferplus {split}")] == preds[("fp32", f"ferplus {split}")]).float().mean().item()
                    fp_text = [f"{fp_acc:.4f}", f"{100 * fp_agree:.2f}%"]
                else:
                    fp_text = ["-", "-"]
                row += [f"{fer_acc:.4f}", f"{100 * fer_agree:.2f}%", *fp_text]
            accuracy_rows.append(row)

        # faces per second, interleaved rounds
        faces = fer["test"].images
        rates: dict[str, list[float]] = {"fp32": [], "int8": []}
        for precision in rates:  # warm-up
            model.predict_proba(faces[:64], batch_size=args.batch_size, precision=precision)
        for _ in range(args.rounds):
            for precision in rates:
                start = time.perf_counter()
                model.predict_proba(faces, batch_size=args.batch_size, precision=precision)
                rates[precision].append(len(faces) / (time.perf_counter() - start))
        speed_rows.append([name, *(f"{max(rates[p]):.0f} ({min(rates[p]):.0f}-{max(rates[p]):.0f})" for p in rates),
                           f"{max(rates['int8']) / max(rates['fp32']):.2f}x"])

        # one crop's latency, interleaved blocks
        by_precision = {p: facexpr.load(name, device="cpu", precision=p) for p in ("fp32", "int8")}
        calls = {
            "model.predict": lambda m: m.predict(crop),
            "facexpr.predict": lambda m: facexpr.predict(crop, model=m),
        }
        times: dict[tuple[str, str], list[float]] = {(c, p): [] for c in calls for p in by_precision}
        for (call, precision) in times:
            for _ in range(5):
                calls[call](by_precision[precision])  # warm-up
        for _ in range(max(1, args.calls // 20)):
            for (call, precision), bucket in times.items():
                for _ in range(20):
                    start = time.perf_counter()
                    calls[call](by_precision[precision])
                    bucket.append(1000 * (time.perf_counter() - start))
        for (call, precision), bucket in times.items():
            latency_rows.append([name, call, precision, f"{percentile(bucket, 50):.2f}", f"{percentile(bucket, 90):.2f}"])
        print(f"{name}: done", file=sys.stderr)

    def table(head: list[str], rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]

    body = [f"CPU int8 features: {', '.join(cpu_int8_features()) or 'none'}; "
            f"torch {torch.__version__.split('+')[0]}, onnxruntime {__import__('onnxruntime').__version__}.", "",
            "Accuracy (FER2013 in its seven classes; FER+ majority labels, 8-class models only) and the share of "
            "labels equal to the float32 model's:", "",
            *table(["model", "precision", "FER2013 val", "agree", "FER+ val", "agree", "FER2013 test", "agree",
                    "FER+ test", "agree"], accuracy_rows), "",
            f"FER2013 test crops per second, `model.predict_proba(uint8 tensor, batch_size={args.batch_size})`, "
            f"best of {args.rounds} interleaved rounds (range):", "",
            *table(["model", "fp32", "int8", "int8 / fp32"], speed_rows), "",
            f"One 48x48 crop (a numpy array), milliseconds per call, {max(1, args.calls // 20) * 20} calls each:", "",
            *table(["model", "call", "precision", "p50 ms", "p90 ms"], latency_rows)]
    publish(run, torch.get_num_threads(), "benchmarks.bench_int8", argv, body, args.out, MARKER,
            "# Int8 and float32 on the CPU", note="speed figures depend on it; accuracies do not",
            env="OMP_NUM_THREADS=1" if os.environ.get("OMP_NUM_THREADS") == "1" else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
