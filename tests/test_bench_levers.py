"""benchmarks/train_levers.py's recipes and targets, without ../shared or any training."""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace

import pytest
import torch

from facexpr.labels import FERPLUS_LABELS



@pytest.fixture(scope="module")
def levers() -> ModuleType:
    return importlib.import_module("benchmarks.train_levers")


def test_every_lever_has_a_start_and_the_longer_runs_their_own_schedule(levers: ModuleType) -> None:
    assert set(levers.START) == set(levers.LEVERS)
    control = levers.lever_recipe("control", 6)
    assert (control.model, control.epochs, control.lr, control.augment) == ("better.ferplus", 6, 1e-3, "strong")
    longer = levers.lever_recipe("longer", 6)  # --epochs does not apply to it
    assert (longer.model, longer.epochs, longer.lr, longer.augment) == ("vgg8_bn.ferplus", 8, 5e-4, "strong")
    assert levers.lever_recipe("longer-wild", 6).augment == "wild"
    assert levers.lever_recipe("majority", 6).dataset == "ferplus-majority"


def _ferplus_like(paths: list[str]) -> SimpleNamespace:
    votes = torch.zeros(len(paths), 8)
    votes[:, 6] = 0.6  # neutral
    votes[:, 3] = 0.4  # happy
    return SimpleNamespace(images=torch.zeros(len(paths), 1, 48, 48, dtype=torch.uint8), votes=votes,
                           classes=FERPLUS_LABELS, paths=paths)


def test_mixed_targets_average_the_votes_and_the_fer2013_label(levers: ModuleType) -> None:
    train = _ferplus_like(["fer2013/train/angry/Training_1.jpg", "fer2013/train/happy/Training_2.jpg"])
    mixed = levers.mixed_targets(train)
    assert mixed.soft and torch.allclose(mixed.targets.sum(1), torch.ones(2))
    angry, happy, neutral = (FERPLUS_LABELS.index(c) for c in ("angry", "happy", "neutral"))
    assert mixed.targets[0, angry] == pytest.approx(0.5) and mixed.targets[0, neutral] == pytest.approx(0.3)
    assert mixed.targets[1, happy] == pytest.approx(0.7) and mixed.targets[1, angry] == 0
    assert mixed.paths == train.paths


def test_mixed_targets_refuse_faces_outside_fer2013_class_folders(levers: ModuleType) -> None:
    with pytest.raises(ValueError, match="FER2013Train/fer0000000.png|not in class folders"):
        levers.mixed_targets(_ferplus_like(["FER2013Train/fer0000000.png"]))
