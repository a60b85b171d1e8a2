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
from facexpr._io import atomic_write
from facexpr.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
FACE = REPO_ROOT / "examples" / "images" / "astronaut_face.jpg"


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a refused command: the last on stderr, the only one, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    assert errors[0].startswith("facexpr: error:"), err
    return errors[0]


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
    from facexpr._io import check_outputs

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
    with pytest.raises(PermissionError, match="Read-only file"):
        atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "precious" and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


def test_atomic_write_refuses_a_fifo_and_a_socket(tmp_path: Path) -> None:
    import socket

    from facexpr._io import resolve_output

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match="a FIFO, not a regular file"):
        atomic_write(tmp_path / "pipe", lambda tmp: tmp.write_text("x"))
    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(ValueError, match="a socket"):
            resolve_output(tmp_path / "sock")


def _device_node(tmp_path: Path) -> Path:
    """A character device (the null device's numbers) of our own, so a failing test cannot replace /dev/null."""
    node = tmp_path / "full"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("creating a device node needs root")
    return node


def test_atomic_write_refuses_a_device_and_a_folder(tmp_path: Path) -> None:
    from facexpr._io import resolve_output

    with pytest.raises(ValueError, match="character device"):
        resolve_output("/dev/null")  # only looked at
    node = _device_node(tmp_path)
    with pytest.raises(ValueError, match="character device"):
        atomic_write(node, lambda tmp: tmp.write_text("x"))
    assert stat.S_ISCHR(node.stat().st_mode)
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, lambda tmp: tmp.write_text("x"))


def test_cli_export_to_a_device_and_csv_to_a_read_only_file_are_one_line_errors(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = _device_node(tmp_path)
    assert main(["export", str(model_dir), "--format", "torchscript", "--out", str(node)]) == 2
    assert "character device" in _err_line(capsys)
    assert stat.S_ISCHR(node.stat().st_mode)
    table = tmp_path / "t.csv"
    table.write_text("old")
    table.chmod(0o400)
    assert main(["predict", str(FACE), "--csv", str(table), "--model", str(model_dir), "--no-detect"]) == 2
    assert "Read-only file" in _err_line(capsys)
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


# -- 2. class folders that collide after case folding ---------------------------------------------


@pytest.mark.parametrize("names", [("Happy", "happy"), ("\u212aind", "kind"), ("STRASSE", "stra\u00dfe")])
def test_class_folders_equal_after_case_folding_are_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: tuple[str, str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    root = _faces(tmp_path / "faces", {names[0]: 2, names[1]: 2, "sad": 2})
    for cache in (True, False):
        with pytest.raises(ValueError, match="differ only in letter case") as caught:
            facexpr.data.ImageFolder(root, cache=cache)
        assert repr(names[0]) in str(caught.value) and repr(names[1]) in str(caught.value)


def test_train_on_case_colliding_folders_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    root = _faces(tmp_path / "faces", {"Happy": 3, "happy": 3})
    argv = ["train", "--model", "simple", "--data", str(root), "--out", str(tmp_path / "run"), "--epochs", "1"]
    assert main(argv) == 2
    assert "'Happy' and 'happy'" in _err_line(capsys)
    assert not (tmp_path / "run").exists()


def test_classes_given_that_collide_are_refused(tmp_path: Path) -> None:
    root = _faces(tmp_path / "faces", {"happy": 1})
    with pytest.raises(ValueError, match="'Happy' and 'HAPPY'"):
        facexpr.data.ImageFolder(root, classes=["Happy", "HAPPY"], cache=False)


# -- 7. a dangling symlink with the cache on ------------------------------------------------------


def test_dangling_symlink_is_skipped_with_the_cache_as_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    root = _faces(tmp_path / "faces", {"calm": 2, "excited": 2})
    (root / "calm" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    for cache in (False, True, True):  # without, building and reading the cache
        with pytest.warns(UserWarning, match=r"Skipped 1 unreadable .*gone\.png"):
            ds = facexpr.data.ImageFolder(root, cache=cache)
        assert len(ds) == 4


# -- 12. the folder cache notices a file rewritten with the same size and mtime --------------------


def test_cache_notices_a_rewrite_with_the_same_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    root = _faces(tmp_path / "faces", {"calm": 2, "excited": 2})
    path = root / "calm" / "0.png"
    first = facexpr.data.ImageFolder(root)
    before = path.stat()
    time.sleep(0.05)  # the change time moves in clock ticks
    Image.new("L", (48, 48), 200).save(path)  # other pixels...
    data = path.read_bytes()
    path.write_bytes(data[: before.st_size].ljust(before.st_size, b"\0"))  # ...at the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    second = facexpr.data.ImageFolder(root)
    fresh = facexpr.data.ImageFolder(root, cache=False)
    assert torch.equal(second.images, fresh.images)
    assert not torch.equal(second.images, first.images)


# -- 4. a diverging run ----------------------------------------------------------------------------


def test_diverging_run_stops_with_one_line_exit_2_and_saves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    root = _faces(tmp_path / "faces", {"calm": 6, "excited": 6})
    argv = ["train", "--model", "simple", "--data", str(root), "--out", str(tmp_path / "r"), "--lr", "1e30",
            "--epochs", "1", "--batch-size", "4", "--device", "cpu"]
    assert main(argv) == 2
    line = _err_line(capsys)
    assert "Training stopped at epoch 1" in line and "not finite" in line
    assert not (tmp_path / "r" / "best").exists() and not (tmp_path / "r" / "checkpoint.pt").exists()


def test_non_finite_weights_stop_fit_before_any_callback_sees_them(tmp_path: Path) -> None:
    from facexpr.errors import TrainingDivergedError
    from facexpr.training import ModelCheckpoint, Trainer

    class Poison(Trainer):
        def train_step(self, images: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
            out = super().train_step(images, targets)
            with torch.no_grad():
                next(self.unwrapped_model.parameters()).fill_(float("nan"))  # finite loss, NaN weights
            return out

    images = torch.randint(0, 256, (8, 48, 48), dtype=torch.uint8)
    trainer = Poison(facexpr.load("simple", pretrained=False, device="cpu"), device="cpu")
    with pytest.raises(TrainingDivergedError, match="weights are not finite"):
        trainer.fit((images, torch.arange(8) % 7), val=(images, torch.arange(8) % 7), epochs=1, batch_size=8,
                    callbacks=[ModelCheckpoint(tmp_path / "best")], checkpoint=tmp_path / "c.pt", progress=False)
    assert list(tmp_path.iterdir()) == []


# -- 5. resume mixes runs --------------------------------------------------------------------------


def _train(argv_tail: list[str], data: Path, out: Path, recipe: str = "simple") -> int:
    return main(["train", "--recipe", recipe, "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--batch-size", "4", "--device", "cpu", *argv_tail])


def test_resume_refuses_other_class_names_of_the_same_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert _train([], _faces(tmp_path / "a", {"calm": 4, "excited": 4}), out) == 0
    capsys.readouterr()
    before = (out / "best" / "config.json").read_bytes()
    assert _train(["--epochs", "2"], _faces(tmp_path / "b", {"bored": 4, "tired": 4}), out) == 2
    line = _err_line(capsys)
    assert "Cannot resume" in line and "['calm', 'excited'] there" in line and "['bored', 'tired'] now" in line
    assert (out / "best" / "config.json").read_bytes() == before


def test_resume_refuses_other_data_with_the_same_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert _train([], _faces(tmp_path / "a", {"calm": 4, "excited": 4}, seed=0), out) == 0
    capsys.readouterr()
    assert _train(["--epochs", "2"], _faces(tmp_path / "b", {"calm": 4, "excited": 4}, seed=1), out) == 2
    assert "the data (its images or labels) differs" in _err_line(capsys)


@pytest.mark.parametrize("change", [["--lr", "0.5"], ["--seed", "7"]])
def test_resume_refuses_other_settings_and_recipe_json_records_what_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], change: list[str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    data, out = _faces(tmp_path / "a", {"calm": 4, "excited": 4}), tmp_path / "run"
    assert _train([], data, out, recipe="seed-simple") == 0  # no schedule: more epochs continue the run
    recipe = (out / "recipe.json").read_text()
    capsys.readouterr()
    assert _train(["--epochs", "2", *change], data, out, recipe="seed-simple") == 2
    name = change[0][2:]
    assert f"{name} " in _err_line(capsys)
    assert (out / "recipe.json").read_text() == recipe  # nothing written by the refused run
    assert _train(["--epochs", "2"], data, out, recipe="seed-simple") == 0  # the same run continues
    assert json.loads((out / "recipe.json").read_text())["epochs"] == 2


# -- 9. an empty validation set --------------------------------------------------------------------


def test_one_image_per_class_is_refused_instead_of_an_empty_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    assert _train([], _faces(tmp_path / "a", {"calm": 1, "excited": 1}), tmp_path / "run") == 2
    assert "leaves no validation image" in _err_line(capsys)
    assert not (tmp_path / "run" / "best").exists()


def test_fit_refuses_empty_validation_data() -> None:
    from facexpr.training import Trainer

    images = torch.zeros(4, 48, 48, dtype=torch.uint8)
    trainer = Trainer(facexpr.load("simple", pretrained=False, device="cpu"), device="cpu")
    with pytest.raises(ValueError, match="validation data holds no faces"):
        trainer.fit((images, torch.arange(4) % 7), val=(images[:0], torch.zeros(0, dtype=torch.int64)), epochs=1)


# -- 12. evaluate on empty data, load(num_classes=0), top_k(-1) -------------------------------------


def test_evaluate_on_empty_data_is_a_clear_error() -> None:
    from facexpr.data import FaceDataset
    from facexpr.training import Trainer

    empty = FaceDataset(torch.zeros(0, 48, 48, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64),
                        facexpr.FER2013_LABELS)
    with pytest.raises(ValueError, match="holds no faces"):
        Trainer(facexpr.load("simple", pretrained=False, device="cpu"), device="cpu").evaluate(empty)


@pytest.mark.parametrize("pretrained", [False, True])
@pytest.mark.parametrize("num_classes", [0, -3])
def test_load_refuses_num_classes_below_one(pretrained: bool, num_classes: int) -> None:
    with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
        facexpr.load("simple", pretrained=pretrained, num_classes=num_classes)
    with pytest.raises(ValueError, match="labels"):
        facexpr.load("simple", pretrained=pretrained, labels=[])


def test_top_k_refuses_negative_k() -> None:
    p = facexpr.Prediction("happy", 0, {"happy": 0.7, "sad": 0.2, "calm": 0.1})
    with pytest.raises(ValueError, match="top_k"):
        p.top_k(-1)
    assert p.top_k(0) == [] and p.top_k(np.int64(1)) == [("happy", 0.7)]


# -- 8. one line instead of a traceback: fer2013.csv pixels, release of a 2-class model --------------


@pytest.mark.parametrize("pixel", ["300", "x", "1e400"])
def test_fer2013_csv_bad_pixel_names_file_and_line(tmp_path: Path, pixel: str) -> None:
    pixels = ["0"] * 2304
    pixels[5] = pixel
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + f"3,{' '.join(['1'] * 2304)},Training\n" + f"3,{' '.join(pixels)},Training\n")
    with pytest.raises(ValueError, match=rf"'{path}' line 3: pixel '{pixel}' is not a gray value 0-255"):
        facexpr.data.FER2013(path, "train", cache=False)


def test_fer2013_csv_latin1_and_short_rows_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    good = f"3,{' '.join(['1'] * 2304)},Training\n"
    path.write_bytes(("emotion,pixels,Usage\n" + good).encode() + b"3,\xe9,Training\n")
    with pytest.raises(ValueError, match=rf"'{path}' line 3: not UTF-8"):
        facexpr.data.FER2013(path, "train", cache=False)
    path.write_text("emotion,pixels,Usage\n" + good + "3\n")
    with pytest.raises(ValueError, match=rf"'{path}' line 3: expected 3 fields"):
        facexpr.data.FER2013(path, "train", cache=False)


# -- 11. a truncated video; 12. predict_video on a missing file ------------------------------------


def test_truncated_video_warns_with_frames_read_and_expected(tmp_path: Path, model: facexpr.FaceModel) -> None:
    pytest.importorskip("cv2")
    from facexpr.video import VideoWriter

    with VideoWriter(tmp_path / "clip.avi", fps=10) as writer:
        for i in range(30):
            writer.write(np.full((64, 96, 3), 8 * i, dtype=np.uint8))
    data = (tmp_path / "clip.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    none = lambda image: ([], [])  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(facexpr.predict_video(tmp_path / "clip.avi", model=model, detector=none))) == 30
    with pytest.warns(UserWarning, match=r"ended after \d+ of the 30 frames") as caught:
        frames = list(facexpr.predict_video(tmp_path / "cut.avi", model=model, detector=none))
    assert f"after {len(frames)} of the 30" in str(caught[0].message) and len(frames) < 30


def test_predict_video_on_a_missing_file_raises_at_call_time(tmp_path: Path, model: facexpr.FaceModel) -> None:
    pytest.importorskip("cv2")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        facexpr.predict_video(tmp_path / "missing.mp4", model=model)  # not iterated


# -- 12. export --opset with TorchScript -----------------------------------------------------------


def test_export_opset_with_torchscript_is_refused(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", str(model_dir), "--format", "torchscript", "--opset", "17", "--out", str(tmp_path / "m.pt")]
    assert main(argv) == 2
    assert "opset" in _err_line(capsys)
    assert not (tmp_path / "m.pt").exists()


# -- found by the 2000-example fuzz run: a 42292 x 40 JPEG made facexpr.predict allocate 12 GB -----


def test_a_face_box_far_wider_than_the_image_is_tall_is_cropped_in_little_memory() -> None:
    import tracemalloc

    from facexpr.transforms import crop_square as _crop_square

    rgb = np.random.default_rng(0).integers(0, 256, (8, 12000, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        patch = _crop_square(rgb, np.array([0.0, -5996.0, 12000.0, 12000.0]), 48)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB for a 12000 x 12000 square that is mostly border"
    assert patch.shape[0] == patch.shape[1] and 48 <= patch.shape[0] <= 4 * 48 * 2


def test_facexpr_predict_on_a_very_wide_photo_gives_a_prediction(model: facexpr.FaceModel, tmp_path: Path) -> None:
    Image.new("RGB", (6000, 8), (120, 60, 30)).save(tmp_path / "wide.png")
    whole = lambda image: ([[0, 0, image.shape[1], image.shape[0]]], [1.0])  # noqa: E731
    faces = facexpr.predict(str(tmp_path / "wide.png"), model=model, detector=whole)
    assert len(faces) == 1 and faces[0].label in model.labels
