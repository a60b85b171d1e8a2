"""Training checkpoints: reading them safely, and checking that they fit a model.

:meth:`Trainer.save_checkpoint <facexpr.training.Trainer.save_checkpoint>` writes them;
reading goes through :func:`read_checkpoint`, which loads tensors and numbers only and turns
every failure into a :class:`CheckpointError` that names the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FacexprError

__all__ = ["CheckpointError", "check_checkpoint_model", "check_checkpoint_run", "data_fingerprint", "read_checkpoint"]


class CheckpointError(FacexprError, ValueError):
    """A training checkpoint that cannot be used: truncated, not facexpr's, or another model's.

    Example:
        >>> import tempfile, facexpr
        >>> from pathlib import Path
        >>> from facexpr.training import CheckpointError, Trainer
        >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (Path(tmp) / "checkpoint.pt").write_bytes(b"not a checkpoint")
        ...     try:
        ...         trainer.load_checkpoint(Path(tmp) / "checkpoint.pt")
        ...     except CheckpointError as err:
        ...         print("refused")
        16
        refused
    """


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :meth:`Trainer.save_checkpoint`, tensors and numbers only.

    The file is loaded with ``torch.load(weights_only=True)``; whatever goes wrong (a
    truncated file, a pickle of other objects) comes back as one :class:`CheckpointError`.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        CheckpointError: If the file is truncated, corrupt, holds anything but tensors,
            numbers and strings, or is not a facexpr training checkpoint.

    Example:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     torch.save({"format": "facexpr-checkpoint-1", "epoch": 2}, Path(tmp) / "run.pt")
        ...     state = read_checkpoint(Path(tmp) / "run.pt")
        >>> state["epoch"]
        2
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as err:  # torch's text would suggest weights_only=False, which is unsafe
        raise CheckpointError(
            f"Checkpoint '{path}' cannot be read ({type(err).__name__}): it is truncated, corrupt, "
            "or holds objects other than tensors and numbers, which facexpr never loads. Delete it "
            "to start the run over (or train without resuming)."
        ) from None
    if not isinstance(state, dict) or state.get("format") != "facexpr-checkpoint-1":
        raise CheckpointError(f"'{path}' is not a facexpr training checkpoint.")
    return state


def check_checkpoint_model(path: str | os.PathLike, state: dict[str, Any], model: nn.Module) -> None:
    """Raise :class:`CheckpointError` unless ``state`` (read from ``path``) holds ``model``'s weights.

    Every weight name and shape must match, so a checkpoint of another architecture, or of
    another number of classes, is refused before anything is changed.

    Example:
        >>> import facexpr
        >>> state = {"model": facexpr.load("simple", pretrained=False).state_dict()}
        >>> check_checkpoint_model("runs/a/checkpoint.pt", state, facexpr.load("better", pretrained=False))
        Traceback (most recent call last):
        ...
        facexpr.training.checkpoint.CheckpointError: Checkpoint '...checkpoint.pt' holds another model's weights ...
    """
    saved = state.get("model")
    expected = getattr(model, "module", model).state_dict()
    if not isinstance(saved, dict):
        raise CheckpointError(f"'{path}' holds no model weights.")
    shapes = {k: tuple(v.shape) for k, v in saved.items() if isinstance(v, torch.Tensor)}
    wanted = {k: tuple(v.shape) for k, v in expected.items()}
    if shapes != wanted:
        config = getattr(getattr(model, "module", model), "config", None)
        name = getattr(config, "architecture", type(model).__name__)
        differ = sorted(set(shapes) ^ set(wanted)) or sorted(k for k in wanted if shapes[k] != wanted[k])
        raise CheckpointError(
            f"Checkpoint '{path}' holds another model's weights than this {name!r} with "
            f"{getattr(model, 'num_classes', '?')} classes (first difference: {differ[0]!r}). "
            "Resume with the same model and classes, or write the new run to another folder."
        )


def check_checkpoint_run(path: str | os.PathLike, state: dict[str, Any], expected: dict[str, Any]) -> None:
    """Raise :class:`CheckpointError` unless the checkpoint was written by the run ``expected`` describes.

    ``expected`` holds what identifies a run (``classes``, ``architecture``, ``data``: a
    :func:`data_fingerprint`, ``settings``: the recipe's...); each key is compared with the
    checkpoint's ``classes`` and ``run`` entries. Keys the checkpoint lacks (written by an older
    facexpr) are not compared.

    Example:
        >>> state = {"classes": ["calm", "excited"], "run": {"settings": {"lr": 0.003}}}
        >>> check_checkpoint_run("run/checkpoint.pt", state, {"classes": ["calm", "excited"]})
        >>> check_checkpoint_run("run/checkpoint.pt", state, {"settings": {"lr": 0.1}})
        Traceback (most recent call last):
        ...
        facexpr.training.checkpoint.CheckpointError: Cannot resume from 'run/checkpoint.pt': it belongs to another run (lr 0.003 there, 0.1 now). Resume with the same settings and data, start over (--no-resume, resume=False), or write the new run to another folder.
    """
    saved = {**(state.get("run") or {})}
    if state.get("classes"):
        saved["classes"] = list(state["classes"])
    differences: list[str] = []
    for key, wanted in expected.items():
        if key not in saved:
            continue
        have = saved[key]
        if isinstance(wanted, dict) and isinstance(have, dict):
            differences += [f"{name} {have.get(name)!r} there, {wanted.get(name)!r} now"
                            for name in sorted(set(wanted) | set(have)) if have.get(name) != wanted.get(name)]
        elif have != wanted:
            what = "the data (its images or labels) differs" if key == "data" else f"{key} {have!r} there, {wanted!r} now"
            differences.append(what)
    if differences:
        raise CheckpointError(
            f"Cannot resume from '{path}': it belongs to another run ({'; '.join(differences)}). Resume with the "
            "same settings and data, start over (--no-resume, resume=False), or write the new run to another folder."
        )


def data_fingerprint(*datasets: Any) -> str:
    """Hash the images, targets and class names of data sets: the same faces and labels give the same text.

    Example:
        >>> import torch
        >>> from facexpr.data import FaceDataset
        >>> a = FaceDataset(torch.zeros(2, 48, 48, dtype=torch.uint8), torch.tensor([0, 1]), ("x", "y"))
        >>> b = FaceDataset(torch.zeros(2, 48, 48, dtype=torch.uint8), torch.tensor([1, 0]), ("x", "y"))
        >>> data_fingerprint(a) == data_fingerprint(a), data_fingerprint(a) == data_fingerprint(b)
        (True, False)
    """
    digest = hashlib.sha256(b"facexpr-data-1")
    for ds in datasets:
        digest.update(repr(tuple(ds.classes)).encode() + b"\0")
        for tensor in (ds.images, ds.targets):
            array = tensor.detach().cpu().contiguous().numpy()
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()[:32]
