"""Where a model runs and how its weights are laid out: device choice and channels-last.

Private to facexpr; :func:`memory_format_of` and :func:`to_memory_format` are public through
:mod:`facexpr.models`.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import DeviceNotAvailableError

__all__ = ["best_device", "channels_last_suits", "memory_format_of", "resolve_device", "to_memory_format"]


def best_device() -> torch.device:
    """Return CUDA if available, else MPS, else CPU.

    Example:
        >>> from facexpr._device import best_device
        >>> best_device().type in ("cuda", "mps", "cpu")
        True
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Return the device to run on: ``device`` after checking this machine has it, else the best one.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, a :class:`torch.device`, or
            ``None`` for :func:`best_device`.

    Raises:
        DeviceNotAvailableError: If torch does not know the device, or this machine lacks it
            (``"cuda"`` without a GPU, ``"cuda:3"`` with two).

    Example:
        >>> from facexpr._device import resolve_device
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None:
        return best_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceNotAvailableError(
            f"Device {device!r} is not a device torch knows; expected cpu, cuda, cuda:N or mps."
        ) from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceNotAvailableError(f"Device {device!r}: no CUDA GPU is available on this machine; use 'cpu'.")
        if resolved.index is not None and resolved.index >= count:
            raise DeviceNotAvailableError(
                f"Device {device!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}."
            )
    elif resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceNotAvailableError(f"Device {device!r}: Apple's MPS is not available on this machine; use 'cpu'.")
    elif resolved.type != "cpu":
        raise DeviceNotAvailableError(f"Device {device!r}: facexpr runs on cpu, cuda or mps, not {resolved.type}.")
    return resolved


def channels_last_suits(model: nn.Module, device: torch.device) -> bool:
    """Whether ``model`` may be stored channels-last on ``device``: CPU or CUDA, and no weight
    of more than four dimensions (Conv3d weights cannot be NHWC).

    Example:
        >>> import torch
        >>> from facexpr._device import channels_last_suits
        >>> channels_last_suits(torch.nn.Conv2d(1, 8, 3), torch.device("cpu"))
        True
        >>> channels_last_suits(torch.nn.Conv3d(1, 8, 3), torch.device("cpu"))
        False
    """
    return device.type in ("cpu", "cuda") and all(p.dim() <= 4 for p in model.parameters())


def memory_format_of(model: nn.Module) -> torch.memory_format:
    """Return the memory format of a model's convolution weights.

    :func:`facexpr.load` and :class:`~facexpr.training.Trainer` store convolution weights
    channels-last (NHWC), which makes these small networks 1.3-3x faster on CPU; inputs in the
    same format avoid a conversion inside every convolution.

    Args:
        model: Any module.

    Returns:
        :data:`torch.channels_last` when a 4-D weight is stored NHWC, else
        :data:`torch.contiguous_format`.

    Example:
        >>> import torch, facexpr
        >>> from facexpr.models import memory_format_of
        >>> model = facexpr.load("simple", pretrained=False, device="cpu")
        >>> memory_format_of(model) == torch.channels_last
        True
    """
    for param in model.parameters():
        if param.dim() == 4 and not param.is_contiguous() and param.is_contiguous(memory_format=torch.channels_last):
            return torch.channels_last
    return torch.contiguous_format


def to_memory_format(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return the 4-D batch ``x`` in ``model``'s memory format (see :func:`memory_format_of`).

    Other tensors are returned unchanged.

    Example:
        >>> import torch, facexpr
        >>> from facexpr.models import to_memory_format
        >>> model = facexpr.load("simple", pretrained=False, device="cpu")
        >>> x = to_memory_format(model, torch.zeros(8, 1, 48, 48))
        >>> x.is_contiguous(memory_format=torch.channels_last)
        True
    """
    if x.dim() != 4:
        return x
    return x.contiguous(memory_format=memory_format_of(model))
