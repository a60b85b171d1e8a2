"""Saving and loading model folders, locally, from the wheel and from the Hugging Face Hub.

A model folder holds ``model.safetensors``, ``config.json`` and a ``README.md`` model card.
Only safetensors weights are ever read: pickled checkpoints are never loaded.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from .._io import atomic_write, sha256_file
from ..errors import ChecksumMismatchError, WeightsNotAvailableError
from ._base import channels_last_suits
from ._config import CONFIG_NAME, WEIGHTS_NAME, ModelConfig
from ._registry import get_model_entry, list_models

if TYPE_CHECKING:
    from ._base import FaceModel

__all__ = ["load", "save_pretrained", "push_to_hub", "shipped_weights_dir", "best_device"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
HUB_TIMEOUT_S = 1.5
"""Seconds to wait for the Hub before failing (or using the cache); ``$FACEXPR_HUB_TIMEOUT``."""


def best_device() -> torch.device:
    """Return CUDA if available, else MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def shipped_weights_dir(name: str) -> Path:
    """Folder inside the installed package where the official ``name`` weights ship."""
    return Path(str(resources.files("facexpr"))) / "weights" / name


def _model_card(config: ModelConfig) -> str:
    metrics = config.metrics or {}
    lines = [
        "---",
        "library_name: facexpr",
        "license: mit",
        "pipeline_tag: image-classification",
        "tags:",
        "- facial-expression-recognition",
        "- facexpr",
        "---",
        "",
        f"# facexpr `{config.architecture}` model",
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
    if metrics:
        lines += ["", "## Metrics", "", "```json", json.dumps(metrics, indent=2), "```"]
    return "\n".join(lines) + "\n"


def save_pretrained(model: FaceModel, save_directory: str | os.PathLike) -> Path:
    """Write ``model.safetensors``, ``config.json`` (with the weights' sha256) and a card.

    Existing files are replaced atomically; a ``README.md`` already in the folder is kept.
    """
    from .. import __version__

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
    text = json.dumps(model.config.to_dict(), indent=2) + "\n"
    atomic_write(folder / CONFIG_NAME, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    card = folder / "README.md"
    if not card.exists():
        atomic_write(card, lambda tmp: tmp.write_text(_model_card(model.config), encoding="utf-8"))
    return folder


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"Refusing to load weights file '{path}': its sha256 is {actual}, expected {expected}. "
            "The file is corrupt or was tampered with; delete it to download it again."
        )


def _build(config: ModelConfig, weights: Path | None, pin: str | None) -> FaceModel:
    entry = get_model_entry(config.architecture)
    model = entry.cls(labels=config.labels)
    model.config = config
    if weights is not None:
        _verify(weights, pin or config.sha256)
        try:
            state = load_file(weights)
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(
                f"'{weights}' is not a valid safetensors file ({err}); facexpr never loads pickled "
                "checkpoints."
            ) from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(
                f"Weights file '{weights}' does not fit architecture '{config.architecture}': {err}"
            ) from None
    return model


def _load_folder(folder: Path, pin: str | None = None) -> FaceModel:
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise FileNotFoundError(
                f"Model folder '{folder}' has no {needed.name}; expected {CONFIG_NAME} and "
                f"{WEIGHTS_NAME} as written by save_pretrained()."
            )
    return _build(ModelConfig.from_file(config_path), weights_path, pin)


def _hub_timeout() -> float:
    return float(os.environ.get("FACEXPR_HUB_TIMEOUT", HUB_TIMEOUT_S))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_reachable(repo_id: str, filename: str, revision: str | None, endpoint: str | None, token: str | None) -> bool:
    """One HEAD request without retries: can the Hub answer at all within the timeout?

    ``hf_hub_download`` retries unreachable hosts with exponential back-off (about 30 s)
    when nothing is cached; this probe lets facexpr fail within the timeout instead.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        get_hf_file_metadata(url, token=token, timeout=_hub_timeout(), library_name="facexpr")
    except HfHubHTTPError:
        return True  # the Hub answered (404, 401...): hf_hub_download reports it precisely
    except Exception:  # connection refused, DNS failure, timeout, proxy error
        return False
    return True


def _download(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None, token: str | None) -> Path:
    """Fetch config.json and model.safetensors through the standard HF cache; return the folder."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = constants.HF_HUB_OFFLINE or _env_flag("HF_HUB_OFFLINE")
    endpoint = os.environ.get("HF_ENDPOINT") or None
    if cache_dir is None and os.environ.get("HF_HUB_CACHE"):
        cache_dir = os.environ["HF_HUB_CACHE"]
    elif cache_dir is None and os.environ.get("HF_HOME"):
        cache_dir = Path(os.environ["HF_HOME"]) / "hub"
    what = f"'{repo_id}' (revision {revision or 'main'})"
    local_only = offline
    if not offline and not _hub_reachable(repo_id, CONFIG_NAME, revision, endpoint, token):
        local_only = True
    reason = (
        "HF_HUB_OFFLINE is set" if offline
        else f"the Hub at {endpoint or constants.ENDPOINT} could not be reached"
    )
    paths = []
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            paths.append(
                Path(
                    hf_hub_download(
                        repo_id, filename, revision=revision, cache_dir=cache_dir, token=token,
                        local_files_only=local_only, endpoint=endpoint, etag_timeout=_hub_timeout(),
                        library_name="facexpr",
                    )
                )
            )
        except RepositoryNotFoundError:
            raise WeightsNotAvailableError(
                f"Hugging Face Hub repository {what} was not found (or is private: pass token=)."
            ) from None
        except RevisionNotFoundError:
            raise WeightsNotAvailableError(f"Revision not found for Hub model {what}.") from None
        except LocalEntryNotFoundError:
            if not local_only:
                reason = f"the Hub at {endpoint or constants.ENDPOINT} could not be reached"
            raise WeightsNotAvailableError(
                f"Cannot load {filename} of Hub model {what}: {reason} and it is not in the "
                f"local cache ({cache_dir or constants.HF_HUB_CACHE})."
            ) from None
        except EntryNotFoundError:
            raise WeightsNotAvailableError(
                f"Hub model {what} has no {filename}; is it a facexpr model?"
            ) from None
        except HfHubHTTPError as err:
            raise WeightsNotAvailableError(f"Cannot download {filename} of Hub model {what}: {err}") from None
    return paths[1].parent


def load(
    name_or_path: str | os.PathLike,
    *,
    pretrained: bool = True,
    num_classes: int | None = None,
    labels: list[str] | tuple[str, ...] | None = None,
    device: str | torch.device | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
) -> FaceModel:
    """Load a model by official name, from a saved folder, or from a Hugging Face Hub repo.

    Official names (see :func:`facexpr.list_models`) read the weights shipped inside the
    package after checking their pinned sha256, with no network access. Other weights come
    from the Hub through the standard HF cache (``HF_HOME``, ``HF_HUB_OFFLINE`` and
    ``HF_ENDPOINT`` are honoured); when the Hub cannot be reached and nothing is cached, a
    :class:`~facexpr.WeightsNotAvailableError` is raised within about two seconds
    (``$FACEXPR_HUB_TIMEOUT``).

    The model is returned in ``eval()`` mode on ``device``, its convolution weights stored
    channels-last on CPU and CUDA (faster; the numbers are the same up to float rounding).

    Args:
        name_or_path: ``"simple"``, ``"improved"``, ``"better"`` (or another registered
            name), a folder written by ``save_pretrained``, or a Hub repo id ``"user/repo"``.
        pretrained: Load trained weights; ``False`` builds a freshly initialised model
            (registered names only).
        num_classes: Replace the classifier with a new one of this many classes (fine-tuning).
        labels: Class names of the new classifier (implies ``num_classes``).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``...; default: the best available.
        revision: Hub revision (branch, tag or commit) to download.
        cache_dir: Hub cache folder (default: the standard HF cache).
        token: Hub token for private repositories.

    Returns:
        The model, in eval mode.

    Raises:
        ValueError: Unknown name (the message lists the available ones), or arguments that
            contradict each other.
        WeightsNotAvailableError: The weights are not shipped, cached or reachable.
        ChecksumMismatchError: The weights file's sha256 differs from the pinned one.

    Example:
        >>> import facexpr
        >>> model = facexpr.load("better", pretrained=False)
        >>> model.training
        False
    """
    if labels is not None:
        if num_classes is not None and num_classes != len(labels):
            raise ValueError(f"num_classes={num_classes} contradicts the {len(labels)} labels {list(labels)}.")
        num_classes = len(labels)
    name = os.fspath(name_or_path)
    if name in list_models():
        entry = get_model_entry(name)
        if not pretrained:
            model = entry.cls(num_classes=num_classes or 7, labels=labels)
            num_classes = None
        else:
            model = _load_official(name, revision, cache_dir, token)
    else:
        if not pretrained:
            raise ValueError(
                f"pretrained=False needs an architecture name ({', '.join(list_models())}), "
                f"got {name!r}."
            )
        path = Path(name).expanduser()
        if path.is_dir():
            model = _load_folder(path)
        elif path.exists():
            raise ValueError(f"'{path}' is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}.")
        elif _REPO_ID.match(name):
            model = _load_folder(_download(name, revision, cache_dir, token))
        else:
            raise ValueError(
                f"Unknown model {name!r}. Available: {', '.join(list_models())}; or pass a folder "
                "written by save_pretrained() or a Hugging Face Hub repo id 'user/name'."
            )
    if num_classes is not None and (
        num_classes != model.num_classes or (labels is not None and tuple(labels) != model.labels)
    ):
        model.reset_classifier(num_classes, labels)
    target = torch.device(device) if device is not None else best_device()
    model = model.to(target).eval()
    if channels_last_suits(model, target):
        model = model.to(memory_format=torch.channels_last)  # faster convolutions
    return model


def _load_official(name: str, revision: str | None, cache_dir: Any, token: str | None) -> FaceModel:
    weights = get_model_entry(name).weights
    if weights is None or weights.sha256 is None:
        raise WeightsNotAvailableError(
            f"No pretrained weights have been released for '{name}' yet. Use "
            f"facexpr.load({name!r}, pretrained=False) for a fresh model, or train one with "
            f"`facexpr train --recipe {name}`."
        )
    pinned = revision is None or revision == weights.revision
    shipped = shipped_weights_dir(name)
    if pinned and weights.shipped and (shipped / WEIGHTS_NAME).is_file():
        return _load_folder(shipped, pin=weights.sha256)
    folder = _download(weights.repo_id, revision or weights.revision, cache_dir, token)
    return _load_folder(folder, pin=weights.sha256 if pinned else None)


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
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        info = api.upload_folder(
            repo_id=repo_id, folder_path=tmp, commit_message=commit_message, revision=revision
        )
    return str(getattr(info, "commit_url", info))
