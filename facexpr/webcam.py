"""A live webcam window: faces and expressions drawn on the camera's frames as they come.

:func:`run_webcam` reads frames with :func:`facexpr.predict_video` and shows each one annotated
(:func:`facexpr.annotate`) in a desktop window: OpenCV's when it has GUI support, else a
tkinter window. Without a display it prints one line per frame instead.

Example:
    >>> import facexpr
    >>> facexpr.run_webcam(0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .annotate import annotate
from .detection import DetectorLike, import_cv2
from .models._registry import DEFAULT_MODEL
from .video import VideoSource, predict_video

if TYPE_CHECKING:
    from .models import FaceClassifier

__all__ = ["run_webcam"]


def _show_window(title: str) -> Callable[[np.ndarray], bool]:
    """Return ``show(rgb) -> keep_going`` drawing in a desktop window, or raise if none can open."""
    cv2 = import_cv2("The webcam window")
    try:
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
    except cv2.error:
        pass
    else:
        def show_cv2(rgb: np.ndarray) -> bool:
            cv2.imshow(title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(1) & 0xFF
            return key not in (27, ord("q"))

        return show_cv2
    if os.name != "nt" and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise ValueError(
            "No display to show the webcam window on (DISPLAY is not set). Use `facexpr webcam "
            "--no-window` to print the results, or `facexpr video 0 --save out.mp4`."
        )
    try:
        import tkinter

        from PIL import Image, ImageTk
    except ImportError:
        raise ValueError(
            "This OpenCV build has no window support (opencv-python-headless) and tkinter is "
            "not installed: install python3-tk, or replace OpenCV with its GUI build (`pip uninstall "
            "opencv-python-headless opencv-python` then `pip install opencv-python`: the two must "
            "not be installed together), or use --no-window."
        ) from None
    root = tkinter.Tk()
    root.title(title)
    label = tkinter.Label(root)
    label.pack()
    state = {"open": True}
    root.protocol("WM_DELETE_WINDOW", lambda: state.update(open=False))
    root.bind("<Key-q>", lambda _e: state.update(open=False))
    root.bind("<Escape>", lambda _e: state.update(open=False))

    def show_tk(rgb: np.ndarray) -> bool:
        if not state["open"]:
            root.destroy()
            return False
        photo = ImageTk.PhotoImage(Image.fromarray(rgb))
        label.configure(image=photo)
        label.image = photo  # type: ignore[attr-defined]  # keep a reference
        root.update()
        return state["open"]

    return show_tk


def run_webcam(
    camera: VideoSource = 0,
    *,
    model: str | os.PathLike | FaceClassifier = DEFAULT_MODEL,
    detector: DetectorLike = "auto",
    every: int = 1,
    smoothing: float = 0.6,
    window: bool = True,
    max_frames: int | None = None,
    top_k: int = 2,
    print_fn: Callable[[str], Any] | None = print,
    device: str | torch.device | None = None,
) -> int:
    """Show a live annotated camera view (``q`` or Esc quits), or print results without a window.

    Args:
        camera: Camera index (``0``: the default webcam), or a video file to replay.
        model: A model name, folder or Hub repo, or a loaded model.
        detector: Detector name or callable.
        every: Process one frame in ``every``.
        smoothing: Temporal smoothing of each face's probabilities, in [0, 1).
        window: Show a window (needs a display, and OpenCV with GUI support or tkinter);
            ``False`` prints one line per frame instead.
        max_frames: Stop after this many frames (default: until closed).
        top_k: Classes listed per face.
        print_fn: Where lines go when ``window=False``.
        device: Device for a model loaded by name.

    Returns:
        The number of frames processed.

    Raises:
        ValueError: If the camera cannot be opened or no window can be shown.

    Example:
        >>> facexpr.run_webcam(0)  # doctest: +SKIP
    """
    show = _show_window("facexpr") if window else None
    count = 0
    frames = predict_video(camera, model=model, detector=detector, every=every, smoothing=smoothing,
                           max_frames=max_frames, keep_frames=window, device=device)
    try:
        for result in frames:
            count += 1
            if show is not None and result.frame is not None:
                if not show(np.asarray(annotate(result.frame, result.faces, top_k=top_k))):
                    break
            elif print_fn is not None:
                faces = "; ".join(
                    f"#{t} {f.label} {f.confidence:.2f} at {f.box}" for f, t in zip(result.faces, result.tracks)
                )
                print_fn(f"frame {result.index} {result.timestamp:7.2f}s  {faces or 'no face'}")
    finally:
        frames.close()  # type: ignore[attr-defined]
    return count
