"""Releasing a trained model: calibrate on val, measure val and test once, write the folder.

The release folder holds ``model.safetensors``, ``config.json`` (architecture, labels,
preprocessing, temperature, sha256), ``metrics.json`` (metrics on val and test, recipe), a
model card ``README.md`` rendered from facexpr's card template with
:meth:`huggingface_hub.ModelCard.from_template` (see :func:`facexpr.models._hub.model_card`; test
metrics as its ``model-index``), and ``confusion_matrix.png``. ``facexpr release`` builds it; ``facexpr
publish`` uploads it the way :meth:`~facexpr.FaceModel.push_to_hub` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw

from . import _hf
from ._io import atomic_write, check_outputs
from .calibration import fit_temperature
from .inference import face_logits
from .models import CONFIG_NAME, METRICS_NAME, WEIGHTS_NAME, FaceModel, ModelConfig, load
from .models._hub import CARD_NAME, FER2013_TEST, FERPLUS_TEST, data_facts, model_card, write_card
from .metrics import expected_calibration_error, logits_report

__all__ = [
    "split_logits", "choose_crop_pct", "CROP_CHOICES", "evaluate_split", "build_release", "build_mixed_release", "release_card",
    "check_release", "publish", "reproduce_command",
]

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

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
    logits = face_logits(model, images, batch_size=batch_size, tta=tta)
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
    votes: torch.Tensor | None = None, classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every released metric of one split, with the model's (or the given) temperature.

    Args:
        model: The model, at its ``crop_pct``.
        images: ``uint8`` faces ``N x 1 x 48 x 48``.
        targets: Class indices (FER+: the majority label).
        temperature: Temperature of the calibrated metrics (default: the model's).
        votes: Label distributions ``N x C`` (FER+'s votes), for the probability quality
            against the votes.
        classes: Score over these of the model's labels only, as ``predict(..., classes=...)``
            answers (``targets`` index them): FER2013's seven for an eight-class model.

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
    labels = tuple(model.labels)
    if classes is not None:
        columns = [labels.index(c) for c in classes]
        logits, views, labels = logits[:, columns], views[:, :, columns], tuple(classes)
    report = logits_report(logits, targets, labels, temperature=t, votes=votes)
    against_votes = {key: report.pop(key) for key in ("kl_divergence", "ece_votes") if key in report}
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
        **against_votes,
    }
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


def build_release(
    model_dir: str | os.PathLike, data: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike, *,
    name: str | None = None, command: str | None = None, dev: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Choose the crop and calibrate on val, measure val and test, and write the release folder ``out``.

    The model's view of a face (``crop_pct``, see :func:`choose_crop_pct`) and its temperature
    are chosen on ``val``; ``test`` is measured once, with both applied.

    Args:
        model_dir: A ``save_pretrained`` folder (e.g. the ``best/`` folder of ``facexpr train``).
        data: FER2013 root, or a FER+ root (see :class:`~facexpr.data.FERPlus`): then the
            accuracy is against FER+'s majority label, and the probabilities are also measured
            against the votes.
            Several roots (FER2013, FER+ and faces in photos) release a model of the ``"mixed"``
            recipe: see :func:`build_mixed_release`.
        out: Release folder to write.
        name: Public model name (default: the architecture).
        command: The command that reproduces the training, for the model card.
        dev: Mixed releases: a face-box development set (e.g. ExpW photos kept out of
            training) measured over FER2013's seven classes.

    Returns:
        The metrics written to ``metrics.json``.

    Example:
        >>> from facexpr.release import build_release
        >>> metrics = build_release("runs/better/best", "data/fer2013", "release/better")  # doctest: +SKIP
        >>> sorted(metrics)  # doctest: +SKIP
        ['checkpoint', 'command', 'temperature_fitted_to', 'test', 'train_data', 'val', 'val_crop_pct_accuracy']
    """
    from .data.layouts import describe_layout, find_layout, open_split

    roots = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    check_outputs([("out", out)], [model_dir, *roots])  # before any work: never over the model or the data
    if len(roots) > 1:
        return build_mixed_release(model_dir, roots, out, name=name, command=command, dev=dev)
    data = roots[0]
    model = load(model_dir, device="cpu")
    name = name or model.architecture
    layout = find_layout(data)  # the rule every command opens data by
    if layout not in ("ferplus", "fer2013"):
        raise FileNotFoundError(f"A release is measured on FER2013's or FER+'s val and test splits; '{data}' holds "
                                f"{describe_layout(layout)}.")
    ferplus = layout == "ferplus"
    # FER+: majority labels, and the votes measure the probabilities
    train, val, test = (open_split(data, split, ferplus_labels="majority") for split in ("train", "val", "test"))
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
        "train_data": data_facts(train.hard_targets, train.classes),  # what the card says of the data
        "command": command or reproduce_command(model.config, name, ferplus=ferplus),
    }
    model.config.metrics = metrics
    out = Path(out)
    model.save_pretrained(out)
    card = model_card(model.config, name=name, dataset=FERPLUS_TEST if ferplus else FER2013_TEST)
    write_card(card, out / CARD_NAME)
    confusion_image(metrics["test"]["confusion_matrix"], model.labels, out / CONFUSION_NAME,
                    f"facexpr {name}: {'FER+' if ferplus else 'FER2013'} test, accuracy {metrics['test']['accuracy']:.4f}")
    check_release(out)
    return metrics


def build_mixed_release(
    model_dir: str | os.PathLike, roots: Sequence[str | os.PathLike], out: str | os.PathLike, *,
    name: str | None = None, command: str | None = None, dev: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Release a model trained on several label sources (the ``"mixed"`` recipe).

    The data is rebuilt as the recipe built it (:func:`~facexpr.data.mixing.mix_sources`, with
    the recipe's settings from the model's config). The ``crop_pct`` is chosen on the mixed
    validation set the training run chose its epoch on; the temperature is fitted on the faces
    from photos held out of training, since real photos are what users bring (never on the
    ``dev`` set it is reported on). ``val`` and ``test`` are FER+'s (majority label, the
    model's eight classes, with the fit to the votes); ``sources`` adds FER2013's own labels
    (seven classes), the held-out faces from photos and the ``dev`` set.

    Args:
        model_dir: The trained model folder.
        roots: The FER2013, FER+ and face-box roots the model was trained on.
        out: Release folder to write.
        name: Public model name (default: the architecture).
        command: The command that reproduces the training.
        dev: A face-box development set, measured over FER2013's seven classes.

    Returns:
        The metrics written to ``metrics.json``.

    Raises:
        ValueError: If ``roots`` lack the faces from photos (nothing to calibrate on).

    Example:
        >>> from facexpr.release import build_mixed_release
        >>> metrics = build_mixed_release("runs/mixed/best", ["data/fer2013", "data/ferplus", "data/expw-train"],
        ...                               "release/vgg8_bn.mixed", dev="data/expw")  # doctest: +SKIP
        >>> sorted(metrics["sources"])  # doctest: +SKIP
        ['dev', 'fer2013_test', 'fer2013_val', 'photos_val']
    """
    from .data import FER2013, FaceBoxes, FERPlus
    from .data.mixing import find_sources, mix_sources
    from .labels import FER2013_LABELS

    model = load(model_dir, device="cpu")
    name = name or model.architecture
    recipe = model.config.recipe or {}
    sources = find_sources(roots)
    if sources.faceboxes is None:
        raise ValueError("A mixed release calibrates on faces from photos: give their face-box root among the data.")
    train, val, parts = mix_sources(roots, votes_weight=recipe.get("votes_weight", 0.7),
                                    faceboxes_repeat=recipe.get("faceboxes_repeat", 4), seed=recipe.get("seed", 0))
    model.config.crop_pct, crop_accuracy = choose_crop_pct(model, val.images, val.hard_targets)
    held_out = parts["faceboxes"]
    model.config.temperature = fit_temperature(split_logits(model, held_out.images), held_out.hard_targets)
    seven = tuple(FER2013_LABELS)
    plus = {split: FERPlus(sources.ferplus, split, fer2013=sources.fer2013) for split in ("val", "test")}
    fer = {split: FER2013(sources.fer2013, split) for split in ("val", "test")}
    measured: dict[str, Any] = {
        "fer2013_val": evaluate_split(model, fer["val"].images, fer["val"].targets, classes=seven),
        "fer2013_test": evaluate_split(model, fer["test"].images, fer["test"].targets, classes=seven),
        "photos_val": evaluate_split(model, held_out.images, held_out.hard_targets, classes=seven),
    }
    if dev is not None:
        dev_faces = FaceBoxes(dev, classes=seven)
        measured["dev"] = {**evaluate_split(model, dev_faces.images, dev_faces.targets, classes=seven),
                           "data": Path(dev).name}
    metrics = {
        "temperature_fitted_to": f"photos: the {len(held_out)} faces held out of {sources.faceboxes.name}",
        "val_crop_pct_accuracy": crop_accuracy,
        "val": evaluate_split(model, plus["val"].images, plus["val"].hard_targets, votes=plus["val"].votes),
        "test": evaluate_split(model, plus["test"].images, plus["test"].hard_targets, votes=plus["test"].votes),
        "sources": measured,
        "checkpoint": model.config.metrics.get("checkpoint", {}),
        "train_data": data_facts(train.hard_targets, train.classes),
        "data_sets": {"fer2013": sources.fer2013.name, "ferplus": sources.ferplus.name,
                      "photos": sources.faceboxes.name},
        "command": command or ("facexpr train --recipe " + name + " " + " ".join(
            f"--data {Path(r).name}" for r in roots) + f" --out runs/{name}"),
    }
    model.config.metrics = metrics
    out = Path(out)
    model.save_pretrained(out)
    write_card(model_card(model.config, name=name, dataset=FERPLUS_TEST), out / CARD_NAME)
    confusion_image(metrics["test"]["confusion_matrix"], model.labels, out / CONFUSION_NAME,
                    f"facexpr {name}: FER+ test, accuracy {metrics['test']['accuracy']:.4f}")
    check_release(out)
    return metrics


def release_card(
    folder: str | os.PathLike, *, name: str | None = None, train_data: dict[str, Any] | None = None,
    command: str | None = None,
) -> ModelCard:
    """Render the model card of a release folder from its ``config.json`` and ``metrics.json``.

    The card :func:`build_release` writes, rebuilt from what the folder records, with the same
    template; nothing is measured again. Folders released before facexpr 0.2 record neither
    their training set's facts nor their command: pass them to have the card state them.

    Args:
        folder: A release folder.
        name: Public model name (default: the folder's name).
        train_data: The training set's :func:`~facexpr.models._hub.data_facts` (default: the
            folder's ``metrics["train_data"]``, if any).
        command: The training command to quote (default: the folder's ``metrics["command"]``).

    Returns:
        The card; ``str(card)`` is the ``README.md`` text.

    Example:
        >>> from pathlib import Path
        >>> import facexpr
        >>> from facexpr.release import release_card
        >>> card = release_card(Path(facexpr.__file__).parent / "weights" / "simple")
        >>> card.data.eval_results[0].metric_value
        0.6528
    """
    folder = Path(folder)
    config = ModelConfig.from_file(folder / CONFIG_NAME)
    if train_data is not None:
        config.metrics = {**config.metrics, "train_data": train_data}
    ferplus = "kl_divergence" in config.metrics.get("test", {})
    return model_card(config, name=name or folder.name, dataset=FERPLUS_TEST if ferplus else FER2013_TEST,
                      command=command)
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
