"""The ONNX Runtime backend: parity with PyTorch on every shipped model, the export cache, and
the errors (unknown backend, missing extra, training refused)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import torch

import facexpr
from facexpr.assets import EXAMPLE_FACE
from facexpr.models import BACKENDS, ORTFaceModel, get_model_entry, onnx_cache_path
from facexpr.models import _onnx

from .conftest import FER2013_ROOT

SHIPPED = [name for name in facexpr.list_models() if (get_model_entry(name).weights or None) is not None
           and get_model_entry(name).weights.shipped and get_model_entry(name).weights.sha256]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private $FACEXPR_CACHE for the module, so that no test reads or writes the user's."""
    folder = tmp_path_factory.mktemp("facexpr-cache")
    with mock.patch.dict(os.environ, {"FACEXPR_CACHE": str(folder)}):
        yield folder


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """13 uint8 faces (an odd number): real FER2013 test faces when the shared data is there."""
    if (FER2013_ROOT / "test").is_dir():
        from facexpr.data import FER2013

        return FER2013(FER2013_ROOT, "test").images[:13]
    return torch.randint(0, 256, (13, 1, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_unknown_backend_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown backend 'onnx'\. Available: torch, onnxruntime\."):
        facexpr.load("simple", backend="onnx")
    assert BACKENDS == ("torch", "onnxruntime")


@pytest.mark.parametrize("missing", ["onnxruntime", "onnxscript"])
def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=rf"needs the '{missing}' package.*pip install 'facexpr\[onnx\]'"):
        facexpr.load("simple", backend="onnxruntime")


def test_backend_refuses_a_device_other_than_cpu() -> None:
    with mock.patch("facexpr.models._builder.resolve_device", return_value=torch.device("cuda")), \
            pytest.raises(ValueError, match="backend='onnxruntime' runs on the CPU only, got device='cuda'"):
        facexpr.load("simple", backend="onnxruntime", device="cuda")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_parity_with_pytorch_on_shipped_weights(name: str, cache: Path, faces: torch.Tensor) -> None:
    ort_model = facexpr.load(name, backend="onnxruntime")
    torch_model = facexpr.load(name, device="cpu")
    assert isinstance(ort_model, ORTFaceModel) and ort_model.config == torch_model.config
    assert ort_model.labels == torch_model.labels and not ort_model.training
    assert repr(ort_model.transforms()) == repr(torch_model.transforms())
    assert torch_model.config.crop_pct < 1  # the crop_pct path is the one under test
    for batch_size in (1, 5, 256):  # 13 faces: batches of 1, of 5 (5, 5, 3) and one of 13
        for tta in (False, True):
            expected = torch_model.predict_proba(faces, batch_size=batch_size, tta=tta)
            got = ort_model.predict_proba(faces, batch_size=batch_size, tta=tta)
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
            got_labels = [p.label for p in ort_model.predict(faces, batch_size=batch_size, tta=tta)]
            assert got_labels == [torch_model.labels[i] for i in expected.argmax(1)]
    single = ort_model.predict(EXAMPLE_FACE)
    assert single.label == torch_model.predict(EXAMPLE_FACE).label
    with torch.inference_mode():
        x = torch_model.transforms().normalize(faces)
        torch.testing.assert_close(ort_model(x), torch_model(x), atol=1e-4, rtol=0)
    assert ort_model(x[:0]).shape == (0, torch_model.num_classes)


@pytest.mark.slow
def test_cache_is_reused_and_keyed_by_the_weights(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facexpr.models import _onnx as onnx_module

    calls = []
    real_export = onnx_module.write_onnx
    monkeypatch.setattr(onnx_module, "write_onnx", lambda *a, **k: calls.append(a[1]) or real_export(*a, **k))
    torch.manual_seed(0)
    model = facexpr.load("simple", pretrained=False, device="cpu")
    path = onnx_cache_path(model)
    assert path.parent == cache / "onnx"
    first = ORTFaceModel.from_model(model)
    assert calls == [path] and path.is_file()
    ORTFaceModel.from_model(model)  # the cached file, not a new export
    assert calls == [path]
    assert not list(path.parent.glob(".*.tmp"))  # written atomically

    with torch.no_grad():
        model.get_classifier().bias.add_(1.0)
    assert onnx_cache_path(model) != path  # other weights, other file: never stale
    model.config.temperature = 2.0
    changed = onnx_cache_path(model)
    assert changed != path
    second = ORTFaceModel.from_model(model)
    assert calls == [path, changed]
    x = torch.zeros(2, 1, 48, 48)
    torch.testing.assert_close(second(x), first(x) + 1.0, atol=1e-4, rtol=0)
    assert second.config.temperature == 2.0


@pytest.mark.slow
def test_unwritable_cache_exports_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FACEXPR_CACHE", str(blocker / "cache"))  # a folder under a file cannot be made
    torch.manual_seed(0)
    model = facexpr.load("simple", pretrained=False, device="cpu")
    ort_model = ORTFaceModel.from_model(model)
    x = torch.randn(3, 1, 48, 48)
    with torch.inference_mode():
        torch.testing.assert_close(ort_model(x), model(x), atol=1e-4, rtol=0)
    assert not ORTFaceModel.from_model(model, cache=False).training


@pytest.mark.slow
def test_training_and_layer_access_are_refused(cache: Path) -> None:
    model = facexpr.load("simple", backend="onnxruntime")
    assert model.eval() is model and not model.training
    with pytest.raises(NotImplementedError, match=r"cannot be trained.*backend='torch'"):
        model.train()
    assert not model.training
    assert list(model.parameters()) == []
    for call in (lambda: model.reset_classifier(3), lambda: model.save_pretrained(cache / "x"),
                 lambda: model.forward_features(torch.zeros(1, 1, 48, 48)), model.summary):
        with pytest.raises(NotImplementedError, match="An ONNX Runtime model cannot"):
            call()
    assert not (cache / "x").exists()
    from facexpr.export import export

    with pytest.raises(TypeError, match="already an ONNX Runtime model"):
        export(model, cache / "again.onnx")


@pytest.mark.slow
def test_threads_follow_torch(cache: Path) -> None:
    model = facexpr.load("simple", device="cpu")
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ort_model = ORTFaceModel.from_model(model)
        assert ort_model.session.get_session_options().intra_op_num_threads == 1
        assert ORTFaceModel.from_model(model, num_threads=2).session.get_session_options().intra_op_num_threads == 2
    finally:
        torch.set_num_threads(previous)


def test_fingerprint_covers_every_tensor() -> None:
    torch.manual_seed(0)
    model = facexpr.load("simple", pretrained=False, device="cpu")
    before = _onnx._fingerprint(model)
    with torch.no_grad():
        model.features[0].weight[0, 0, 0, 0] += 1e-3
    assert _onnx._fingerprint(model) != before


def test_the_trainer_refuses_a_model_without_trainable_parameters(cache: Path) -> None:
    from facexpr.training import Trainer

    with pytest.raises(ValueError, match=r"no trainable parameters .*backend='torch'"):
        Trainer(facexpr.load("simple", backend="onnxruntime"))
