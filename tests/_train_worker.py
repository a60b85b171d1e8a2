"""A tiny training run used by tests/test_training.py, in-process or as a real subprocess.

``python tests/_train_worker.py fit DATA OUT --stall EPOCH:BATCH`` trains with a checkpoint
and hangs at the given batch (writing ``OUT/stalled``) so that the test can SIGKILL it.
``torchrun --nproc_per_node=2 tests/_train_worker.py ddp DATA OUT`` trains with DDP and writes
each rank's weights and history.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO_ROOT))

import facexpr  # noqa: E402
from facexpr.data import FaceDataset  # noqa: E402
from facexpr.training import Callback, CSVLogger, Trainer  # noqa: E402

EPOCHS = 3
BATCH_SIZE = 8


def make_data(n: int = 32, num_classes: int = 3, seed: int = 0) -> FaceDataset:
    """``n`` random 48x48 faces whose brightness depends on their class (so they are learnable)."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % num_classes
    noise = torch.rand(n, 1, 48, 48, generator=generator) * 100
    images = (noise + targets.view(-1, 1, 1, 1) * 70).to(torch.uint8)
    return FaceDataset(images, targets, classes=[f"class{i}" for i in range(num_classes)])


def make_trainer(num_classes: int = 3, cls: type[Trainer] = Trainer, **kwargs: object) -> Trainer:
    """A BetterCNN with fixed initial weights and a trainer using every random component."""
    torch.manual_seed(0)
    model = facexpr.load("better", pretrained=False, num_classes=num_classes, device="cpu")
    settings: dict[str, object] = dict(
        optimizer="adamw", lr=1e-3, weight_decay=0.01, scheduler="onecycle", augment="strong",
        label_smoothing=0.1, seed=3, device="cpu",
    )
    settings.update(kwargs)
    return cls(model, **settings)  # type: ignore[arg-type]


class Stall(Callback):
    """Write a marker file and hang at (epoch, batch), waiting for a SIGKILL."""

    def __init__(self, epoch: int, batch: int, marker: Path) -> None:
        self.at = (epoch, batch)
        self.marker = marker
        self.epoch = -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if (self.epoch, batch) == self.at:
            self.marker.write_text("stalled")
            time.sleep(300)


class RankMarker(Callback):
    """A rank-zero-only callback that records which ranks ran it."""

    rank_zero_only = True

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        (self.out / f"rank_zero_only_ran_on_{self.trainer.rank}").write_text("")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fit", "ddp"])
    parser.add_argument("data", type=Path, help="a torch.save'd dict of images/targets")
    parser.add_argument("out", type=Path)
    parser.add_argument("--stall", default=None, help="EPOCH:BATCH at which to hang")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    saved = torch.load(args.data, weights_only=True)
    train = FaceDataset(saved["images"], saved["targets"], classes=[f"class{i}" for i in range(3)])
    val = train.subset(range(0, len(train), 2))
    trainer = make_trainer()
    if args.mode == "fit":
        callbacks: list[Callback] = []
        if args.stall:
            epoch, batch = (int(x) for x in args.stall.split(":"))
            callbacks.append(Stall(epoch, batch, args.out / "stalled"))
        trainer.fit(train, val=val, epochs=EPOCHS, batch_size=BATCH_SIZE, callbacks=callbacks,
                    checkpoint=args.out / "checkpoint.pt", progress=False)
        return
    history = trainer.fit(
        train, val=val, epochs=2, batch_size=BATCH_SIZE, checkpoint=args.out / "checkpoint.pt",
        callbacks=[CSVLogger(args.out / "history.csv"), RankMarker(args.out)], progress=False,
    )
    rank = trainer.rank
    torch.save(trainer.unwrapped_model.state_dict(), args.out / f"rank{rank}.pt")
    info = {"history": history.to_dict(), "world_size": trainer.world_size,
            "steps_per_epoch": trainer.steps_per_epoch, "wrapped": type(trainer.model).__name__}
    (args.out / f"rank{rank}.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main()
