"""Small file helpers: atomic writes, hashing, listing image files, CSV rows. Private to facexpr."""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import Prediction

__all__ = [
    "IMAGE_EXTENSIONS", "atomic_write", "check_outputs", "csv_header", "csv_rows", "list_images", "read_csv",
    "resolve_output", "same_file", "sha256_file",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
"""File name endings :func:`list_images` picks up (case-insensitive)."""


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def resolve_output(path: str | os.PathLike) -> Path:
    """Return the file that writing ``path`` would replace, refusing what must not be replaced.

    The rule every facexpr writer follows (:func:`atomic_write` applies it):

    * a symbolic link is followed to its target (through any chain of links, also a dangling
      one): the target is written, the link stays a link;
    * an existing target must be a regular file: a folder, a device (``/dev/full``), a FIFO or a
      socket is refused;
    * an existing read-only file is refused: one without any write bit in its mode (also when
      running as root, who could replace it), or one this user may not write.

    Args:
        path: The output path the user gave.

    Returns:
        The absolute path of the file to (re)write.

    Raises:
        IsADirectoryError: If the target is a folder.
        ValueError: If the target is a device, FIFO or socket.

    The errors of the file system kind (folder, read-only) carry the path as ``filename``.
        PermissionError: If the target is a read-only file.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (Path(tmp) / "table.csv").write_text("old")
        ...     (Path(tmp) / "link.csv").symlink_to("table.csv")
        ...     print(resolve_output(Path(tmp) / "link.csv").name)
        3
        table.csv
    """
    given = Path(path)
    target = Path(os.path.realpath(given))
    try:
        info = target.stat()
    except FileNotFoundError:
        return target
    except OSError:  # e.g. a symlink loop: let the write itself report it
        return target
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        shown = f"'{given}'" + (f" (-> '{target}')" if target != given.absolute() else "")
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a folder; expected the path of a file to write", str(given))
        raise ValueError(f"{shown} is {kind}, not a regular file; facexpr writes only regular files, "
                         "so choose a file path instead.")
    if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"Read-only file (mode {stat.S_IMODE(info.st_mode):o}); facexpr does not "
                              "replace it: make it writable or choose another path", str(given))
    return target


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file: the same path after resolving links, or one inode.

    Example:
        >>> same_file("a/../b.txt", "b.txt")
        True
    """
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when ``path`` lies under ``folder`` (after resolving links)."""
    folder_real = os.path.realpath(folder)
    return os.path.commonpath([os.path.realpath(path), folder_real]) == folder_real


def check_outputs(outputs: Sequence[tuple[str, str | os.PathLike]], inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse outputs that would destroy an input, or each other, before any work is done.

    An output is refused when it is the same file as an input (after resolving links, or the
    same inode), when it lies inside an input that is a folder, or when two outputs are one
    file (the second would replace the first). Inputs that do not exist (a model given by
    name) are not compared.

    Args:
        outputs: ``(what it is, path)`` pairs, e.g. ``("--csv", "faces.csv")``; the first
            names the output in the message.
        inputs: The files and folders the command reads.

    Raises:
        ValueError: Naming the output and the input (or the other output) it collides with.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / "photo.jpg").write_bytes(b"...")
        ...     check_outputs([("--csv", Path(tmp) / "faces.csv")], [Path(tmp) / "photo.jpg"])  # fine
        ...     check_outputs([("--csv", Path(tmp) / "photo.jpg")], [Path(tmp) / "photo.jpg"])
        Traceback (most recent call last):
        ...
        ValueError: --csv '...photo.jpg' is the input '...photo.jpg': facexpr never writes over what it reads; choose another output path.
    """
    by_key: dict[object, Path] = {}
    folders: list[Path] = []
    for source in map(Path, inputs):
        if not os.path.lexists(source):  # nothing there to destroy (or a name, not a path)
            continue
        for key in _file_keys(source):
            by_key.setdefault(key, source)
        if source.is_dir():
            folders.append(source)
    written: dict[object, tuple[str, Path]] = {}
    for what, out in outputs:
        out = Path(out)
        keys = _file_keys(out)
        source = next((by_key[k] for k in keys if k in by_key), None)
        if source is not None:
            raise ValueError(f"{what} '{out}' is the input '{source}': facexpr never writes over what it "
                             "reads; choose another output path.")
        folder = next((f for f in folders if _inside(out, f)), None)
        if folder is not None:
            raise ValueError(f"{what} '{out}' lies inside the input folder '{folder}': facexpr never writes "
                             "into what it reads; choose an output path outside it.")
        other = next((written[k] for k in keys if k in written), None)
        if other is not None:
            raise ValueError(f"{what} '{out}' and {other[0]} '{other[1]}' are the same file: the second would "
                             "replace the first; give them different paths.")
        written.update((k, (what, out)) for k in keys)


def _file_keys(path: Path) -> list[object]:
    """What identifies a file: its resolved path, and its (device, inode) when it exists."""
    keys: list[object] = [os.path.realpath(path)]
    try:
        info = path.stat()
        keys.append((info.st_dev, info.st_ino))
    except OSError:
        pass
    return keys


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file so that readers see either the old file or the complete new one.

    ``write`` receives a temporary path in the folder of the file to replace; once it returns,
    the file is flushed to disk and renamed over it. If ``write`` raises (or the process is
    interrupted), the temporary file is removed and the old file is left untouched.

    What is replaced follows :func:`resolve_output`: a symbolic link is followed and its
    target replaced (the temporary file lies beside the target, so the rename stays atomic);
    folders, devices, FIFOs, sockets and read-only files are refused before ``write`` runs.

    Args:
        path: Final location of the file.
        write: Callable that writes the whole content to the path it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        IsADirectoryError, ValueError, PermissionError: See :func:`resolve_output`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = resolve_output(path)
    target.parent.mkdir(parents=True, exist_ok=True)  # a dangling link's target folder
    prefix = f".{target.name}."
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode(target))
        os.replace(tmp, target)
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


def read_csv(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` for each row of a UTF-8 CSV file (the line where the row starts).

    Raises:
        ValueError: If the file is not UTF-8 text, naming the file and the first line that is not.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / "t.csv").write_bytes(b"a,b\\n1,2\\n3,caf\\xe9\\n")
        ...     rows = read_csv(Path(tmp) / "t.csv")
        ...     print(next(rows), next(rows))
        ...     next(rows)
        Traceback (most recent call last):
        ...
        ValueError: '...t.csv' line 3: not UTF-8 text; save the file as UTF-8.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            start = 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise ValueError(f"'{path}' line {_first_non_utf8_line(path)}: not UTF-8 text; save the file as UTF-8.") from None


def _first_non_utf8_line(path: str | os.PathLike) -> int:
    """The number of the first line of ``path`` that is not valid UTF-8 (0 if none is)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


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
