"""Releasing a trained model: calibrate on val, measure val and test once, write the folder.

The release folder holds ``model.safetensors``, ``config.json`` (architecture, labels,
preprocessing, temperature, sha256), ``metrics.json`` (metrics on val and test, recipe), a
model card ``README.md`` built with :class:`huggingface_hub.ModelCard` (test metrics as its
``model-index``), and ``confusion_matrix.png``. ``facexpr release`` builds it; ``facexpr
publish`` uploads it the way :meth:`~facexpr.FaceModel.push_to_hub` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from . import _hf
from ._io import atomic_write, check_outputs
from .calibration import fit_temperature
from .inference import _view_logits
from .models import CONFIG_NAME, METRICS_NAME, WEIGHTS_NAME, FaceModel, ModelConfig, load
from .models._hub import CARD_NAME, FER2013_TEST, FERPLUS_TEST, model_card, write_card
from .transforms import TTA_ZOOM
from .metrics import classification_report, confusion_matrix, expected_calibration_error, kl_divergence

__all__ = [
    "split_logits", "choose_crop_pct", "CROP_CHOICES", "evaluate_split", "build_release", "check_release", "publish",
    "reproduce_command",
]

CONFUSION_NAME = "confusion_matrix.png"


def split_logits(
    model: FaceModel, images: torch.Tensor, *, batch_size: int = 256, tta: bool = False
) -> torch.Tensor:
    """Return the logits of ``uint8`` faces ``N x 1 x 48 x 48`` (CPU, float32).

    Args:
        model: The model to run, in eval mode for the call.
        images: ``uint8`` faces at the model's input size.
        batch_size: Faces per forward pass.
        tta: Also score the test-time views of
            :meth:`~facexpr.transforms.FaceTransform.tta_views`.

    Returns:
        ``N x C`` logits of the model's own view (its ``crop_pct``), or with ``tta=True``
        ``V x N x C``: one row per view of :meth:`~facexpr.transforms.FaceTransform.tta_views`.

    Example:
        >>> import facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better")
        >>> faces = model.transforms().to_uint8_batch([EXAMPLE_FACE, EXAMPLE_FACE])
        >>> logits = split_logits(model, faces)
        >>> logits.shape, logits.argmax(1).tolist()
        (torch.Size([2, 7]), [3, 3])
        >>> split_logits(model, faces, tta=True).shape  # four views
        torch.Size([4, 2, 7])
    """
    logits = _view_logits(model, images, batch_size=batch_size, tta=tta)
    return logits if tta else logits[0]


CROP_CHOICES = (1.0, 46 / 48, 44 / 48, 42 / 48)
"""The ``crop_pct`` values :func:`choose_crop_pct` tries: 0 to 3 pixels cut per side at 48x48."""


def choose_crop_pct(
    model: FaceModel, images: torch.Tensor, targets: torch.Tensor, *, choices: tuple[float, ...] = CROP_CHOICES
) -> tuple[float, dict[str, float]]:
    """Choose the model's ``crop_pct`` (its view of a face) by accuracy on validation faces.

    Ties go to the earlier choice, so the whole face (1.0, listed first) wins unless a crop
    is strictly better. The model's config is left as it was.

    Args:
        model: The model; its ``config.crop_pct`` is set for each try and restored.
        images: ``uint8`` validation faces ``N x 1 x 48 x 48``.
        targets: Their class indices.
        choices: Candidate shares of the face's side.

    Returns:
        ``(best crop_pct, {crop_pct rounded to 4 places as text: accuracy})``.

    Example:
        >>> import torch, facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better")
        >>> faces = model.transforms().to_uint8_batch([EXAMPLE_FACE])
        >>> best, tried = choose_crop_pct(model, faces, torch.tensor([3]))  # 3: happy
        >>> best, tried["1.0"]  # every choice is right on this face: the whole face wins the tie
        (1.0, 1.0)
    """
    original = model.config.crop_pct
    tried: dict[str, float] = {}
    try:
        for crop_pct in choices:
            model.config.crop_pct = crop_pct
            logits = split_logits(model, images)
            tried[str(round(crop_pct, 4))] = float((logits.argmax(1) == targets).float().mean())
    finally:
        model.config.crop_pct = original
    best = max(choices, key=lambda c: (tried[str(round(c, 4))], -choices.index(c)))
    return best, tried


def evaluate_split(
    model: FaceModel, images: torch.Tensor, targets: torch.Tensor, *, temperature: float | None = None,
    votes: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Every released metric of one split, with the model's (or the given) temperature.

    Args:
        model: The model, at its ``crop_pct``.
        images: ``uint8`` faces ``N x 1 x 48 x 48``.
        targets: Class indices (FER+: the majority label).
        temperature: Temperature of the calibrated metrics (default: the model's).
        votes: Label distributions ``N x C`` (FER+'s votes), for the probability quality
            against the votes.

    Returns:
        accuracy, macro-F1, per-class precision/recall/F1, confusion matrix, ``accuracy_tta``
        (averaged over :meth:`~facexpr.transforms.FaceTransform.tta_views`), ``ece``
        (uncalibrated) and ``ece_calibrated``, ``nll`` and ``nll_calibrated``, and ``n``; with
        ``votes`` also ``kl_divergence`` and ``ece_votes`` of the calibrated probabilities
        against them (see :mod:`facexpr.metrics`).

    Example:
        >>> import torch, facexpr
        >>> from facexpr.assets import EXAMPLE_FACE
        >>> model = facexpr.load("better")
        >>> faces = model.transforms().to_uint8_batch([EXAMPLE_FACE])
        >>> metrics = evaluate_split(model, faces, torch.tensor([3]))  # 3: happy
        >>> metrics["accuracy"], metrics["accuracy_tta"], metrics["n"]
        (1.0, 1.0, 1)
        >>> sorted(metrics)  # doctest: +NORMALIZE_WHITESPACE
        ['accuracy', 'accuracy_tta', 'confusion_matrix', 'ece', 'ece_calibrated', 'macro_f1',
         'macro_precision', 'macro_recall', 'n', 'nll', 'nll_calibrated', 'per_class']
    """
    t = model.config.temperature if temperature is None else temperature
    logits = split_logits(model, images)  # the model's own view (its crop_pct)
    views = split_logits(model, images, tta=True)
    report = classification_report(confusion_matrix(logits.argmax(1), targets, model.num_classes), model.labels)
    tta_probs = (views / t).softmax(2).mean(0)
    raw, calibrated = logits.softmax(1), (logits / t).softmax(1)
    metrics = {
        **report,
        "n": int(targets.numel()),
        "accuracy_tta": float((tta_probs.argmax(1) == targets).float().mean()),
        "ece": expected_calibration_error(raw, targets),
        "ece_calibrated": expected_calibration_error(calibrated, targets),
        "nll": float(torch.nn.functional.cross_entropy(logits, targets)),
        "nll_calibrated": float(torch.nn.functional.cross_entropy(logits / t, targets)),
    }
    if votes is not None:
        metrics["kl_divergence"] = kl_divergence(votes, calibrated)
        metrics["ece_votes"] = expected_calibration_error(calibrated, votes)
    return metrics


def confusion_image(cm: list[list[int]], labels: tuple[str, ...], path: Path, title: str) -> Path:
    """Draw a row-normalised confusion matrix as a PNG (Pillow only) and write it atomically."""
    cell, left, top = 64, 90, 70
    n = len(labels)
    image = Image.new("RGB", (left + n * cell + 20, top + n * cell + 40), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), title, fill="black")
    draw.text((left, top - 40), "predicted", fill="black")
    for j, label in enumerate(labels):
        draw.text((left + j * cell + 4, top - 20), label[:9], fill="black")
    for i, row in enumerate(cm):
        total = max(sum(row), 1)
        draw.text((10, top + i * cell + cell // 2 - 6), labels[i][:11], fill="black")
        for j, count in enumerate(row):
            share = count / total
            shade = int(255 * (1 - share))
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=(shade, shade, 255))
            ink = "white" if share > 0.5 else "black"
            draw.text((box[0] + 8, box[1] + 18), f"{share:.2f}", fill=ink)
            draw.text((box[0] + 8, box[1] + 34), f"({count})", fill=ink)
    draw.text((10, top + n * cell + 12), "rows: true class (share of the row, count)", fill="black")
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def _crop_phrase(config: ModelConfig) -> str:
    tried = config.metrics.get("val_crop_pct_accuracy") or {}
    return ", ".join(f"{float(c):.1%}: {acc:.4f}" for c, acc in tried.items()) or "the whole face only"


def _teacher_phrase(config: ModelConfig) -> str:
    teacher = (config.recipe or {}).get("teacher")
    if not teacher:
        return ""
    return (f" with knowledge distillation from `{teacher}` (alpha "
            f"{config.recipe.get('distill_alpha')}, temperature {config.recipe.get('distill_temperature')})")


def _start_phrase(config: ModelConfig) -> str:
    """How the training began: from scratch, or fine-tuned from released weights."""
    recipe = config.recipe or {}
    if not recipe.get("pretrained"):
        return "trained from\nscratch on"
    return f"fine-tuned from\nthe released `{recipe.get('model', config.architecture)}` weights on"


def _faces(count: int | None) -> str:
    """``", 3,589 faces"``, or nothing when the size was not measured."""
    return f", {count:,} faces" if count is not None else ""


def _card_body(
    config: ModelConfig, name: str, command: str, *, ferplus: bool = False, train_size: int | None = None
) -> str:
    """The Markdown of a release card, after its front matter (see :func:`model_card`).

    Every data size it states is measured: val and test from their metrics (``n``), train
    from ``train_size`` (left out when not measured).
    """
    val, test = config.metrics["val"], config.metrics["test"]
    n_val, n_test = val.get("n"), test.get("n")
    if ferplus:
        trained_on = ("FER2013's faces with FER+'s votes (Barsoum et al., 2016; ten votes per face over "
                      f"eight emotions), learning the vote distributions: `train` (Training{_faces(train_size)})")
        sizes = (f"(PublicTest{_faces(n_val)})", f"(PrivateTest{_faces(n_test)}; accuracy against the majority label)")
        votes = (f"\n\nThe temperature was fitted to FER+'s votes, not to the majority label: a probability "
                 f"is the share of annotators expected to read the face that way, so against the majority "
                 f"label alone it looks under-confident (the ECE above). Against the votes on `test`: mean "
                 f"KL divergence {test['kl_divergence']:.4f} nats, ECE against the votes {test['ece_votes']:.4f}.")
        data_text = ("FER+ (Barsoum et al., 2016): FER2013's 48x48 grayscale faces relabelled with ten votes "
                     "each over eight expressions; faces whose top vote is `unknown` or `NF` are left out")
        noise = ("**Ambiguity.** Many faces split the votes; the majority label is one reading of them "
                 "(see the KL divergence above).")
        layout = ("the data folder holds `ferplus.csv` beside the FER2013 folders, `fer2013new.csv` beside "
                  "`fer2013.csv`, or the `FER2013Train/` folders")
    else:
        trained_on = f"FER2013 `train` (Training{_faces(train_size)})"
        sizes = (f"(PublicTest{_faces(n_val)})", f"(PrivateTest{_faces(n_test)})")
        votes = ""
        data_text = "FER2013 (Goodfellow et al., 2013), 48x48 grayscale faces from web image search, seven classes"
        noise = ("**Label noise.** Many FER2013 labels are wrong or ambiguous; human accuracy on it is about\n"
                 "  65%, which bounds what any figure here means.")
        layout = "the data folder holds `train/`, `val/`, `test/` class folders or `fer2013.csv`"
    per_class = "\n".join(
        f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
        for label, row in test["per_class"].items()
    )
    params = config.recipe or {}
    return f"""# facexpr `{name}`: facial expression recognition on 48x48 grayscale faces

A `{config.architecture}` CNN from [facexpr](https://github.com/facexpr/facexpr), {_start_phrase(config)} {trained_on}{_teacher_phrase(config)}, with the epoch chosen on `val`
{sizes[0]} and measured once on `test` {sizes[1]}.

```python
import facexpr
model = facexpr.load("{name}")
model.predict("face.jpg")          # label, index, probabilities of {len(config.labels)} classes
```

## Results

| split | accuracy | accuracy with TTA (mirror + zoom) | macro-F1 | ECE (raw) | ECE (temperature {config.temperature:.3f}) |
|---|---|---|---|---|---|
| val | {val['accuracy']:.4f} | {val['accuracy_tta']:.4f} | {val['macro_f1']:.4f} | {val['ece']:.4f} | {val['ece_calibrated']:.4f} |
| test | {test['accuracy']:.4f} | {test['accuracy_tta']:.4f} | {test['macro_f1']:.4f} | {test['ece']:.4f} | {test['ece_calibrated']:.4f} |

The model sees the central {config.crop_pct:.1%} of each face's side (`crop_pct`, chosen on `val`
among {_crop_phrase(config)}), and the temperature was fitted on `val`; `predict` applies both.
TTA averages the whole face, a central zoom of {TTA_ZOOM:.1%} and the mirror images of both. ECE: expected
calibration error, 15 equal-width bins.{votes}

Per class on `test`:

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{per_class}

![Confusion matrix on test]({CONFUSION_NAME})

## Intended use

Research, teaching and prototyping of facial expression recognition on face crops (whole
photos: let facexpr's detector find the faces first). Not for decisions about people: hiring,
policing, health, education or any assessment of an individual.

## Training data and recipe

{data_text}.
Inputs are scaled to [0, 1] and normalised with mean {list(config.mean)} and std {list(config.std)}.
Recipe: `{json.dumps(params)}`.

Reproduce ({layout}):

```bash
{command}
```

## Limitations

- {noise}
- **Class imbalance.** `disgust` is about 1.5% of the training data; its recall is far below
  the other classes (see the table).
- **Demographic skew.** FER2013 was collected by web search and is not balanced by age, skin
  tone, gender or culture; accuracy on under-represented groups is unmeasured and likely lower.
- **Expression is not emotion.** The model reads facial movements that people label as
  "happy" or "angry"; it cannot tell what someone feels.
- **Input domain.** Trained on tight, roughly frontal, grayscale 48x48 crops; profile faces,
  occlusions, low light and crops prepared differently all lower accuracy.
"""


def build_release(
    model_dir: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *, name: str | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Choose the crop and calibrate on val, measure val and test, and write the release folder ``out``.

    The model's view of a face (``crop_pct``, see :func:`choose_crop_pct`) and its temperature
    are chosen on ``val``; ``test`` is measured once, with both applied.

    Args:
        model_dir: A ``save_pretrained`` folder (e.g. the ``best/`` folder of ``facexpr train``).
        data: FER2013 root, or a FER+ root (see :class:`~facexpr.data.FERPlus`): then the
            accuracy is against FER+'s majority label, and the probabilities are also measured
            against the votes.
        out: Release folder to write.
        name: Public model name (default: the architecture).
        command: The command that reproduces the training, for the model card.

    Returns:
        The metrics written to ``metrics.json``.

    Example:
        >>> from facexpr.release import build_release
        >>> metrics = build_release("runs/better/best", "data/fer2013", "release/better")  # doctest: +SKIP
        >>> sorted(metrics)  # doctest: +SKIP
        ['checkpoint', 'test', 'val', 'val_crop_pct_accuracy']
    """
    from .data import FER2013, FERPlus
    from .data.ferplus import ferplus_layout

    check_outputs([("out", out)], [model_dir, data])  # before any work: never over the model or the data
    model = load(model_dir, device="cpu")
    name = name or model.architecture
    ferplus = ferplus_layout(data) is not None
    if ferplus:  # majority labels; the votes measure the probabilities
        val, test = FERPlus(data, "val"), FERPlus(data, "test")
    else:
        val, test = FER2013(data, "val"), FER2013(data, "test")
    if tuple(model.labels) != tuple(val.classes):
        raise ValueError(
            f"'{model_dir}' predicts {model.num_classes} classes {list(model.labels)}, but "
            f"{'FER+' if ferplus else 'FER2013'} at '{data}' has {len(val.classes)} {list(val.classes)}: a release "
            "is measured on the data of its own classes, in their order."
        )
    model.config.crop_pct, crop_accuracy = choose_crop_pct(model, val.images, val.hard_targets)
    val_logits = split_logits(model, val.images)
    # FER+: fitted to the votes, so that a probability is the share of annotators reading the
    # face that way (fitted to the majority label it would sharpen them towards one reading)
    model.config.temperature = fit_temperature(val_logits, val.votes if ferplus else val.hard_targets)
    metrics = {
        "temperature_fitted_to": "votes" if ferplus else "labels",
        "val_crop_pct_accuracy": crop_accuracy,
        "val": evaluate_split(model, val.images, val.hard_targets, votes=getattr(val, "votes", None)),
        "test": evaluate_split(model, test.images, test.hard_targets, votes=getattr(test, "votes", None)),
        "checkpoint": model.config.metrics.get("checkpoint", {}),
    }
    model.config.metrics = metrics
    out = Path(out)
    model.save_pretrained(out)
    command = command or reproduce_command(model.config, name, ferplus=ferplus)
    try:  # the card states the training size only when it was measured here
        train_size: int | None = len(FERPlus(data, "train") if ferplus else FER2013(data, "train"))
    except (OSError, ValueError):
        train_size = None
    body = _card_body(model.config, name, command, ferplus=ferplus, train_size=train_size)
    card = model_card(model.config, name=name, body=body,
                      dataset=FERPLUS_TEST if ferplus else FER2013_TEST)
    write_card(card, out / CARD_NAME)
    confusion_image(metrics["test"]["confusion_matrix"], model.labels, out / CONFUSION_NAME,
                    f"facexpr {name}: {'FER+' if ferplus else 'FER2013'} test, accuracy {metrics['test']['accuracy']:.4f}")
    check_release(out)
    return metrics


def reproduce_command(config: ModelConfig, name: str, *, ferplus: bool = False) -> str:
    """The ``facexpr train`` command that trains this model again, for its model card.

    The recipe is the one recorded in ``config.recipe``: a registered recipe of that name (or
    the architecture's ``.ferplus`` recipe on FER+) when it matches the data set, else the
    architecture's recipe with ``--dataset`` set, so the command runs on the data it names.

    Example:
        >>> from facexpr.models import ModelConfig
        >>> config = ModelConfig(architecture="better", recipe={"model": "better", "dataset": "ferplus-probability"})
        >>> reproduce_command(config, "better", ferplus=True)
        'facexpr train --recipe better.ferplus --data ferplus --out runs/better.ferplus'
        >>> reproduce_command(ModelConfig(architecture="simple"), "simple")
        'facexpr train --recipe simple --data fer2013 --out runs/simple'
    """
    from .training.recipes import RECIPES

    recipe = config.recipe or {}
    arch = recipe.get("model", config.architecture)
    dataset = recipe.get("dataset", "ferplus-probability" if ferplus else "fer2013")
    folder = "ferplus" if dataset != "fer2013" else "fer2013"
    for candidate in (name, f"{arch}.ferplus" if dataset != "fer2013" else arch):
        spec = RECIPES.get(candidate)
        if spec is not None and spec.model == arch and spec.dataset == dataset:
            return f"facexpr train --recipe {candidate} --data {folder} --out runs/{candidate}"
    extra = f" --dataset {dataset}" if dataset != "fer2013" else ""
    return f"facexpr train --model {arch}{extra} --data {folder} --out runs/{name}"


def check_release(folder: str | os.PathLike) -> list[Path]:
    """Check a release folder and return the files that would be uploaded.

    Raises:
        FileNotFoundError: A required file is missing.
        ValueError: The config, card or weights are inconsistent.
        facexpr.ChecksumMismatchError: The weights' sha256 differs from the config's.

    Example:
        >>> from pathlib import Path
        >>> import facexpr
        >>> from facexpr.release import check_release
        >>> shipped = Path(facexpr.__file__).parent / "weights" / "simple"  # a release folder
        >>> [path.name for path in check_release(shipped)]
        ['model.safetensors', 'config.json', 'metrics.json', 'README.md', 'confusion_matrix.png']
    """
    folder = Path(folder)
    required = [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME]
    missing = [f for f in required if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"Release folder '{folder}' lacks {', '.join(missing)}.")
    config = ModelConfig.from_file(folder / CONFIG_NAME)
    if not config.sha256:
        raise ValueError(f"'{folder / CONFIG_NAME}' has no sha256 of {WEIGHTS_NAME}.")
    for split in ("val", "test"):
        if "accuracy" not in config.metrics.get(split, {}):
            raise ValueError(f"'{folder}' has no {split} accuracy in its {METRICS_NAME}.")
    card = (folder / CARD_NAME).read_text(encoding="utf-8")
    if not card.startswith("---\n") or "\n---\n" not in card[4:]:
        raise ValueError(f"'{folder / CARD_NAME}' has no Hugging Face front matter (--- ... ---).")
    model = load(folder, device="cpu")  # checks the sha256 and that the weights fit
    if model.get_classifier().out_features != len(config.labels):
        raise ValueError(f"'{folder}' has {len(config.labels)} labels but the model has another head size.")
    # metrics.json is optional: folders written before it keep their metrics in config.json
    names = [WEIGHTS_NAME, CONFIG_NAME, METRICS_NAME, CARD_NAME, CONFUSION_NAME]
    files = [folder / f for f in names if f in required or (folder / f).is_file()]
    return files


def publish(
    folder: str | os.PathLike, repo_id: str, *, dry_run: bool = False, private: bool | None = None,
    token: str | None = None, commit_message: str = "Release facexpr model",
) -> list[Path] | str:
    """Check a release folder and upload exactly its checked files with :class:`~huggingface_hub.HfApi`.

    Args:
        folder: Release folder (see :func:`build_release`).
        repo_id: Target Hub repository, ``"org/name"``.
        dry_run: Only check and return the files that would be uploaded; no network.
        private: Create the repository as private.
        token: Hub token.
        commit_message: Commit message on the Hub.

    Returns:
        The checked files (dry run) or the URL of the Hub commit.

    Raises:
        HubError: The Hub could not be reached or refused the upload.

    Example:
        >>> from pathlib import Path
        >>> import facexpr
        >>> from facexpr.release import publish
        >>> folder = Path(facexpr.__file__).parent / "weights" / "simple"  # a release folder
        >>> [path.name for path in publish(folder, "my-user/fer-simple", dry_run=True)]
        ['model.safetensors', 'config.json', 'metrics.json', 'README.md', 'confusion_matrix.png']
        >>> url = publish("release/better", "my-user/fer-better", private=True)  # doctest: +SKIP
    """
    files = check_release(folder)
    if dry_run:
        return files
    return _hf.upload_folder(
        folder, repo_id, allow_patterns=[f.name for f in files], private=private, token=token,
        commit_message=commit_message,
    )
