"""facexpr.ray: the Ray Data predictor gives the rows of predict_folder, on a local Ray instance.

The predictor is first called directly on batches (pyarrow only, fast); then a real local Ray
instance (2 CPUs, an actor pool of 2 workers) labels a folder of generated images into a Parquet
and a CSV table, compared row by row with :func:`facexpr.predict_folder`. Everything skips,
with the reason, when Ray Data (``pip install "facexpr[ray]"``) is not installed.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import facexpr
import facexpr.ray
from facexpr.ray import Predictor

from .conftest import REPO_ROOT

PHOTO_BOXES = [[20.0, 30.0, 60.0, 60.0], [150.0, 40.0, 70.0, 80.0]]


def fake_detector(image: np.ndarray) -> tuple[list[list[float]], list[float]]:
    """Two faces in the 320x240 photo, none in the others (no OpenCV needed)."""
    return (PHOTO_BOXES, [0.9, 0.75]) if image.shape[1] == 320 else ([], [])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Crops of several kinds, a photo with two faces, a photo with none, and a broken file."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(root / f"crop_{i}.png")
    Image.fromarray(rng.integers(0, 256, (80, 64, 3), dtype=np.uint8)).save(root / "rgb.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (60, 60, 4), dtype=np.uint8)).save(root / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(root / "photo.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(root / "empty_photo.png")
    (root / "broken.jpg").write_bytes(b"not an image at all")
    return root


def expected_rows(folder: Path, model: facexpr.FaceModel, **kwargs: Any) -> list[dict[str, Any]]:
    """predict_folder's results as rows of the predictor's columns (typed; None when empty)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the broken file is skipped with a warning
        stream = facexpr.predict_folder(folder, model=model, detector=fake_detector, **kwargs)
        results = list(stream)
    assert [Path(s).name for s, _ in stream.skipped] == ["broken.jpg"]
    labels = kwargs.get("classes") or model.labels
    rows = []
    for result in results:
        for i, face in enumerate(result.faces or [None]):
            row: dict[str, Any] = {"image": result.source}
            if face is None:
                row.update(dict.fromkeys(facexpr._io.csv_header(labels)[1:]))
            else:
                x, y, w, h = face.box
                row.update(face=i, x=x, y=y, width=w, height=h, score=face.score, detector=face.detector,
                           label=face.label,
                           confidence=face.confidence, **{f"p_{k}": v for k, v in face.probabilities.items()})
            rows.append(row)
    return rows


def assert_same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Row by row, in (image, face) order: equal fields, and the floats to 1e-6."""
    def key(row: dict[str, Any]) -> tuple[str, int]:
        return str(row["image"]), -1 if row["face"] is None else int(row["face"])

    got, want = sorted(got, key=key), sorted(want, key=key)
    assert [key(r) for r in got] == [key(r) for r in want]
    for g, w in zip(got, want):
        assert list(g) == list(w), "columns differ"
        for column, value in w.items():
            if isinstance(value, float):
                assert g[column] == pytest.approx(value, abs=1e-6), (g["image"], column)
            else:
                assert g[column] == value, (g["image"], column)


def test_predictor_is_predict_folder(folder: Path, model: facexpr.FaceModel) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow (part of the 'ray' extra) is not installed")
    paths = [str(p) for p in facexpr._io.list_images(folder)]
    predictor = Predictor(model, detector=fake_detector, on_error="skip")
    want = expected_rows(folder, model)
    assert {r["face"] for r in want} == {None, 0, 1}  # crops, two faces, no face
    table = predictor({"path": np.array(paths)})
    assert table.schema.field("face").type == pa.int32() and table.schema.field("p_happy").type == pa.float64()
    assert table.column_names == predictor.columns == facexpr._io.csv_header(model.labels)
    assert_same_rows(table.to_pylist(), want)
    # The encoded bytes (as ray.data.read_binary_files gives them) decode to the same rows.
    data = np.array([Path(p).read_bytes() for p in paths], dtype=object)
    assert_same_rows(predictor({"path": np.array(paths), "bytes": data}).to_pylist(), want)
    # Batches split anywhere give the same rows.
    parts = [predictor({"path": np.array(paths[i:i + 3])}) for i in range(0, len(paths), 3)]
    assert_same_rows(pa.concat_tables(parts).to_pylist(), want)


def test_predictor_classes_and_errors(folder: Path, model: facexpr.FaceModel) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow (part of the 'ray' extra) is not installed")
    predictor = Predictor(model, detector=fake_detector, classes=["happy", "sad"], on_error="skip")
    assert predictor.columns[-2:] == ["p_happy", "p_sad"]
    paths = np.array([str(p) for p in facexpr._io.list_images(folder)])
    assert_same_rows(predictor({"path": paths}).to_pylist(), expected_rows(folder, model, classes=["happy", "sad"]))

    broken = str(folder / "broken.jpg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        assert Predictor(model)({"path": np.array([broken])}).num_rows == 0
    with pytest.raises(facexpr.InvalidImageError, match="broken.jpg"):
        Predictor(model, on_error="raise")({"path": np.array([str(folder / "crop_0.png"), broken])})
    with pytest.raises(facexpr.InvalidImageError, match="broken.jpg"):
        Predictor(model, on_error="raise")({"path": np.array([broken]), "bytes": np.array([b"junk"], dtype=object)})
    with pytest.raises(KeyError, match="'file'.*path_column"):
        Predictor(model)({"file": np.array([broken])})


def test_predictor_refuses_bad_arguments(model: facexpr.FaceModel) -> None:
    with pytest.raises(ValueError, match="on_error must be 'warn', 'skip' or 'raise', got 'ignore'"):
        Predictor(model, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bored"):
        Predictor(model, classes=["happy", "bored"])


def test_read_image_paths_without_ray_says_what_to_install(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as when it is not installed
    with pytest.raises(ImportError, match=r'pip install "facexpr\[ray\]"'):
        facexpr.ray.read_image_paths(folder)


@pytest.mark.slow
def test_import_facexpr_never_imports_ray() -> None:
    code = "import sys, facexpr, facexpr.ray; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- a real local Ray instance: 2 CPUs, 2 workers ------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'facexpr[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'facexpr[ray]')")
    # The workers import facexpr from this checkout, with one thread each, offline.
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from the test's Ray instance
        ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, logging_level="ERROR")
        try:
            yield ray
        finally:
            ray.shutdown()


def _parsed(value: str, column: str) -> Any:
    if value == "":
        return None
    if column in ("face", "x", "y", "width", "height"):
        return int(value)
    if column in ("image", "label", "detector"):
        return value
    return float(value)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Data's own settings, not ours
def test_ray_labels_a_folder_like_predict_folder(local_ray: Any, folder: Path, model_dir: Path,
                                                 model: facexpr.FaceModel, tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    import ray.data

    import facexpr.ray

    want = expected_rows(folder, model)
    kwargs: dict[str, Any] = {"model": str(model_dir), "detector": fake_detector, "on_error": "skip"}
    # 2 workers at half a CPU each: the other CPU stays free for Ray's read and write tasks.
    pool = dict(compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5)

    paths = facexpr.ray.read_image_paths(folder)
    assert paths.count() == 10  # broken.jpg included: it is skipped by the predictor
    faces = paths.map_batches(Predictor, fn_constructor_kwargs=kwargs, batch_size=3, **pool)
    faces.write_parquet(str(tmp_path / "parquet"))
    table = pq.read_table(tmp_path / "parquet")
    assert table.column_names == facexpr._io.csv_header(model.labels)
    assert_same_rows(table.to_pylist(), want)

    # The bytes read by Ray (as from object storage), written as CSV: the same rows.
    files = ray.data.read_binary_files(str(folder), include_paths=True)
    files.map_batches(Predictor, fn_constructor_kwargs=kwargs, batch_size=4, **pool).write_csv(
        str(tmp_path / "csv"))
    rows = []
    for part in sorted((tmp_path / "csv").glob("*.csv")):
        with open(part, newline="", encoding="utf-8") as handle:
            rows += [{k: _parsed(v, k) for k, v in row.items()} for row in csv.DictReader(handle)]
    for row in rows:
        row["image"] = str(Path(row["image"]))
    assert_same_rows(rows, [{**row, "image": str(Path(row["image"]).resolve())} for row in want])
    assert not any(math.isnan(r["confidence"]) for r in rows if r["confidence"] is not None)
