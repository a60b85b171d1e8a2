"""Fuzzing: random and mutated images, arrays and ``config.json`` values through the public API.

The contract, for :func:`facexpr.load`, :func:`facexpr.predict`, ``model.predict`` and the CLI:
every call gives a result or a :class:`facexpr.FacexprError` (the CLI: exit status 0 or 2 with
one ``facexpr: error:`` line), never another exception, a hang or a multi-GB allocation.

Hypothesis runs derandomised (the same examples on every run) and within a small budget; raise
``FACEXPR_FUZZ_EXAMPLES`` to search longer.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import facexpr
from facexpr.cli import main

EXAMPLES = int(os.environ.get("FACEXPR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
MAX_GROWTH_BYTES = 1 << 30  # a fuzz test may not raise the process's peak memory by 1 GiB
TIME_LIMIT_S = 240  # per test: far above its normal run time, far below a hang


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@pytest.fixture(autouse=True)
def _no_hang_no_huge_allocation() -> Iterator[None]:
    """Fail a test that runs past TIME_LIMIT_S or raises peak memory by a GiB or more."""

    def hang(signum: int, frame: Any) -> None:
        raise TimeoutError(f"fuzz test ran for more than {TIME_LIMIT_S} s: something hangs")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(TIME_LIMIT_S)
    before = _peak_rss_bytes()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    grown = _peak_rss_bytes() - before
    assert grown < MAX_GROWTH_BYTES, f"peak memory grew by {grown / 2**30:.1f} GiB during the test"


def _no_detector(image: np.ndarray) -> tuple[list, list]:
    return [[0, 0, image.shape[1], image.shape[0]]], [1.0]


def _result_or_facexpr_error(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; a FacexprError is an answer, any other exception fails the test."""
    try:
        return call(*args, **kwargs)
    except facexpr.FacexprError:
        return None


def _check_probabilities(result: Any) -> None:
    """Every prediction in a (nested) result has finite probabilities summing to 1."""
    if isinstance(result, list):
        for item in result:
            _check_probabilities(item)
    elif isinstance(result, facexpr.Prediction):
        values = np.array(list(result.probabilities.values()))
        assert np.isfinite(values).all() and abs(values.sum() - 1) < 1e-3, result


# -- arrays, tensors and PIL images -----------------------------------------------------------------

_DTYPES = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64,
           np.bool_, np.complex64]
arrays = hnp.arrays(
    dtype=st.sampled_from(_DTYPES),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=40),
)


@FUZZ
@given(x=arrays)
def test_arrays_give_predictions_or_facexpr_errors(model: facexpr.FaceModel, x: np.ndarray) -> None:
    _check_probabilities(_result_or_facexpr_error(model.predict, x))
    _check_probabilities(_result_or_facexpr_error(facexpr.predict, x, model=model, detector=_no_detector))


@FUZZ
@given(x=arrays)
def test_tensors_give_predictions_or_facexpr_errors(model: facexpr.FaceModel, x: np.ndarray) -> None:
    tensor = torch.from_numpy(x.astype(np.int32) if x.dtype == np.uint16 else x)
    _check_probabilities(_result_or_facexpr_error(model.predict, tensor))
    _check_probabilities(_result_or_facexpr_error(facexpr.predict, tensor, model=model, detector=_no_detector))


@FUZZ
@given(
    x=st.one_of(
        st.none(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=20),
        st.lists(st.integers(0, 255), max_size=5), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.just([]), st.just([[]]), st.just(np.empty((2, 2), dtype=object)), st.just(np.array(["a", "b"])),
        st.just(object()),
    )
)
def test_things_that_are_not_images_give_facexpr_errors(model: facexpr.FaceModel, x: Any) -> None:
    assert _result_or_facexpr_error(model.predict, x) is None or isinstance(x, str)
    _result_or_facexpr_error(facexpr.predict, x, model=model, detector=_no_detector)


_MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "I;16", "LA", "PA", "RGBX", "RGBa",
          "La"]


@FUZZ
@given(mode=st.sampled_from(_MODES), width=st.integers(1, 90), height=st.integers(1, 90), seed=st.integers(0, 2**16))
def test_pil_images_of_every_mode_give_predictions(
    model: facexpr.FaceModel, mode: str, width: int, height: int, seed: int
) -> None:
    image = Image.new(mode, (width, height))
    raw = np.random.default_rng(seed).integers(0, 256, size=len(image.tobytes()), dtype=np.uint8)
    image.frombytes(raw.tobytes())
    result = _result_or_facexpr_error(model.predict, image)
    if mode not in ("F",):  # float images may hold NaN bytes: refusing them is an answer too
        assert result is not None, f"mode {mode} {width}x{height} was refused"
    _check_probabilities(result)
    _check_probabilities(_result_or_facexpr_error(facexpr.predict, image, model=model, detector=_no_detector))


# -- files: random bytes and mutated encodings ------------------------------------------------------


def _encoded(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(40, 52, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """Real JPEG/PNG/GIF/BMP/TIFF/WEBP bytes with flipped, cut or inserted bytes, or pure noise."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=256))
    data = bytearray(_encoded(draw(st.sampled_from(["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])), draw(st.integers(0, 3))))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@FUZZ
@given(data=mutated_files())
def test_mutated_files_give_predictions_or_facexpr_errors(
    model: facexpr.FaceModel, data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("files") / "image.bin"
    path.write_bytes(data)
    _check_probabilities(_result_or_facexpr_error(model.predict, path))
    _check_probabilities(_result_or_facexpr_error(facexpr.predict, str(path), model=model, detector=_no_detector))


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 5))
@given(data=mutated_files())
def test_cli_on_mutated_files_exits_0_or_2_with_one_line(
    model_dir: Path, data: bytes, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path_factory.mktemp("cli") / "image.jpg"
    path.write_bytes(data)
    capsys.readouterr()
    code = main(["predict", str(path), "--model", str(model_dir), "--json", "--no-detect"])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert err.strip().splitlines()[-1].startswith("facexpr: error:"), err


# -- config.json values -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
_FIELDS = ["architecture", "labels", "input_size", "in_chans", "mean", "std", "crop_pct", "temperature", "num_classes"]
_SPECIAL = {
    "input_size": st.sampled_from([8000, 100_000, 0, -48, 1, 47, 49, 64, "48px", 48.5, True, None]),
    "temperature": st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, "hot", 1e-300, 1e300, None]),
    "mean": st.sampled_from([[float("nan")], [0.5, 0.5, 0.5], [], ["0.5"], 0.5, [1e308]]),
    "std": st.sampled_from([[0], [0.0], [-0.5], [float("inf")], [], [1e-320]]),
    "labels": st.sampled_from([5, None, "abcdefg", [], ["a"] * 7, [1, 2, 3, 4, 5, 6, 7], [""] * 7, [[], {}, 1, 2, 3, 4, 5]]),
    "architecture": st.sampled_from([["simple"], "", "nope", None, 7, "../simple"]),
    "crop_pct": st.sampled_from([0, -1, 1.5, float("nan"), "1", 1e-9]),
}


@st.composite
def config_mutations(draw: st.DrawFn) -> dict[str, Any]:
    """Changes to a valid config: a field set to a bad or random JSON value, or removed."""
    changes: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=3, unique=True)):
        strategy = _SPECIAL.get(name, json_values)
        changes[name] = draw(st.one_of(strategy, json_values, st.just("<delete>")))
    return changes


def _write_model(model_dir: Path, folder: Path, changes: dict[str, Any]) -> Path:
    shutil.copytree(model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value == "<delete>":
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@FUZZ
@given(changes=config_mutations())
def test_mutated_configs_load_and_predict_or_give_facexpr_errors(
    model_dir: Path, changes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = _write_model(model_dir, tmp_path_factory.mktemp("config") / "model", changes)
    loaded = _result_or_facexpr_error(facexpr.load, folder, device="cpu")
    if loaded is None:
        return
    face = np.random.default_rng(0).integers(0, 256, size=(48, 48), dtype=np.uint8)
    prediction = loaded.predict(face)  # a model that loads must predict, with finite probabilities
    _check_probabilities(prediction)
    assert prediction.label in loaded.labels


# -- FER+ vote files in their three layouts ----------------------------------------------------------

_FERPLUS_USAGES = ("Training", "PublicTest", "PrivateTest")
_FERPLUS_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
_FER2013_SPLITS = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
vote_texts = st.one_of(
    st.integers(0, 12).map(str),
    st.sampled_from(["1.2", "-0.5", "-1", "inf", "-inf", "1e400", "nan", "", " 3 ", "3.0", "-0", "x", "0x1", "10e-1",
                     "\u0661", "9" * 400]),
    st.text(max_size=4),
)
pixel_texts = st.one_of(st.just(None), st.sampled_from(["300", "-1", "x", "1e400", "", "255 255", "0.5", "\u0662"]))


@st.composite
def ferplus_trees(draw: st.DrawFn) -> dict[str, Any]:
    """A FER+ layout (joined, official or folders) of a few faces, with random votes and damage."""
    faces = []
    for usage in _FERPLUS_USAGES:
        for _ in range(draw(st.integers(0 if usage != "Training" else 1, 3))):
            votes = draw(st.one_of(
                st.lists(st.integers(0, 10).map(str), min_size=10, max_size=10),  # valid counts
                st.lists(vote_texts, min_size=8, max_size=12),  # anything, sometimes too few or many
            ))
            faces.append({"usage": usage, "votes": votes, "pixel": draw(pixel_texts), "name": draw(st.booleans())})
    return {
        "layout": draw(st.sampled_from(["joined", "official", "folders"])),
        "faces": faces,
        "blank_line": draw(st.booleans()) and draw(st.booleans()),
        "latin1": draw(st.booleans()) and draw(st.booleans()),
        "split": draw(st.sampled_from(["train", "val", "test"])),
    }


def _write_csv(path: Path, rows: list[list[Any]], *, blank_line: bool, latin1: bool) -> None:
    import csv

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    lines = buffer.getvalue().split("\n")
    if blank_line and len(lines) > 2:
        lines.insert(2, "")
    data = "\n".join(lines).encode("utf-8")
    if latin1:
        data = data.replace(b"fer", b"f\xe9r", 1)
    path.write_bytes(data)


def _write_ferplus(root: Path, tree: dict[str, Any]) -> Path:
    """Write ``tree`` under ``root``; return the FER+ root to open."""
    from facexpr.data.ferplus import FERPLUS_COLUMNS

    damage = {"blank_line": tree["blank_line"], "latin1": tree["latin1"]}
    gray = lambda i: np.full((48, 48), 10 * i % 256, dtype=np.uint8)  # noqa: E731
    if tree["layout"] == "joined":
        rows: list[list[Any]] = [["image", "usage", "ferplus_name", *FERPLUS_COLUMNS, "match_error"]]
        for i, face in enumerate(tree["faces"]):
            image = f"{_FER2013_SPLITS[face['usage']]}/happy/{i}.png"
            (root / "fer2013" / image).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(gray(i)).save(root / "fer2013" / image)
            rows.append([image, face["usage"], f"fer{i:07d}.png", *face["votes"], "0.5"])
        (root / "ferplus").mkdir()
        _write_csv(root / "ferplus" / "ferplus.csv", rows, **damage)
        return root / "ferplus"
    if tree["layout"] == "official":
        old: list[list[Any]] = [["emotion", "pixels", "Usage"]]
        new: list[list[Any]] = [["Usage", "Image name", *FERPLUS_COLUMNS]]
        for i, face in enumerate(tree["faces"]):
            pixels = [str(v) for v in gray(i).ravel()]
            if face["pixel"] is not None:
                pixels[7] = face["pixel"]
            old.append([3, " ".join(pixels), face["usage"]])
            new.append([face["usage"], f"fer{i:07d}.png" if face["name"] else "", *face["votes"]])
        _write_csv(root / "fer2013.csv", old, blank_line=False, latin1=False)
        _write_csv(root / "fer2013new.csv", new, **damage)
        return root
    labels: dict[str, list[list[Any]]] = {}
    for i, face in enumerate(tree["faces"]):
        folder = root / _FERPLUS_FOLDERS[face["usage"]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(gray(i)).save(folder / f"fer{i:07d}.png")
        labels.setdefault(folder.name, []).append([f"fer{i:07d}.png", "(0, 0, 48, 48)", *face["votes"]])
    for name, rows in labels.items():
        _write_csv(root / name / "label.csv", rows, **damage)
    return root


@FUZZ
@given(tree=ferplus_trees())
def test_ferplus_files_give_a_data_set_or_a_clear_error(tree: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every FER+ layout, damaged at random: a data set of valid labels, or a ValueError/FileNotFoundError
    naming the data's folder or file (never an IndexError, OverflowError, UnicodeDecodeError...)."""
    import warnings

    from facexpr.data import FERPlus

    base = tmp_path_factory.mktemp("ferplus")
    root = _write_ferplus(base, tree)
    for labels in ("majority", "probability"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = FERPlus(root, tree["split"], labels=labels, cache=False)  # type: ignore[arg-type]
        except (ValueError, FileNotFoundError) as err:
            assert not isinstance(err, UnicodeError), repr(err)
            assert str(base) in str(err), f"the error does not name the data: {err}"
            continue
        assert len(ds) == len(ds.majority) == len(ds.votes) > 0
        assert ((ds.majority >= 0) & (ds.majority < 8)).all()
        assert torch.isfinite(ds.votes).all() and torch.allclose(ds.votes.sum(1), torch.ones(len(ds)))
        assert (ds.votes >= 0).all()


# -- class folder names ------------------------------------------------------------------------------

folder_names = st.lists(
    st.sampled_from(["happy", "Happy", "HAPPY", "sad", "Sad", "kind", "\u212aind", "Kind", "stra\u00dfe", "STRASSE",
                     "\uff48appy", "calm", "ca\u0301lm", "c\u00e1lm"]),
    min_size=1, max_size=4, unique=True,
)


@FUZZ
@given(names=folder_names, cache=st.booleans())
def test_class_folders_give_one_class_per_folder_or_refuse_collisions(
    names: list[str], cache: bool, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each folder's images get that folder's label, or two folders one case-fold apart are refused."""
    from facexpr.data import ImageFolder
    from facexpr.data.folder import class_key

    root = tmp_path_factory.mktemp("folders")
    monkeypatch.setenv("FACEXPR_CACHE", str(root / ".cache"))
    on_disk = []
    for i, name in enumerate(names):
        try:
            (root / "data" / name).mkdir(parents=True)
        except FileExistsError:  # the file system itself folds these names together
            continue
        on_disk.append(name)
        Image.new("L", (48, 48), 20 * i).save(root / "data" / name / "face.png")
    found = sorted(p.name for p in (root / "data").iterdir())
    collide = len({class_key(n) for n in found}) < len(found)
    try:
        ds = ImageFolder(root / "data", cache=cache)
    except ValueError as err:
        assert collide and "differ only in letter case" in str(err), err
        return
    assert not collide
    assert list(ds.classes) == found
    for image, target in zip(ds.images, ds.targets):
        assert int(image[0, 0, 0]) == 20 * names.index(ds.classes[int(target)])


# -- CLI output paths --------------------------------------------------------------------------------

_OUTPUT_KINDS = ["input", "symlink_to_input", "hardlink_to_input", "input_folder", "fifo", "read_only",
                 "dangling_link", "new", "folder", "link_to_folder", "device", "same_as_csv"]


@st.composite
def output_plans(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "command": draw(st.sampled_from(["predict", "video"])),
        "csv": draw(st.one_of(st.none(), st.sampled_from(_OUTPUT_KINDS[:-1]))),
        "save": draw(st.one_of(st.none(), st.sampled_from(_OUTPUT_KINDS))),
        "folder_input": draw(st.booleans()),
    }


def _output_path(kind: str, ext: str, inputs: Path, source: Path, out: Path, csv_path: Path | None) -> Path:
    import stat as stat_module

    if kind == "input":
        return source
    if kind == "input_folder":
        return inputs
    if kind == "same_as_csv":
        return csv_path if csv_path is not None else out / f"new{ext}"
    path = out / f"{kind}{ext}"
    if kind == "symlink_to_input":
        path.symlink_to(source)
    elif kind == "hardlink_to_input":
        os.link(source, path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "read_only":
        path.write_text("keep")
        path.chmod(0o444)
    elif kind == "dangling_link":
        path.symlink_to(out / "elsewhere" / f"made{ext}")
    elif kind == "folder":
        path.mkdir()
    elif kind == "link_to_folder":
        (out / "real_folder").mkdir(exist_ok=True)
        path.symlink_to(out / "real_folder")
    elif kind == "device":
        try:
            os.mknod(path, 0o666 | stat_module.S_IFCHR, os.makedev(1, 3))
        except OSError:
            path.write_text("keep")
            path.chmod(0o444)
    return path


def _snapshot(root: Path) -> dict[str, Any]:
    """What must survive a command: each input's bytes, and every special file's kind and content."""
    import stat as stat_module

    state: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat_module.S_ISREG(info.st_mode) and (path.parent.name == "in" or not info.st_mode & 0o222):
            state[str(path)] = ("file", path.read_bytes(), stat_module.S_IMODE(info.st_mode))
        elif not stat_module.S_ISREG(info.st_mode) and not stat_module.S_ISDIR(info.st_mode):
            state[str(path)] = ("special", stat_module.S_IFMT(info.st_mode), os.readlink(path) if path.is_symlink() else None)
    return state


def _tiny_video(path: Path) -> None:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, dtype=np.uint8))
    writer.release()


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 5))
@given(plan=output_plans())
def test_cli_output_paths_never_destroy_inputs_or_special_files(
    model_dir: Path, plan: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``predict``/``video`` with --csv/--save at inputs, links, FIFOs, devices, read-only files, folders:
    exit 0 or 2 with one error line; no input, special or read-only file changed; no temporary file left."""
    pytest.importorskip("cv2")
    from facexpr.cli import _common

    monkeypatch.setattr(_common, "detector", lambda value: _no_detector)
    root = tmp_path_factory.mktemp("outputs")
    inputs, out = root / "in", root / "out"
    inputs.mkdir()
    out.mkdir()
    if plan["command"] == "predict":
        source = inputs / "a.png"
        Image.new("L", (48, 48), 90).save(source)
        Image.new("L", (48, 48), 30).save(inputs / "b.png")
        args = ["predict", str(inputs if plan["folder_input"] else source), "--no-detect"]
        ext_csv, ext_save = ".csv", ".png"
    else:
        source = inputs / "v.avi"
        _tiny_video(source)
        args = ["video", str(source)]
        ext_csv, ext_save = ".csv", ".avi"
    csv_path = _output_path(plan["csv"], ext_csv, inputs, source, out, None) if plan["csv"] else None
    save_path = _output_path(plan["save"], ext_save, inputs, source, out, csv_path) if plan["save"] else None
    if csv_path is not None:
        args += ["--csv", str(csv_path)]
    if save_path is not None:
        args += ["--save", str(save_path)]
    before = _snapshot(root)
    capsys.readouterr()
    try:
        code = main([*args, "--model", str(model_dir)])
    except SystemExit as stop:  # a usage error found by argparse: one line, status 2
        code = stop.code
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err, (code, err)
    if code == 2:
        assert err.strip().splitlines()[-1].startswith("facexpr: error:") or "error:" in err.strip().splitlines()[-1], err
    after = _snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before, (plan, err)
    leftovers = [p.name for p in root.rglob(".*") if p.name.endswith(".tmp") or ".part" in p.name]
    assert not leftovers, leftovers
