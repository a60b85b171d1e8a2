"""benchmarks/protocol.py (the shared ExpW protocol and statistics) and how the benchmark scripts
are written: a package run with ``python -m benchmarks.NAME``, no sys.path edits, facexpr's
public API only."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import protocol

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name != "__init__.py")
PENDING: set[str] = set()  # private imports still allowed (none since the photo engine became public)


def test_load_labels_reads_faces_csv_and_refuses_a_label_outside_the_classes(tmp_path: Path) -> None:
    (tmp_path / "faces.csv").write_text("image,x,y,width,height,label\na.jpg,1,2,30,40,happy\n"
                                        "a.jpg,50,2,30,40,sad\nb.jpg,0,0,10,10,happy\n", encoding="utf-8")
    labels = protocol.load_labels(tmp_path, protocol.SEVEN)
    assert sorted(labels) == ["a.jpg", "b.jpg"] and [label for _, label in labels["a.jpg"]] == ["happy", "sad"]
    np.testing.assert_array_equal(labels["a.jpg"][0][0], [1, 2, 30, 40])
    (tmp_path / "faces.csv").write_text("image,x,y,width,height,label\nc.jpg,0,0,9,9,bored\n", encoding="utf-8")
    assert protocol.load_labels(tmp_path)["c.jpg"][0][1] == "bored"
    with pytest.raises(ValueError, match=r"a face of c.jpg has the label 'bored'"):
        protocol.load_labels(tmp_path, protocol.SEVEN)


def test_boxes_are_clipped_to_the_photo_and_squared_around_their_centre() -> None:
    np.testing.assert_array_equal(protocol.clip_box(np.array([-5.0, 10, 20, 100]), 50, 60), [0, 10, 15, 50])
    np.testing.assert_array_equal(protocol.square(np.array([[10, 20, 20, 40]])), [[0, 20, 40, 40]])


def test_wilson_and_the_paired_bootstrap() -> None:
    low, high = protocol.wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert all(np.isnan(protocol.wilson(0, 0)))
    a = np.array([1, 1, 1, 0, 1, 1], bool)
    b = np.array([0, 1, 0, 0, 1, 0], bool)
    diff, lo, hi, ahead = protocol.paired_bootstrap(a, b, np.array([0, 0, 1, 1, 2, 2]), resamples=500, seed=0)
    assert diff == pytest.approx(0.5) and lo <= diff <= hi and 0.9 <= ahead <= 1.0
    assert protocol.paired_bootstrap(a, b, np.arange(6), resamples=500, seed=0) == \
        protocol.paired_bootstrap(a, b, np.arange(6), resamples=500, seed=0)  # seeded


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_run_as_modules_without_sys_path_edits_or_private_facexpr_names(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert "sys.path" not in text
    assert "python benchmarks/" not in text  # commands are quoted as python -m benchmarks.NAME
    if script.name == "_fer_worker.py":
        return  # runs in fer's own environment, as a file: it imports no facexpr
    private = [line.strip() for line in text.splitlines()
               if not line.lstrip().startswith("#") and re.search(r"from facexpr[\w.]* import .*\b_[a-z]\w*|import facexpr\.\w*\._|facexpr\.\w+\._[a-z]", line)
               and line.strip() not in PENDING]
    assert private == [], private
    assert not re.search(r"^import bench_|^from bench_|^from _report|^import _report", text, re.M)
