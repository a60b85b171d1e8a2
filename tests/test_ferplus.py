"""FER+ votes in their three layouts, majority and probability labels, soft-target data sets."""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.cli import main
from facexpr.data import FaceDataset, FERPlus
from facexpr.data.ferplus import FERPLUS_COLUMNS, ferplus_layout, votes_to_targets
from facexpr.labels import FER2013_LABELS, FERPLUS_LABELS
from facexpr.metrics import expected_calibration_error, kl_divergence
from facexpr.training import Trainer
from facexpr.training.recipes import RECIPES, get_recipe, load_train_val

from .conftest import SHARED

# (FER2013 folder class, usage, votes in FER+'s order: neutral happiness surprise sadness anger
# disgust fear contempt unknown NF)
FACES = [
    ("happy", "Training", [0, 8, 1, 0, 0, 0, 0, 0, 1, 0]),  # happy
    ("angry", "Training", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]),  # neutral: FER+ corrects FER2013
    ("sad", "Training", [1, 0, 0, 1, 0, 0, 0, 0, 8, 0]),  # unknown on top: dropped
    ("fear", "Training", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),  # not a face: dropped
    ("neutral", "Training", [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]),  # tie: the first in FER+'s order (neutral)
    ("disgust", "Training", [2, 0, 0, 0, 0, 0, 0, 8, 0, 0]),  # contempt, id 7
    ("surprise", "PublicTest", [0, 0, 9, 0, 0, 0, 1, 0, 0, 0]),  # surprise
    ("sad", "PrivateTest", [3, 0, 0, 7, 0, 0, 0, 0, 0, 0]),  # sad
]


def _pixels(i: int) -> np.ndarray:
    return np.full((48, 48), 20 * i + 10, dtype=np.uint8)


@pytest.fixture
def joined_layout(tmp_path: Path) -> Path:
    """``ferplus/ferplus.csv`` beside ``fer2013/{train,val,test}/<class>/*.png``."""
    split_of = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    rows = []
    for i, (folder, usage, votes) in enumerate(FACES):
        image = f"{split_of[usage]}/{folder}/{usage}_{i}.png"
        (tmp_path / "fer2013" / image).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_pixels(i)).save(tmp_path / "fer2013" / image)
        rows.append([image, usage, f"fer{i:07d}.png", *votes, "0.5"])
    (tmp_path / "ferplus").mkdir()
    with open(tmp_path / "ferplus" / "ferplus.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "usage", "ferplus_name", *FERPLUS_COLUMNS, "match_error"])
        writer.writerows(rows)
    return tmp_path / "ferplus"


@pytest.fixture
def official_csv_layout(tmp_path: Path) -> Path:
    """``fer2013new.csv`` beside ``fer2013.csv``, with one face FER+ left out (no image name)."""
    tmp_path = tmp_path / "official"
    tmp_path.mkdir()
    old = [["emotion", "pixels", "Usage"]]
    new = [["Usage", "Image name", *FERPLUS_COLUMNS]]
    for i, (folder, usage, votes) in enumerate(FACES):
        old.append([FER2013_LABELS.index(folder), " ".join(map(str, _pixels(i).ravel())), usage])
        new.append([usage, f"fer{i:07d}.png", *votes])
    old.append([0, " ".join(["0"] * 2304), "Training"])
    new.append(["Training", "", *([0] * 10)])
    for name, rows in (("fer2013.csv", old), ("fer2013new.csv", new)):
        with open(tmp_path / name, "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    return tmp_path


@pytest.fixture
def folder_layout(tmp_path: Path) -> Path:
    """``FER2013{Train,Valid,Test}/label.csv`` with ``ferNNNNNNN.png`` files."""
    tmp_path = tmp_path / "folders"
    folder_of = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    labels: dict[str, list[list[object]]] = {}
    for i, (_, usage, votes) in enumerate(FACES):
        folder = tmp_path / folder_of[usage]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_pixels(i)).save(folder / f"fer{i:07d}.png")
        labels.setdefault(folder_of[usage], []).append([f"fer{i:07d}.png", "(0, 0, 48, 48)", *votes])
    for name, rows in labels.items():
        with open(tmp_path / name / "label.csv", "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    return tmp_path


LAYOUTS = ["joined_layout", "official_csv_layout", "folder_layout"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_gives_the_same_majority_labels_and_drops_unknown_and_nf(
    layout: str, request: pytest.FixtureRequest
) -> None:
    root = request.getfixturevalue(layout)
    train = FERPlus(root, "train", cache=False)
    assert train.classes == FERPLUS_LABELS
    assert [train.classes[t] for t in train.targets] == ["happy", "neutral", "neutral", "contempt"]
    assert [int(face[0, 0, 0]) for face in train.images] == [10, 30, 90, 110]  # faces 0, 1, 4, 5: 2 and 3 dropped
    assert train.majority.tolist() == train.targets.tolist() and not train.soft
    assert [FERPLUS_LABELS[t] for t in FERPlus(root, "val", cache=False).targets] == ["surprise"]
    assert [FERPLUS_LABELS[t] for t in FERPlus(root, "test", cache=False).targets] == ["sad"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_probability_labels_are_the_votes_over_eight_emotions(layout: str, request: pytest.FixtureRequest) -> None:
    train = FERPlus(request.getfixturevalue(layout), "train", labels="probability", cache=False)
    assert train.soft and train.targets.shape == (4, 8)
    happy = dict(zip(FERPLUS_LABELS, train.targets[0].tolist()))
    assert happy["happy"] == pytest.approx(8 / 9) and happy["surprise"] == pytest.approx(1 / 9)  # unknown left out
    assert torch.allclose(train.targets.sum(1), torch.ones(4))
    assert torch.equal(train.targets, train.votes)
    assert train.majority.tolist() == [3, 6, 6, 7] and train.hard_targets.tolist() == [3, 6, 6, 7]  # tie: neutral


def test_votes_to_targets_breaks_ties_in_fer_plus_column_order() -> None:
    # anger and sadness tie: sadness comes first in FER+'s columns, though angry has the lower facexpr id
    kept, majority, _ = votes_to_targets(np.array([[0, 0, 0, 5, 5, 0, 0, 0, 0, 0]]))
    assert kept.tolist() == [0] and FERPLUS_LABELS[int(majority[0])] == "sad"


def test_mismatched_files_name_the_file_and_the_line(joined_layout: Path, official_csv_layout: Path,
                                                      folder_layout: Path) -> None:
    joined = joined_layout / "ferplus.csv"
    lines = joined.read_text().splitlines()
    joined.write_text("\n".join([*lines, lines[1].replace("happy/Training_0", "happy/Training_999")]) + "\n")
    with pytest.raises(FileNotFoundError, match=r"ferplus.csv' line 10: image 'train/happy/Training_999.png'"):
        FERPlus(joined_layout, "train", cache=False)
    joined.write_text("\n".join([*lines[:3], lines[3].replace("Training", "Validation")]) + "\n")
    with pytest.raises(ValueError, match=r"ferplus.csv' line 4: unknown usage 'Validation'"):
        FERPlus(joined_layout, "train", cache=False)

    new = official_csv_layout / "fer2013new.csv"
    new.write_text("\n".join(new.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(ValueError, match=r"fer2013.csv' has more rows than .*fer2013new.csv'"):
        FERPlus(official_csv_layout, "train", cache=False)

    labels = folder_layout / "FER2013Train" / "label.csv"
    (folder_layout / "FER2013Train" / "fer0000001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"label.csv' line 2: image .*fer0000001.png' does not exist"):
        FERPlus(folder_layout, "train", cache=False)
    labels.write_text("fer0000000.png,(0, 0, 48, 48),1,2,3\n")
    with pytest.raises(ValueError, match=r"label.csv' line 1: expected"):
        FERPlus(folder_layout, "train", cache=False)


def test_no_layout_and_bad_arguments_are_refused(tmp_path: Path, joined_layout: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No FER\\+ data under"):
        FERPlus(tmp_path / "empty", "train")
    with pytest.raises(ValueError, match="Unknown FER\\+ split 'dev'"):
        FERPlus(joined_layout, "dev")
    with pytest.raises(ValueError, match="'majority' or 'probability'"):
        FERPlus(joined_layout, "train", labels="soft")  # type: ignore[arg-type]


def test_face_dataset_checks_soft_targets() -> None:
    images = torch.zeros(2, 48, 48, dtype=torch.uint8)
    with pytest.raises(ValueError, match="each row summing to 1"):
        FaceDataset(images, torch.tensor([[0.5, 0.6], [1.0, 0.0]]), ("a", "b"))
    with pytest.raises(ValueError, match="shape 2x2"):
        FaceDataset(images, torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]]), ("a", "b"))
    soft = FaceDataset(images, torch.tensor([[0.25, 0.75], [1.0, 0.0]]), ("a", "b"))
    assert soft.subset([1]).targets.tolist() == [[1.0, 0.0]] and soft.class_counts() == [1, 1]


def test_real_ferplus_test_split() -> None:
    root = SHARED / "data" / "ferplus"
    if not (root / "ferplus.csv").is_file() or not (SHARED / "data" / "fer2013" / "test").is_dir():
        pytest.skip(f"FER+ votes or FER2013 not found under {SHARED / 'data'} (the shared data folder is absent)")
    test = FERPlus(root, "test", labels="probability")
    # 3,573 PrivateTest faces in FER+, of which those with unknown or NF on top are dropped
    assert 3400 < len(test) < 3573 and test.targets.shape == (len(test), 8)
    assert test.class_counts()[FERPLUS_LABELS.index("neutral")] > test.class_counts()[FERPLUS_LABELS.index("disgust")]


# -- training and evaluating on FER+ ---------------------------------------------------------------
@pytest.fixture
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))


def test_ferplus_recipes_train_on_the_votes_and_name_their_dataset() -> None:
    for name, arch in (("better.ferplus", "better"), ("vgg8_bn.ferplus", "vgg8_bn")):
        recipe = RECIPES[name]
        assert (recipe.model, recipe.dataset, recipe.label_smoothing) == (arch, "ferplus-probability", 0.0)
        assert recipe.to_dict()["dataset"] == "ferplus-probability"
    # better.ferplus is the FER2013 recipe on the votes, from scratch; vgg8_bn.ferplus fine-tunes
    # the released FER2013 vgg8_bn for 12 epochs at a lower rate
    assert replace(RECIPES["better.ferplus"], dataset="fer2013", label_smoothing=0.1) == RECIPES["better"]
    flagship = RECIPES["vgg8_bn.ferplus"]
    assert flagship.pretrained and flagship.to_dict()["pretrained"] is True
    assert replace(flagship, dataset="fer2013", label_smoothing=0.1, pretrained=False, epochs=50, lr=3e-3) == RECIPES["vgg8_bn"]
    assert "dataset" not in RECIPES["better"].to_dict()  # as in the configs released before FER+
    assert "pretrained" not in RECIPES["better"].to_dict()
    assert get_recipe("better", dataset="ferplus-majority").dataset == "ferplus-majority"
    with pytest.raises(ValueError, match="Unknown recipe dataset 'ferplus'. Available: fer2013, ferplus-majority"):
        get_recipe("better", dataset="ferplus")


@pytest.mark.usefixtures("_cache")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_load_train_val_reads_every_ferplus_layout(layout: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(layout)
    train, val = load_train_val(root, dataset="ferplus-probability")
    assert train.soft and train.targets.shape == (4, 8) and train.classes == FERPLUS_LABELS
    assert [FERPLUS_LABELS[t] for t in val.hard_targets] == ["surprise"]  # val is PublicTest
    train, val = load_train_val(root, dataset="ferplus-majority")
    assert not train.soft and train.targets.tolist() == [3, 6, 6, 7]
    if layout == "official_csv_layout":  # fer2013.csv is there too: FER2013's own labels, as before
        assert load_train_val(root)[0].classes == FER2013_LABELS
    else:
        with pytest.raises(ValueError, match="holds FER\\+ votes; train on them with a FER\\+ recipe"):
            load_train_val(root)


def test_a_ferplus_dataset_needs_ferplus_data(tmp_path: Path) -> None:
    (tmp_path / "faces" / "calm").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="dataset 'ferplus-majority' needs FER\\+ data"):
        load_train_val(tmp_path / "faces", dataset="ferplus-majority")
    with pytest.raises(ValueError, match="Unknown dataset 'votes'"):
        load_train_val(tmp_path / "faces", dataset="votes")


@pytest.mark.usefixtures("_cache")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cli_trains_better_ferplus_and_evaluates_against_the_votes(
    layout: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = request.getfixturevalue(layout)
    out = tmp_path / "run"
    assert main(["train", "--recipe", "better.ferplus", "--data", str(root), "--out", str(out),
                 "--epochs", "1", "--device", "cpu"]) == 0
    model = facexpr.load(out / "best", device="cpu")
    assert model.labels == FERPLUS_LABELS and model.num_classes == 8
    assert model.config.recipe["dataset"] == "ferplus-probability"
    assert json.loads((out / "recipe.json").read_text())["dataset"] == "ferplus-probability"
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "best"), "--data", str(root), "--split", "test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    test = FERPlus(root, "test", labels="probability", cache=False)
    probs = Trainer(model, device="cpu").predict(test).double()
    assert report["kl_divergence"] == pytest.approx(kl_divergence(test.votes, probs), rel=1e-6)
    assert report["ece_votes"] == pytest.approx(expected_calibration_error(probs, test.votes), rel=1e-6)
    assert report["accuracy"] == float(probs.argmax(1).tolist() == test.majority.tolist())
    assert main(["evaluate", "--model", str(out / "best"), "--data", str(root), "--split", "test"]) == 0
    assert "against the votes: KL divergence" in capsys.readouterr().out


@pytest.mark.usefixtures("_cache")
def test_cli_dataset_override_trains_on_majority_labels(folder_layout: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--recipe", "better", "--data", str(folder_layout), "--out", str(out),
                 "--epochs", "1", "--dataset", "ferplus-majority", "--device", "cpu"]) == 0
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["dataset"] == "ferplus-majority" and recipe["label_smoothing"] == 0.1
    assert facexpr.load(out / "best", device="cpu").labels == FERPLUS_LABELS


def test_evaluate_with_majority_labels_still_reports_the_votes(joined_layout: Path) -> None:
    test = FERPlus(joined_layout, "test", cache=False)
    assert not test.soft
    torch.manual_seed(0)
    trainer = Trainer(facexpr.load("simple", pretrained=False, labels=list(FERPLUS_LABELS), device="cpu"), device="cpu")
    report = trainer.evaluate(test)
    assert report["kl_divergence"] == pytest.approx(kl_divergence(test.votes, trainer.predict(test).double()), rel=1e-6)
    seven = facexpr.load("simple", pretrained=False, device="cpu")
    with pytest.raises(ValueError, match="predicts 7 classes .* but the data has 8"):
        Trainer(seven, device="cpu").evaluate(test)


def test_ferplus_layout_names_each_layout(joined_layout: Path, official_csv_layout: Path, folder_layout: Path,
                                          tmp_path: Path) -> None:
    assert ferplus_layout(joined_layout) == "joined"
    renamed = tmp_path / "votes.csv"
    renamed.write_text((joined_layout / "ferplus.csv").read_text())
    assert ferplus_layout(renamed) == "joined"
    assert ferplus_layout(official_csv_layout) == "official"
    assert ferplus_layout(official_csv_layout / "fer2013.csv") is None  # FER2013's own CSV
    assert ferplus_layout(folder_layout) == "folders"
    assert ferplus_layout(tmp_path / "fer2013") is None  # FER2013's class folders


@pytest.mark.usefixtures("_cache")
def test_release_on_ferplus_measures_the_majority_and_the_votes(joined_layout: Path, tmp_path: Path) -> None:
    import huggingface_hub

    import facexpr
    from facexpr.release import build_release

    torch.manual_seed(0)
    best = facexpr.load("better.ferplus", pretrained=False, device="cpu").save_pretrained(tmp_path / "best")
    metrics = build_release(best, joined_layout, tmp_path / "release", name="better.ferplus")
    test = FERPlus(joined_layout, "test")
    assert metrics["test"]["n"] == len(test) and metrics["test"]["confusion_matrix"][4][:] != [0] * 8
    assert {"kl_divergence", "ece_votes"} <= set(metrics["test"]) and metrics["test"]["kl_divergence"] > 0
    card = huggingface_hub.ModelCard((tmp_path / "release" / "README.md").read_text())
    assert card.data.eval_results[0].dataset_type == "ferplus" and "FER+'s votes" in card.text
    assert "--recipe better.ferplus --data ferplus" in card.text
    released = facexpr.load(tmp_path / "release", device="cpu")
    assert released.labels == FERPLUS_LABELS
    accuracy = float((released.predict_proba(test.images).argmax(1) == test.hard_targets).float().mean())
    assert accuracy == pytest.approx(metrics["test"]["accuracy"])
    # the temperature is fitted to val's votes, not to its majority labels
    from facexpr.calibration import fit_temperature
    from facexpr.release import split_logits

    val = FERPlus(joined_layout, "val")
    assert metrics["temperature_fitted_to"] == "votes" and "fitted to FER+'s votes" in card.text
    assert released.config.temperature == pytest.approx(fit_temperature(split_logits(released, val.images), val.votes))


# -- issue 24: votes must be whole numbers >= 0; dropped faces are counted; one-line errors ---------

_VOTE_FILE = {"joined_layout": ("ferplus.csv", 2), "official_csv_layout": ("fer2013new.csv", 2),
              "folder_layout": ("FER2013Train/label.csv", 1)}
"""Layout -> (the file holding face 0's votes, its line)."""


def _set_first_votes(root: Path, layout: str, votes: str) -> Path:
    """Replace face 0's ten votes (``0,8,1,0,0,0,0,0,1,0``) in the layout's vote file; return that file."""
    name, _ = _VOTE_FILE[layout]
    path = root / name
    text = path.read_text()
    assert text.count("0,8,1,0,0,0,0,0,1,0") == 1
    path.write_text(text.replace("0,8,1,0,0,0,0,0,1,0", votes))
    return path


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("votes", ["1.2,1.9,0,0,0,0,0,0,0,0", "-0.5,8,1,0,0,0,0,0,1,0", "0.4,0.6,0,0,0,0,0,0,0,0",
                                   "inf,8,1,0,0,0,0,0,1,0", "1e400,8,1,0,0,0,0,0,1,0", "nan,8,1,0,0,0,0,0,1,0",
                                   "x,8,1,0,0,0,0,0,1,0"])
def test_votes_that_are_not_whole_numbers_are_refused_with_file_and_line(
    layout: str, votes: str, request: pytest.FixtureRequest
) -> None:
    root = request.getfixturevalue(layout)
    path = _set_first_votes(root, layout, votes)
    line = _VOTE_FILE[layout][1]
    with pytest.raises(ValueError, match=rf"'{path}' line {line}: the neutral vote .* is not a whole number >= 0"):
        FERPlus(root, "train", cache=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_whole_votes_written_as_floats_read_as_integers(layout: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(layout)
    _set_first_votes(root, layout, "0.0,8.0,1,0,0,0,0,0,1,0")
    with pytest.warns(UserWarning, match="left out"):
        assert FERPlus(root, "train", cache=False).classes[0] == "angry"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dropped_faces_are_counted_by_reason_in_one_warning(layout: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(layout)
    _set_first_votes(root, layout, "0,0,0,0,0,0,0,0,0,0")  # no vote at all
    with pytest.warns(UserWarning) as caught:
        train = FERPlus(root, "train", cache=False)
    messages = [str(w.message) for w in caught if "FER+" in str(w.message)]
    assert messages == [f"FER+ '{root}' train: left out 3 of 6 faces: 2 whose top vote is unknown or NF (not a "
                        "face), 1 without any emotion vote."]
    assert [train.classes[t] for t in train.targets] == ["neutral", "neutral", "contempt"]  # majority rule unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FERPlus(root, "val", cache=False)  # nothing left out: no warning


def test_latin1_file_is_refused_with_its_file_and_line(official_csv_layout: Path) -> None:
    path = official_csv_layout / "fer2013new.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"fer0000002.png", b"fer\xe9.png")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=rf"'{path}' line 4: not UTF-8 text"):
        FERPlus(official_csv_layout, "train", cache=False)


@pytest.mark.parametrize("line", ["", "Training,fer0000009.png,1,2"])
def test_blank_or_short_line_in_fer2013new_is_a_clear_error(official_csv_layout: Path, line: str) -> None:
    path = official_csv_layout / "fer2013new.csv"
    lines = path.read_text().splitlines()
    lines[2] = line
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"'{path}' line 3: expected 12 fields"):
        FERPlus(official_csv_layout, "train", cache=False)


@pytest.mark.parametrize("pixel", ["300", "x", "-1", "1e400"])
def test_bad_pixel_in_the_official_layout_names_the_file_and_line(official_csv_layout: Path, pixel: str) -> None:
    path = official_csv_layout / "fer2013.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(" 10 ", f" {pixel} ", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"'{path}' line 2: pixel '{pixel}' is not a gray value 0-255"):
        FERPlus(official_csv_layout, "train", cache=False)


def test_cli_evaluate_with_infinite_votes_is_one_line(
    joined_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_first_votes(joined_layout, "joined_layout", "1e400,8,1,0,0,0,0,0,1,0")
    model = facexpr.load("simple", pretrained=False, labels=list(FERPLUS_LABELS), device="cpu")
    folder = model.save_pretrained(tmp_path / "model")
    assert main(["evaluate", "--model", str(folder), "--data", str(joined_layout), "--split", "train"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("facexpr: error:")
    assert "line 2: the neutral vote '1e400'" in err


def test_release_card_of_a_ferplus_model_quotes_a_command_that_runs(joined_layout: Path, tmp_path: Path) -> None:
    from facexpr.cli import build_parser
    from facexpr.release import build_release

    model = facexpr.load("better", pretrained=False, labels=list(FERPLUS_LABELS), device="cpu")
    model.config.recipe = RECIPES["better.ferplus"].to_dict()
    with pytest.warns(UserWarning, match="left out"):
        build_release(model.save_pretrained(tmp_path / "best"), joined_layout, tmp_path / "release")
    card = (tmp_path / "release" / "README.md").read_text()
    command = next(line for line in card.splitlines() if line.startswith("facexpr train"))
    args = build_parser().parse_args(command.split()[1:])
    recipe = get_recipe(args.recipe or args.model, dataset=args.dataset)
    assert recipe.dataset == "ferplus-probability" and recipe.model == "better", command
    test = FERPlus(joined_layout, "test")
    assert f"(PrivateTest, {len(test)} faces;" in card and "3,545" not in card and "28,384" not in card
