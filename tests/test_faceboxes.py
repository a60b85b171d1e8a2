"""Faces cut from photos: the face-box layout, photo class folders, the one rule that opens data,
mixing label sources, and fine-tuning a released model from the command line."""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.cli import main
from facexpr.data import FaceBoxes, FaceDataset, ImageFolder, faceboxes_layout
from facexpr.data.layouts import find_layout, open_split
from facexpr.data.mixing import find_sources, mix_sources, onto_classes
from facexpr.detection import CropSpec
from facexpr.labels import FER2013_LABELS, FERPLUS_LABELS
from facexpr.training.recipes import recipe_for_model

from .conftest import SHARED

ROWS = [  # image, x, y, width, height, label
    ("a.jpg", 40, 30, 60, 80, "happy"),
    ("a.jpg", 180, 10, 50, 40, "sad"),
    ("b.png", -15, 60, 70, 70, "angry"),  # reaches past the left border: clipped, then squared
    ("b.png", 250, 150, 80, 80, "surprise"),  # past the right and bottom borders
]


def _photo(seed: int, size: tuple[int, int] = (300, 200)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def _write_faceboxes(root: Path, rows: list[tuple] = ROWS, header: tuple[str, ...] | None = None) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(sorted({r[0] for r in rows})):
        Image.fromarray(_photo(seed)).save(root / "images" / name)
    with open(root / "faces.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ("image", "face", "x", "y", "width", "height", "label"))
        for i, (image, *rest) in enumerate(rows):
            writer.writerow((image, i, *rest))
    return root


class GivenBoxes:
    """A detector returning fixed boxes, cropped as squares with no margin."""

    crop_spec = CropSpec(1.0, 0.0)

    def __init__(self, boxes: np.ndarray) -> None:
        self.boxes = boxes

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.boxes, np.ones(len(self.boxes))


@pytest.fixture
def boxes_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    return _write_faceboxes(tmp_path / "photos")


def test_a_face_box_reaches_the_model_as_predict_cuts_it(boxes_root: Path) -> None:
    faces = FaceBoxes(boxes_root)
    assert faces.classes == FER2013_LABELS and faces.targets.tolist() == [3, 4, 0, 5]
    model = facexpr.load("better", device="cpu")
    for i, (image, x, y, w, h, _) in enumerate(ROWS):
        photo = np.array(Image.open(boxes_root / "images" / image).convert("RGB"))
        height, width = photo.shape[:2]
        x0, y0 = max(x, 0), max(y, 0)
        clipped = np.array([[x0, y0, min(x + w, width) - x0, min(y + h, height) - y0]], dtype=np.float64)
        (face,) = facexpr.predict(photo, model=model, detect=True, detector=GivenBoxes(clipped))
        expected = model.predict_proba(faces.images[i : i + 1])[0]
        assert torch.allclose(torch.tensor(list(face.probabilities.values())), expected, atol=1e-6), image
        assert faces.boxes[i, 2] == faces.boxes[i, 3] == max(clipped[0, 2], clipped[0, 3])


def test_face_boxes_are_cached_and_rebuilt_when_the_table_changes(boxes_root: Path) -> None:
    first = FaceBoxes(boxes_root)
    assert len(list((boxes_root.parent / "cache" / "datasets").glob("faceboxes-*"))) == 1
    assert torch.equal(FaceBoxes(boxes_root).images, first.images)
    _write_faceboxes(boxes_root, ROWS[:2])
    assert len(FaceBoxes(boxes_root)) == 2


@pytest.mark.parametrize(("row", "message"), [
    ("a.jpg,0,1,2,3", r"faces.csv, line 3: 5 fields, expected 7"),
    ("a.jpg,0,x,2,30,30,happy", r"faces.csv, line 3: the box \['x', '2', '30', '30'\] must be four numbers"),
    ("a.jpg,0,1,2,-30,30,happy", r"faces.csv, line 3: the box .* positive width and height"),
    ("a.jpg,0,1,2,nan,30,happy", r"faces.csv, line 3: the box .* must be finite"),
    ("a.jpg,0,1,2,30,30,", r"faces.csv, line 3: the label column is empty"),
    (",0,1,2,30,30,happy", r"faces.csv, line 3: the image column is empty"),
    ("../a.jpg,0,1,2,30,30,happy", r"faces.csv, line 3: image '../a.jpg' must be a path inside"),
    ("a.jpg,0,500,500,30,30,happy", r"faces.csv, line 3: the box .* lies outside the 300x200 photo"),
])
def test_a_bad_row_names_the_file_and_the_line(boxes_root: Path, row: str, message: str) -> None:
    lines = (boxes_root / "faces.csv").read_text().splitlines()
    (boxes_root / "faces.csv").write_text("\n".join([lines[0], lines[1], row]) + "\n")
    with pytest.raises(ValueError, match=message):
        FaceBoxes(boxes_root, cache=False)


def test_a_missing_column_photo_or_unreadable_photo_is_named(boxes_root: Path) -> None:
    csv_path = boxes_root / "faces.csv"
    good = csv_path.read_text()
    csv_path.write_text(good.replace(",label", ",emotion"))
    with pytest.raises(ValueError, match=r"faces.csv, line 1: the header lacks the column\(s\) label"):
        FaceBoxes(boxes_root, cache=False)
    csv_path.write_text(good + "gone.jpg,9,1,1,20,20,sad\n")
    with pytest.raises(FileNotFoundError, match=r"faces.csv, line 6: the photo .*gone.jpg' does not exist"):
        FaceBoxes(boxes_root, cache=False)
    (boxes_root / "images" / "gone.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"faces.csv, line 6: cannot read the photo"):
        FaceBoxes(boxes_root, cache=False)
    csv_path.write_bytes(good.encode() + "a.jpg,9,1,1,20,20,s\xe4d\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"faces.csv: not UTF-8"):
        FaceBoxes(boxes_root, cache=False)
    with pytest.raises(FileNotFoundError, match=r"is not a face-box data set"):
        FaceBoxes(boxes_root / "images")


def test_labels_outside_the_classes_are_left_out_in_one_warning(boxes_root: Path) -> None:
    with pytest.warns(UserWarning, match=r"Left out 2 face\(s\) .* angry, surprise"):
        faces = FaceBoxes(boxes_root, classes=("happy", "sad"), cache=False)
    assert faces.targets.tolist() == [0, 1]
    own = _write_faceboxes(boxes_root.parent / "own", [("a.jpg", 1, 1, 30, 30, "bored"), ("a.jpg", 40, 40, 30, 30, "calm")])
    assert FaceBoxes(own, cache=False).classes == ("bored", "calm")


def _photo_folders(root: Path) -> Path:
    for label, seeds in (("happy", (1, 2)), ("sad", (3, 4))):
        (root / label).mkdir(parents=True)
        for seed in seeds:
            Image.fromarray(_photo(seed)).save(root / label / f"{seed}.png")
    Image.fromarray(_photo(9, (48, 48))).save(root / "sad" / "crop.png")  # a face crop: used whole
    return root


def test_photo_folders_are_searched_and_a_photo_without_a_face_is_skipped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    root = _photo_folders(tmp_path / "photos")
    seen: list[tuple[int, int]] = []

    def detector(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(image.shape[:2])
        if image[0, 0, 0] == _photo(2)[0, 0, 0]:  # photo 2 shows no face
            return np.zeros((0, 4)), np.zeros(0)
        return np.array([[10.0, 10.0, 40.0, 40.0], [100.0, 50.0, 90.0, 90.0]]), np.array([0.9, 0.8])

    with pytest.warns(UserWarning, match=r"Skipped 1 photo\(s\) .* no face was found: happy/2.png"):
        faces = ImageFolder(root, detector=detector)
    assert len(seen) == 4 and len(faces) == 4 and faces.targets.tolist() == [0, 1, 1, 1]
    photo = np.array(Image.open(root / "happy" / "1.png"))
    (expected,) = facexpr.predict(photo, model=facexpr.load("better", device="cpu"), detect=True,
                                  detector=GivenBoxes(np.array([[100.0, 50.0, 90.0, 90.0]])))
    got = facexpr.load("better", device="cpu").predict_proba(faces.images[:1])[0]
    assert torch.allclose(torch.tensor(list(expected.probabilities.values())), got, atol=1e-6)  # the largest face
    with pytest.warns(UserWarning, match="no face was found"):
        again = ImageFolder(root, detector=detector)  # from the cache: the same faces, the same warning
    assert len(seen) == 4 and torch.equal(again.images, faces.images)
    whole = ImageFolder(root, detect=False)
    assert len(whole) == 5 and not torch.equal(whole.images[0], faces.images[0])


def test_the_cache_of_searched_photos_names_the_detector_auto_stands_for(tmp_path: Path) -> None:
    from facexpr.data import cache_dir
    from facexpr.data.folder import _resolve_detector
    from facexpr.detection import describe_detector, get_detector

    resolved, identity = _resolve_detector("auto")
    assert identity.endswith(describe_detector(get_detector("auto"))) and "auto" not in identity
    assert callable(resolved)

    def one(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.array([[10.0, 10.0, 40.0, 40.0]]), np.array([0.9])

    def other(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.array([[100.0, 50.0, 90.0, 90.0]]), np.array([0.9])

    assert _resolve_detector(one)[1] != _resolve_detector(other)[1]
    root = _photo_folders(tmp_path / "photos")
    with mock.patch.dict(os.environ, {"FACEXPR_CACHE": str(tmp_path / "cache")}):
        first, second = ImageFolder(root, detector=one), ImageFolder(root, detector=other)
        assert not torch.equal(first.images, second.images)  # not read back from the other's cache
        assert len(list(cache_dir().rglob("*.safetensors"))) == 2


def test_crops_need_no_detector_even_when_the_named_one_cannot_be_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from facexpr import detection
    from facexpr.errors import WeightsNotAvailableError

    def unavailable(*args: object, **kwargs: object) -> None:
        raise WeightsNotAvailableError("YuNet's model is neither given, cached nor reachable")

    monkeypatch.setattr(detection, "get_detector", unavailable)
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    for name in ("happy", "sad"):
        (tmp_path / "crops" / name).mkdir(parents=True)
        Image.new("L", (48, 48), 100).save(tmp_path / "crops" / name / "a.png")
    faces = ImageFolder(tmp_path / "crops", detect="auto", detector="yunet")  # 48x48 crops: nothing to search
    assert len(faces) == 2


def test_one_rule_opens_every_layout(tmp_path: Path, boxes_root: Path) -> None:
    assert find_layout(boxes_root) == "faceboxes" and faceboxes_layout(boxes_root)
    assert len(open_split(boxes_root, "test")) == 4
    folders = _photo_folders(tmp_path / "folders")
    assert find_layout(folders) == "class-folders"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no data set facexpr can read"):
        find_layout(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_layout(tmp_path / "missing")


def test_train_on_face_boxes_holds_out_val_and_never_takes_images_as_a_class(boxes_root: Path, tmp_path: Path) -> None:
    rows = [(f"p{i}.jpg", 20, 20, 60, 60, label) for i, label in enumerate(["happy", "sad"] * 6)]
    root = _write_faceboxes(tmp_path / "many", rows)
    out = tmp_path / "run"
    assert main(["train", "--model", "simple", "--data", str(root), "--out", str(out), "--epochs", "1",
                 "--batch-size", "4", "--val-fraction", "0.34", "--device", "cpu"]) == 0
    assert facexpr.load(out / "best", device="cpu").labels == FER2013_LABELS  # seven, none called 'images'


def test_fine_tuning_a_released_model_starts_from_its_own_weights_and_keeps_its_head(tmp_path: Path,
                                                                                       boxes_root: Path) -> None:
    rows = [(f"p{i}.jpg", 20, 20, 60, 60, label) for i, label in enumerate(["happy", "sad", "angry"] * 4)]
    root = _write_faceboxes(tmp_path / "mine", rows)
    out = tmp_path / "ft"
    code = main(["train", "--model", "vgg8_bn.ferplus", "--pretrained", "--data", str(root), "--out", str(out),
                 "--epochs", "1", "--lr", "1e-9", "--batch-size", "4", "--val-fraction", "0.25", "--device", "cpu"])
    assert code == 0
    tuned = facexpr.load(out / "best", device="cpu")
    assert tuned.labels == FERPLUS_LABELS  # the data's 3 classes map onto the model's 8: head kept
    assert json.loads((out / "recipe.json").read_text())["model"] == "vgg8_bn.ferplus"
    released, other = facexpr.load("vgg8_bn.ferplus", device="cpu"), facexpr.load("vgg8_bn", device="cpu")
    first = next(n for n, _ in tuned.named_parameters())
    start = dict(released.named_parameters())[first]
    assert torch.allclose(dict(tuned.named_parameters())[first], start, atol=1e-6)
    assert not torch.allclose(dict(other.named_parameters())[first], start, atol=1e-3)
    new_head = tmp_path / "new"
    own = _write_faceboxes(tmp_path / "own", [(f"q{i}.jpg", 20, 20, 60, 60, c) for i, c in enumerate(["bored", "calm"] * 4)])
    assert main(["train", "--model", "better.ferplus", "--pretrained", "--data", str(own), "--out", str(new_head),
                 "--epochs", "1", "--batch-size", "4", "--val-fraction", "0.25", "--device", "cpu"]) == 0
    assert facexpr.load(new_head / "best", device="cpu").labels == ("bored", "calm")


def test_recipe_for_model_follows_the_data(tmp_path: Path, boxes_root: Path) -> None:
    assert recipe_for_model("vgg8_bn.ferplus", boxes_root).dataset == "fer2013"
    assert recipe_for_model("vgg8_bn.ferplus", [boxes_root, boxes_root]).dataset == "mixed"
    assert recipe_for_model("better", boxes_root, pretrained=True).pretrained
    with pytest.raises(ValueError, match="No recipe for model 'nope'"):
        recipe_for_model("nope", boxes_root)


def test_an_eight_class_model_is_scored_over_the_datas_seven_classes(boxes_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "--model", "vgg8_bn.ferplus", "--data", str(boxes_root), "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["per_class"]) == list(FER2013_LABELS) and len(report["confusion_matrix"]) == 7
    model = facexpr.load("vgg8_bn.ferplus", device="cpu")
    faces = FaceBoxes(boxes_root)
    predicted = model.predict_proba(faces.images, classes=FER2013_LABELS).argmax(1)
    assert report["accuracy"] == pytest.approx(float((predicted == faces.targets).float().mean()))


def _tiny_fer_sources(root: Path) -> list[Path]:
    """FER2013 folders with every class, FER+ votes for them, and face boxes."""
    columns = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
    rows = []
    for split, usage in (("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")):
        for c, label in enumerate(FER2013_LABELS):
            name = f"{split}/{label}/{usage}_{c}.png"
            (root / "fer2013" / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((48, 48), 30 * c, np.uint8)).save(root / "fer2013" / name)
            votes = [0] * 10
            votes[0], votes[1] = 6, 4  # neutral 6, happiness 4, whatever the FER2013 label
            rows.append([name, usage, f"fer{c:07d}.png", *votes, "0.1"])
    (root / "ferplus").mkdir()
    with open(root / "ferplus" / "ferplus.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "usage", "ferplus_name", *columns, "match_error"])
        writer.writerows(rows)
    boxes = _write_faceboxes(root / "boxes", [(f"p{i}.jpg", 20, 20, 60, 60, l) for i, l in enumerate(["happy", "sad"] * 5)])
    return [root / "fer2013", root / "ferplus", boxes]


def test_mix_sources_blends_votes_with_fer2013_labels_and_repeats_the_face_boxes(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    roots = _tiny_fer_sources(tmp_path)
    assert find_sources(roots[::-1]).fer2013 == roots[0]
    train, val, parts = mix_sources(roots, votes_weight=0.7, faceboxes_repeat=3, faceboxes_val_fraction=0.2)
    assert train.classes == FERPLUS_LABELS and train.soft
    angry = train.targets[0]  # FER2013's angry face, whose votes say neutral 0.6 / happy 0.4
    expected = torch.zeros(8)
    expected[0], expected[6], expected[3] = 0.3, 0.7 * 0.6, 0.7 * 0.4
    assert torch.allclose(angry, expected)
    assert len(train) == 7 + 3 * 8 and len(parts["faceboxes"]) == 2
    assert len(val) == 7 + 7 + 2 * round(7 / 2)
    with pytest.raises(ValueError, match="no ferplus data"):
        find_sources(roots[:1])
    with pytest.raises(ValueError, match="votes_weight must lie in"):
        mix_sources(roots, votes_weight=1.5)


def test_onto_classes_reindexes_soft_and_hard_targets() -> None:
    soft = FaceDataset(torch.zeros(1, 48, 48, dtype=torch.uint8), torch.tensor([[0.25, 0.75]]), ("sad", "happy"))
    assert onto_classes(soft, ("happy", "neutral", "sad")).targets.tolist() == [[0.75, 0.0, 0.25]]
    with pytest.raises(ValueError, match=r"Classes \['sad'\]"):
        onto_classes(soft, ("happy",))


@pytest.mark.slow
def test_the_expw_training_faces_read_as_the_generalisation_benchmark_reads_them() -> None:
    root = SHARED / "data" / "expw"
    if not faceboxes_layout(root):
        pytest.skip(f"ExpW not found at {root} (the shared data folder is absent)")
    faces = FaceBoxes(root)
    assert len(faces) == 750 and faces.classes == FER2013_LABELS
    model = facexpr.load("vgg8_bn.ferplus", device="cpu")
    accuracy = float((model.predict_proba(faces.images, classes=FER2013_LABELS).argmax(1) == faces.targets).float().mean())
    assert accuracy == pytest.approx(0.3733, abs=5e-4)  # docs/benchmarks/generalization.md: 0.373 (280 of 750)


def test_a_mixed_model_trains_on_several_roots_and_releases_with_every_source(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    roots = [str(r) for r in _tiny_fer_sources(tmp_path)]
    out, release = tmp_path / "run", tmp_path / "release"
    data = [arg for root in roots for arg in ("--data", root)]
    assert main(["train", "--model", "simple", *data, "--out", str(out), "--epochs", "1", "--batch-size", "8",
                 "--device", "cpu"]) == 0
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["dataset"] == "mixed" and recipe["votes_weight"] == 0.7
    assert main(["release", "--model", str(out / "best"), *data, "--dev", roots[2], "--out", str(release),
                 "--name", "simple.mixed"]) == 0
    printed = capsys.readouterr().out
    assert "fer2013_test: accuracy" in printed and "dev: accuracy" in printed
    metrics = json.loads((release / "metrics.json").read_text())["metrics"]
    assert set(metrics["sources"]) == {"fer2013_val", "fer2013_test", "photos_val", "dev"}
    assert metrics["sources"]["dev"]["n"] == 10 and len(metrics["sources"]["fer2013_test"]["per_class"]) == 7
    card = (release / "README.md").read_text()
    assert "license: other" in card and "license_name: research-only" in card
    assert "research use only" in card and "photos held out of training" in card
    assert f"{metrics['sources']['fer2013_test']['accuracy']:.4f}" in card
