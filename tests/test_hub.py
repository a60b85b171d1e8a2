"""Loading and saving through the Hugging Face Hub, against a real local HTTP endpoint."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import facexpr
from facexpr.models import _registry
from facexpr.models._builder import shipped_weights_dir

from ._hub_server import BlackHole, FakeHub

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


# -- a real time limit: an endpoint that accepts connections and never answers --------------------

@pytest.fixture
def black_hole(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[BlackHole]:
    """The whole Hub hangs: HF_ENDPOINT and huggingface_hub's own endpoint point at a black hole."""
    import huggingface_hub

    hole = BlackHole()
    monkeypatch.setenv("HF_ENDPOINT", hole.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("FACEXPR_HUB_TIMEOUT", raising=False)
    # huggingface_hub reads HF_ENDPOINT once, at import, for its own requests ...
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hole.endpoint)
    # ... among them a look-up of /api/agent-harnesses made once per process (and cached on
    # disk) while it builds request headers: start as a fresh process would.
    try:  # huggingface_hub 2.x; older releases make no such look-up
        from huggingface_hub.utils import _detect_agent
    except ImportError:
        _detect_agent = None
    if _detect_agent is not None:
        monkeypatch.setattr(_detect_agent, "_registry", None, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agents.json"),
                        raising=False)
    try:
        yield hole
    finally:
        hole.close()  # the abandoned probe's request now fails at once: let it finish
        for thread in threading.enumerate():
            if thread.name == "facexpr-hub-probe":
                thread.join(timeout=10)


def test_hung_hub_fails_within_the_time_limit(black_hole: BlackHole) -> None:
    from facexpr._hf import HUB_TIMEOUT_S

    started = time.perf_counter()
    with pytest.raises(facexpr.WeightsNotAvailableError, match="someone/repo") as info:
        facexpr.load("someone/repo", device="cpu")
    elapsed = time.perf_counter() - started
    assert elapsed < HUB_TIMEOUT_S + 0.5, f"took {elapsed:.2f} s"
    assert f"could not be reached within {HUB_TIMEOUT_S:g} s" in str(info.value)
    assert black_hole.endpoint in str(info.value)


def test_hung_hub_time_limit_is_configurable_and_covers_the_detector(
    black_hole: BlackHole, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facexpr.detection import YUNET_REPO_ID, yunet_model_path

    monkeypatch.setenv("FACEXPR_HUB_TIMEOUT", "0.5")
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    started = time.perf_counter()
    with pytest.raises(facexpr.WeightsNotAvailableError, match=YUNET_REPO_ID):
        yunet_model_path()
    assert time.perf_counter() - started < 0.5 + 0.5


# -- which model load() took, push and save errors --------------------------------------------------

def test_official_name_wins_over_a_folder_of_that_name_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    facexpr.load("better", pretrained=False, labels=["a", "b", "c"]).save_pretrained(tmp_path / "better")
    with pytest.warns(UserWarning, match=r"official 'better' model.*pass '\./better'") as record:
        official = facexpr.load("better", device="cpu")
    assert official.num_classes == 7
    assert str(tmp_path / "better") in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the folder itself, without a word
        assert facexpr.load("./better", device="cpu").labels == ("a", "b", "c")
        monkeypatch.chdir(tmp_path / "better")
        facexpr.load("better", device="cpu")  # no folder of that name here: no warning


def test_push_to_hub_without_a_hub_raises_a_facexpr_error_naming_repo_and_endpoint(
    monkeypatch: pytest.MonkeyPatch, closed_port_endpoint: str, saved_model
) -> None:
    model, _ = saved_model
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(facexpr.HubError) as info:
        model.push_to_hub("me/my-model", token="hf_test")
    message = str(info.value)
    assert "'me/my-model'" in message and closed_port_endpoint in message
    assert tempfile.gettempdir() not in message and "facexpr-push" not in message  # no temp folder
    assert isinstance(info.value, (facexpr.FacexprError, OSError))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(facexpr.HubError, match="me/my-model.*HF_HUB_OFFLINE is set"):
        model.push_to_hub("me/my-model", token="hf_test")


def test_save_errors_name_the_users_file_not_a_temporary_one(tmp_path: Path) -> None:
    model = facexpr.load("simple", pretrained=False, device="cpu")
    (tmp_path / "model.safetensors").mkdir()  # the weights cannot replace a folder
    with pytest.raises(IsADirectoryError) as info:
        model.save_pretrained(tmp_path)
    assert info.value.filename == str(tmp_path / "model.safetensors")
    assert ".tmp" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary file left
