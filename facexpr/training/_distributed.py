"""Distributed helpers for :class:`~facexpr.training.Trainer` (``torchrun`` + DDP).

Private: users reach distributed training by launching their script with
``torchrun --nproc_per_node=N script.py``; ``Trainer`` does the rest.
"""

from __future__ import annotations

import math
import os

import torch
import torch.distributed as dist

__all__ = ["env_world_size", "init_from_env", "is_distributed", "rank", "world_size", "shard"]


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
