"""Small file helpers: atomic writes and hashing. Private to facexpr."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "sha256_file"]


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
