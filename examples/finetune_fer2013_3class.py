"""Fine-tune the pretrained ``better`` model on three classes of your own: negative, neutral, positive.

This is the script of the fine-tuning tutorial (docs/tutorial/finetuning.rst). It builds a
custom class-folder data set from FER2013 (which you can download yourself), regrouped into
three classes, in a temporary folder outside the repository:

    negative = angry + disgust + fear + sad,  neutral = neutral,  positive = happy
    (surprise is left out: it is neither clearly positive nor negative)

then: measures the 7-class model with its probabilities summed per group (the baseline),
swaps the head for a 3-class one, trains the head alone (frozen backbone), unfreezes
everything and trains again, calibrates the probabilities on validation data, evaluates on
the held-out test folder, saves the model, checks what would be published on the Hugging Face
Hub (a dry run unless you pass --push), and loads it back.

Usage:
    python examples/finetune_fer2013_3class.py --fer2013 path/to/fer2013 --out runs/fer3
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

import facexpr
from facexpr.assets import EXAMPLE_FACE
from facexpr.calibration import fit_temperature
from facexpr.data import ImageFolder, train_val_split
from facexpr.release import publish, split_logits
from facexpr.training import EarlyStopping, Trainer, classification_report, confusion_matrix

GROUPS = {
    "negative": ("angry", "disgust", "fear", "sad"),
    "neutral": ("neutral",),
    "positive": ("happy",),
}


def build_folders(fer2013: Path, dest: Path, fraction: float, seed: int) -> None:
    """Write ``dest/{train,test}/<group>/`` with links to FER2013 images (never copies into the repo).

    ``train`` takes a random ``fraction`` of each group's FER2013 ``train`` images (so the
    classes keep FER2013's proportions); ``test`` takes every image of the groups from
    FER2013 ``test`` (PrivateTest).
    """
    rng = random.Random(seed)
    for split, share in (("train", fraction), ("test", 1.0)):
        for group, members in GROUPS.items():
            files = sorted(f for name in members for f in (fer2013 / split / name).iterdir())
            if share < 1.0:
                files = sorted(rng.sample(files, max(1, round(len(files) * share))))
            folder = dest / split / group
            folder.mkdir(parents=True, exist_ok=True)
            for i, src in enumerate(files):
                link = folder / f"{i:05d}{src.suffix}"
                try:
                    link.symlink_to(src.resolve())
                except OSError:  # no symlinks (e.g. Windows without developer mode): copy
                    link.write_bytes(src.read_bytes())


def report(title: str, metrics: dict, labels: tuple[str, ...]) -> None:
    """Print accuracy, macro-F1, the per-class table and the confusion matrix."""
    print(f"{title}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    print(f"  {'class':<9} precision  recall  f1     support")
    for label, row in metrics["per_class"].items():
        print(f"  {label:<9} {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:.3f}  {row['support']:7d}")
    print("  confusion matrix (rows: true, columns: predicted): " + ", ".join(labels))
    for label, row in zip(labels, metrics["confusion_matrix"]):
        print(f"  {label:<9} " + " ".join(f"{v:6d}" for v in row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--fer2013", required=True, help="FER2013 image folders (train/, test/ with class folders)")
    parser.add_argument("--out", default="runs/fer3", help="output folder (default: runs/fer3)")
    parser.add_argument("--model", default="better", help="pretrained model name or folder (default: better)")
    parser.add_argument("--fraction", type=float, default=0.3,
                        help="share of each class's FER2013 train images to use (default: 0.3)")
    parser.add_argument("--head-epochs", type=int, default=3, help="epochs with the backbone frozen (default: 3)")
    parser.add_argument("--epochs", type=int, default=8, help="most epochs with everything trained (default: 8)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default: 1)")
    parser.add_argument("--repo", default="your-name/facexpr-fer3", help="Hub repository to publish to")
    parser.add_argument("--push", action="store_true", help="really upload to the Hub (default: dry run)")
    parser.add_argument("--data-dir", default=None, help="where to build the class folders (default: a temp dir)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    out = Path(args.out)

    # 1. The data: class folders, the layout facexpr.data.ImageFolder reads.
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="facexpr-fer3-"))
    build_folders(Path(args.fer2013), data_dir, args.fraction, args.seed)
    custom = ImageFolder(data_dir / "train")               # classes from the folder names
    train, val = train_val_split(custom, 0.15, seed=args.seed)  # stratified, seeded
    test = ImageFolder(data_dir / "test", classes=custom.classes)
    print(f"classes {custom.classes}; train {train.class_counts()}, val {val.class_counts()}, "
          f"test {test.class_counts()} images per class")

    # 2. Baseline: the 7-class model with its probabilities summed per group.
    pretrained = facexpr.load(args.model, device="cpu")
    probs7 = Trainer(pretrained, device="cpu").predict(test)
    grouped = torch.stack([probs7[:, [pretrained.labels.index(n) for n in GROUPS[g]]].sum(1)
                           for g in custom.classes], dim=1)
    cm = confusion_matrix(grouped.argmax(1), test.targets, len(custom.classes))
    baseline = classification_report(cm, custom.classes)
    print(f"baseline (7-class {args.model!r}, probabilities summed per group): test accuracy "
          f"{baseline['accuracy']:.4f}, macro-F1 {baseline['macro_f1']:.4f}")

    # 3. A new 3-class head on the pretrained backbone; train the head alone first.
    model = facexpr.load(args.model, labels=custom.classes, device="cpu")
    head = Trainer(model, freeze="features", optimizer="adamw", lr=3e-3, seed=args.seed,
                   metrics=("accuracy", "macro_f1"), device="cpu")
    history = head.fit(train, val=val, epochs=args.head_epochs, batch_size=args.batch_size, progress=False)
    print("head only:", _last(history))

    # 4. Unfreeze and fine-tune everything, with a 30x lower learning rate and augmentation;
    #    keep the epoch with the best validation accuracy.
    model.requires_grad_(True)
    full = Trainer(model, optimizer="adamw", lr=1e-4, weight_decay=0.05, scheduler="cosine",
                   label_smoothing=0.1, augment="seed", seed=args.seed, metrics=("accuracy", "macro_f1"),
                   device="cpu")
    stop = EarlyStopping("val_accuracy", patience=3, restore_best_weights=True)
    history = full.fit(train, val=val, epochs=args.epochs, batch_size=args.batch_size, callbacks=[stop],
                       progress=False)
    for epoch in history.epoch:
        print(f"  epoch {epoch + 1}: " + _row(history, epoch))
    print(f"unfrozen: best epoch {stop.best_epoch + 1} (val accuracy {stop.best:.4f}), weights restored")

    # 5. Calibrated probabilities: one temperature fitted on validation data.
    logits = split_logits(model, val.images)
    model.config.temperature = fit_temperature(logits, val.targets)
    print(f"temperature fitted on val: {model.config.temperature:.3f}")

    # 6. Evaluate once on the held-out test folder.
    val_metrics = full.evaluate(val)
    test_metrics = full.evaluate(test)
    report("test", test_metrics, model.labels)

    # 7. Save (model.safetensors + config.json + README.md), with the metrics in the config.
    model.config.metrics = {
        split: {k: m[k] for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix")}
        for split, m in (("val", val_metrics), ("test", test_metrics))
    }
    folder = model.save_pretrained(out / "model")
    print(f"saved to {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")

    # 8. Share it on the Hub: check exactly what would be uploaded (dry run) unless --push.
    result = publish(folder, args.repo, dry_run=not args.push)
    if args.push:
        print(f"published: {result}")
    else:
        print(f"dry run, would upload to {args.repo}: {', '.join(p.name for p in result)}")

    # 9. Load it back (from the folder; from the Hub it would be facexpr.load(args.repo)).
    loaded = facexpr.load(folder, device="cpu")
    same = torch.equal(loaded.predict_proba(test.images[:64]), model.predict_proba(test.images[:64]))
    print(f"loaded back: labels {loaded.labels}, identical probabilities: {same}")
    example = loaded.predict(EXAMPLE_FACE)
    print(f"example face: {example.label} ({example.confidence:.2f})")
    print(f"total time {time.perf_counter() - started:.0f} s with {args.threads} thread(s)")
    return 0


def _last(history) -> str:
    return _row(history, history.epoch[-1])


def _row(history, epoch: int) -> str:
    i = history.epoch.index(epoch)
    values = {k: v[i] for k, v in history.history.items()}
    keys = ("loss", "accuracy", "val_loss", "val_accuracy", "val_macro_f1", "seconds")
    return ", ".join(f"{k} {values[k]:.4f}" if k != "seconds" else f"{values[k]:.0f} s" for k in keys if k in values)


if __name__ == "__main__":
    sys.exit(main())
