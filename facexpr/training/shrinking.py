"""Start a smaller VGG-style network from a trained larger one, instead of from random weights.

:func:`shrink` thins a trained network into a smaller architecture of the same family (fewer
channels per stage, fewer convolutions in a stage): network slimming (Liu et al., 2017) keeps,
in each convolution, the channels whose batch-norm scale is largest; a convolution that sees
other inputs than its counterpart did (the first of a stage that lost a convolution) is fitted
to reproduce the larger network's features at the end of its stage and of the next one, as
FitNets' hints do (Romero et al., 2015); batch-norm statistics are then estimated again. The
result reads faces far better than random weights and is the start of a distilled fine-tune
(the ``vgg7_bn.mixed`` recipe starts from ``vgg8_bn.mixed`` this way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import update_bn

from ..models import FaceModel

__all__ = ["shrink"]


@dataclass
class _Conv:
    """One Conv-BN pair of a network, where it sits, and the channels it keeps."""

    conv: nn.Conv2d
    norm: nn.BatchNorm2d
    stage: int
    end: int  # index in ``features`` just past this pair's ReLU


def _stages(model: nn.Module) -> tuple[list[list[_Conv]], list[int]]:
    """The Conv-BN pairs of ``model.features`` by stage, and the index just past each stage's pool."""
    layers = list(model.features)
    stages: list[list[_Conv]] = [[]]
    ends: list[int] = []
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.Conv2d):
            if not isinstance(layers[index + 1], nn.BatchNorm2d):
                raise ValueError(f"shrink needs Conv-BatchNorm pairs; layer {index} of {type(model).__name__} is not one.")
            stages[-1].append(_Conv(layer, layers[index + 1], len(stages) - 1, index + 3))
        elif isinstance(layer, nn.MaxPool2d):
            ends.append(index + 1)
            stages.append([])
    if not stages[-1]:
        stages.pop()
    return stages, ends


def _largest_scales(norm: nn.BatchNorm2d, count: int) -> torch.Tensor:
    """Indices (in order) of the ``count`` channels with the largest ``|gamma|``."""
    order = torch.argsort(norm.weight.detach().abs(), descending=True, stable=True)
    return torch.sort(order[:count]).values


def _check_shapes(source: nn.Module, target: nn.Module, source_stages: list[list[_Conv]],
                  target_stages: list[list[_Conv]]) -> None:
    name_s, name_t = type(source).__name__, type(target).__name__
    if len(source_stages) != len(target_stages):
        raise ValueError(f"shrink: {name_t} has {len(target_stages)} stages, {name_s} {len(source_stages)}; "
                         "they must have as many.")
    for index, (mine, theirs) in enumerate(zip(target_stages, source_stages)):
        if len(mine) > len(theirs) or mine[-1].conv.out_channels > theirs[-1].conv.out_channels:
            raise ValueError(
                f"shrink: stage {index + 1} of {name_t} ({len(mine)} convolutions of {mine[-1].conv.out_channels} "
                f"channels) is not smaller than {name_s}'s ({len(theirs)} of {theirs[-1].conv.out_channels}).")
    heads = [[type(m) for m in model.classifier] for model in (source, target)]
    if heads[0] != heads[1] or source.classifier[0].out_features != target.classifier[0].out_features:
        raise ValueError(f"shrink: {name_t}'s head differs from {name_s}'s; it must be the same but for its input.")


def shrink(
    source: FaceModel,
    target: FaceModel,
    images: torch.Tensor,
    *,
    hint_epochs: Sequence[int] = (4, 3),
    hint_lrs: Sequence[float] = (1e-2, 3e-3),
    batch_size: int = 256,
    calibration_faces: int = 8192,
    seed: int = 0,
    log: Callable[[str], object] | None = None,
) -> FaceModel:
    """Give ``target`` the trained weights of ``source``, thinned to its smaller shape.

    Both are VGG-style networks of this library (``features``: Conv-BN-ReLU blocks and a
    MaxPool per stage; ``classifier``: the same head but for its input), ``target`` with as
    many stages, each with no more convolutions and channels than ``source``'s, and as many
    classes; ``target`` gets ``source``'s labels. In each stage the target's convolutions stand
    for the source's last ones. Each keeps the output channels of its counterpart whose
    batch-norm scale ``|gamma|`` is largest, and the input channels its input kept; the head's
    first layer keeps the columns of the kept channels. A convolution whose counterpart saw
    another input (the first of a stage that has fewer convolutions) is fitted instead: the
    target's layers up to the end of that stage, then of the next one, are trained (Adam,
    one-cycle, random mirroring) to give the source's kept channels there, by mean squared
    error, for ``hint_epochs[i]`` passes over ``images`` at peak rate ``hint_lrs[i]``. Last,
    every batch-norm layer's statistics are estimated again on ``calibration_faces`` of the
    images (their contents changed with the channels they lost). ``source``'s weights are not
    changed (it is put in eval mode on ``target``'s device).

    Args:
        source: The trained network.
        target: The smaller network (its weights are overwritten in place).
        images: Training faces, ``uint8`` ``N x 1 x 48 x 48``, two at least (e.g. a
            :class:`~facexpr.data.FaceDataset`'s ``images``).
        hint_epochs: Passes over ``images`` of the two fits of each refitted stage.
        hint_lrs: Peak learning rates of those two fits.
        batch_size: Faces per step of the fits and of the statistics.
        calibration_faces: How many faces (drawn at random) estimate the batch-norm statistics.
        seed: Seed of the fits' shuffling and mirroring and of the calibration draw.
        log: Called with one line per fitting pass (e.g. ``print``).

    Returns:
        ``target``, in eval mode.

    Raises:
        ValueError: If ``target`` is not a smaller network of ``source``'s family, has another
            number of classes, or ``images`` are not ``uint8`` ``N x 1 x 48 x 48`` with ``N >= 2``.

    Example:
        >>> import torch
        >>> from facexpr.models import VGG7BN, VGG8BN
        >>> from facexpr.training import shrink
        >>> faces = torch.randint(0, 256, (64, 1, 48, 48), dtype=torch.uint8)
        >>> small = shrink(VGG8BN(labels=list("abcdefg")), VGG7BN(), faces, hint_epochs=(1, 1))
        >>> small.labels[:2], sum(p.numel() for p in small.parameters())
        (('a', 'b'), 1099727)
    """
    if images.ndim != 4 or images.shape[1:] != (1, 48, 48) or images.dtype != torch.uint8 or len(images) < 2:
        raise ValueError(f"shrink: images must be a uint8 tensor N x 1 x 48 x 48 with N >= 2 (batch-norm statistics "
                         f"need two faces at least), got shape {tuple(images.shape)} and dtype {images.dtype}.")
    if source.num_classes != target.num_classes:
        raise ValueError(f"shrink: {type(target).__name__} has {target.num_classes} classes, the source "
                         f"{source.num_classes}; they must have as many.")
    source_stages, source_ends = _stages(source)
    target_stages, target_ends = _stages(target)
    _check_shapes(source, target, source_stages, target_stages)
    device = next(target.parameters()).device
    source = source.to(device).eval()
    refit: list[int] = []  # stages whose first convolution is fitted, not copied
    kept_in = torch.arange(1)  # the grayscale channel
    with torch.no_grad():
        for stage, (mine, theirs) in enumerate(zip(target_stages, source_stages)):
            dropped = len(theirs) - len(mine)
            for index, (small, large) in enumerate(zip(mine, theirs[dropped:])):
                kept = _largest_scales(large.norm, small.conv.out_channels)
                if small.conv.in_channels != len(kept_in):
                    raise ValueError(f"shrink: convolution {index + 1} of stage {stage + 1} of {type(target).__name__} "
                                     f"takes {small.conv.in_channels} channels, not the {len(kept_in)} before it.")
                if index == 0 and dropped:  # its counterpart saw the output of a dropped convolution
                    refit.append(stage)
                else:
                    small.conv.weight.copy_(large.conv.weight[kept][:, kept_in])
                    if small.conv.bias is not None:
                        small.conv.bias.copy_(large.conv.bias[kept])
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(small.norm, name).copy_(getattr(large.norm, name)[kept])
                kept_in = kept
        side = source.classifier[0].in_features // source_stages[-1][-1].conv.out_channels
        columns = (kept_in[:, None] * side + torch.arange(side, device=kept_in.device)[None]).reshape(-1)
        target.classifier[0].weight.copy_(source.classifier[0].weight[:, columns])
        if target.classifier[0].bias is not None:
            target.classifier[0].bias.copy_(source.classifier[0].bias)
        for mine, theirs in zip(list(target.classifier)[1:], list(source.classifier)[1:]):
            mine.load_state_dict(theirs.state_dict())
    target.config.labels = source.labels
    generator = torch.Generator().manual_seed(seed)
    normalize = target.transforms().normalize  # the inputs the model is trained and used on
    for stage in sorted(set(refit)):
        for step, (epochs, lr) in enumerate(zip(hint_epochs, hint_lrs)):
            hinted = stage + step
            if hinted >= len(target_stages):
                break
            kept = _largest_scales(source_stages[hinted][-1].norm, target_stages[hinted][-1].conv.out_channels)
            _fit_hint(nn.Sequential(*list(target.features)[:target_ends[hinted]]),
                      nn.Sequential(*list(source.features)[:source_ends[hinted]]), kept, images, epochs, lr,
                      batch_size, generator, device, normalize, lambda line, s=hinted: log and log(f"stage {s + 1} {line}"))
    _estimate_batch_norm(target, images, calibration_faces, batch_size, generator, device, normalize)
    return target.eval()


def _fit_hint(student: nn.Sequential, teacher: nn.Sequential, kept: torch.Tensor, images: torch.Tensor,
              epochs: int, lr: float, batch_size: int, generator: torch.Generator, device: torch.device,
              normalize: Callable[[torch.Tensor], torch.Tensor], log: Callable[[str], object]) -> None:
    """Train ``student`` so that its output is ``teacher``'s channels ``kept``, by mean squared error."""
    if epochs <= 0:
        return
    optimizer = torch.optim.Adam(student.parameters(), lr)
    steps_per_epoch = -(-len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps_per_epoch)
    student.train()
    kept = kept.to(device)
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        loss_sum = target_sum = 0.0
        for start in range(0, len(images), batch_size):
            faces = normalize(images[order[start:start + batch_size]].to(device))
            mirror = (torch.rand(len(faces), generator=generator) < 0.5).to(device)
            faces[mirror] = torch.flip(faces[mirror], dims=[-1])
            with torch.no_grad():
                wanted = teacher(faces)[:, kept]
            loss = F.mse_loss(student(faces), wanted)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item()
            target_sum += wanted.pow(2).mean().item()
        log(f"hint pass {epoch + 1}/{epochs}: mean squared error {loss_sum / steps_per_epoch:.4f} "
            f"(that of zeros: {target_sum / steps_per_epoch:.4f})")
    student.eval()


def _estimate_batch_norm(model: nn.Module, images: torch.Tensor, faces: int, batch_size: int,
                         generator: torch.Generator, device: torch.device,
                         normalize: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Replace every batch norm's running statistics by their plain average over ``faces`` images
    (:func:`torch.optim.swa_utils.update_bn`, batch by batch)."""
    drawn = torch.randperm(len(images), generator=generator)[:faces]
    # Batches of (nearly) equal size: each weighs the same in the average, and none is left
    # with a single face, which the head's BatchNorm1d refuses in training mode.
    batches = torch.tensor_split(drawn, -(-len(drawn) // batch_size))
    update_bn((normalize(images[batch].to(device)) for batch in batches), model)
    model.eval()
