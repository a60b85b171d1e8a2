"""Loading and saving through the Hugging Face Hub, against a real local HTTP endpoint."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch

import facexpr
from facexpr.models import _registry
from facexpr.models._builder import shipped_weights_dir

from ._hub_server import FakeHub

X = torch.linspace(-1, 1, 2 * 48 * 48).view(2, 1, 48, 48)


@pytest.fixture
def saved_model(tmp_path: Path) -> tuple[facexpr.FaceModel, Path]:
    torch.manual_seed(0)
    model = facexpr.load("better", pretrained=False, device="cpu")
    folder = model.save_pretrained(tmp_path / "saved")
    return model, folder


def test_first_download_then_cache_hit_with_endpoint_stopped(fake_hub: FakeHub, saved_model) -> None:
    model, folder = saved_model
    fake_hub.add_folder("someone/fer-better", folder)
    loaded = facexpr.load("someone/fer-better", device="cpu")
    assert torch.equal(loaded(X), model(X))
    downloads = [path for method, path in fake_hub.requests if method == "GET"]
    assert any(p.endswith("/model.safetensors") for p in downloads)
    fake_hub.stop()
    again = facexpr.load("someone/fer-better", device="cpu")
    assert torch.equal(again(X), model(X))


def test_tampered_file_is_refused_naming_file_and_both_hashes(fake_hub: FakeHub, saved_model) -> None:
    model, folder = saved_model
    fake_hub.add_folder("someone/tampered", folder)
    good = fake_hub.files[("someone/tampered", "model.safetensors")]
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    fake_hub.files[("someone/tampered", "model.safetensors")] = bytes(bad)
    with pytest.raises(facexpr.ChecksumMismatchError) as info:
        facexpr.load("someone/tampered", device="cpu")
    message = str(info.value)
    assert "model.safetensors" in message
    assert model.config.sha256 in message
    import hashlib

    assert hashlib.sha256(bad).hexdigest() in message


def test_unreachable_endpoint_fails_fast_and_names_the_repo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port_endpoint: str
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    started = time.perf_counter()
    with pytest.raises(facexpr.WeightsNotAvailableError, match="someone/missing") as info:
        facexpr.load("someone/missing", device="cpu")
    assert time.perf_counter() - started < 2.0
    assert "could not be reached" in str(info.value)


def test_offline_mode_without_cache_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(facexpr.WeightsNotAvailableError, match="HF_HUB_OFFLINE"):
        facexpr.load("someone/anything", device="cpu")


def test_unknown_repo_on_the_hub(fake_hub: FakeHub) -> None:
    with pytest.raises(facexpr.WeightsNotAvailableError, match="nobody/nothing"):
        facexpr.load("nobody/nothing", device="cpu")


def test_official_name_downloads_with_pinned_sha(
    fake_hub: FakeHub, saved_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build without shipped weights fetches the official repo and checks the registry pin."""
    model, folder = saved_model
    fake_hub.add_folder("facexpr/better", folder)
    entry = _registry._MODELS["better"]
    pinned = dataclasses.replace(entry, weights=_registry.PretrainedWeights(
        repo_id="facexpr/better", sha256=model.config.sha256, shipped=False))
    monkeypatch.setitem(_registry._MODELS, "better", pinned)
    loaded = facexpr.load("better", device="cpu")
    assert torch.equal(loaded(X), model(X))

    wrong = dataclasses.replace(entry, weights=_registry.PretrainedWeights(
        repo_id="facexpr/better", sha256="0" * 64, shipped=False))
    monkeypatch.setitem(_registry._MODELS, "better", wrong)
    with pytest.raises(facexpr.ChecksumMismatchError, match="0{64}"):
        facexpr.load("better", device="cpu")


def test_push_to_hub_uses_hfapi(monkeypatch: pytest.MonkeyPatch, saved_model) -> None:
    """push_to_hub creates the repo and uploads exactly the save_pretrained folder."""
    import huggingface_hub

    model, _ = saved_model
    calls: dict[str, object] = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = (repo_id, kwargs)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
        calls["repo"] = repo_id
        return "https://hub.example/commit/abc"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    url = model.push_to_hub("me/my-model", private=True)
    assert url.endswith("/abc")
    assert calls["repo"] == "me/my-model"
    assert calls["files"] == ["README.md", "config.json", "metrics.json", "model.safetensors"]
    assert calls["create"][1]["private"] is True


def test_unreleased_official_weights_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _registry._MODELS["simple"]
    monkeypatch.setitem(_registry._MODELS, "simple", dataclasses.replace(
        entry, weights=_registry.PretrainedWeights(repo_id="facexpr/simple", sha256=None)))
    with pytest.raises(facexpr.WeightsNotAvailableError, match="pretrained=False"):
        facexpr.load("simple")


@pytest.mark.parametrize("name", facexpr.list_models())
def test_shipped_weights_load_offline_and_match_their_pin(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = _registry.get_model_entry(name).weights
    if weights is None or weights.sha256 is None:
        pytest.skip(f"no weights released for {name!r} yet")
    assert (shipped_weights_dir(name) / "model.safetensors").is_file()
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # any network use would fail
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from facexpr._io import sha256_file

    assert sha256_file(shipped_weights_dir(name) / "model.safetensors") == weights.sha256
    model = facexpr.load(name, device="cpu")
    assert not model.training


def test_silent_endpoint_times_out_within_two_seconds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A host that accepts connections but never answers (a black hole) fails fast too."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        started = time.perf_counter()
        with pytest.raises(facexpr.WeightsNotAvailableError, match="could not be reached"):
            facexpr.load("someone/silent", device="cpu")
        assert time.perf_counter() - started < 2.0
