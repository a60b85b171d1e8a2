"""Benchmark the released models: accuracy, calibration, size and CPU throughput, side by side.

Accuracy columns are re-measured here on FER2013 with the same evaluation code as
``facexpr release`` (and compared with the numbers stored in each config). Throughput compares
``model.predict`` on 48x48 crops with the bare forward pass of the same model, in the same run,
interleaved, so that the ratio holds on a noisy shared machine; with ``onnxruntime``
installed, ``facexpr.load(name, backend="onnxruntime")`` is timed in the same rounds.

A second speed table compares ways of running the same forward pass at batch 256 and batch 1,
timed in the same interleaved rounds: PyTorch eager (channels-last, as ``facexpr.load``
returns it), the ONNX Runtime backend, ``torch.jit.freeze`` of the traced model, and
``torch.compile`` (default mode; its compile time is reported; ``--no-compile`` leaves it
out).

``--extra NAME=DIR`` adds rows for models that are not released, e.g. the seed project's
recipes reproduced with ``facexpr train --recipe seed-better --out runs/seed-better``; their
test accuracy is measured here, once.

Usage:
    python -m benchmarks.bench_zoo --data ../shared/data/fer2013 [--threads 2] [--repeats 5]
        [--extra seed-better=runs/seed-better/best ...] [--speed-only] [--no-compile]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.data import FER2013
from facexpr.models import get_model_entry, shipped_weights_dir, to_memory_format
from facexpr.release import evaluate_split


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _ort_model(source: str | Path) -> facexpr.models.FaceModel | None:
    """The ONNX Runtime backend of ``source`` (threads: torch's), or ``None`` without onnxruntime."""
    try:
        return facexpr.load(source, backend="onnxruntime")
    except ImportError:
        return None


def _frozen(model: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """``torch.jit.freeze`` of the traced model (deprecated in recent torch; warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.freeze(torch.jit.trace(model, example).eval())


def backend_rows(name: str, model: facexpr.models.FaceModel, ort_model: facexpr.models.FaceModel | None,
                 crops_u8: torch.Tensor, repeats: int, compile: bool) -> list[dict[str, str]]:
    """Images/s of one forward pass per backend at batch ``len(crops_u8)`` and at batch 1.

    Batch 1 runs the first 64 faces one at a time. All backends get the same normalised inputs
    (channels-last for PyTorch, as :func:`facexpr.load` stores the weights), interleaved in
    rotating order, median of ``repeats`` rounds.
    """
    x = to_memory_format(model, model.transforms().normalize(crops_u8))
    singles = [x[i : i + 1] for i in range(min(64, x.shape[0]))]
    runners: dict[str, torch.nn.Module | None] = {"eager": model, "onnxruntime": ort_model,
                                                   "jit.freeze": _frozen(model, x)}
    compile_s = "not run"
    if compile:
        try:
            compiled = torch.compile(model)
            started = time.perf_counter()
            with torch.inference_mode():
                compiled(x), compiled(singles[0])  # compiles for both shapes
            compile_s = f"{time.perf_counter() - started:.0f} s"
            runners["torch.compile"] = compiled
        except Exception as err:  # no C++ compiler, unsupported platform...
            compile_s = f"failed: {type(err).__name__}"
            runners["torch.compile"] = None
    rows = []
    with torch.inference_mode():
        for batch_name, batches in ((f"{x.shape[0]}", [x]), ("1", singles)):
            n = sum(b.shape[0] for b in batches)
            paths = {key: (lambda r=runner: [r(b) for b in batches]) for key, runner in runners.items()
                     if runner is not None}
            for path in paths.values():
                path()  # warm-up
            times: dict[str, list[float]] = {key: [] for key in paths}
            keys = list(paths)
            for round_index in range(repeats):
                for key in keys[round_index % len(keys):] + keys[: round_index % len(keys)]:
                    times[key].append(_time(paths[key], 1))
            speed = {key: n / float(np.median(value)) for key, value in times.items()}
            best_torch = max(value for key, value in speed.items() if key != "onnxruntime")
            row = {"model": name, "batch": batch_name}
            for key in ("eager", "onnxruntime", "jit.freeze", "torch.compile"):
                row[key + " img/s"] = f"{speed[key]:,.0f}" if key in speed else "n/a"
            ort = speed.get("onnxruntime")
            row["ORT / eager"] = f"{ort / speed['eager']:.2f}x" if ort else "n/a"
            row["ORT / best PyTorch"] = f"{ort / best_torch:.2f}x" if ort else "n/a"
            row["compile time"] = compile_s
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/fer2013")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=DIR",
                        help="also benchmark a saved model folder under this name (repeatable)")
    parser.add_argument("--speed-only", action="store_true", help="skip the accuracy columns (no evaluation)")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out of the backend table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    val, test = FER2013(args.data, "val"), FER2013(args.data, "test")
    crops_u8 = test.images[: args.batch]
    crops_np = [img[0].numpy() for img in crops_u8]

    models: list[tuple[str, str | Path, Path]] = []
    for name in facexpr.list_models():
        weights = get_model_entry(name).weights
        if weights is not None and weights.sha256 is not None:
            models.append((name, name, shipped_weights_dir(name)))
    for extra in args.extra:
        label, _, folder = extra.partition("=")
        models.append((label, Path(folder), Path(folder)))

    rows, speed_rows = [], []
    for name, source, folder in models:
        model = facexpr.load(source, device="cpu")
        stored = model.config.metrics
        nan = {key: float("nan") for key in ("accuracy", "macro_f1", "accuracy_tta", "ece", "ece_calibrated")}
        v = nan if args.speed_only else evaluate_split(model, val.images, val.targets)
        t = nan if args.speed_only else evaluate_split(model, test.images, test.targets)
        if "test" in stored and abs(t["accuracy"] - stored["test"]["accuracy"]) > 0.002:
            print(f"WARNING: {name}: test accuracy {t['accuracy']:.4f} differs from its config's "
                  f"{stored['test']['accuracy']:.4f}")
        ort = _ort_model(source)
        bare_inputs = lambda: to_memory_format(model, model.transforms().normalize(crops_u8))  # noqa: E731
        with torch.inference_mode():
            model(bare_inputs())  # warm-up
            model.predict(crops_np, batch_size=args.batch)
            model.predict(crops_u8, batch_size=args.batch)
            paths = {
                "fwd": lambda: model(bare_inputs()),
                "list": lambda: model.predict(crops_np, batch_size=args.batch),
                "tensor": lambda: model.predict(crops_u8, batch_size=args.batch),
            }
            if ort is not None:
                # the same work as the bare forward: normalise, then run
                paths["onnx"] = lambda: ort(model.transforms().normalize(crops_u8))
                paths["onnx"]()
            times: dict[str, list[float]] = {key: [] for key in paths}
            keys = list(paths)
            for round_index in range(args.repeats):  # interleaved, in a rotating order
                for key in keys[round_index % len(keys):] + keys[: round_index % len(keys)]:
                    times[key].append(_time(paths[key], 1))
            fwd, pred_list, pred_tensor = times["fwd"], times["list"], times["tensor"]
            onnx_times = times.get("onnx", [])
        speed_rows += backend_rows(name, model, ort, crops_u8, args.repeats, not args.no_compile)
        n = args.batch
        size = (folder / "model.safetensors").stat().st_size
        rows.append({
            "model": name,
            "val acc": f"{v['accuracy']:.4f}",
            "test acc": f"{t['accuracy']:.4f}",
            "test macro-F1": f"{t['macro_f1']:.4f}",
            "test acc TTA": f"{t['accuracy_tta']:.4f}",
            "test ECE raw -> calibrated": f"{t['ece']:.3f} -> {t['ece_calibrated']:.3f}",
            "T": f"{model.config.temperature:.3f}",
            "crop_pct": f"{model.config.crop_pct:.3f}",
            "params": f"{sum(p.numel() for p in model.parameters()):,}",
            "file": f"{size / 2**20:.2f} MiB",
            "forward img/s": f"{n / np.median(fwd):,.0f}",
            "predict (arrays) img/s": f"{n / np.median(pred_list):,.0f}",
            "predict (tensor) img/s": f"{n / np.median(pred_tensor):,.0f}",
            "predict overhead": f"{np.median(pred_list) / np.median(fwd) - 1:+.1%}",
            "ONNX Runtime img/s": f"{n / np.median(onnx_times):,.0f}" if onnx_times else "n/a",
        })
    if not rows:
        print("No released weights to benchmark.")
        return
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of {args.repeats} interleaved rounds")
    if not args.speed_only:
        print_table(rows, ACCURACY_COLUMNS)
    print_table(rows, SPEED_COLUMNS)
    print_table(speed_rows, BACKEND_COLUMNS)


ACCURACY_COLUMNS = ("model", "val acc", "test acc", "test macro-F1", "test acc TTA",
                    "test ECE raw -> calibrated", "T", "crop_pct")
SPEED_COLUMNS = ("model", "params", "file", "forward img/s", "predict (arrays) img/s",
                 "predict (tensor) img/s", "predict overhead", "ONNX Runtime img/s")


BACKEND_COLUMNS = ("model", "batch", "eager img/s", "onnxruntime img/s", "jit.freeze img/s", "torch.compile img/s",
                   "ORT / eager", "ORT / best PyTorch", "compile time")


def print_table(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    """Print the given columns of ``rows`` as a Markdown table, after a blank line."""
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row[k] for k in columns) + " |")


if __name__ == "__main__":
    main()
