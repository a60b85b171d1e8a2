"""One model card, rendered from facexpr/templates/model_card.md and the measured metrics."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import huggingface_hub
import pytest
import torch

import facexpr
from facexpr.models import ModelConfig
from facexpr.models._builder import shipped_weights_dir
from facexpr.models._hub import FER2013_TEST, data_facts, model_card
from facexpr.release import release_card

from .conftest import SHARED

RELEASED = [name for name in facexpr.list_models(tags=True) if (shipped_weights_dir(name) / "README.md").is_file()]


def _shipped_command(card: str) -> str:
    return re.search(r"```bash\n(.*)\n```", card).group(1)  # an input of the card, not a figure


def test_the_template_ships_as_package_data() -> None:
    template = files("facexpr") / "templates" / "model_card.md"
    assert template.is_file() and "{{ card_data }}" in template.read_text(encoding="utf-8")
    assert '"templates/*.md"' in (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", RELEASED)
def test_the_template_restates_every_line_of_each_shipped_card_from_its_metrics(name: str) -> None:
    """Without the training set's facts (not in the 0.1 metrics.json), the card is the shipped
    card less the lines that state them; every figure in it comes from metrics.json/config.json."""
    folder = shipped_weights_dir(name)
    shipped = (folder / "README.md").read_text(encoding="utf-8")
    rendered = str(release_card(folder, command=_shipped_command(shipped)))
    shipped_lines, rendered_lines = shipped.splitlines(), rendered.splitlines()
    assert set(rendered_lines) - set(shipped_lines) <= {
        line for line in rendered_lines if "`train`" in line  # the sentence that would state the training size
    }
    left_out = [line for line in shipped_lines if line not in rendered_lines]
    assert all("faces)" in line or "Class imbalance" in line or "the other classes" in line for line in left_out), left_out
    for figure in re.findall(r"\b0\.\d{3,4}\b", shipped):  # every accuracy, F1, ECE, KL of the card
        assert figure in rendered


def _train_facts(name: str) -> dict:
    from facexpr.data import FER2013, FERPlus

    if name.endswith(".mixed"):  # FER2013's labels, FER+'s votes and ExpW's photo faces, as the recipe mixes them
        from facexpr.data.mixing import mix_sources

        roots = [SHARED / "data" / d for d in ("fer2013", "ferplus", "expw-train")]
        if not all(root.is_dir() for root in roots):
            pytest.skip("FER2013, FER+ or ExpW training faces not found in the shared data folder")
        train = mix_sources(roots)[0]
    elif name.endswith(".ferplus"):
        if not (SHARED / "data" / "ferplus" / "ferplus.csv").is_file():
            pytest.skip("FER+ not found in the shared data folder")
        train = FERPlus(SHARED / "data" / "ferplus", "train", labels="probability")
    else:
        if not (SHARED / "data" / "fer2013" / "train").is_dir():
            pytest.skip("FER2013 not found in the shared data folder")
        train = FER2013(SHARED / "data" / "fer2013", "train")
    return data_facts(train.hard_targets, train.classes)


@pytest.mark.slow
@pytest.mark.parametrize("name", RELEASED)
def test_each_shipped_card_regenerates_from_its_metrics_and_its_training_data(name: str) -> None:
    folder = shipped_weights_dir(name)
    shipped = (folder / "README.md").read_text(encoding="utf-8")
    facts = _train_facts(name)
    rendered = str(release_card(folder, train_data=facts, command=_shipped_command(shipped)))
    assert rendered == shipped
    assert (f"({facts['n']:,} faces)" in rendered or f"Training, {facts['n']:,} faces" in rendered
            or f"({facts['n']:,} training faces in all" in rendered)


def test_the_data_set_facts_come_from_the_data() -> None:
    folder = shipped_weights_dir("simple")
    facts = data_facts(torch.tensor([0] * 90 + [1] * 3 + [2] * 7 + [3, 4, 5, 6] * 25), facexpr.FER2013_LABELS)
    card = str(release_card(folder, train_data=facts))
    assert "FER2013 `train` (Training, 200 faces)" in card
    assert "`disgust` is about 1.5% of the training data" in card  # 3 of 200
    facts["class_counts"] = {**facts["class_counts"], "disgust": 30, "fear": 2}
    assert "`fear` is about 1.0% of the training data" in str(release_card(folder, train_data=facts))


def test_a_model_without_release_metrics_gets_the_short_card(tmp_path: Path) -> None:
    model = facexpr.load("simple", pretrained=False, device="cpu")
    model.config.metrics = {"val_accuracy": 0.5}
    model.save_pretrained(tmp_path)
    card = huggingface_hub.ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "facexpr" and card.text.lstrip().startswith("# facexpr `simple` model")
    assert '"val_accuracy": 0.5' in card.text and "## Results" not in card.text
    bare = str(model_card(ModelConfig("better")))
    assert "## Metrics" not in bare and bare.endswith("```\n")


def test_the_front_matter_carries_the_test_metrics() -> None:
    config = ModelConfig("better", metrics={"test": {"accuracy": 0.66, "macro_f1": 0.62}})
    card = model_card(config, dataset=FER2013_TEST)
    assert [r.metric_value for r in card.data.eval_results] == [0.66, 0.62]


def test_a_shrunk_model_says_where_it_started_and_whom_it_was_distilled_from() -> None:
    config = ModelConfig.from_file(shipped_weights_dir("vgg8_bn.mixed") / "config.json")
    config.architecture = "vgg7_bn"
    config.recipe = {**config.recipe, "model": "vgg7_bn", "pretrained": False, "shrink_from": "vgg8_bn.mixed",
                     "teacher": "vgg8_bn.mixed", "distill_alpha": 0.9, "distill_temperature": 4.0}
    text = " ".join(str(model_card(config, name="vgg7_bn.mixed")).split())
    assert ("A `vgg7_bn` CNN from [facexpr](https://github.com/facexpr/facexpr), started from the released "
            "`vgg8_bn.mixed` weights thinned to its shape (`facexpr.training.shrink`) and trained with knowledge "
            "distillation from `vgg8_bn.mixed` (alpha 0.9, temperature 4.0) on three label sources at once") in text
    assert "trained from scratch" not in text and text.count("knowledge distillation from") == 1


def test_a_distilled_mixed_fine_tune_says_so_and_only_official_names_are_released() -> None:
    config = ModelConfig.from_file(shipped_weights_dir("vgg7_bn.mixed") / "config.json")
    recipe = {k: v for k, v in config.recipe.items() if k != "shrink_from"}
    config.recipe = {**recipe, "pretrained": True, "model": "vgg7_bn.mixed"}
    text = " ".join(str(model_card(config, name="mine")).split())
    assert ("fine-tuned from the released `vgg7_bn.mixed` weights with knowledge distillation from `vgg8_bn.mixed` "
            "(alpha 0.5, temperature 4.0) on three label sources at once") in text
    config.recipe = {**recipe, "pretrained": True, "model": "runs/mine/best"}
    assert "fine-tuned from the weights of `runs/mine/best` with" in " ".join(str(model_card(config, name="m")).split())
    config.recipe = {**recipe, "shrink_from": "runs/big/best"}
    text = " ".join(str(model_card(config, name="m")).split())
    assert "started from the weights of `runs/big/best` thinned to its shape" in text and "released `runs" not in text
