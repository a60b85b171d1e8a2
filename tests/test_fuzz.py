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
