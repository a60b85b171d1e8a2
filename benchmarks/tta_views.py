"""Choose the test-time views on FER2013 ``val`` (never ``test``): which views are worth it?

For every released model, each face of ``val`` is scored plain, mirrored, and as a central
crop of ``z x z`` of its 48 pixels zoomed back to 48 (bilinear), mirrored or not. The table
gives val accuracy of the calibrated probabilities averaged over each set of views. The
zoom that ``FaceTransform.tta_views`` uses (``facexpr.transforms.TTA_ZOOM``) was chosen
from this table (the best mean over the models), and only ``val`` is read.

Usage:
    python -m benchmarks.tta_views --data ../shared/data/fer2013 [--models better vgg8_bn]
"""

from __future__ import annotations

import argparse

import torch

import facexpr
from facexpr.data import FER2013
from facexpr.models import get_model_entry, list_models, to_memory_format
from facexpr.transforms import TTA_ZOOM, FaceTransform

CROPS = (46, 44, 42, 40)  # central crop sides, in pixels of 48 (even: equal margins)


@torch.inference_mode()
def view_probabilities(model: facexpr.models.FaceModel, images: torch.Tensor) -> dict[tuple[int, bool], torch.Tensor]:
    """Calibrated probabilities of every (crop side, mirrored) view of ``uint8`` faces."""
    transform = model.transforms()
    probs: dict[tuple[int, bool], list[torch.Tensor]] = {}
    for start in range(0, images.shape[0], 256):
        inputs = transform.normalize(images[start : start + 256])
        for crop in (48, *CROPS):
            view = FaceTransform(crop_pct=crop / 48).center_crop(inputs)  # the central crop x crop, zoomed
            for mirrored in (False, True):
                x = to_memory_format(model, view.flip(3) if mirrored else view)
                p = (model(x).float() / model.config.temperature).softmax(1)
                probs.setdefault((crop, mirrored), []).append(p)
    return {key: torch.cat(chunks) for key, chunks in probs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 root (only its val split is read)")
    parser.add_argument("--models", nargs="+", default=None, help="released model names (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    val = FER2013(args.data, "val")
    view_sets = {"plain": [(48, False)], "mirror": [(48, False), (48, True)]}
    for crop in CROPS:
        view_sets[f"mirror + zoom {crop}"] = [(48, False), (48, True), (crop, False), (crop, True)]
    view_sets[f"mirror + zoom {CROPS[1]} + {CROPS[3]}"] = [(48, m) for m in (False, True)] + [
        (c, m) for c in (CROPS[1], CROPS[3]) for m in (False, True)
    ]
    print(f"FER2013 val ({len(val)} faces): accuracy of the averaged calibrated probabilities")
    print(f"shipped TTA: mirror + zoom {round(48 * TTA_ZOOM)}\n")
    print("| model | " + " | ".join(view_sets) + " |")
    print("|---" * (len(view_sets) + 1) + "|")
    names = args.models or [m for m in list_models() if getattr(get_model_entry(m).weights, "sha256", None)]
    accuracies = []
    for name in names:
        model = facexpr.load(name)
        probs = view_probabilities(model, val.images)
        cells = []
        for views in view_sets.values():
            averaged = torch.stack([probs[v] for v in views]).mean(0)
            cells.append(float((averaged.argmax(1) == val.targets).float().mean()))
        accuracies.append(cells)
        print(f"| {name} | " + " | ".join(f"{a:.4f}" for a in cells) + " |", flush=True)
    means = torch.tensor(accuracies).mean(0).tolist()
    print("| mean | " + " | ".join(f"{a:.4f}" for a in means) + " |")


if __name__ == "__main__":
    main()
