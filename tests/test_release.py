"""Release folders: calibration, metrics, model card, publish (dry run and HfApi)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.calibration import fit_temperature
from facexpr.cli import main
from facexpr.release import build_release, check_release, publish


@pytest.fixture
def tiny_fer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FER2013-shaped folder tree with 2 images per class and split."""
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "fer"
    for split in ("train", "val", "test"):
        for label in facexpr.FER2013_LABELS:
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def test_fit_temperature_recovers_a_known_temperature() -> None:
    torch.manual_seed(0)
    true_logits = torch.randn(4000, 5) * 2
    targets = torch.distributions.Categorical(logits=true_logits).sample()
    fitted = fit_temperature(true_logits * 3, targets)  # over-confident by a factor 3
    assert fitted == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ValueError, match="N x C logits"):
        fit_temperature(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="label distributions"):
        fit_temperature(torch.zeros(3, 5), torch.zeros(3, 4))


def test_fit_temperature_against_label_distributions_matches_them() -> None:
    torch.manual_seed(0)
    true_logits = torch.randn(2000, 8) * 2
    votes = true_logits.softmax(1)  # what annotators would say, as shares
    assert fit_temperature(true_logits * 0.5, votes) == pytest.approx(0.5, rel=1e-3)  # under-confident
    assert fit_temperature(true_logits * 4, votes) == pytest.approx(4.0, rel=1e-3)


def test_build_release_writes_a_complete_checked_folder(tiny_fer: Path, tmp_path: Path) -> None:
    import huggingface_hub

    model = facexpr.load("better", pretrained=False, device="cpu")
    best = model.save_pretrained(tmp_path / "best")
    out = tmp_path / "release"
    metrics = build_release(best, tiny_fer, out, command="facexpr train --recipe better ...")
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors", "config.json", "metrics.json", "README.md", "confusion_matrix.png"}
    config = json.loads((out / "config.json").read_text())
    assert "metrics" not in config and "recipe" not in config  # they live in metrics.json
    config["metrics"] = json.loads((out / "metrics.json").read_text())["metrics"]
    assert config["metrics"]["test"]["n"] == 14
    assert config["metrics"]["test"]["accuracy"] == metrics["test"]["accuracy"]
    assert config["temperature"] > 0 and metrics["temperature_fitted_to"] == "labels"
    tried = config["metrics"]["val_crop_pct_accuracy"]  # the crop was chosen on val among four
    assert len(tried) == 4 and round(config["crop_pct"], 4) in [float(c) for c in tried]  # keys: 4 decimals
    assert tried[str(round(config["crop_pct"], 4))] == max(tried.values())
    for key in ("accuracy_tta", "ece", "ece_calibrated", "macro_f1", "per_class", "confusion_matrix"):
        assert key in config["metrics"]["val"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "datasets:" in card and "Expression is not emotion" in card
    data = huggingface_hub.ModelCard(card).data  # the front matter parses as a Hub model card
    assert data.library_name == "facexpr" and data.eval_results[0].dataset_type == "fer2013"
    assert data.eval_results[0].metric_value == round(config["metrics"]["test"]["accuracy"], 4)
    assert "facexpr train --recipe better" in card
    # the released folder reproduces its own test number through the public API
    released = facexpr.load(out, device="cpu")
    from facexpr.data import FER2013

    test = FER2013(tiny_fer, "test")
    accuracy = float((released.predict_proba(test.images).argmax(1) == test.targets).float().mean())
    assert accuracy == pytest.approx(config["metrics"]["test"]["accuracy"])


def test_card_says_whether_the_weights_were_fine_tuned_or_trained_from_scratch(tiny_fer: Path, tmp_path: Path) -> None:
    model = facexpr.load("better", pretrained=False, device="cpu")
    model.config.recipe = {"model": "better", "epochs": 1}
    build_release(model.save_pretrained(tmp_path / "scratch"), tiny_fer, tmp_path / "a", command="facexpr train ...")
    assert "trained from\nscratch on FER2013" in (tmp_path / "a" / "README.md").read_text()
    model.config.recipe = {"model": "better", "epochs": 1, "pretrained": True}
    build_release(model.save_pretrained(tmp_path / "tuned"), tiny_fer, tmp_path / "b", command="facexpr train ...")
    card = (tmp_path / "b" / "README.md").read_text()
    assert "fine-tuned from\nthe released `better` weights on FER2013" in card and "scratch" not in card


def test_choose_crop_pct_takes_the_best_val_crop_and_prefers_the_whole_face_on_ties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import facexpr.release as release

    model = facexpr.load("simple", pretrained=False, device="cpu")
    targets = torch.tensor([0, 1, 2, 3])
    right = torch.nn.functional.one_hot(targets, 7).float()
    scores = {1.0: 2, 46 / 48: 3, 44 / 48: 4, 42 / 48: 4}  # faces right (of 4) at each crop

    def fake_split_logits(m: facexpr.FaceModel, images: torch.Tensor, **kwargs: object) -> torch.Tensor:
        logits = right.clone()
        logits[scores[m.config.crop_pct]:] = right.flip(0)[scores[m.config.crop_pct]:]  # the rest wrong
        return logits

    monkeypatch.setattr(release, "split_logits", fake_split_logits)
    best, tried = release.choose_crop_pct(model, torch.zeros(4, 1, 48, 48, dtype=torch.uint8), targets)
    assert best == 44 / 48  # ties with 42/48: the earlier (larger) choice wins
    assert tried == {"1.0": 0.5, "0.9583": 0.75, "0.9167": 1.0, "0.875": 1.0}
    assert model.config.crop_pct == 1.0  # restored
    scores.update({46 / 48: 2, 44 / 48: 2, 42 / 48: 2})
    assert release.choose_crop_pct(model, torch.zeros(4, 1, 48, 48, dtype=torch.uint8), targets)[0] == 1.0


def test_publish_dry_run_and_upload(tiny_fer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import huggingface_hub

    model = facexpr.load("simple", pretrained=False, device="cpu")
    out = tmp_path / "release"
    build_release(model.save_pretrained(tmp_path / "best"), tiny_fer, out)
    (out / "notes.txt").write_text("not for upload")
    files = publish(out, "org/simple", dry_run=True)
    assert sorted(f.name for f in files) == [
        "README.md", "config.json", "confusion_matrix.png", "metrics.json", "model.safetensors"]

    calls = {}
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("repo", repo_id))
    def upload_folder(self, **kwargs):
        calls["upload"] = kwargs
        return "https://hub.example/commit/1"
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    assert main(["publish", str(out), "--repo", "org/simple"]) == 0
    assert calls["repo"] == "org/simple"
    assert sorted(calls["upload"]["allow_patterns"]) == [
        "README.md", "config.json", "confusion_matrix.png", "metrics.json", "model.safetensors"]
    assert main(["publish", str(out), "--repo", "org/simple", "--dry-run"]) == 0
    assert "model.safetensors" in capsys.readouterr().out


def test_check_release_refuses_incomplete_or_tampered(tmp_path: Path) -> None:
    model = facexpr.load("simple", pretrained=False, device="cpu")
    folder = model.save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match="no val accuracy"):
        check_release(folder)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks config.json"):
        check_release(folder)


def test_publish_without_a_hub_raises_a_facexpr_error(monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str) -> None:
    """publish uploads through the same code as push_to_hub: a Hub that cannot be reached is a HubError."""
    from facexpr.models._builder import shipped_weights_dir

    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    folder = shipped_weights_dir("simple")
    with pytest.raises(facexpr.HubError) as info:
        publish(folder, "org/simple", token="hf_test")
    assert "'org/simple'" in str(info.value) and closed_port_endpoint in str(info.value)
    assert str(folder) in str(info.value)  # the user's folder, by its path


def test_release_of_a_model_with_other_classes_is_one_line(
    tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = facexpr.load("simple", pretrained=False, labels=["calm", "excited"], device="cpu")
    folder = model.save_pretrained(tmp_path / "two")
    assert main(["release", "--model", str(folder), "--data", str(tiny_fer), "--out", str(tmp_path / "rel")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("facexpr: error:")
    assert "predicts 2 classes ['calm', 'excited']" in err and not (tmp_path / "rel").exists()


def test_card_states_the_data_sizes_that_were_measured(tiny_fer: Path, tmp_path: Path) -> None:
    model = facexpr.load("simple", pretrained=False, device="cpu")
    build_release(model.save_pretrained(tmp_path / "best"), tiny_fer, tmp_path / "rel")
    card = (tmp_path / "rel" / "README.md").read_text()
    assert "(Training, 14 faces)" in card and "(PublicTest, 14 faces)" in card and "(PrivateTest, 14 faces)" in card
    assert "3,589" not in card and "28,709" not in card
    assert "facexpr train --recipe simple --data fer2013 --out runs/simple" in card
