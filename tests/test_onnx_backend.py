"""The ONNX Runtime backend: parity with PyTorch on every shipped model, the same inference
contract as the PyTorch model (``FaceClassifier``), the export cache, and the errors (unknown
backend, missing extra, training refused)."""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import torch

import facexpr
from facexpr.assets import EXAMPLE_FACE
from facexpr.models import BACKENDS, FaceClassifier, ORTFaceModel, get_model_entry, onnx_cache_path
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
            expected = torch_model.predict_proba(faces, batch_size=batch_size, tta=tta, precision="fp32")
            got = ort_model.predict_proba(faces, batch_size=batch_size, tta=tta)
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
            got_labels = [p.label for p in ort_model.predict(faces, batch_size=batch_size, tta=tta)]
            assert got_labels == [torch_model.labels[i] for i in expected.argmax(1)]
    single = ort_model.predict(EXAMPLE_FACE)
    assert single.label == torch_model.predict(EXAMPLE_FACE, precision="fp32").label
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
def test_it_has_no_training_or_layer_methods_and_none_that_refuse(cache: Path) -> None:
    model = facexpr.load("simple", backend="onnxruntime")
    assert not isinstance(model, facexpr.FaceModel) and not isinstance(model, torch.nn.Module)
    assert isinstance(model, FaceClassifier) and not model.training
    for name in ("train", "parameters", "reset_classifier", "save_pretrained", "push_to_hub", "forward_features",
                 "forward_head", "get_classifier", "summary", "state_dict"):
        assert not hasattr(model, name), name
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(model)
    from facexpr.export import export

    with pytest.raises(TypeError, match="already an ONNX Runtime model"):
        export(model, cache / "again.onnx")


def _runtime(kind: str) -> FaceClassifier:
    if kind == "torch":
        return facexpr.load("better", device="cpu", precision="fp32")
    if kind == "torch-int8":
        return facexpr.load("better", device="cpu", precision="int8")
    return facexpr.load("better", backend="onnxruntime", precision="int8" if kind == "onnxruntime-int8" else "fp32")


@pytest.mark.parametrize("kind", ["torch", "torch-int8", "onnxruntime", "onnxruntime-int8"])
def test_the_same_inference_contract_for_every_runtime(kind: str, cache: Path, tmp_path: Path) -> None:
    """What inference promises, asked of the PyTorch model and of the ONNX Runtime model alike."""
    model = _runtime(kind)
    assert isinstance(model, FaceClassifier)
    assert model.labels == facexpr.FER2013_LABELS and model.num_classes == 7 and model.config.num_classes == 7
    x = model.transforms().batch([EXAMPLE_FACE, EXAMPLE_FACE])
    logits = model(x)
    assert logits.shape == (2, 7) and logits.dtype == torch.float32
    single = model.predict(EXAMPLE_FACE)
    assert single.label == "happy" and single.box is None
    several = model.predict([EXAMPLE_FACE, EXAMPLE_FACE], batch_size=1, tta=True)
    assert [p.label for p in several] == ["happy", "happy"]
    probs = model.predict_proba([EXAMPLE_FACE], classes=["sad", "happy"])
    assert probs.shape == (1, 2) and abs(float(probs.sum()) - 1) < 1e-5 and probs[0, 1] > probs[0, 0]
    with pytest.raises(ValueError, match="classes must be distinct names"):
        model.predict_proba([EXAMPLE_FACE], classes=["joy"])
    # the photo engine (facexpr.predict) and the inference functions take it as it is
    crop = facexpr.predict(EXAMPLE_FACE, model=model, detect=False)
    assert [f.label for f in crop] == ["happy"] and crop[0].box == (0, 0, 125, 125)
    from facexpr.inference import predict_faces, predict_proba

    torch.testing.assert_close(predict_proba(model, [EXAMPLE_FACE]), model.predict_proba([EXAMPLE_FACE]))
    assert predict_faces(model, EXAMPLE_FACE).label == "happy"


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


def test_the_trainer_refuses_an_onnx_runtime_model(cache: Path) -> None:
    from facexpr.training import Trainer

    with pytest.raises(TypeError, match=r"Trainer trains a torch\.nn\.Module .*got ORTFaceModel.*backend='torch'"):
        Trainer(facexpr.load("simple", backend="onnxruntime"))
