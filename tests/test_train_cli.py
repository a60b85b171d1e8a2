"""`facexpr train` / `facexpr evaluate` end to end on tiny generated data, and recipes."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.cli import main
from facexpr.training.recipes import RECIPES, get_recipe, load_train_val

from .conftest import FakeTerminal


def _tree(root: Path, classes: list[str], per_class: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, (48, 48), dtype=np.uint8) + index * 80 % 176  # learnable
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))


def test_recipes_exist_for_every_seed_model_and_its_seed_version() -> None:
    for name in ("simple", "improved", "better"):
        assert RECIPES[name].model == name
        assert RECIPES[f"seed-{name}"].model == name
    assert RECIPES["seed-better"].augment == "seed" and RECIPES["seed-better"].epochs == 30
    assert get_recipe("better", epochs=1).epochs == 1
    with pytest.raises(ValueError, match="Unknown recipe 'best'"):
        get_recipe("best")
    with pytest.raises(ValueError, match="Unknown recipe fields"):
        get_recipe("better", epoch=3)
    with pytest.raises(ValueError, match="distill_alpha set, but recipe 'better' has no teacher"):
        get_recipe("better", distill_alpha=0.3)
    assert get_recipe("better", teacher="vgg8_bn", teacher_mode="cached").teacher_mode == "cached"


@pytest.mark.parametrize(("name", "mode"), [("better-kd", "cached"), ("better-kd-online", "online")])
def test_distilled_recipe_is_the_students_own_recipe_plus_its_teacher(name: str, mode: str) -> None:
    """The distilled recipes differ from ``better`` only by the teacher, so the comparison is fair."""
    distilled, own = RECIPES[name], RECIPES["better"]
    assert (distilled.teacher, distilled.teacher_mode) == ("vgg8_bn", mode)
    assert distilled.teacher in RECIPES and RECIPES[distilled.teacher].model == "vgg8_bn"
    assert replace(distilled, teacher=None, teacher_mode="online") == own
    stored = distilled.to_dict()
    assert (stored["teacher"], stored["distill_alpha"], stored["distill_temperature"]) == ("vgg8_bn", 0.5, 4.0)


def test_load_train_val_layouts(tmp_path: Path) -> None:
    single = _tree(tmp_path / "single", ["calm", "excited"], 10)
    train, val = load_train_val(single, val_fraction=0.2)
    assert train.classes == val.classes == ("calm", "excited")
    assert val.class_counts() == [2, 2] and train.class_counts() == [8, 8]
    _tree(tmp_path / "split" / "train", ["a", "b"], 4)
    _tree(tmp_path / "split" / "val", ["a", "b"], 2, seed=1)
    train, val = load_train_val(tmp_path / "split")
    assert len(train) == 8 and len(val) == 4
    _tree(tmp_path / "fer" / "train", list(reversed(facexpr.FER2013_LABELS)), 2)
    _tree(tmp_path / "fer" / "val", ["happy", "sad"], 2, seed=2)
    train, val = load_train_val(tmp_path / "fer")
    assert train.classes == facexpr.FER2013_LABELS  # FER2013 layout: FER ids, by name
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_train_val(tmp_path / "nothing")


def test_train_then_evaluate_custom_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _tree(tmp_path / "faces", ["calm", "excited", "sleepy"], 8)
    out = tmp_path / "run"
    argv = ["train", "--model", "simple", "--data", str(data), "--out", str(out), "--epochs", "2",
            "--batch-size", "8", "--val-fraction", "0.25"]
    assert main(argv) == 0
    best = out / "best"
    assert {"history.csv", "recipe.json", "checkpoint.pt", "best"} <= {p.name for p in out.iterdir()}
    model = facexpr.load(best, device="cpu")
    assert model.labels == ("calm", "excited", "sleepy")
    assert model.config.recipe["epochs"] == 2
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3
    # running again resumes from the finished checkpoint: nothing left to do
    assert main(argv) == 0
    capsys.readouterr()
    # a second model distils from the first one (same classes), and its config records it
    student = tmp_path / "student"
    assert main(["train", "--model", "better", "--data", str(data), "--out", str(student), "--epochs", "1",
                 "--batch-size", "8", "--val-fraction", "0.25", "--teacher", str(best),
                 "--distill-alpha", "0.7", "--distill-temperature", "3"]) == 0
    recipe = facexpr.load(student / "best", device="cpu").config.recipe
    assert (recipe["teacher"], recipe["distill_alpha"], recipe["distill_temperature"]) == (str(best), 0.7, 3.0)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(best), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_class"]) == {"calm", "excited", "sleepy"}
    assert len(report["confusion_matrix"]) == 3
    assert main(["evaluate", "--model", str(best), "--data", str(data)]) == 0
    assert "confusion matrix" in capsys.readouterr().out


def test_train_freeze_is_recorded(tmp_path: Path) -> None:
    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    out = tmp_path / "run"
    assert main(["train", "--model", "better", "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--batch-size", "4", "--freeze", "features"]) == 0
    trained = facexpr.load(out / "best", device="cpu")
    assert trained.config.recipe["freeze"] == "features"


def test_a_fine_tuning_recipe_starts_from_the_released_weights(tmp_path: Path) -> None:
    from facexpr.training.recipes import Recipe, train_recipe

    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    recipe = Recipe("simple", epochs=1, batch_size=4, lr=0.0, pretrained=True)  # lr 0: the weights stay
    best = train_recipe(recipe, data, tmp_path / "run", progress=False, device="cpu")
    tuned, released = facexpr.load(best, device="cpu"), facexpr.load("simple", device="cpu")
    assert torch.equal(tuned.state_dict()["features.0.weight"], released.state_dict()["features.0.weight"])
    assert tuned.config.recipe["pretrained"] is True and tuned.labels == ("a", "b")


def test_train_bad_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--model", "simple", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_logs_to_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is in the 'tensorboard' extra")
    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    logs = tmp_path / "tb"
    assert main(["train", "--model", "simple", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--batch-size", "4", "--tensorboard", str(logs)]) == 0
    assert any(p.name.startswith("events.out.tfevents") for p in logs.rglob("*"))


def test_three_classes_named_like_fer2013_are_the_users_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "mine"
    _tree(data / "train", ["happy", "sad", "angry"], 4)
    _tree(data / "val", ["happy", "sad", "angry"], 2, seed=1)
    train, val = load_train_val(data)
    assert train.classes == val.classes == ("angry", "happy", "sad")
    assert main(["train", "--model", "simple", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--batch-size", "4"]) == 0
    assert "your own 3 classes ['angry', 'happy', 'sad']" in capsys.readouterr().err
    assert facexpr.load(tmp_path / "run" / "best", device="cpu").labels == ("angry", "happy", "sad")


def test_a_class_only_in_val_is_named(tmp_path: Path) -> None:
    _tree(tmp_path / "d" / "train", ["a", "b"], 3)
    _tree(tmp_path / "d" / "val", ["a", "b", "c"], 2, seed=1)
    with pytest.raises(ValueError, match=r"Validation class folder\(s\) \['c'\].*training classes are \['a', 'b'\]"):
        load_train_val(tmp_path / "d")


def _weights_sha(folder: Path) -> str:
    return hashlib.sha256((folder / "best" / "model.safetensors").read_bytes()).hexdigest()


def test_train_twice_gives_byte_identical_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    runs = [tmp_path / "run1", tmp_path / "run2"]
    for out in runs:
        assert main(["train", "--recipe", "simple", "--data", str(data), "--out", str(out), "--epochs", "2",
                     "--batch-size", "4", "--device", "cpu"]) == 0
    assert _weights_sha(runs[0]) == _weights_sha(runs[1])
    assert main(["train", "--recipe", "simple", "--data", str(data), "--out", str(tmp_path / "run3"),
                 "--epochs", "2", "--batch-size", "4", "--device", "cpu", "--seed", "1"]) == 0
    assert _weights_sha(tmp_path / "run3") != _weights_sha(runs[0])  # the seed is what decides


def test_resume_refuses_another_models_checkpoint_before_touching_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    out = tmp_path / "run"
    argv = ["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "4", "--device", "cpu"]
    assert main(["train", "--model", "simple", *argv]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["train", "--model", "better", *argv]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt' holds another model's weights than this 'better'" in err
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # recipe.json too


def test_resume_from_a_truncated_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    out = tmp_path / "run"
    argv = ["train", "--model", "simple", "--data", str(data), "--out", str(out), "--epochs", "1",
            "--batch-size", "4", "--device", "cpu"]
    assert main(argv) == 0
    checkpoint = out / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"Checkpoint '{checkpoint}' cannot be read" in err and "weights_only" not in err


def test_evaluate_shows_progress_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _tree(tmp_path / "faces", ["a", "b"], 6)
    model = facexpr.load("simple", pretrained=False, labels=["a", "b"])
    model.save_pretrained(tmp_path / "model")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["evaluate", "--model", str(tmp_path / "model"), "--data", str(data), "--batch-size", "4",
                 "--device", "cpu"]) == 0
    assert "evaluating" in terminal.text and "/12 " in terminal.text  # a bar over the 12 faces
