"""Fine-tune a pretrained model on your own classes: one folder per class.

Lay your images out as ``DATA/<class name>/<image files>`` (any size or format; unreadable
files are skipped with a warning). The script holds out a stratified part for validation,
replaces the 7-expression head with one for your classes, trains the head alone, then
everything at a lower learning rate, fits the probability temperature, and saves the model.
Load it back with ``facexpr.load(OUT)``; ``facexpr predict IMAGE --model OUT`` uses it too.

Usage:
    python examples/finetune_folder.py --data my_faces/ --out my-model
    python examples/finetune_folder.py --data my_faces/ --out my-model --head-epochs 5 --epochs 20
"""

from __future__ import annotations

import argparse
import sys

import facexpr
from facexpr.calibration import fit_temperature
from facexpr.data import ImageFolder, train_val_split
from facexpr.release import split_logits
from facexpr.training import EarlyStopping, Trainer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with one sub-folder of images per class")
    parser.add_argument("--out", required=True, help="folder to save the fine-tuned model to")
    parser.add_argument("--model", default="better", help="pretrained model to start from (default: better)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share held out for validation (default: 0.2)")
    parser.add_argument("--head-epochs", type=int, default=3, help="epochs training the new head only (default: 3)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs training everything (default: 10)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    args = parser.parse_args(argv)

    # Class names come from the folder names; images become 48x48 grayscale like FER2013's.
    data = ImageFolder(args.data)
    train, val = train_val_split(data, args.val_fraction, seed=0)
    print(f"classes {data.classes}: {train.class_counts()} train, {val.class_counts()} val images")

    # The pretrained backbone with a fresh head for these classes (labels travel into the
    # saved config, so predict() reports your class names).
    model = facexpr.load(args.model, labels=data.classes, device=args.device)

    # Step 1: train only the new head; the backbone (and its BatchNorm statistics) stays frozen.
    Trainer(model, freeze="features", optimizer="adamw", lr=3e-3, device=args.device).fit(
        train, val=val, epochs=args.head_epochs, batch_size=args.batch_size, progress=False)

    # Step 2: unfreeze and fine-tune everything gently; keep the best epoch on val.
    model.requires_grad_(True)
    trainer = Trainer(model, optimizer="adamw", lr=5e-4, weight_decay=0.05, scheduler="cosine",
                      augment="seed", label_smoothing=0.1, device=args.device)
    stop = EarlyStopping("val_accuracy", patience=3, restore_best_weights=True)
    history = trainer.fit(train, val=val, epochs=args.epochs, batch_size=args.batch_size,
                          callbacks=[stop], progress=False)
    print(f"best val accuracy {max(history.history['val_accuracy']):.4f}")

    # Calibrated probabilities: one temperature fitted on the validation images.
    logits = split_logits(model, val.images)
    model.config.temperature = fit_temperature(logits, val.targets)

    report = trainer.evaluate(val)
    model.config.metrics = {"val": {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}}
    folder = model.save_pretrained(args.out)          # model.safetensors + config.json + README.md
    print(f"val accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}; saved to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
