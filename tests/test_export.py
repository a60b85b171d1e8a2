"""Export to ONNX and TorchScript: parity with PyTorch and the metadata in the file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import facexpr
from facexpr.cli import main
from facexpr.export import export, read_onnx_config

from .conftest import FER2013_ROOT


@pytest.fixture(scope="module")
def model() -> facexpr.FaceModel:
    """Unlike conftest's model, with batch-norm statistics away from 0 and 1, so that an export
    that dropped them would show."""
    torch.manual_seed(0)
    model = facexpr.load("better", pretrained=False, device="cpu")
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def inputs(model: facexpr.FaceModel) -> torch.Tensor:
    """Real FER2013 test faces when the shared data is there, else random faces."""
    if (FER2013_ROOT / "test").is_dir():
        from facexpr.data import FER2013

        faces = FER2013(FER2013_ROOT, "test").images[:64]
    else:
        faces = torch.randint(0, 256, (64, 1, 48, 48), dtype=torch.uint8)
    return model.transforms().normalize(faces)


@pytest.mark.slow
def test_onnx_parity_and_metadata(model: facexpr.FaceModel, inputs: torch.Tensor, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the 'export' extra")
    path = export(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(None, {"input": inputs.numpy()})
    with torch.inference_mode():
        torch_logits = model(inputs).numpy()
    assert onnx_logits.shape == (64, 7)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4, rtol=0)
    config = read_onnx_config(path)
    assert config["labels"] == list(model.labels)
    assert config["mean"] == [0.5] and config["std"] == [0.5] and config["input_size"] == 48


def test_torchscript_parity_and_config(model: facexpr.FaceModel, inputs: torch.Tensor, tmp_path: Path) -> None:
    path = export(model, tmp_path / "m.pt", format="torchscript")
    extra = {"config.json": ""}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(path), _extra_files=extra)
    with torch.inference_mode():
        torch.testing.assert_close(scripted(inputs), model(inputs), atol=1e-4, rtol=0)
    assert json.loads(extra["config.json"])["labels"] == list(model.labels)


def test_cli_export_and_errors(model: facexpr.FaceModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = model.save_pretrained(tmp_path / "model")
    assert main(["export", str(folder), "--format", "torchscript", "--out", str(tmp_path / "cli.pt")]) == 0
    assert (tmp_path / "cli.pt").is_file()
    with pytest.raises(ValueError, match="Unknown export format 'tflite'"):
        export(model, tmp_path / "x", format="tflite")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # simulate a missing extra
    assert main(["export", str(folder), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "pip install 'facexpr[export]'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
