"""The shipped weights: present, pinned, and as accurate on FER2013 test as their config says."""

from __future__ import annotations

from pathlib import Path

import pytest

import facexpr
from facexpr.models import get_model_entry

RELEASED = [n for n in facexpr.list_models() if (w := get_model_entry(n).weights) is not None and w.sha256]


def test_at_least_the_default_model_is_released() -> None:
    assert "better" in RELEASED, "facexpr.predict defaults to 'better', whose weights must ship"


@pytest.mark.parametrize("name", RELEASED)
def test_shipped_weights_reproduce_their_test_accuracy(name: str, fer2013_root: Path) -> None:
    from facexpr.data import FER2013
    from facexpr.release import evaluate_split

    model = facexpr.load(name, device="cpu")
    test = FER2013(fer2013_root, "test")
    measured = evaluate_split(model, test.images, test.targets)
    stored = model.config.metrics["test"]
    assert measured["n"] == 3589
    assert measured["accuracy"] == pytest.approx(stored["accuracy"], abs=0.002)
    assert measured["accuracy_tta"] == pytest.approx(stored["accuracy_tta"], abs=0.002)


@pytest.mark.parametrize("name", RELEASED)
def test_shipped_config_is_complete(name: str) -> None:
    model = facexpr.load(name, device="cpu")
    config = model.config
    assert config.recipe and config.recipe["model"] == config.architecture == name
    assert config.temperature > 0
    assert {"val", "test"} <= set(config.metrics)
    assert config.sha256 == get_model_entry(name).weights.sha256
