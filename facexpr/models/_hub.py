"""Hub-style persistence: ``save_pretrained`` folders, model cards and ``push_to_hub``.

A model folder holds ``model.safetensors``, ``config.json`` (what loading and preprocessing
need), ``metrics.json`` (metrics and training recipe) and a ``README.md`` model card built with
:class:`huggingface_hub.ModelCard` (as ``huggingface_hub``'s ``hub_mixin.py`` does). Only
safetensors weights are ever written or read: pickled checkpoints are never loaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors.torch import save_file

from .. import _hf
from .._version import __version__
from .._io import atomic_write, sha256_file
from ._config import CONFIG_NAME, METRICS_NAME, WEIGHTS_NAME, ModelConfig
from ._registry import list_models

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from ._base import FaceModel

__all__ = [
    "save_pretrained", "push_to_hub", "model_card", "data_facts", "write_card", "CARD_NAME", "CARD_TEMPLATE",
    "FER2013_TEST", "FERPLUS_TEST",
]

CARD_NAME = "README.md"
"""File name of the model card."""

FER2013_TEST = ("fer2013", "FER2013 (PrivateTest)", "test")
FERPLUS_TEST = ("ferplus", "FER+ (PrivateTest, majority label)", "test")
"""The evaluation sets of the official cards (FER2013, FER+): Hub dataset type, name and split."""

_TAGS = ["facial-expression-recognition", "facexpr", "pytorch"]


CARD_TEMPLATE = "model_card.md"
"""The Jinja template of every facexpr model card, in ``facexpr/templates/`` (package data)."""


def data_facts(targets: Any, labels: Any) -> dict[str, Any]:
    """The facts a model card states about a training set: its size and each class's count.

    Args:
        targets: The class index of each face (``N``; for vote distributions, the majority
            label, :attr:`FaceDataset.hard_targets <facexpr.data.FaceDataset.hard_targets>`).
        labels: The class names, in index order.

    Returns:
        ``{"n": N, "class_counts": {label: count}}``, the ``train_data`` entry that
        :func:`facexpr.release.build_release` records in ``metrics.json``.

    Example:
        >>> import torch
        >>> data_facts(torch.tensor([0, 1, 1, 2]), ["a", "b", "c"])
        {'n': 4, 'class_counts': {'a': 1, 'b': 2, 'c': 1}}
    """
    import torch

    counts = torch.bincount(torch.as_tensor(targets).long(), minlength=len(labels)).tolist()
    return {"n": int(sum(counts)), "class_counts": dict(zip(labels, (int(c) for c in counts)))}


def _card_values(config: ModelConfig, name: str, command: str | None) -> dict[str, Any]:
    """What the card template shows: the config's facts and measured metrics, formatted."""
    from ..transforms import TTA_ZOOM

    metrics = config.metrics or {}
    recipe = config.recipe or {}
    values: dict[str, Any] = {
        "name": name, "architecture": config.architecture, "labels": list(config.labels),
        "input_size": config.input_size, "mean": list(config.mean), "std": list(config.std),
        "metrics": metrics,
        "metrics_json": json.dumps(metrics, indent=2) if metrics else "",
        "release": all("accuracy_tta" in (metrics.get(split) or {}) for split in ("val", "test")),
    }
    if not values["release"]:
        return values
    test = metrics["test"]
    ferplus = "kl_divergence" in test  # measured against FER+'s votes
    train = metrics.get("train_data") or {}
    counts = train.get("class_counts") or {}
    rarest = min(counts, key=lambda label: counts[label]) if counts and train.get("n") else None
    tried = metrics.get("val_crop_pct_accuracy") or {}
    teacher = recipe.get("teacher")
    folder = "ferplus" if ferplus else "fer2013"
    sources = metrics.get("sources") or {}
    if sources:
        def row(name: str, key: str, classes: int) -> dict[str, Any]:
            return {"name": name, "n": f"{sources[key]['n']:,}", "classes": classes, "m": sources[key]}

        rows = [{"name": "FER+ test (majority)", "n": f"{test['n']:,}", "classes": len(config.labels), "m": test},
                row("FER2013 val (its own labels)", "fer2013_val", 7), row("FER2013 test (its own labels)", "fer2013_test", 7),
                row("photos held out of training (validation, calibration)", "photos_val", 7)]
        if "dev" in sources:
            rows.append(row(f"photos of `{sources['dev'].get('data', 'dev')}` (development set, never trained on)", "dev", 7))
        weight = float(recipe.get("votes_weight", 0.7))
        values.update(source_rows=rows, data_sets=metrics.get("data_sets") or {}, votes_weight=f"{weight:g}",
                      label_weight=f"{1 - weight:g}", photos_repeat=recipe.get("faceboxes_repeat", 4),
                      temperature_fitted_to=metrics.get("temperature_fitted_to", "photos"))
    distilled = (f" with knowledge distillation from `{teacher}` (alpha {recipe.get('distill_alpha')}, "
                 f"temperature {recipe.get('distill_temperature')})") if teacher else ""
    official = set(list_models(tags=True))  # a folder or a Hub repo is not "released" by facexpr
    # The start says how it was distilled too where the template does not (shrunk or mixed runs).
    if recipe.get("shrink_from"):
        source = recipe["shrink_from"]
        weights = f"the released\n`{source}` weights" if source in official else f"the weights of\n`{source}`"
        start = f"started from {weights} thinned to its shape (`facexpr.training.shrink`) and trained{distilled} on"
        distilled = ""
    elif recipe.get("pretrained"):
        model = recipe.get("model", config.architecture)
        weights = f"the released `{model}` weights" if model in official else f"the weights of `{model}`"
        start = f"fine-tuned from\n{weights}{distilled if sources else ''} on"
    else:
        start = f"trained from\nscratch{distilled if sources else ''} on"
    values.update(
        mixed=bool(sources),
        ferplus=ferplus,
        start=start,
        train_size=f"{train['n']:,}" if train.get("n") else None,
        val_size=f"{metrics['val']['n']:,}", test_size=f"{test['n']:,}",
        teacher=distilled,
        temperature=config.temperature,
        crop_pct=f"{config.crop_pct:.1%}",
        crops_tried=", ".join(f"{float(c):.1%}: {acc:.4f}" for c, acc in tried.items()) or "the whole face only",
        tta_zoom=f"{TTA_ZOOM:.1%}",
        rarest={"label": rarest, "share": f"{counts[rarest] / train['n']:.1%}"} if rarest else None,
        recipe_json=json.dumps(recipe),
        command=command or metrics.get("command") or f"facexpr train --recipe {name} --data {folder} --out runs/{name}",
        confusion_image="confusion_matrix.png",
    )
    return values


def model_card(
    config: ModelConfig, *, name: str | None = None, dataset: tuple[str, str, str] | None = None,
    command: str | None = None,
) -> ModelCard:
    """Build the model card of a config from facexpr's card template and its measured metrics.

    The card is :meth:`huggingface_hub.ModelCard.from_template` of ``facexpr/templates/model_card.md``
    (:data:`CARD_TEMPLATE`). With the metrics of a release (val and test measured by
    :func:`facexpr.release.evaluate_split`) it is the full release card: results, per-class
    table, intended use, training data and recipe, limitations; the data set's facts (split
    sizes, the rarest class's share of the training data) come from the metrics, never from
    text typed in. Without them it is a short usage note with the metrics as JSON. The front
    matter comes from :class:`huggingface_hub.ModelCardData`; with ``dataset``, the test
    accuracy and macro-F1 become ``eval_results`` (the card's ``model-index``), which the Hub
    shows as an evaluation widget.

    Args:
        config: The model's config (labels, preprocessing, metrics, recipe).
        name: Public model name (default: the architecture).
        dataset: ``(type, name, split)`` of the set ``config.metrics["test"]`` was measured on,
            e.g. :data:`FER2013_TEST`.
        command: The command that reproduces the training (default: ``metrics["command"]``,
            else ``facexpr train --recipe NAME ...``).

    Returns:
        The card; ``str(card)`` is the ``README.md`` text.

    Example:
        >>> from facexpr.models import ModelConfig
        >>> from facexpr.models._hub import FER2013_TEST, model_card
        >>> config = ModelConfig("better", metrics={"test": {"accuracy": 0.66, "macro_f1": 0.62}})
        >>> card = model_card(config, dataset=FER2013_TEST)
        >>> card.data.library_name, [r.metric_value for r in card.data.eval_results]
        ('facexpr', [0.66, 0.62])
        >>> card.text.splitlines()[1]
        '# facexpr `better` model'
    """
    from importlib.resources import as_file, files

    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    name = name or config.architecture
    test = (config.metrics or {}).get("test") or {}
    research_only = bool((config.metrics or {}).get("sources"))  # trained on ExpW: research use only
    data: dict[str, Any] = {
        "library_name": "facexpr",
        "license": "other" if research_only else "mit",
        "pipeline_tag": "image-classification",
        "tags": list(_TAGS),
    }
    if research_only:
        data.update(license_name="research-only",
                    license_link="https://github.com/facexpr/facexpr/blob/main/docs/zoo.md#licences")
    if dataset is not None and "accuracy" in test:
        kind, title, split = dataset
        common = dict(task_type="image-classification", task_name="Facial expression recognition",
                      dataset_type=kind, dataset_name=title, dataset_split=split)
        results = [EvalResult(metric_type="accuracy", metric_value=round(float(test["accuracy"]), 4), **common)]
        if "macro_f1" in test:
            results.append(EvalResult(metric_type="f1", metric_name="macro-F1",
                                      metric_value=round(float(test["macro_f1"]), 4), **common))
        data.update(datasets=[kind], metrics=[r.metric_type for r in results], model_name=f"facexpr-{name}",
                    eval_results=results)
    with as_file(files("facexpr") / "templates" / CARD_TEMPLATE) as template:
        card = ModelCard.from_template(ModelCardData(**data), template_path=str(template),
                                       **_card_values(config, name, command))
    return ModelCard(card.content.rstrip("\n") + "\n")


def write_card(card: ModelCard, path: Path) -> Path:
    """Write a card atomically (``README.md`` is never half-written)."""
    text = str(card)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_pretrained(model: FaceModel, save_directory: str | os.PathLike) -> Path:
    """Write ``model.safetensors``, ``config.json`` (with the weights' sha256), ``metrics.json`` and a card.

    Existing files are replaced atomically; a ``README.md`` already in the folder is kept.
    """
    folder = Path(save_directory)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"save_pretrained needs a folder, but '{folder}' is a file.")
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors writes its metadata dict in no fixed order, so with
    # two keys the same tensors could get other bytes (and another sha256) on every save.
    # The architecture is in config.json.
    weights = atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    model.config.sha256 = sha256_file(weights)
    model.config.facexpr_version = __version__
    _write_json(folder / CONFIG_NAME, model.config.to_dict())
    _write_json(folder / METRICS_NAME, model.config.metrics_dict())
    card = folder / CARD_NAME
    if not card.exists():
        write_card(model_card(model.config), card)
    return folder


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    text = json.dumps(data, indent=2) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def push_to_hub(
    model: FaceModel,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload facexpr model",
    revision: str | None = None,
) -> str:
    """Save ``model`` to a temporary folder and upload it with :class:`huggingface_hub.HfApi`.

    Returns:
        The URL of the created commit.

    Raises:
        HubError: The Hub could not be reached or refused the upload; the message names the
            repository and the endpoint.
    """
    with tempfile.TemporaryDirectory(prefix="facexpr-push-") as tmp:
        save_pretrained(model, tmp)
        return _hf.upload_folder(
            tmp, repo_id, shown_as=f"the {model.architecture!r} model", private=private, token=token,
            commit_message=commit_message, revision=revision,
        )
