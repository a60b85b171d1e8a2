"""Benchmark the released models: accuracy, calibration, size and CPU throughput, side by side.

Accuracy columns are re-measured here on FER2013 with the same evaluation code as
``facexpr release`` (and compared with the numbers stored in each config). Throughput compares
``model.predict`` on 48x48 crops with the bare forward pass of the same model, in the same run,
interleaved, so that the ratio holds on a noisy shared machine.

Usage:
    python benchmarks/bench_zoo.py --data ../shared/data/fer2013 [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.data import FER2013
from facexpr.models import get_model_entry
from facexpr.models._hub import shipped_weights_dir
from facexpr.release import evaluate_split


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/fer2013")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    val, test = FER2013(args.data, "val"), FER2013(args.data, "test")
    crops_u8 = test.images[: args.batch]
    crops_np = [img[0].numpy() for img in crops_u8]

    rows = []
    for name in facexpr.list_models():
        weights = get_model_entry(name).weights
        if weights is None or weights.sha256 is None:
            continue
        model = facexpr.load(name, device="cpu")
        stored = model.config.metrics
        v = evaluate_split(model, val.images, val.targets)
        t = evaluate_split(model, test.images, test.targets)
        assert abs(t["accuracy"] - stored["test"]["accuracy"]) < 1e-9, "test accuracy differs from config"
        inputs = model.transforms().normalize(crops_u8)
        with torch.inference_mode():
            model(inputs)  # warm-up
            model.predict(crops_np)
            fwd, pred_list, pred_tensor = [], [], []
            for _ in range(args.repeats):  # interleaved: each round times all three
                fwd.append(_time(lambda: model(model.transforms().normalize(crops_u8)), 1))
                pred_list.append(_time(lambda: model.predict(crops_np, batch_size=args.batch), 1))
                pred_tensor.append(_time(lambda: model.predict(crops_u8, batch_size=args.batch), 1))
        n = args.batch
        size = (shipped_weights_dir(name) / "model.safetensors").stat().st_size
        rows.append({
            "model": name,
            "val acc": f"{v['accuracy']:.4f}",
            "test acc": f"{t['accuracy']:.4f}",
            "test macro-F1": f"{t['macro_f1']:.4f}",
            "test acc TTA": f"{t['accuracy_tta']:.4f}",
            "test ECE raw -> calibrated": f"{t['ece']:.3f} -> {t['ece_calibrated']:.3f}",
            "T": f"{model.config.temperature:.3f}",
            "params": f"{sum(p.numel() for p in model.parameters()):,}",
            "file": f"{size / 2**20:.2f} MiB",
            "forward img/s": f"{n / np.median(fwd):,.0f}",
            "predict (arrays) img/s": f"{n / np.median(pred_list):,.0f}",
            "predict (tensor) img/s": f"{n / np.median(pred_tensor):,.0f}",
            "predict overhead": f"{np.median(pred_list) / np.median(fwd) - 1:+.1%}",
        })
    if not rows:
        print("No released weights to benchmark.")
        return
    keys = list(rows[0])
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of {args.repeats} interleaved rounds")
    print()
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(row[k] for k in keys) + " |")


if __name__ == "__main__":
    main()
