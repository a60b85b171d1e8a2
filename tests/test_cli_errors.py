"""The CLI's one error path: every mistake in what the user gave is one line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from facexpr.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
FACE = str(REPO_ROOT / "examples" / "images" / "astronaut_face.jpg")


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "device, message",
    [("tpu", "'tpu' is not a device torch knows"), ("cuda:7x", "is not a device torch knows"), ("meta", "not meta")],
)
def test_unknown_device_is_one_line(device: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", FACE, "--device", device]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"facexpr: error: Device '{device}'") and message in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_gpu_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "simple", "--data", "nowhere", "--device", "cuda"]) == 2
    assert "no CUDA GPU is available" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", FACE, "--top-k", "0"], "--top-k: expected an integer >= 1, got 0"),
        (["predict", FACE, "--batch-size", "-4"], "--batch-size: expected an integer >= 1, got -4"),
        (["predict", FACE, "--csv", "{dir}"], "is a folder; expected the path of a file to write"),
        (["export", "simple", "--out", "{dir}"], "is a folder; expected the path of a file to write"),
        (["video", "clip.mp4", "--smoothing", "1.5"], "--smoothing: expected a number in [0, 0.95]"),
        (["train", "--recipe", "simple", "--data", "d", "--out", "o", "--lr", "nan"], "--lr: expected a number"),
        (["train", "--recipe", "simple", "--data", "d", "--out", "o", "--val-fraction", "1"], "--val-fraction"),
    ],
    ids=["top-k-0", "negative-batch", "csv-dir", "export-out-dir", "smoothing", "lr-nan", "val-fraction-1"],
)
def test_bad_option_values_are_one_line_usage_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert message in line and line.endswith("--help')")


def test_debug_shows_the_traceback_instead(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="Unknown model 'bettr'"):
        main(["predict", FACE, "--model", "bettr", "--debug"])
    with pytest.raises(ValueError, match="Unknown model 'bettr'"):
        main(["--debug", "predict", FACE, "--model", "bettr"])
    assert main(["predict", FACE, "--model", "bettr"]) == 2


@pytest.mark.slow
def test_warnings_are_one_line_each(tmp_path: Path) -> None:
    """A decompression-bomb warning prints as one facexpr line, not Python's two-line warning.

    Run in a real process: inside pytest, warnings are recorded rather than printed.
    """
    path = tmp_path / "big.png"
    side = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)  # over the limit (a warning), under twice it
    Image.new("L", (side, side)).save(path, compress_level=1)
    done = subprocess.run(
        [sys.executable, "-m", "facexpr", "predict", str(path), "--model", "simple"],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "always"},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "warnings.warn" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert all(line.startswith("facexpr: ") for line in lines), done.stderr
    assert any(line.startswith("facexpr: warning: Image size") for line in lines), done.stderr
    assert "too large to decode safely" in lines[-1]


@pytest.mark.parametrize("device", ["tpu", "cuda:99", "meta"])
def test_load_and_trainer_refuse_devices_this_machine_lacks(device: str) -> None:
    import facexpr
    from facexpr.training import Trainer

    if device.startswith("cuda") and torch.cuda.device_count() > 99:
        pytest.skip("this machine has 100 GPUs")
    with pytest.raises(facexpr.DeviceNotAvailableError, match=f"Device '{device}'"):
        facexpr.load("simple", pretrained=False, device=device)
    with pytest.raises(facexpr.DeviceNotAvailableError, match=f"Device '{device}'"):
        Trainer(facexpr.load("simple", pretrained=False, device="cpu"), device=device)
