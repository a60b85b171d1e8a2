"""Make the documentation's pictures from committed files (matplotlib, in the ``docs`` extra).

Writes into ``docs/_static/figures/``:

* ``training_curves.png``: loss and accuracy per epoch, train and val, of every released
  model, read from the ``history.csv`` its training run wrote (committed as
  ``docs/training/<name>_history.csv``, or in its release folder ``facexpr/weights/<name>/``);
* ``confusion_matrices.png``: the FER2013 test confusion matrix of every released model,
  row-normalised, read from its ``metrics.json``;
* ``annotated_photo.jpg``: ``facexpr.predict`` and ``facexpr.annotate`` on a collage of the
  public-domain NASA photo shipped in ``examples/images/`` (the only images that may be
  committed: never FER2013 or ExpW), with the default pretrained model.

A figure whose inputs do not exist yet is skipped with a message. The images are committed;
regenerate them after a release with::

    pip install -e ".[docs,detect]"
    python docs/make_figures.py                      # all figures
    python docs/make_figures.py --only annotated     # one of: curves, confusion, annotated
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
OUT = DOCS / "_static" / "figures"
sys.path.insert(0, str(REPO))

import facexpr  # noqa: E402
from facexpr.models import ModelConfig  # noqa: E402
from facexpr.models._builder import shipped_weights_dir  # noqa: E402


def _released() -> list[str]:
    """Models whose release folder (config.json) is in the package."""
    return [name for name in facexpr.list_models() if (shipped_weights_dir(name) / "config.json").is_file()]


def _history_file(name: str) -> Path | None:
    for candidate in (
        shipped_weights_dir(name) / "history.csv",
        DOCS / "training" / f"{name}_history.csv",
        DOCS / "benchmarks" / name / "history.csv",
        DOCS / "benchmarks" / f"history_{name}.csv",
        DOCS / "benchmarks" / f"{name}_history.csv",
    ):
        if candidate.is_file():
            return candidate
    return None


def _read_history(path: Path) -> dict[str, list[float]]:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in rows[0]} if rows else {}


def training_curves(plt: object) -> Path | None:
    """Loss and accuracy per epoch (train and val) of each model with a history.csv."""
    found = {name: path for name in facexpr.list_models() if (path := _history_file(name)) is not None}
    if not found:
        print("training curves: skipped, no history.csv found (looked in docs/training/, facexpr/weights/<name>/ "
              "and docs/benchmarks/)")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)  # type: ignore[attr-defined]
    for (name, path), color in zip(sorted(found.items()), ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        history = _read_history(path)
        epochs = [e + 1 for e in history["epoch"]]
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, history[key], color=color, linestyle="--", alpha=0.7, label=f"{name} train")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], color=color, label=f"{name} val")
        print(f"training curves: {name} from {path.relative_to(REPO)}")
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("Loss (train: with augmentation and label smoothing)")
    axes[1].set_title("Accuracy on FER2013 train and val")
    return _save(fig, "training_curves.png")


def confusion_matrices(plt: object) -> Path | None:
    """Row-normalised FER2013 test confusion matrix of each released model."""
    def config(name: str) -> ModelConfig:  # config.json + the metrics.json beside it
        return ModelConfig.from_file(shipped_weights_dir(name) / "config.json")

    names = [n for n in _released() if "confusion_matrix" in config(n).metrics.get("test", {})]
    if not names:
        print("confusion matrices: skipped, no released model has test metrics in its metrics.json")
        return None
    import numpy as np

    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.4), constrained_layout=True, squeeze=False)  # type: ignore[attr-defined]
    for ax, name in zip(axes[0], names):
        released = config(name)
        cm = np.array(released.metrics["test"]["confusion_matrix"], dtype=float)
        share = cm / cm.sum(axis=1, keepdims=True).clip(min=1)
        labels = released.labels
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: test accuracy {released.metrics['test']['accuracy']:.4f}", fontsize=10)
        print(f"confusion matrix: {name} from facexpr/weights/{name}/metrics.json")
    return _save(fig, "confusion_matrices.png")


def collage() -> object:
    """Three faces in one picture, from the shipped public-domain photo (PIL image)."""
    from PIL import Image, ImageOps

    from facexpr.assets import EXAMPLE_PHOTO

    photo = Image.open(EXAMPLE_PHOTO).convert("RGB")
    canvas = Image.new("RGB", (960, 400), (245, 245, 245))
    canvas.paste(photo.resize((400, 400)), (0, 0))
    canvas.paste(ImageOps.mirror(photo).resize((300, 300)), (420, 50))
    canvas.paste(ImageOps.grayscale(photo).convert("RGB").resize((220, 220)), (730, 90))
    return canvas


def annotated_photo(detector: str) -> Path | None:
    """``facexpr predict`` + ``facexpr.annotate`` on the collage, with the default model."""
    import warnings

    try:
        model = facexpr.load("better", device="cpu")
    except facexpr.WeightsNotAvailableError as err:
        print(f"annotated photo: skipped, {err}")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = facexpr.get_detector(facexpr.YuNetDetector(detector) if detector.endswith(".onnx") else detector)
    except (ImportError, FileNotFoundError, facexpr.WeightsNotAvailableError) as err:
        print(f"annotated photo: skipped, no face detector: {err}")
        return None
    image = collage()
    faces = facexpr.predict(image, model=model, detector=found, detect=True)
    for face in faces:
        print(f"annotated photo: face at {face.box}, {face.label} {face.confidence:.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "annotated_photo.jpg"
    facexpr.annotate(image, faces, top_k=2).save(path, quality=88, optimize=True)
    print(f"wrote {path.relative_to(REPO)}")
    return path


def _save(fig: object, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    print(f"wrote {path.relative_to(REPO)}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--only", choices=["curves", "confusion", "annotated"], action="append",
                        help="make only these figures (repeatable)")
    parser.add_argument("--detector", default="auto",
                        help="face detector for the annotated photo: auto, yunet, dlib, or a YuNet .onnx file")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wanted = set(args.only or ("curves", "confusion", "annotated"))
    if "curves" in wanted:
        training_curves(plt)
    if "confusion" in wanted:
        confusion_matrices(plt)
    if "annotated" in wanted:
        annotated_photo(args.detector)
    return 0


if __name__ == "__main__":
    sys.exit(main())
