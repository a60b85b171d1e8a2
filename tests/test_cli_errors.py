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


# --- the user's mistakes against facexpr's bugs --------------------------------------------------

BUG_NOTE = "(this is a bug in facexpr; run with --debug for the traceback)"


def _raise(err: BaseException):  # noqa: ANN202 - a stand-in for a command's run
    def run(args: object) -> int:
        raise err

    return run


@pytest.mark.parametrize(
    "err, shown",
    [
        (TypeError("unsupported operand type(s) for +: 'int' and 'str'"),
         "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
        (AttributeError("'NoneType' object has no attribute 'labels'"),
         "AttributeError: 'NoneType' object has no attribute 'labels'"),
        (KeyError("accuracy"), "KeyError: 'accuracy'"),
        (KeyError(), "KeyError"),
        (RuntimeError("shape mismatch\nsecond line"), "RuntimeError: shape mismatch"),
        (AssertionError(), "AssertionError"),
        (ImportError("cannot import name 'gone' from 'facexpr.photos'", name="facexpr.photos"),
         "ImportError: cannot import name 'gone' from 'facexpr.photos'"),
    ],
    ids=["type", "attribute", "key", "key-empty", "runtime-two-lines", "assertion", "import-of-facexpr"],
)
def test_a_bug_is_reported_as_a_bug_with_status_1(
    err: Exception, shown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from facexpr.cli import models

    monkeypatch.setattr(models, "run", _raise(err))
    assert main(["models"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert _one_error_line(captured.err) == f"facexpr: internal error: {shown} {BUG_NOTE}"


@pytest.mark.parametrize(
    "err",
    [
        ValueError("Unknown model 'bettr'."),
        FileNotFoundError("Image file 'x.jpg' does not exist."),
        PermissionError("Cannot write 'out.csv'."),
        OSError("No space left on device."),
        ModuleNotFoundError("TensorBoard needs the optional package 'tensorboard'.", name="tensorboard"),
        ImportError("install it: pip install 'facexpr[onnx]'"),
    ],
    ids=["value", "file-not-found", "permission", "os", "missing-optional-package", "import-hint"],
)
def test_the_users_bad_input_stays_one_error_line_with_status_2(
    err: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from facexpr.cli import models

    monkeypatch.setattr(models, "run", _raise(err))
    assert main(["models"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"facexpr: error: {err}" and "internal error" not in line


def test_facexpr_errors_and_the_clis_own_are_the_users(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from facexpr.cli import _common, models
    from facexpr.errors import HubError, InvalidConfigError, TrainingDivergedError

    for err in (InvalidConfigError("bad config.json"), HubError("Hub unreachable"),
                TrainingDivergedError("loss is nan"), _common.UserError("--recursive needs a folder")):
        monkeypatch.setattr(models, "run", _raise(err))
        assert main(["models"]) == 2
        assert _one_error_line(capsys.readouterr().err) == f"facexpr: error: {err}"


def test_debug_raises_a_bug_with_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from facexpr.cli import models

    monkeypatch.setattr(models, "run", _raise(TypeError("boom")))
    with pytest.raises(TypeError, match="boom"):
        main(["models", "--debug"])
    with pytest.raises(TypeError, match="boom"):
        main(["--debug", "models"])


def test_a_bug_in_a_real_process_exits_1_with_one_line(tmp_path: Path) -> None:
    """Through ``python -m facexpr`` (the console script's ``main``), not only in-process."""
    script = (
        "import sys\n"
        "from facexpr.cli import main, predict\n"
        "def run(args):\n"
        "    return {}['missing']\n"
        "predict.run = run\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, "predict", FACE], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 1 and done.stdout == ""
    assert _one_error_line(done.stderr) == f"facexpr: internal error: KeyError: 'missing' {BUG_NOTE}"
    done = subprocess.run([sys.executable, "-c", script, "predict", FACE, "--debug"], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 1 and "Traceback" in done.stderr and "KeyError: 'missing'" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "face.jpg"], ["video", "clip.mp4"], ["webcam"], ["models"],
        ["train", "--recipe", "simple", "--data", "d", "--out", "o"], ["evaluate", "--model", "m", "--data", "d"],
        ["release", "--model", "m", "--data", "d", "--out", "o"], ["publish", "folder", "--repo", "a/b"],
        ["export", "simple", "--out", "m.onnx"],
    ],
    ids=lambda argv: argv[0],
)
def test_each_command_runs_its_own_modules_run(argv: list[str]) -> None:
    import importlib

    from facexpr.cli import COMMANDS, build_parser

    module = importlib.import_module(f"facexpr.cli.{argv[0]}")
    assert module in COMMANDS
    args = build_parser().parse_args(argv)
    assert args.func is module.run and args.command == argv[0]
    if argv[0] == "release":  # its own --command (the card's training command) keeps the sub-command's name
        quoted = build_parser().parse_args([*argv, "--command", "facexpr train --recipe better"])
        assert quoted.command == "release" and quoted.card_command == "facexpr train --recipe better"
