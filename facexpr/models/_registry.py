"""The model registry: architecture names, their classes and their released weights.

Modelled on ``torchvision.models._api``: architectures register themselves with
:func:`register_model`, which refuses duplicate names, and :func:`list_models` filters
names with shell-style patterns. Other official weights of a registered architecture are
named with timm's ``architecture.tag`` scheme (``better.ferplus``) and registered with
:func:`register_weights`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ._base import FaceModel

__all__ = [
    "DEFAULT_MODEL", "PretrainedWeights", "ModelEntry", "register_model", "register_weights", "list_models",
    "get_model_entry",
]

DEFAULT_MODEL = "vgg7_bn.mixed"
"""The model ``facexpr.predict``, the streams, video, webcam, Ray and the CLI load when none is given.

Chosen on faces in the wild among the models as fast per face as the fastest peer (the ``fer``
package's, ``python -m benchmarks.bench_peers``): the official model that reads real web photos
(the ExpW development set) best. ``vgg7_bn.mixed`` is ``vgg8_bn.mixed`` shrunk to ``vgg7_bn``'s
shape and distilled from it on FER2013's labels, FER+'s votes and faces cut from web photos; it
reads the development photos as well as ``vgg8_bn.mixed`` (0.411 of their faces against 0.407)
and their labelled crops 2 points worse (0.409 against 0.429), at 1.7-1.9 times its speed. It answers in
FER+'s eight expressions: pass ``classes=FER2013_LABELS`` for FER2013's seven."""


@dataclass(frozen=True)
class PretrainedWeights:
    """Where the official weights of an architecture live and how to check them.

    Attributes:
        repo_id: Hugging Face Hub repository holding ``config.json`` and ``model.safetensors``.
        sha256: Pinned sha256 of ``model.safetensors``; ``None`` while no weights are released.
        revision: Hub revision (branch, tag or commit) the pin refers to.
        shipped: Whether a copy ships inside the facexpr wheel (``facexpr/weights/<name>/``).
        labels: The classes the weights predict, in output order; ``None`` for FER2013's seven.

    Example:
        >>> from facexpr.models import get_model_entry
        >>> weights = get_model_entry("better").weights
        >>> weights.repo_id, weights.revision, weights.shipped
        ('facexpr/better', 'main', True)
    """

    repo_id: str
    sha256: str | None
    revision: str = "main"
    shipped: bool = True
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelEntry:
    """One registered architecture.

    Attributes:
        name: The name it is registered under.
        cls: Its :class:`~facexpr.models.FaceModel` subclass.
        weights: Its official pretrained weights, or ``None``.

    Example:
        >>> from facexpr.models import get_model_entry
        >>> entry = get_model_entry("simple")
        >>> entry.name, entry.cls.__name__, entry.weights.repo_id
        ('simple', 'SimpleCNN', 'facexpr/simple')
    """

    name: str
    cls: type[FaceModel]
    weights: PretrainedWeights | None


_MODELS: dict[str, ModelEntry] = {}

M = TypeVar("M", bound="type[FaceModel]")


def register_model(name: str, *, weights: PretrainedWeights | None = None) -> Callable[[M], M]:
    """Class decorator that registers an architecture under ``name``.

    Args:
        name: Public name, used by :func:`facexpr.load` and in ``config.json``.
        weights: The official pretrained weights of this architecture, if any.

    Raises:
        ValueError: If ``name`` is already registered.

    Example:
        >>> import torch, facexpr
        >>> from torch import nn
        >>> from facexpr.models import FaceModel, register_model
        >>> @register_model("tiny_cnn")
        ... class TinyCNN(FaceModel):
        ...     def __init__(self, num_classes=7, labels=None):
        ...         super().__init__(num_classes, labels)
        ...         self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        ...                                       nn.AdaptiveAvgPool2d(1))
        ...         self.classifier = nn.Sequential(nn.Linear(8, self.num_classes))
        >>> "tiny_cnn" in facexpr.list_models(), TinyCNN.architecture
        (True, 'tiny_cnn')
        >>> facexpr.load("tiny_cnn", pretrained=False, device="cpu")(torch.zeros(2, 1, 48, 48)).shape
        torch.Size([2, 7])
    """

    def wrapper(cls: M) -> M:
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered ({_MODELS[name].cls}).")
        cls.architecture = name
        _MODELS[name] = ModelEntry(name=name, cls=cls, weights=weights)
        return cls

    return wrapper


def register_weights(name: str, weights: PretrainedWeights) -> ModelEntry:
    """Register other official weights of an architecture as ``"architecture.tag"``.

    ``facexpr.load(name)`` then builds the architecture with the weights' labels and loads the
    weights; ``facexpr.load(name, pretrained=False)`` builds it fresh with those labels.

    Args:
        name: ``"<registered architecture>.<tag>"``, e.g. ``"better.ferplus"``.
        weights: Where the weights are and what they predict.

    Returns:
        The new registry entry.

    Raises:
        ValueError: If ``name`` is taken, has no tag, or its architecture is not registered.

    Example:
        >>> from facexpr.models import get_model_entry
        >>> entry = get_model_entry("better.ferplus")
        >>> entry.cls.architecture, entry.weights.labels[-1]
        ('better', 'contempt')
    """
    architecture, _, tag = name.partition(".")
    if not tag or architecture not in _MODELS:
        raise ValueError(f"Weights must be named '<architecture>.<tag>' with a registered architecture "
                         f"({', '.join(sorted(_MODELS))}), got {name!r}.")
    if name in _MODELS:
        raise ValueError(f"A model named {name!r} is already registered.")
    entry = ModelEntry(name=name, cls=_MODELS[architecture].cls, weights=weights)
    _MODELS[name] = entry
    return entry


def list_models(include: str | None = None, exclude: str | None = None, *, tags: bool = False) -> list[str]:
    """Return the registered architecture names, sorted.

    Args:
        include: Keep only names matching this shell-style pattern (e.g. ``"b*"``).
        exclude: Drop names matching this pattern.
        tags: Also list the other official weights of each architecture,
            ``"architecture.tag"`` (see :func:`register_weights`), as timm's
            ``list_models(pretrained=True)`` does.

    Returns:
        Sorted model names.

    Example:
        >>> import facexpr
        >>> facexpr.list_models()[:3]
        ['better', 'improved', 'simple']
        >>> facexpr.list_models("better*", tags=True)
        ['better', 'better.ferplus']
    """
    names = sorted(name for name in _MODELS if tags or "." not in name)
    if include:
        names = [n for n in names if fnmatch.fnmatch(n, include)]
    if exclude:
        names = [n for n in names if not fnmatch.fnmatch(n, exclude)]
    return names


def get_model_entry(name: str) -> ModelEntry:
    """Return the registry entry of ``name``.

    Raises:
        ValueError: If no architecture is registered under ``name``; the message lists them.

    Example:
        >>> from facexpr.models import get_model_entry
        >>> entry = get_model_entry("better")
        >>> entry.cls.__name__, entry.weights.repo_id
        ('BetterCNN', 'facexpr/better')
    """
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Available: {', '.join(list_models(tags=True))}."
        ) from None
