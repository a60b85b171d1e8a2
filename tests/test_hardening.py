"""Issue 24, hardening round 2: each numbered failure of the issue, attacked as a user would.

What a user gave is never written over; writes follow links and refuse what is not a regular,
writable file; labels are never silently wrong; a diverging run stops with one line and
saves nothing; a resumed run is the same run; promised one-line errors are one line.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr._io import atomic_write, check_outputs, resolve_output
from facexpr.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
FACE = REPO_ROOT / "examples" / "images" / "astronaut_face.jpg"


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a refused command (and check there is only one, no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("facexpr: error:"), err
    return lines[0]


def _faces(root: Path, classes: dict[str, int], *, seed: int = 0) -> Path:
    """Write ``root/<class>/<i>.png`` 48x48 gray faces, ``count`` per class."""
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


# -- 1. an output path equal to an input ----------------------------------------------------------


def test_predict_save_into_the_input_folder_is_refused_before_any_work(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (photos / name).write_bytes(FACE.read_bytes())
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    assert main(["predict", str(photos), "--save", str(photos), "--model", str(model_dir)]) == 2
    line = _err_line(capsys)
    assert "--save" in line and "is the input" in line
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


@pytest.mark.parametrize("flag", ["--csv", "--save"])
def test_predict_output_equal_to_the_input_image_is_refused(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(FACE.read_bytes())
    assert main(["predict", str(image), flag, str(image), "--model", str(model_dir)]) == 2
    assert f"{flag} '{image}' is the input" in _err_line(capsys)
    assert image.read_bytes() == FACE.read_bytes()


def test_predict_output_reaching_the_input_through_a_link_or_hard_link_is_refused(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(FACE.read_bytes())
    (tmp_path / "link.csv").symlink_to(image)
    os.link(image, tmp_path / "hard.csv")
    for out in ("link.csv", "hard.csv"):
        assert main(["predict", str(image), "--csv", str(tmp_path / out), "--model", str(model_dir)]) == 2
        assert "is the input" in _err_line(capsys)
    assert image.read_bytes() == FACE.read_bytes()


@pytest.mark.parametrize("outputs", [["--csv", "SRC"], ["--save", "SRC"], ["--save", "X", "--csv", "X"]])
def test_video_outputs_equal_to_the_input_or_to_each_other_are_refused(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], outputs: list[str]
) -> None:
    source = tmp_path / "v.avi"
    source.write_bytes(b"not decoded: refused before")
    names = {"SRC": str(source), "X": str(tmp_path / "out.avi")}
    argv = ["video", str(source), *(names.get(v, v) for v in outputs), "--model", str(model_dir)]
    assert main(argv) == 2
    line = _err_line(capsys)
    assert ("is the input" in line) or ("are the same file" in line), line
    assert source.read_bytes() == b"not decoded: refused before"
    assert not (tmp_path / "out.avi").exists()


def test_process_video_refuses_the_same_file_for_csv_and_video(tmp_path: Path, model: facexpr.FaceModel) -> None:
    with pytest.raises(ValueError, match="are the same file"):
        facexpr.process_video(tmp_path / "in.avi", csv_path=tmp_path / "x.avi", save=tmp_path / "x.avi", model=model)


def test_check_outputs_rules(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "a.jpg").write_text("a")
    check_outputs([("--out", tmp_path / "run")], [tmp_path / "data", tmp_path / "a.jpg"])  # elsewhere: fine
    with pytest.raises(ValueError, match="inside the input folder"):
        check_outputs([("--out", tmp_path / "data" / "run")], [tmp_path / "data"])
    with pytest.raises(ValueError, match="is the input"):
        check_outputs([("--out", tmp_path / "x" / ".." / "a.jpg")], [tmp_path / "a.jpg"])


def test_train_out_inside_the_data_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _faces(tmp_path / "faces", {"calm": 4, "excited": 4})
    argv = ["train", "--model", "simple", "--data", str(data), "--out", str(data / "run"), "--epochs", "1"]
    assert main(argv) == 2
    assert "inside the input folder" in _err_line(capsys)
    assert sorted(p.name for p in data.iterdir()) == ["calm", "excited"]


def test_release_out_equal_to_the_model_folder_is_refused(model_dir: Path, tmp_path: Path) -> None:
    from facexpr.release import build_release

    before = (model_dir / "config.json").read_bytes()
    with pytest.raises(ValueError, match="is the input"):
        build_release(model_dir, tmp_path / "fer2013", model_dir)
    assert (model_dir / "config.json").read_bytes() == before


def test_export_over_the_model_weights_is_refused(model_dir: Path) -> None:
    from facexpr.export import export

    before = (model_dir / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="input"):
        export(model_dir, model_dir / "model.safetensors", format="torchscript")
    assert (model_dir / "model.safetensors").read_bytes() == before


# -- 6. writes follow links and refuse devices, FIFOs, sockets and read-only files -----------------


def test_atomic_write_follows_a_symlink_and_writes_beside_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "table.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    atomic_write(link, lambda tmp: tmp.write_text("new"))
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real"]
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "real" / "later.csv")
    atomic_write(dangling, lambda tmp: tmp.write_text("made"))
    assert dangling.is_symlink() and (tmp_path / "real" / "later.csv").read_text() == "made"


def test_atomic_write_refuses_a_read_only_file_even_as_root(tmp_path: Path) -> None:
    target = tmp_path / "keep.csv"
    target.write_text("precious")
    target.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "precious" and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


def test_atomic_write_refuses_a_fifo_and_a_socket(tmp_path: Path) -> None:
    import socket

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match="a FIFO, not a regular file"):
        atomic_write(tmp_path / "pipe", lambda tmp: tmp.write_text("x"))
    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(ValueError, match="a socket"):
            resolve_output(tmp_path / "sock")


def test_atomic_write_refuses_a_device_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="character device"):
        resolve_output("/dev/null")
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, lambda tmp: tmp.write_text("x"))


def test_cli_export_to_a_device_and_csv_to_a_read_only_file_are_one_line_errors(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(model_dir), "--format", "torchscript", "--out", "/dev/null"]) == 2
    assert "character device" in _err_line(capsys)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    table = tmp_path / "t.csv"
    table.write_text("old")
    table.chmod(0o400)
    assert main(["predict", str(FACE), "--csv", str(table), "--model", str(model_dir), "--no-detect"]) == 2
    assert "read-only" in _err_line(capsys)
    assert table.read_text() == "old"


# -- 12. SIGTERM leaves no temporary file ----------------------------------------------------------


def test_sigterm_during_csv_leaves_no_temporary_file(model_dir: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal, sys
        import facexpr._io as io
        from facexpr.cli import main
        rows = io.csv_rows
        def rows_then_term(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            return rows(*args, **kwargs)
        io.csv_rows = rows_then_term
        sys.exit(main(["predict", {str(FACE)!r}, {str(FACE)!r}, "--csv", {str(tmp_path / 'term.csv')!r},
                       "--model", {str(model_dir)!r}, "--no-detect"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 143, done.stderr
    assert "facexpr: terminated" in done.stderr
    assert list(tmp_path.iterdir()) == []
