"""Benchmark the training data path: facexpr's pipeline vs bare compute vs the seed project's.

One BetterCNN training epoch over FER2013 ``train`` with the seed's augmentation (horizontal
flip, rotation +-10 degrees, RandomResizedCrop(48, scale 0.9-1.0)), timed three ways in the
same run, in interleaved rounds so that the ratios hold on a busy shared machine:

* ``bare``: forward, backward and Adam step on batches already normalised in memory (no data
  loading, no augmentation), with the model and batches channels-last as ``Trainer`` keeps
  them: the floor any pipeline can reach;
* ``facexpr``: ``Trainer.fit`` with ``augment="seed"`` on the cached ``uint8`` tensor (batch
  slicing, :class:`~facexpr.data.BatchAugment`, normalisation, the same step);
* ``seed``: the original project as it ran: the ``pixels`` strings of a FER2013 CSV parsed
  for every item, PIL + torchvision transforms, a :class:`~torch.utils.data.DataLoader`, and a
  plain PyTorch step on a freshly built ``BetterCNN`` (default NCHW layout). The CSV is
  generated in a temporary file from the cached tensors;
* ``seed data + facexpr step``: the seed's data path feeding facexpr's channels-last step, to
  separate the cost of the data path from that of the step.

Each path runs ``--batches`` batches per round; the epoch time is extrapolated to the
``ceil(28709 / batch_size)`` batches of a full epoch from the median time per batch.

The ``seed`` paths need torchvision, which facexpr itself no longer depends on
(``pip install torchvision``).

Usage:
    python -m benchmarks.bench_data_pipeline --data ../shared/data/fer2013 [--batches 30]
        [--rounds 3] [--threads 1] [--batch-size 64] [--workers 0]
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import facexpr
from facexpr.data import FER2013
from facexpr.models import BetterCNN
from facexpr.training import Callback, Trainer

REPO_ROOT = Path(__file__).resolve().parents[1]


class SeedCsvDataset(Dataset):
    """The seed's data set: CSV rows kept as strings, parsed and transformed per item."""

    def __init__(self, csv_path: Path, transform: transforms.Compose) -> None:
        with open(csv_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.pixels = [row["pixels"] for row in rows]
        self.labels = [int(row["emotion"]) for row in rows]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        face = np.array(self.pixels[index].split(), dtype=np.uint8).reshape(48, 48)
        return self.transform(Image.fromarray(face)), self.labels[index]


SEED_TRANSFORM = transforms.Compose([
    transforms.RandomHorizontalFlip(),
    transforms.RandomRotation(10),
    transforms.RandomResizedCrop(48, scale=(0.9, 1.0)),
    transforms.ToTensor(),
    transforms.Normalize((0.5,), (0.5,)),
])


class _Enough(Exception):
    pass


class _StopAfter(Callback):
    """Ends ``fit`` after ``n`` batches (so that a fraction of an epoch can be timed)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if batch + 1 >= self.n:
            raise _Enough


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
          targets: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(images), targets)
    loss.backward()
    optimizer.step()


def time_bare(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for images, targets in batches:
        _step(model, optimizer, images, targets)
    return time.perf_counter() - started


def time_facexpr(model: torch.nn.Module, train: FER2013, n: int, batch_size: int, seed: int) -> float:
    trainer = Trainer(model, optimizer="adam", lr=1e-3, augment="seed", device="cpu", seed=seed)
    started = time.perf_counter()
    try:
        trainer.fit(train, epochs=1, batch_size=batch_size, callbacks=[_StopAfter(n)], progress=False)
    except _Enough:
        pass
    return time.perf_counter() - started


def time_seed(model: torch.nn.Module, loader: DataLoader, n: int, channels_last: bool = False) -> float:
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for step, (images, targets) in enumerate(loader):
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        _step(model, optimizer, images, targets)
        if step + 1 >= n:
            break
    return time.perf_counter() - started


def write_seed_csv(train: FER2013, path: Path) -> None:
    """The seed's input: ``emotion,pixels,Usage`` rows with space-separated pixel strings."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for image, target in zip(train.images.numpy(), train.targets.tolist()):
            writer.writerow([target, " ".join(map(str, image.reshape(-1).tolist())), "Training"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO_ROOT.parent / "shared" / "data" / "fer2013"))
    parser.add_argument("--batches", type=int, default=30, help="batches timed per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median taken)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the seed path")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    started = time.perf_counter()
    train = FER2013(args.data, "train")
    load_seconds = time.perf_counter() - started
    bs, n = args.batch_size, args.batches
    epoch_batches = math.ceil(len(train) / bs)

    # Pre-made, normalised batches for the bare path (the first n * bs images of a shuffle).
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: n * bs]
    premade = [
        (((train.images[idx].float() / 255 - 0.5) / 0.5).contiguous(memory_format=torch.channels_last),
         train.targets[idx])
        for idx in order.split(bs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "fer2013.csv"
        write_seed_csv(train, csv_path)
        seed_data = SeedCsvDataset(csv_path, SEED_TRANSFORM)
    loader = DataLoader(seed_data, batch_size=bs, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)

    model = facexpr.load("better", pretrained=False, device="cpu")  # channels-last, like Trainer
    seed_model = BetterCNN()  # what the seed built: default NCHW layout
    keys = ("bare", "facexpr", "seed", "seed data + facexpr step")
    timings: dict[str, list[float]] = {key: [] for key in keys}
    for round_index in range(args.rounds + 1):  # round 0 warms up and is not counted
        measured = {
            "bare": time_bare(model, premade),
            "facexpr": time_facexpr(model, train, n, bs, seed=round_index),
            "seed": time_seed(seed_model, loader, n),
            "seed data + facexpr step": time_seed(model, loader, n, channels_last=True),
        }
        if round_index:
            for key, seconds in measured.items():
                timings[key].append(seconds / n)

    per_batch = {key: statistics.median(values) for key, values in timings.items()}
    epoch = {key: value * epoch_batches for key, value in per_batch.items()}
    described = {
        "bare": "forward + backward + Adam step on pre-made normalised channels-last tensors",
        "facexpr": "Trainer.fit, augment='seed': cached uint8 tensor + BatchAugment + the same step",
        "seed": "CSV pixel strings parsed per item + PIL/torchvision transforms + DataLoader + plain NCHW step",
        "seed data + facexpr step": "the seed's data path feeding the channels-last step of bare/facexpr",
    }
    print(
        f"BetterCNN, FER2013 train ({len(train):,} images, {epoch_batches} batches of {bs}), "
        f"torch {torch.__version__}, {args.threads} thread(s), DataLoader workers {args.workers}; "
        f"{n} batches per path and round, median of {args.rounds} interleaved rounds, "
        f"extrapolated to one epoch"
    )
    print()
    print("| path | what is timed | ms / batch | epoch (s) | vs bare | vs facexpr |")
    print("|---|---|---:|---:|---:|---:|")
    for key in keys:
        print(
            f"| {key} | {described[key]} | {per_batch[key] * 1000:.1f} | {epoch[key]:.1f} | "
            f"{epoch[key] / epoch['bare']:.2f}x | {epoch[key] / epoch['facexpr']:.2f}x |"
        )
    print()
    fx_ratio = epoch["facexpr"] / epoch["bare"]
    seed_ratio = epoch["seed"] / epoch["facexpr"]
    print(f"- facexpr epoch / bare epoch = {fx_ratio:.2f} (target <= 1.25: {'met' if fx_ratio <= 1.25 else 'NOT met'})")
    data_ratio = epoch["seed data + facexpr step"] / epoch["facexpr"]
    print(f"- seed epoch as the seed ran it (its data path and its NCHW step) / facexpr epoch = "
          f"{seed_ratio:.2f} (target >= 1.6: {'met' if seed_ratio >= 1.6 else 'NOT met'})")
    print(f"- the data path alone (both with facexpr's channels-last step): seed / facexpr = "
          f"{data_ratio:.2f} ({'>=' if data_ratio >= 1.6 else 'below'} 1.6)")
    print(f"- loading FER2013 train into memory (decoded-image cache): {load_seconds:.1f} s, once per run")


if __name__ == "__main__":
    main()
