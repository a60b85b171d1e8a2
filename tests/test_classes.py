"""An 8-class FER+ model read in FER2013's seven classes, with one argument: ``classes``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import facexpr
from facexpr.cli import main
from facexpr.inference import select_classes
from facexpr.labels import FER2013_LABELS, FERPLUS_LABELS


@pytest.fixture(scope="module")
def ferplus_model() -> facexpr.FaceModel:
    torch.manual_seed(0)
    model = facexpr.load("better", pretrained=False, labels=list(FERPLUS_LABELS), device="cpu")
    model.config.temperature = 0.8
    return model


@pytest.fixture
def faces() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(48, 48), dtype=np.uint8) for _ in range(5)]


def test_seven_of_eight_are_renormalised_in_the_order_asked(ferplus_model: facexpr.FaceModel,
                                                            faces: list[np.ndarray]) -> None:
    eight = ferplus_model.predict_proba(faces)
    seven = ferplus_model.predict_proba(faces, classes=FER2013_LABELS)
    assert eight.shape == (5, 8) and seven.shape == (5, 7)
    torch.testing.assert_close(seven, eight[:, :7] / eight[:, :7].sum(1, keepdim=True))
    reordered = ferplus_model.predict_proba(faces, classes=["neutral", "happy"])
    torch.testing.assert_close(reordered, eight[:, [6, 3]] / eight[:, [6, 3]].sum(1, keepdim=True))


def test_predictions_name_only_the_kept_classes(ferplus_model: facexpr.FaceModel, faces: list[np.ndarray]) -> None:
    crop = ferplus_model.predict(faces[0], classes=FER2013_LABELS)
    assert tuple(crop.probabilities) == FER2013_LABELS and crop.label != "contempt"
    assert sum(crop.probabilities.values()) == pytest.approx(1.0)
    photo = np.zeros((300, 400, 3), np.uint8)
    found = facexpr.predict([photo, faces[1]], model=ferplus_model, classes=FER2013_LABELS,
                            detector=lambda image: ([[100, 80, 90, 100]], [0.9]))
    assert [len(image) for image in found] == [1, 1]
    assert all(tuple(face.probabilities) == FER2013_LABELS for image in found for face in image)
    stream = facexpr.predict_iter(faces, model=ferplus_model, detect=False, classes=["happy", "sad"])
    assert {tuple(face.probabilities) for result in stream for face in result.faces} == {("happy", "sad")}


@pytest.mark.parametrize("classes", [["happy", "joy"], [], ["happy", "happy"], "happy"])
def test_unknown_repeated_or_missing_classes_are_refused(ferplus_model: facexpr.FaceModel, classes: object) -> None:
    with pytest.raises(ValueError, match="classes must be"):
        ferplus_model.predict(np.zeros((48, 48), np.uint8), classes=classes)  # type: ignore[arg-type]


def test_select_classes_without_classes_changes_nothing() -> None:
    probs = torch.tensor([[0.1, 0.9]])
    assert select_classes(probs, ["a", "b"], None) == (probs, ("a", "b"))


def test_cli_classes_fer2013(ferplus_model: facexpr.FaceModel, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = ferplus_model.save_pretrained(tmp_path / "ferplus-model")
    face = str(Path(__file__).resolve().parents[1] / "examples" / "images" / "astronaut_face.jpg")
    assert main(["predict", face, "--model", str(folder), "--json", "--classes", "fer2013", "--top-k", "9"]) == 0
    record = json.loads(capsys.readouterr().out)
    (only,) = record["faces"]
    assert tuple(only["probabilities"]) == FER2013_LABELS and len(only["top_k"]) == 7
    assert main(["predict", face, "--model", str(folder), "--classes", "happy,joy"]) == 2
    assert "joy" in capsys.readouterr().err
