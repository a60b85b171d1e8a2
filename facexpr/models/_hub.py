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

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from ._base import FaceModel

__all__ = ["save_pretrained", "push_to_hub", "model_card", "CARD_NAME", "FER2013_TEST", "FERPLUS_TEST"]

CARD_NAME = "README.md"
"""File name of the model card."""

FER2013_TEST = ("fer2013", "FER2013 (PrivateTest)", "test")
FERPLUS_TEST = ("ferplus", "FER+ (PrivateTest, majority label)", "test")
"""The evaluation sets of the official cards (FER2013, FER+): Hub dataset type, name and split."""

_TAGS = ["facial-expression-recognition", "facexpr", "pytorch"]


def _default_body(config: ModelConfig, name: str) -> str:
    lines = [
        f"# facexpr `{name}` model",
        "",
        f"Labels: {', '.join(config.labels)}. Input: {config.input_size}x{config.input_size} grayscale, "
        f"scaled to [0, 1], normalised with mean {list(config.mean)} and std {list(config.std)}.",
        "",
        "```python",
        "import facexpr",
        'model = facexpr.load("path/or/user/repo")',
        'model.predict("face.jpg")',
        "```",
    ]
    if config.metrics:
        lines += ["", "## Metrics", "", "```json", json.dumps(config.metrics, indent=2), "```"]
    return "\n".join(lines) + "\n"


def model_card(
    config: ModelConfig, *, name: str | None = None, body: str | None = None,
    dataset: tuple[str, str, str] | None = None,
) -> ModelCard:
    """Build the model card of a config with :class:`huggingface_hub.ModelCard`.

    The front matter comes from :class:`huggingface_hub.ModelCardData`. With ``dataset``, the
    test accuracy and macro-F1 in ``config.metrics`` become ``eval_results`` (the card's
    ``model-index``), which the Hub shows as an evaluation widget.

    Args:
        config: The model's config (labels, preprocessing, metrics).
        name: Public model name (default: the architecture).
        body: Markdown after the front matter (default: a short usage note with the metrics).
        dataset: ``(type, name, split)`` of the set ``config.metrics["test"]`` was measured on,
            e.g. :data:`FER2013_TEST`.

    Returns:
        The card; ``str(card)`` is the ``README.md`` text.

    Example:
        >>> from facexpr.models import ModelConfig
        >>> from facexpr.models._hub import FER2013_TEST, model_card
        >>> config = ModelConfig("better", metrics={"test": {"accuracy": 0.66, "macro_f1": 0.62}})
        >>> card = model_card(config, dataset=FER2013_TEST)
        >>> card.data.library_name, [r.metric_value for r in card.data.eval_results]
        ('facexpr', [0.66, 0.62])
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    name = name or config.architecture
    test = (config.metrics or {}).get("test") or {}
    data: dict[str, Any] = {
        "library_name": "facexpr",
        "license": "mit",
        "pipeline_tag": "image-classification",
        "tags": list(_TAGS),
    }
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
    card_data = ModelCardData(**data)
    text = body if body is not None else _default_body(config, name)
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{text.lstrip()}")


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
