"""Benchmark the released models: accuracy, calibration, size and CPU throughput, side by side.

Accuracy columns are re-measured here on FER2013 with the same evaluation code as
``facexpr release`` (and compared with the numbers stored in each config). Throughput compares
``model.predict`` on 48x48 crops with the bare forward pass of the same model, in the same run,
interleaved, so that the ratio holds on a noisy shared machine; with ``onnxruntime``
installed, the model exported by ``facexpr export`` is timed in the same rounds.

``--extra NAME=DIR`` adds rows for models that are not released, e.g. the seed project's
recipes reproduced with ``facexpr train --recipe seed-better --out runs/seed-better``; their
test accuracy is measured here, once.

Usage:
    python benchmarks/bench_zoo.py --data ../shared/data/fer2013 [--threads 2] [--repeats 5]
        [--extra seed-better=runs/seed-better/best ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import facexpr
from facexpr.data import FER2013
from facexpr.models import get_model_entry, to_memory_format
from facexpr.models._builder import shipped_weights_dir
from facexpr.release import evaluate_split


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _onnx_session(model: facexpr.models.FaceModel, folder: Path, threads: int):
    """Return an ONNX Runtime session on the exported model, or ``None`` without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    from facexpr.export import export

    path = export(model, folder / f"{model.architecture}.onnx", format="onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy threads between runs
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/fer2013")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=DIR",
                        help="also benchmark a saved model folder under this name (repeatable)")
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

    rows = []
    workdir = tempfile.TemporaryDirectory()
    for name, source, folder in models:
        model = facexpr.load(source, device="cpu")
        stored = model.config.metrics
        v = evaluate_split(model, val.images, val.targets)
        t = evaluate_split(model, test.images, test.targets)
        if "test" in stored and abs(t["accuracy"] - stored["test"]["accuracy"]) > 0.002:
            print(f"WARNING: {name}: test accuracy {t['accuracy']:.4f} differs from its config's "
                  f"{stored['test']['accuracy']:.4f}")
        ort = _onnx_session(model, Path(workdir.name), args.threads)
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
                input_name = ort.get_inputs()[0].name
                # the same work as the bare forward: normalise, then run
                paths["onnx"] = lambda: ort.run(None, {input_name: model.transforms().normalize(crops_u8).numpy()})
                paths["onnx"]()
            times: dict[str, list[float]] = {key: [] for key in paths}
            keys = list(paths)
            for round_index in range(args.repeats):  # interleaved, in a rotating order
                for key in keys[round_index % len(keys):] + keys[: round_index % len(keys)]:
                    times[key].append(_time(paths[key], 1))
            fwd, pred_list, pred_tensor = times["fwd"], times["list"], times["tensor"]
            onnx_times = times.get("onnx", [])
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
    print_table(rows, ACCURACY_COLUMNS)
    print_table(rows, SPEED_COLUMNS)


ACCURACY_COLUMNS = ("model", "val acc", "test acc", "test macro-F1", "test acc TTA",
                    "test ECE raw -> calibrated", "T", "crop_pct")
SPEED_COLUMNS = ("model", "params", "file", "forward img/s", "predict (arrays) img/s",
                 "predict (tensor) img/s", "predict overhead", "ONNX Runtime img/s")


def print_table(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    """Print the given columns of ``rows`` as a Markdown table, after a blank line."""
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row[k] for k in columns) + " |")


if __name__ == "__main__":
    main()
