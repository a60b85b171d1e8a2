"""benchmarks/bench_finetune.py: the stratified subsets it fine-tunes on, and its settings."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks.bench_finetune import parse_setting, subset


def _faces(root: Path, labels: list[str]) -> Path:
    (root / "images").mkdir(parents=True)
    with open(root / "faces.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "face", "x", "y", "width", "height", "label"])
        writer.writerows([f"p{i}.jpg", 0, 1, 1, 20, 20, label] for i, label in enumerate(labels))
    return root


def test_a_subset_keeps_every_class_in_proportion_and_reads_the_photos_in_place(tmp_path: Path) -> None:
    source = _faces(tmp_path / "all", ["happy"] * 60 + ["sad"] * 30 + ["fear"] * 10)
    small = subset(source, 20, seed=0, folder=tmp_path / "small")
    with open(small / "faces.csv", newline="") as handle:
        labels = [row["label"] for row in csv.DictReader(handle)]
    assert sorted(labels.count(c) for c in ("happy", "sad", "fear")) == [2, 6, 12]
    assert (small / "images").resolve() == (source / "images").resolve()
    again = subset(source, 20, seed=0, folder=tmp_path / "again")
    assert (again / "faces.csv").read_text() == (small / "faces.csv").read_text()  # seeded
    whole = subset(source, None, seed=0, folder=tmp_path / "whole")
    assert (whole / "faces.csv").read_text().count("\n") == 101


def test_a_setting_needs_a_learning_rate_and_epochs() -> None:
    assert parse_setting("lr=1e-4,epochs=4,freeze=features") == {"lr": "1e-4", "epochs": "4", "freeze": "features"}
    assert parse_setting("lr=1e-4,epochs=4,teacher=vgg8_bn.mixed")["teacher"] == "vgg8_bn.mixed"
    with pytest.raises(SystemExit, match="needs lr= and epochs="):
        parse_setting("lr=1e-4")
