"""Small file helpers: atomic writes, hashing, listing image files, CSV rows. Private to facexpr."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import Prediction

__all__ = ["IMAGE_EXTENSIONS", "atomic_write", "csv_header", "csv_rows", "list_images", "sha256_file"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
"""File name endings :func:`list_images` picks up (case-insensitive)."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write a file so that readers see either the old file or the complete new one.

    ``write`` receives a temporary path in the same folder; once it returns, the file is
    flushed to disk and renamed over ``path``. If ``write`` raises, the temporary file is
    removed and ``path`` is left untouched.

    Args:
        path: Final location of the file.
        write: Callable that writes the whole content to the path it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode(path))
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        names = (getattr(err, "filename", None), getattr(err, "filename2", None))
        if isinstance(err, OSError) and any(
            isinstance(n, str) and Path(n).name.startswith(prefix) and n.endswith(".tmp") for n in names
        ):  # the error names our temporary file: name the user's file instead
            raise type(err)(err.errno, err.strerror, str(path)) from None
        raise
    return path


def _default_mode(path: Path) -> int:
    """Mode of the file being replaced, else what ``open()`` would create (0o666 minus umask).

    ``mkstemp`` creates 0o600 files; without this, every atomically written file would be
    private to its owner.
    """
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_images(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Return the image files of a folder (by extension, see :data:`IMAGE_EXTENSIONS`), sorted.

    Hidden files and folders (starting with ``.``) are left out.

    Args:
        folder: The folder to list.
        recursive: Also list every subfolder.

    Returns:
        Paths in a stable order (sorted by relative path).

    Raises:
        FileNotFoundError: If ``folder`` does not exist.
        NotADirectoryError: If ``folder`` is a file.

    Example:
        >>> list_images("photos/", recursive=True)  # doctest: +SKIP
        [PosixPath('photos/a.jpg'), PosixPath('photos/trip/b.png')]
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"Folder '{root}' does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"'{root}' is a file; expected a folder of images.")
    found: list[Path] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(Path(dirpath) / f for f in sorted(filenames)
                         if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
    else:
        found = sorted(p for p in root.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(IMAGE_EXTENSIONS))
    return found


def csv_header(labels: Sequence[str], leading: Sequence[str] = ("image",)) -> list[str]:
    """Column names of the per-face CSV tables: ``leading`` + face, box, score, detector, label, probs.

    ``detector`` names the detector (and version) that found the face; empty for a face crop.

    Example:
        >>> csv_header(["sad", "happy"])
        ['image', 'face', 'x', 'y', 'width', 'height', 'score', 'detector', 'label', 'confidence', 'p_sad', 'p_happy']
    """
    return [*leading, "face", "x", "y", "width", "height", "score", "detector", "label", "confidence",
            *(f"p_{label}" for label in labels)]


def csv_rows(faces: Sequence[Prediction], labels: Sequence[str], leading: Sequence[Any]) -> list[list[Any]]:
    """One row per face (see :func:`csv_header`); a row with empty face fields when there is none.

    Example:
        >>> csv_rows([], ["sad", "happy"], ["a.jpg"])
        [['a.jpg', '', '', '', '', '', '', '', '', '', '', '']]
    """
    if not faces:
        return [[*leading, *([""] * (9 + len(labels)))]]
    rows = []
    for i, face in enumerate(faces):
        box = list(face.box) if face.box is not None else [""] * 4
        score = f"{face.score:.4f}" if face.score is not None else ""
        probs = [f"{face.probabilities.get(label, float('nan')):.6f}" for label in labels]
        rows.append([*leading, i, *box, score, face.detector or "", face.label, f"{face.confidence:.6f}", *probs])
    return rows
