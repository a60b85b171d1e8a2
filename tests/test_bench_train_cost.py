"""benchmarks/bench_train_cost.py's reference network and timed step, without timing anything."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
import torch



@pytest.fixture(scope="module")
def cost() -> ModuleType:
    return importlib.import_module("benchmarks.bench_train_cost")


def test_the_ferplus_papers_vgg13_takes_64x64_faces_and_has_its_8_8_million_parameters(cost: ModuleType) -> None:
    model = cost.ferplus_vgg13().eval()
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 8)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(8.76e6, rel=0.01)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model) == 10


def test_a_step_trains_the_model_and_returns_its_seconds(cost: ModuleType) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, 8))
    before = model[1].weight.detach().clone()
    seconds = cost.Step(model, 48)()
    assert seconds > 0 and not torch.equal(before, model[1].weight)
