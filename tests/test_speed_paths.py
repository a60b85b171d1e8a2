"""File paths at full speed: decoding outside torch, read ahead in a thread, same results."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.inference import read_ahead
from facexpr.transforms import _faces_uint8, _gray, _resize, _to_levels, to_face_uint8


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("facexpr-read")]


@pytest.fixture()
def face_files(tmp_path: Path) -> tuple[list[Path], list[np.ndarray]]:
    """23 grayscale 48x48 JPEGs and PNGs in a folder, and their decoded pixels."""
    rng = np.random.default_rng(0)
    paths, arrays = [], []
    for i in range(23):
        path = tmp_path / f"face{i:02d}.{'jpg' if i % 3 else 'png'}"
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(path)
        paths.append(path)
        arrays.append(np.asarray(Image.open(path)))
    return paths, arrays


def test_paths_give_the_same_results_as_their_arrays_in_order(
    model: facexpr.FaceModel, face_files: tuple[list[Path], list[np.ndarray]]
) -> None:
    paths, arrays = face_files
    expected = model.predict_proba(arrays, batch_size=5)
    assert torch.equal(model.predict_proba(paths, batch_size=5), expected)  # 5 batches, read ahead
    one_batch = model.predict_proba(arrays, batch_size=256)  # a batch's size may change the last bits
    assert torch.equal(model.predict_proba(paths, batch_size=256), one_batch)  # one batch, no thread
    from_paths = model.predict(paths, batch_size=4)
    assert [p.source for p in from_paths] == [str(p) for p in paths]
    assert [p.probabilities for p in from_paths] == [p.probabilities for p in model.predict(arrays, batch_size=4)]
    stream = facexpr.predict_folder(paths[0].parent, model=model, batch_size=5, chunk=5)
    results = list(stream)
    assert [r.source for r in results] == [str(p) for p in sorted(paths)]
    index = {str(p): i for i, p in enumerate(paths)}
    for result in results:
        assert result.faces[0].probabilities == pytest.approx(
            dict(zip(model.labels, expected[index[result.source]].tolist())), abs=0)
    assert not _reader_threads()


def test_a_bad_path_in_a_later_batch_is_named_by_its_index(
    model: facexpr.FaceModel, face_files: tuple[list[Path], list[np.ndarray]], tmp_path: Path
) -> None:
    paths, _ = face_files
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    items = [*paths[:13], broken, *paths[13:]]
    with pytest.raises(facexpr.InvalidImageError, match=r"^item 13: .*broken\.jpg"):
        model.predict(items, batch_size=4)  # in the 4th batch, decoded in the background
    assert not _reader_threads()


def test_the_reader_thread_stops_when_a_stream_ends_or_is_closed(
    model: facexpr.FaceModel, face_files: tuple[list[Path], list[np.ndarray]]
) -> None:
    paths, _ = face_files
    stream = facexpr.predict_iter(paths, model=model, batch_size=4)
    assert not _reader_threads()  # nothing starts before the first result is asked for
    next(stream)
    assert len(_reader_threads()) == 1
    stream.close()
    assert not _reader_threads() and list(stream) == []
    with pytest.raises(facexpr.InvalidImageError):
        list(facexpr.predict_iter([*paths, "missing.jpg"], model=model, batch_size=4, on_error="raise"))
    assert not _reader_threads()


def test_read_ahead_keeps_order_runs_one_task_ahead_and_raises_in_order() -> None:
    started: list[int] = []

    def task(i: int) -> int:
        started.append(i)
        if i == 3:
            raise ValueError("task 3")
        return i

    results = read_ahead(lambda i=i: task(i) for i in range(6))
    assert next(results) == 0
    assert next(results) == 1
    assert started[:3] == [0, 1, 2] and len(started) <= 3  # at most one task ahead of the caller
    assert next(results) == 2
    with pytest.raises(ValueError, match="task 3"):
        next(results)
    assert not _reader_threads()


def test_same_sized_images_resized_together_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    grays = [_gray(rng.integers(0, 256, (70, 50, 3), dtype=np.uint8)) for _ in range(5)]
    grays += [rng.random((30, 90), dtype=np.float32), rng.integers(0, 256, (70, 50), dtype=np.uint8)]
    together = _faces_uint8(grays, 48)
    for gray, face in zip(grays, together):
        unit = torch.from_numpy(gray.astype(np.float32) / np.float32(255) if gray.dtype == np.uint8 else gray)
        alone = _to_levels(_resize(unit[None, None], 48)[0, 0].numpy())
        assert np.array_equal(face[0].numpy(), alone)


def _torch_reference(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """The float32 steps in torch, as facexpr computed them before they moved to numpy."""
    unit = pixels.float().div_(255.0) if pixels.dtype == torch.uint8 else pixels
    if unit.shape[0] == 4:
        unit = unit[:3] * unit[3:] + (1.0 - unit[3:])
    if unit.shape[0] == 3:
        unit = (unit * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(dim=0, keepdim=True)
    unit = _resize(unit, size)
    return unit.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("shape", [(48, 48), (61, 37)])
def test_numpy_pixels_equal_the_torch_computation(channels: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(channels)
    for pixels in (rng.integers(0, 256, (*shape, channels), dtype=np.uint8),
                   rng.random((*shape, channels), dtype=np.float32)):
        expected = _torch_reference(torch.from_numpy(pixels).permute(2, 0, 1).contiguous(), 48)
        assert torch.equal(to_face_uint8(pixels if channels > 1 else pixels[..., 0]), expected)


@pytest.mark.slow
def test_import_facexpr_leaves_torchvision_training_video_and_webcam_out() -> None:
    code = ("import sys, facexpr; heavy = ['torchvision', 'facexpr.training', 'facexpr.video', 'facexpr.webcam']; "
            "print([m for m in heavy if m in sys.modules]); "
            "print(facexpr.Trainer.__module__, facexpr.predict_video.__module__, facexpr.run_webcam.__module__); "
            "print(sorted(set(facexpr.__all__) - set(dir(facexpr))))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout.splitlines()
    assert out == ["[]", "facexpr.training.trainer facexpr.video facexpr.webcam", "[]"]
    with pytest.raises(AttributeError, match="no attribute 'Trainr'"):
        facexpr.Trainr  # noqa: B018
