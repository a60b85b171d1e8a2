"""Every script in examples/ runs, with small settings, and produces what it says.

The scripts are imported and their ``main(argv)`` called in this process (one interpreter
start instead of ten); one real subprocess checks that a script also runs as a file. Models
are freshly initialised and saved to a folder (``--model DIR``), so no pretrained weights are
needed; the data sets are a few generated images. Photo and video examples use the YuNet
model from ../shared and skip, with the reason, when it or OpenCV is absent.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.assets import EXAMPLE_FACE, EXAMPLE_PHOTO

from .conftest import REPO_ROOT, SHARED

EXAMPLES = REPO_ROOT / "examples"
SCRIPTS = sorted(p.stem for p in EXAMPLES.glob("*.py"))
YUNET_ONNX = SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"facexpr_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, *argv: object) -> int:
    return load_example(name).main([str(a) for a in argv])


@pytest.fixture(autouse=True)
def _quiet_and_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def fer2013(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FER2013 in the image-folder layout: 6 random 48x48 faces per class and split."""
    root = tmp_path_factory.mktemp("fer2013")
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for name in facexpr.FER2013_LABELS:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(6):
                Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / f"{split}_{i}.png")
    return root


@pytest.fixture
def yunet() -> Path:
    pytest.importorskip("cv2", reason="opencv-python-headless (the 'detect' extra) is not installed")
    if not YUNET_ONNX.is_file():
        pytest.skip(f"YuNet model not found at {YUNET_ONNX} (the shared folder is absent)")
    return YUNET_ONNX


@pytest.fixture
def video(tmp_path: Path, yunet: Path) -> Path:
    """A 6-frame 320x320 video of the example photo, moving to the right."""
    import cv2

    rgb = np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB").resize((320, 320)))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 320))
    for i in range(6):
        writer.write(np.ascontiguousarray(np.roll(rgb, 3 * i, axis=1)[..., ::-1]))
    writer.release()
    return path


# -- every script: --help, and one real subprocess -----------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(name, "--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and len(out.splitlines()) > 3


@pytest.mark.slow
def test_a_script_runs_as_a_file() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "publish_to_hub.py"), "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "dry run" in proc.stdout


def test_every_example_is_tested() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(SCRIPTS) <= tested, f"examples without a test: {sorted(set(SCRIPTS) - tested)}"


# -- each script with small settings ----------------------------------------------------------------


def test_predict_crop(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("predict_crop", EXAMPLE_FACE, EXAMPLE_FACE, "--model", model_dir, "--tta", "--top-k", 2) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith(str(EXAMPLE_FACE)) for line in lines)
    assert lines[0].split(": ")[1].split(" (")[0] in facexpr.FER2013_LABELS


def test_predict_photo(model_dir: Path, yunet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "annotated.png"
    assert run("predict_photo", EXAMPLE_PHOTO, "--out", out, "--model", model_dir, "--detector", yunet) == 0
    assert "1 face(s)" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size == (512, 512)
        assert not np.array_equal(np.asarray(image.convert("RGB")), np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB")))


def test_folder_to_csv(model_dir: Path, yunet: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.open(EXAMPLE_PHOTO).save(folder / "photo.jpg")
    Image.open(EXAMPLE_FACE).save(folder / "sub" / "crop.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    table = tmp_path / "faces.csv"
    with pytest.warns(UserWarning, match="broken.jpg"):
        assert run("folder_to_csv", folder, "--csv", table, "--recursive", "--model", model_dir,
                   "--detector", yunet) == 0
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [Path(r["image"]).name for r in rows] == ["photo.jpg", "crop.png"]
    assert all(r["label"] in facexpr.FER2013_LABELS for r in rows)
    assert rows[0]["score"] != "" and rows[1]["score"] == ""  # detected face vs. a whole crop
    assert rows[0]["detector"].startswith("yunet") and rows[1]["detector"] == ""
    assert list(rows[0])[:10] == ["image", "face", "x", "y", "width", "height", "score", "detector", "label", "confidence"]
    assert abs(sum(float(rows[0][f"p_{label}"]) for label in facexpr.FER2013_LABELS) - 1) < 1e-4


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Data's own settings
def test_label_with_ray(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'facexpr[ray]')")
    import pyarrow.parquet as pq

    folder = tmp_path / "crops"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        Image.fromarray(np.full((48, 48), 60 * i, np.uint8)).save(folder / name)
    # The Ray workers import facexpr from this checkout, with one thread each.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    assert run("label_with_ray", folder, "--out", tmp_path / "faces", "--recursive", "--model", model_dir,
               "--num-cpus", 2, "--workers", 2, "--cpus-per-worker", 0.5, "--batch-size", 2) == 0
    assert "written to" in capsys.readouterr().out
    rows = sorted(pq.read_table(tmp_path / "faces").to_pylist(), key=lambda r: r["image"])
    assert [Path(r["image"]).relative_to(folder).as_posix() for r in rows] == ["a.png", "b.jpg", "sub/c.png"]
    want = [r.faces[0] for r in facexpr.predict_folder(folder, recursive=True, model=str(model_dir))]
    assert [r["label"] for r in rows] == [f.label for f in want]
    assert [r["confidence"] for r in rows] == pytest.approx([f.confidence for f in want], abs=1e-6)


def test_video_to_csv(model_dir: Path, video: Path, yunet: Path, tmp_path: Path) -> None:
    table, annotated = tmp_path / "faces.csv", tmp_path / "annotated.avi"
    assert run("video_to_csv", video, "--csv", table, "--save", annotated, "--every", 2, "--model", model_dir,
               "--detector", yunet) == 0
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [int(r["frame"]) for r in rows] == [0, 2, 4]
    assert all(r["label"] in facexpr.FER2013_LABELS and r["track"] == rows[0]["track"] for r in rows)
    assert annotated.stat().st_size > 0


def test_webcam(model_dir: Path, video: Path, yunet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("webcam", "--camera", video, "--no-window", "--max-frames", 3, "--model", model_dir,
               "--detector", yunet) == 0
    out = capsys.readouterr().out
    assert out.count("frame ") == 3 and "3 frames processed" in out


def test_train_zoo_model(fer2013: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run("train_zoo_model", "--recipe", "simple", "--data", fer2013, "--out", out, "--epochs", 1,
               "--batch-size", 16, "--device", "cpu", "--no-progress") == 0
    assert (out / "checkpoint.pt").is_file() and len((out / "history.csv").read_text().splitlines()) == 2
    assert facexpr.load(out / "best", device="cpu").architecture == "simple"
    assert "val accuracy" in capsys.readouterr().out


def test_finetune_folder(model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "my_faces"
    rng = np.random.default_rng(1)
    for name in ("bored", "excited"):
        (data / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(data / name / f"{i}.jpg")
    out = tmp_path / "my-model"
    assert run("finetune_folder", "--data", data, "--out", out, "--model", model_dir, "--head-epochs", 1,
               "--epochs", 1, "--batch-size", 8, "--device", "cpu") == 0
    model = facexpr.load(out, device="cpu")
    assert model.labels == ("bored", "excited")
    assert model.config.temperature != 1.0 and "accuracy" in model.config.metrics["val"]
    assert model.predict(EXAMPLE_FACE).label in ("bored", "excited")


def test_finetune_fer2013_3class(model_dir: Path, fer2013: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fer3"
    assert run("finetune_fer2013_3class", "--fer2013", fer2013, "--out", out, "--model", model_dir,
               "--fraction", 0.5, "--head-epochs", 1, "--epochs", 1, "--batch-size", 8,
               "--data-dir", tmp_path / "fer3-data") == 0
    text = capsys.readouterr().out
    assert "baseline" in text and "dry run, would upload" in text and "identical probabilities: True" in text
    model = facexpr.load(out / "model", device="cpu")
    assert model.labels == ("negative", "neutral", "positive")
    config = json.loads((out / "model" / "metrics.json").read_text())
    assert set(config["metrics"]) == {"val", "test"}
    # the class folders were built outside the output folder, from links, and never hold surprise
    assert sorted(p.name for p in (tmp_path / "fer3-data" / "test").iterdir()) == ["negative", "neutral", "positive"]


def test_publish_to_hub(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = facexpr.load(model_dir, device="cpu")
    model.config.metrics = {"val": {"accuracy": 0.5}, "test": {"accuracy": 0.5}}  # what release writes
    folder = model.save_pretrained(tmp_path / "release")
    assert run("publish_to_hub", folder, "--repo", "me/facexpr-test") == 0
    out = capsys.readouterr().out
    assert "dry run: 4 files would be uploaded to me/facexpr-test" in out  # + metrics.json
    assert "model.safetensors" in out and "config.json" in out and "README.md" in out


def test_export_model(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.pt"
    assert run("export_model", "--model", model_dir, "--format", "torchscript", "--out", out) == 0
    assert out.is_file() and "largest difference" in capsys.readouterr().out
