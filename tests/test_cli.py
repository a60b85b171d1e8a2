"""The command line, through main([...]) and one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import facexpr
from facexpr.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
FACE = REPO_ROOT / "examples" / "images" / "astronaut_face.jpg"


def test_predict_table(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(FACE), str(FACE), "--model", str(model_dir), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["image", "label", "prob"]
    assert len(lines) == 3 and str(FACE) in lines[1]
    assert lines[1].split()[1] in facexpr.FER2013_LABELS


def test_predict_json_lines(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(FACE), "--model", str(model_dir), "--json", "--top-k", "3"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert record["image"] == str(FACE) and (record["width"], record["height"]) == (125, 125)
    (face,) = record["faces"]  # a face crop: one face, the whole image
    assert face["face"] == 0 and face["box"] == [0, 0, 125, 125] and face["score"] is None
    assert set(face["probabilities"]) == set(facexpr.FER2013_LABELS)
    assert len(face["top_k"]) == 3
    assert face["label"] == face["top_k"][0][0]


def test_predict_json_is_one_shape_for_crops_and_photos(
    model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from facexpr.cli import _common
    from facexpr.assets import EXAMPLE_PHOTO

    monkeypatch.setattr(_common, "detector", lambda value: lambda image: ([[180, 60, 140, 170]], [0.9]))
    assert main(["predict", str(FACE), str(EXAMPLE_PHOTO), "--model", str(model_dir), "--json"]) == 0
    crop, photo = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert crop.keys() == photo.keys() == {"image", "width", "height", "faces"}
    assert crop["faces"][0].keys() == photo["faces"][0].keys()  # no 'source' next to 'image', no flat crop form
    assert "source" not in crop["faces"][0] and crop["faces"][0]["score"] is None
    assert photo["image"] == str(EXAMPLE_PHOTO) and photo["faces"][0]["box"] == [180, 60, 140, 170]
    assert photo["faces"][0]["score"] == pytest.approx(0.9)


def test_predict_an_empty_folder_says_so(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    assert main(["predict", str(tmp_path), "--model", str(model_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "No image files in" in captured.err and "--recursive" in captured.err


def test_predict_a_url_says_download_it_first(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://example.com/faces/smile.jpg"
    assert main(["predict", url, "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facexpr: error:") and len(err.splitlines()) == 1
    assert url in err and "URL" in err and "Download" in err and "does not exist" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "missing.jpg", "--model", "{model}"], "missing.jpg' does not exist"),
        (["predict", str(FACE), "--model", "bettr"], "Unknown model 'bettr'"),
        (["evaluate", "--model", "{model}", "--data", "/nonexistent/data"], "/nonexistent/data"),
    ],
    ids=["missing-image", "unknown-model", "missing-data"],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{model}", str(model_dir)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facexpr: error:") and message in err
    assert len(err.splitlines()) == 1


def test_models_lists_every_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in facexpr.list_models():
        assert name in out
    assert "1,275,335" in out  # BetterCNN's parameter count
    assert f"{facexpr.DEFAULT_MODEL} (default)" in out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "FER+ majority" in lines["vgg8_bn.ferplus"] and "FER2013" in lines["vgg8_bn"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["predict"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert facexpr.__version__ in capsys.readouterr().out


@pytest.mark.slow
def test_real_subprocess(model_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "facexpr", "predict", str(FACE), "--model", str(model_dir), "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["faces"][0]["label"] in facexpr.FER2013_LABELS
    bad = subprocess.run(
        [sys.executable, "-m", "facexpr", "predict", "nope.png", "--model", str(model_dir)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "nope.png" in bad.stderr
