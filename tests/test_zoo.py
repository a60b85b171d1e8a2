"""The shipped weights: present, pinned, and as accurate on FER2013 test as their config says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import facexpr
from facexpr.models import get_model_entry
from facexpr.models._builder import shipped_weights_dir

RELEASED = [n for n in facexpr.list_models(tags=True) if (w := get_model_entry(n).weights) is not None and w.sha256]


def test_at_least_the_default_model_is_released() -> None:
    from facexpr.models import DEFAULT_MODEL

    assert DEFAULT_MODEL in RELEASED, f"facexpr.predict defaults to {DEFAULT_MODEL!r}, whose weights must ship"


@pytest.mark.slow
@pytest.mark.parametrize("name", RELEASED)
def test_shipped_weights_reproduce_their_test_accuracy(name: str, fer2013_root: Path) -> None:
    """Each model on the test split it was released on: FER2013's, or FER+'s (majority label)."""
    from facexpr.data import FER2013, FERPlus
    from facexpr.release import evaluate_split

    model = facexpr.load(name, device="cpu")
    stored = json.loads((shipped_weights_dir(name) / "metrics.json").read_text())["metrics"]["test"]
    if name.endswith((".ferplus", ".mixed")):  # released on FER+ test (a mixed model also on FER2013's: its card)
        ferplus = fer2013_root.parent / "ferplus"
        if not (ferplus / "ferplus.csv").is_file():
            pytest.skip(f"FER+ votes not found at {ferplus} (the shared data folder is absent)")
        test = FERPlus(ferplus, "test")
        measured = evaluate_split(model, test.images, test.hard_targets, votes=test.votes)
        assert measured["kl_divergence"] == pytest.approx(stored["kl_divergence"], abs=0.002)
    else:
        test = FER2013(fer2013_root, "test")
        measured = evaluate_split(model, test.images, test.targets)
    assert measured["n"] == len(test) == stored["n"]
    assert measured["accuracy"] == pytest.approx(stored["accuracy"], abs=0.002)
    assert measured["accuracy_tta"] == pytest.approx(stored["accuracy_tta"], abs=0.002)


@pytest.mark.parametrize("name", RELEASED)
def test_shipped_folder_splits_loading_config_from_metrics(name: str) -> None:
    """config.json holds what loading needs; metrics and recipe live in metrics.json and the card."""
    import huggingface_hub

    folder = shipped_weights_dir(name)
    config = json.loads((folder / "config.json").read_text())
    assert set(config) == {"architecture", "labels", "input_size", "in_chans", "mean", "std", "crop_pct",
                           "temperature", "sha256", "facexpr_version", "num_classes"}
    results = json.loads((folder / "metrics.json").read_text())
    started_from = results["recipe"]["model"]  # the architecture, or the released model fine-tuned
    assert set(results) == {"metrics", "recipe"} and get_model_entry(started_from).cls.architecture == config["architecture"]
    card = huggingface_hub.ModelCard.load(folder / "README.md")
    accuracy = {r.metric_type: r.metric_value for r in card.data.eval_results}["accuracy"]
    assert accuracy == round(results["metrics"]["test"]["accuracy"], 4)


@pytest.mark.parametrize("name", RELEASED)
def test_shipped_config_is_complete(name: str) -> None:
    model = facexpr.load(name, device="cpu")
    config = model.config
    assert config.recipe and config.architecture == get_model_entry(name).cls.architecture
    assert get_model_entry(config.recipe["model"]).cls.architecture == config.architecture
    assert config.temperature > 0
    assert {"val", "test"} <= set(config.metrics)
    assert config.sha256 == get_model_entry(name).weights.sha256
