"""Training checkpoints: reading them safely, and checking that they fit a model.

:meth:`Trainer.save_checkpoint <facexpr.training.Trainer.save_checkpoint>` writes them;
reading goes through :func:`read_checkpoint`, which loads tensors and numbers only and turns
every failure into a :class:`CheckpointError` that names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FacexprError

__all__ = ["CheckpointError", "check_checkpoint_model", "read_checkpoint"]


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
