"""Distributed helpers for :class:`~facexpr.training.Trainer` (``torchrun`` + DDP).

Private: users reach distributed training by launching their script with
``torchrun --nproc_per_node=N script.py``; ``Trainer`` does the rest. Constructing a
``Trainer`` joins nothing: :func:`process_device` only picks this process's device, and
``Trainer.fit`` calls :func:`init_from_env` when training starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "all_reduce", "broadcast_buffers", "env_world_size", "init_from_env", "is_distributed",
    "process_device", "rank", "shard", "wants_distributed", "world_size", "wrap",
]


def is_distributed() -> bool:
    """True when a process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside distributed training)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 outside distributed training)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def env_world_size() -> int:
    """``$WORLD_SIZE`` as set by ``torchrun`` (1 when unset)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer, got {value!r}.") from None


def wants_distributed() -> bool:
    """True when ``torchrun`` launched several processes or a process group is already joined."""
    return env_world_size() > 1 or is_distributed()


def process_device(device: torch.device) -> torch.device:
    """This process's device: under ``torchrun`` on CUDA, ``cuda:$LOCAL_RANK`` for a bare ``cuda``.

    Joins no process group and changes no global state.

    Example:
        >>> import torch
        >>> process_device(torch.device("cpu"))
        device(type='cpu')
    """
    if wants_distributed() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Wrap ``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed.

    A model already wrapped, or any model outside distributed training, comes back as it is.
    """
    if not is_distributed() or isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def init_from_env(device: torch.device) -> torch.device:
    """Join the process group that ``torchrun`` describes, if not done already.

    Uses NCCL for CUDA devices and Gloo otherwise, with ``init_method="env://"``
    (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``). On CUDA, a device without
    an index becomes ``cuda:$LOCAL_RANK``.

    Returns:
        The device this process should train on.

    Raises:
        RuntimeError: If ``torch.distributed`` is not available in this build of PyTorch.
    """
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if env_world_size() > 1 and not (dist.is_available() and dist.is_initialized()):
        if not dist.is_available():
            raise RuntimeError(
                f"WORLD_SIZE={os.environ['WORLD_SIZE']} asks for distributed training, but this "
                "PyTorch build has no torch.distributed."
            )
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return device


def shard(indices: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's share of an epoch's order, as :class:`~torch.utils.data.DistributedSampler`.

    The order is padded by repeating its start so that every rank gets
    ``ceil(len / world_size)`` indices (and so runs the same number of steps), then rank
    ``r`` takes every ``world_size``-th index starting at ``r``.

    Example:
        >>> import torch
        >>> shard(torch.arange(5), 1, 2).tolist()
        [1, 3, 0]
    """
    n = len(indices)
    total = math.ceil(n / world_size) * world_size
    if total > n and n:
        repeats = math.ceil((total - n) / n)
        indices = torch.cat([indices, indices.repeat(repeats)[: total - n]])
    return indices[rank:total:world_size]


def all_reduce(values: Sequence[float] | torch.Tensor, device: torch.device, op: str = "sum") -> Any:
    """Sum (or, with ``op="max"``, take the maximum of) numbers over all ranks.

    Outside distributed training the numbers come back as they are (a list, or the tensor).
    """
    if not is_distributed():
        return values if isinstance(values, torch.Tensor) else list(values)
    where = device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.as_tensor(values, dtype=torch.float64).to(where)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return tensor.cpu() if isinstance(values, torch.Tensor) else tensor.cpu().tolist()


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics: each rank updated its own last)."""
    if is_distributed():
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)
