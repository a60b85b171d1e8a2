"""Video: a generated clip processed end to end, the CSV checked row by row; tracking, smoothing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facexpr
from facexpr.cli import main
from facexpr.detection import box_iou
from facexpr.video import VideoWriter, _Tracker, predict_video, process_video, video_info

from ._photo_helpers import ASTRONAUT_FACE_BOX, iter_rows

FPS = 10.0
SIZE = (320, 240)
FRAMES = 12
BLANK = {4, 5}  # frames without a face


def _face_at(i: int) -> tuple[float, float, float, float]:
    """Where the face is in frame ``i`` (x, y, w, h): the head moves right by 12 px a frame."""
    x0, y0, scale = 10 + 12 * i, 40, 0.5  # a 256x256 head crop pasted at half size
    fx, fy, fw, fh = ASTRONAUT_FACE_BOX
    return (x0 + (fx - 128) * scale, y0 + fy * scale, fw * scale, fh * scale)


@pytest.fixture
def clip(tmp_path: Path, astronaut: np.ndarray) -> Path:
    """A 12-frame 320x240 MJPEG clip at 10 frames/s, written with OpenCV's own VideoWriter."""
    cv2 = pytest.importorskip("cv2")
    head = Image.fromarray(astronaut[0:256, 128:384]).resize((128, 128), Image.Resampling.BILINEAR)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    assert writer.isOpened()
    for i in range(FRAMES):
        frame = Image.new("RGB", SIZE, (70, 80, 90))
        if i not in BLANK:
            frame.paste(head, (10 + 12 * i, 40))
        writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_video_end_to_end_csv_row_by_row(clip: Path, yunet: Path, model_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, out_video = tmp_path / "faces.csv", tmp_path / "annotated.mp4"
    assert main(["video", str(clip), "--csv", str(out_csv), "--save", str(out_video), "--model", str(model_dir)]) == 0
    assert f"{FRAMES} frames, {FRAMES - len(BLANK)} faces" in capsys.readouterr().err
    rows = list(iter_rows(out_csv))
    assert list(rows[0]) == ["frame", "time_s", "face", "track", "x", "y", "width", "height", "score", "detector",
                             "label", "confidence", *(f"p_{label}" for label in facexpr.FER2013_LABELS)]
    assert len(rows) == FRAMES  # one face per frame, one empty row per blank frame
    tracks: set[tuple[str, bool]] = set()
    for i, row in enumerate(rows):
        assert int(row["frame"]) == i
        assert float(row["time_s"]) == pytest.approx(i / FPS, abs=1e-3)
        if i in BLANK:
            assert row["face"] == row["label"] == row["x"] == row["track"] == ""
            continue
        assert row["face"] == "0"
        box = [int(row[k]) for k in ("x", "y", "width", "height")]
        assert box_iou([box], [_face_at(i)])[0, 0] > 0.6, (i, box)
        assert 0.6 <= float(row["score"]) <= 1
        probs = [float(row[f"p_{label}"]) for label in facexpr.FER2013_LABELS]
        assert math.isclose(sum(probs), 1, abs_tol=1e-4)
        assert row["label"] == facexpr.FER2013_LABELS[int(np.argmax(probs))]
        assert float(row["confidence"]) == max(probs)
        tracks.add((row["track"], i < min(BLANK)))
    # one track id before the gap and one after it (the face moved 36 px while hidden)
    assert len(tracks) == 2 and {before for _, before in tracks} == {True, False}
    info = video_info(out_video)
    assert (info.width, info.height, info.frames) == (*SIZE, FRAMES)
    assert info.fps == pytest.approx(FPS)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files left


def test_every_nth_frame_and_max_frames(clip: Path, yunet: Path, model: facexpr.FaceModel) -> None:
    results = list(predict_video(clip, model=model, every=3))
    assert [r.index for r in results] == [0, 3, 6, 9]
    assert [r.timestamp for r in results] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    assert [len(r.faces) for r in results] == [1, 1, 1, 1]
    assert all(r.frame is None for r in results)  # frames are not kept unless asked
    kept = list(predict_video(clip, model=model, max_frames=2, keep_frames=True))
    assert [r.index for r in kept] == [0, 1] and kept[0].frame.shape == (SIZE[1], SIZE[0], 3)


def test_smoothing_steadies_labels(clip: Path, yunet: Path, model: facexpr.FaceModel) -> None:
    raw = list(predict_video(clip, model=model))
    smooth = list(predict_video(clip, model=model, smoothing=0.8))
    assert [r.tracks for r in raw] == [r.tracks for r in smooth]
    for before, after in zip(raw[:4], smooth[:4]):
        assert before.faces[0].box == after.faces[0].box
    # the first frame of a track is never smoothed, later ones move slowly
    assert raw[0].faces[0].probabilities == smooth[0].faces[0].probabilities
    jumps_raw = [abs(raw[i].faces[0].confidence - raw[i - 1].faces[0].confidence) for i in (1, 2, 3)]
    jumps_smooth = [abs(smooth[i].faces[0].probabilities[raw[i - 1].faces[0].label]
                        - smooth[i - 1].faces[0].probabilities[raw[i - 1].faces[0].label]) for i in (1, 2, 3)]
    assert sum(jumps_smooth) <= sum(jumps_raw) + 1e-6


def test_tracker_matches_by_overlap_and_averages() -> None:
    labels = ("a", "b")
    tracker = _Tracker(0.5, labels, max_age=2)

    def face(x: int, pa: float) -> facexpr.Prediction:
        return facexpr.Prediction("a" if pa >= 0.5 else "b", 0 if pa >= 0.5 else 1, {"a": pa, "b": 1 - pa},
                                  box=(x, 0, 10, 10))

    faces, ids = tracker.update([face(0, 1.0), face(100, 0.0)])
    assert ids == [0, 1]
    faces, ids = tracker.update([face(2, 0.0), face(300, 0.0)])  # the first moved a little; a new one
    assert ids == [0, 2]
    assert faces[0].probabilities == {"a": 0.5, "b": 0.5} and faces[1].probabilities == {"a": 0.0, "b": 1.0}
    tracker.update([])
    tracker.update([])  # track 0 (and 1, 2) forgotten after max_age frames without a match
    assert tracker.tracks == {}
    assert tracker.update([face(2, 1.0)])[1] == [3]


def test_video_errors(tmp_path: Path, model: facexpr.FaceModel) -> None:
    pytest.importorskip("cv2")
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        next(predict_video(tmp_path / "nope.mp4", model=model, detector=lambda im: ([], [])))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(ValueError, match="notes.mp4"):
        next(predict_video(text, model=model, detector=lambda im: ([], [])))
    with pytest.raises(ValueError, match="every"):
        predict_video(text, model=model, every=0)
    with pytest.raises(ValueError, match="smoothing"):
        predict_video(text, model=model, smoothing=1.0)
    with pytest.raises(ValueError, match=r"\.mp4"):
        VideoWriter(tmp_path / "out.gif", fps=10)


def test_video_writer_is_atomic(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(target, fps=5) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(target, fps=5) as writer:
        for i in range(3):
            writer.write(np.full((48, 64, 3), i * 60, np.uint8))
    assert video_info(target).frames == 3 and list(tmp_path.iterdir()) == [target]


def test_process_video_without_faces_and_webcam_without_window(
    clip: Path, model: facexpr.FaceModel, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary = process_video(clip, csv_path=tmp_path / "none.csv", model=model, detector=lambda im: ([], []))
    assert (summary.frames, summary.faces, summary.video) == (FRAMES, 0, None)
    assert len(list(iter_rows(tmp_path / "none.csv"))) == FRAMES
    lines = []
    count = facexpr.run_webcam(clip, model=model, detector=lambda im: ([[10, 10, 50, 50]], [0.9]), window=False,
                               max_frames=3, print_fn=lines.append)
    assert count == 3 and len(lines) == 3 and lines[0].startswith("frame 0")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    cv2 = pytest.importorskip("cv2")
    try:
        cv2.namedWindow("probe")
        cv2.destroyWindow("probe")
        pytest.skip("this OpenCV has window support")
    except cv2.error:
        pass
    assert main(["webcam", "--camera", str(clip), "--model", str(model_dir)]) == 2
    assert "--no-window" in capsys.readouterr().err


def test_webcam_window_shows_annotated_frames_until_q(
    clip: Path, model: facexpr.FaceModel, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The OpenCV window path, with the window calls recorded instead of drawn (no display here)."""
    cv2 = pytest.importorskip("cv2")
    shown: list[np.ndarray] = []
    keys = iter([-1, -1, ord("q"), -1])
    monkeypatch.setattr(cv2, "namedWindow", lambda title, flags: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, image: shown.append(image.copy()))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    box = [10, 10, 50, 50]
    count = facexpr.run_webcam(clip, model=model, detector=lambda im: ([box], [0.9]), max_frames=FRAMES,
                               print_fn=pytest.fail)
    assert count == 3 and len(shown) == 3  # 'q' on the third frame closes the window
    plain = next(iter(predict_video(clip, model=model, detector=lambda im: ([], []), max_frames=1,
                                    keep_frames=True))).frame
    assert shown[0].shape == (*np.asarray(plain).shape[:2], 3)
    # The window gets BGR pixels with the face's box drawn: they differ from the plain frame there.
    bgr_plain = np.asarray(plain)[..., ::-1]
    assert not np.array_equal(shown[0], bgr_plain)
    np.testing.assert_array_equal(shown[0][-1, -1], bgr_plain[-1, -1])  # far from the box: untouched


@pytest.mark.slow
def test_video_command_in_a_real_subprocess(clip: Path, yunet: Path, model_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "FACEXPR_YUNET_MODEL": str(yunet)}
    out_csv = tmp_path / "sub.csv"
    done = subprocess.run(
        [sys.executable, "-m", "facexpr", "video", str(clip), "--every", "4", "--csv", str(out_csv),
         "--model", str(model_dir)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [int(r["frame"]) for r in iter_rows(out_csv)] == [0, 4, 8]
    assert "Traceback" not in done.stderr and "3 frames" in done.stderr


def test_video_command_bad_input_exits_2(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cv2")
    assert main(["video", str(tmp_path / "nope.mp4"), "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facexpr: error:") and "nope.mp4" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as usage_error:  # a bad option value is a one-line usage error
        main(["video", str(tmp_path / "nope.mp4"), "--every", "0", "--model", str(model_dir)])
    assert usage_error.value.code == 2
