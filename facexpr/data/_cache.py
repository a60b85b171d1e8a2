"""The decoded-image cache: ``uint8`` faces stored once, outside the data folder."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .._io import atomic_write

__all__ = ["cache_dir", "fingerprint_files", "load_cached", "save_cached"]

CACHE_FORMAT = "1"


def cache_dir() -> Path:
    """Return facexpr's cache folder.

    ``$FACEXPR_CACHE`` if set, else ``$XDG_CACHE_HOME/facexpr``, else ``~/.cache/facexpr``.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from facexpr.data import cache_dir
        >>> with mock.patch.dict(os.environ, FACEXPR_CACHE="/tmp/facexpr-cache"):
        ...     print(cache_dir())
        /tmp/facexpr-cache
    """
    if os.environ.get("FACEXPR_CACHE"):
        return Path(os.environ["FACEXPR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "facexpr"


def fingerprint_files(files: Iterable[Path], *extra: str) -> str:
    """Hash each file's path, size, modification and change times and inode (plus ``extra`` strings).

    Any added, removed, renamed or rewritten file changes the fingerprint: writing a file sets
    its change time (``st_ctime_ns``), which, unlike the modification time, cannot be set back,
    and replacing a file gives it a new inode. A file that cannot be read (a dangling link) is
    hashed as missing, so that decoding skips it with a warning, as without the cache.
    """
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    for part in extra:
        digest.update(part.encode() + b"\0")
    for path in files:
        try:
            stat = path.stat()
            facts = f"{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}\0{stat.st_dev}\0{stat.st_ino}"
        except OSError as err:
            facts = f"unreadable {err.errno}"
        digest.update(f"{os.path.abspath(path)}\0{facts}\n".encode())
    return digest.hexdigest()[:32]


def _cache_path(kind: str, key: str) -> Path:
    return cache_dir() / "datasets" / f"{kind}-{key}.safetensors"


def load_cached(kind: str, key: str) -> dict[str, torch.Tensor] | None:
    """Return the cached tensors for ``key``, or ``None`` when absent or unreadable."""
    path = _cache_path(kind, key)
    if not path.is_file():
        return None
    try:
        return load_file(path)
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None


def save_cached(kind: str, key: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write tensors to the cache atomically and return the file's path."""
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    return atomic_write(_cache_path(kind, key), lambda tmp: save_file(tensors, tmp, metadata=metadata))
