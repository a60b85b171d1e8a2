"""``Trainer``: a Keras-style training loop for facexpr models (and any classifier)."""

from __future__ import annotations

import inspect
import math
import os
import warnings
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_write
from .._device import channels_last_suits, resolve_device
from ..data.augment import BatchAugment, get_augment
from ..data.dataset import FaceDataset
from ..errors import TrainingDivergedError
from ..inference import face_logits
from ..metrics import classification_report, confusion_matrix, logits_report
from ..transforms import FaceTransform
from . import _distributed, optim
from .checkpoint import check_checkpoint_model, check_checkpoint_run, read_checkpoint
from .callbacks import Callback, CallbackList, ProgressBar, interactive
from .history import History

__all__ = ["Trainer"]

DataLike = FaceDataset | tuple[torch.Tensor, torch.Tensor]

_RANK_SEED_STRIDE = 1_000_000_007
"""Offset between the per-epoch seeds of two ranks (rank 0 keeps the single-process seeds)."""


def _as_dataset(data: DataLike, name: str, labels: Sequence[str] | None = None) -> FaceDataset:
    """``data`` as a data set; an ``(images, targets)`` pair gets ``labels`` when they cover its targets."""
    if isinstance(data, FaceDataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        images, targets = data
        targets = torch.as_tensor(targets)
        count = targets.shape[1] if targets.ndim == 2 else int(targets.max()) + 1 if targets.numel() else 0
        if labels is not None and (count == len(labels) or (targets.ndim == 1 and count < len(labels))):
            return FaceDataset(images, targets, tuple(labels))
        return FaceDataset(images, targets, [str(i) for i in range(count)])
    raise TypeError(
        f"{name} must be a facexpr FaceDataset (FER2013, ImageFolder, ...) or a tuple "
        f"(uint8 images Nx48x48, int targets N or class probabilities N x C), got {type(data).__name__}."
    )


def _named_subset(classes: Sequence[str], labels: Sequence[str]) -> list[int] | None:
    """The model's columns of ``classes`` when they are a proper subset of its ``labels`` by name."""
    lookup = {label.lower(): i for i, label in enumerate(labels)}
    named = [lookup.get(str(c).lower()) for c in classes]
    if len(classes) >= len(labels) or any(i is None for i in named):
        return None
    return named  # type: ignore[return-value]


def _overrides_without(cls: type, method: str, parameter: str) -> bool:
    """Whether ``cls`` overrides ``method`` in its facexpr 0.1 form, without ``parameter``.

    Such overrides still run, with a :class:`DeprecationWarning` naming the new signature.
    """
    function = getattr(cls, method)
    if function is getattr(Trainer, method):
        return False
    parameters = inspect.signature(function).parameters
    if parameter in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return False
    new = {"compute_loss": "compute_loss(self, x, y, y_pred, *, indices=None, training=True)",
           "train_step": "train_step(self, images, targets, *, indices=None)"}[method]
    warnings.warn(
        f"{cls.__name__}.{method} overrides the facexpr 0.1 signature, which is deprecated; "
        f"override {new} instead.", DeprecationWarning, stacklevel=4,
    )
    return True


def _batch_sum(loss: torch.Tensor, n: int) -> torch.Tensor:
    """A batch's loss summed over its ``n`` faces: a scalar is the batch's mean, a vector one loss per face.

    Raises:
        ValueError: If ``loss`` is neither.
    """
    if loss.ndim == 0:
        return loss.float() * n
    if loss.shape == (n,):
        return loss.float().sum()
    raise ValueError(
        f"compute_loss returned a loss of shape {tuple(loss.shape)} for a batch of {n} faces; "
        f"expected a scalar (the batch's mean) or one loss per face ({n},)."
    )


class Trainer:
    """Train, evaluate and predict with a model, the way Keras's ``fit`` does.

    The model stays a plain :class:`torch.nn.Module`. Batches are sliced straight from the
    data set's ``uint8`` tensor, augmented as a batch (:class:`~facexpr.data.BatchAugment`)
    and normalised by the model's own preprocessing (``model.transforms()``, the
    :class:`~facexpr.transforms.FaceTransform` that ``predict`` uses). Distillation from a
    teacher is :class:`~facexpr.training.DistillationTrainer`.

    Targets are class indices, or class probabilities (``N x C``, such as FER+'s vote
    distributions, :class:`~facexpr.data.FERPlus` with ``labels="probability"``). With
    probabilities the loss is the cross-entropy against each face's distribution (the FER+
    paper's best training mode); label smoothing, class weights, augmentation, distillation and
    distributed training work the same, and the logged ``accuracy`` is against each face's
    majority class (:attr:`FaceDataset.hard_targets <facexpr.data.FaceDataset.hard_targets>`).

    Distributed training needs no code change: launch the same script with
    ``torchrun --nproc_per_node=N script.py``. When ``$WORLD_SIZE`` > 1, :meth:`fit` joins the
    process group when training starts (NCCL on CUDA, each process on ``cuda:$LOCAL_RANK``;
    Gloo on CPU) unless it is already initialised; building a ``Trainer`` joins nothing. It
    wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel`, gives each rank its
    share of every epoch's shuffled order (``batch_size`` is per process), averages training
    and validation metrics over all ranks, and lets only rank 0 write checkpoints and run
    ``rank_zero_only`` callbacks (:class:`ModelCheckpoint`, :class:`CSVLogger`, loggers, the
    progress bar).

    Args:
        model: The network (a :class:`~facexpr.models.FaceModel` or any module mapping
            ``N x 1 x 48 x 48`` to logits).
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (Nesterov momentum) or a
            :class:`torch.optim.Optimizer` already built on the model's parameters (see
            :func:`~facexpr.training.optim.build_optimizer`).
        lr: Learning rate (the peak rate for ``"onecycle"``).
        weight_decay: L2 penalty (decoupled for AdamW).
        momentum: SGD momentum.
        scheduler: ``None``, ``"cosine"``, ``"onecycle"``, ``"step"`` or ``"plateau"`` (see
            :func:`~facexpr.training.optim.build_scheduler`).
        loss: ``"cross_entropy"`` or a callable ``(logits, targets) -> loss``.
        label_smoothing: Label smoothing of the cross-entropy.
        class_weight: ``None``, ``"balanced"`` or one weight per class. ``"balanced"`` weighs
            class ``c`` by ``N / (C * m_c)``, where ``m_c`` is the class's share of the training
            targets: the number of faces of class ``c`` for class indices, the sum of the
            probabilities of class ``c`` over all faces for soft targets (its mass of votes, which
            is what that class contributes to the soft loss), at least 1.
        metrics: Extra metrics to log besides loss: ``"accuracy"`` and/or ``"macro_f1"``.
        augment: Augmentation preset name (see :data:`~facexpr.data.AUGMENT_PRESETS`),
            a :class:`~facexpr.data.BatchAugment`, or ``None``.
        freeze: ``"features"`` trains only the classifier (fine-tuning); ``None`` trains all.
        device: Where to train; default CUDA, then MPS, then CPU.
        seed: Seed of shuffling, augmentation and dropout, epoch by epoch (seed the model's
            initial weights yourself, with :func:`torch.manual_seed` before building it).
        amp: Mixed precision (bfloat16 autocast) on CUDA.
        grad_clip: Clip the gradient norm to this value.
        channels_last: Store convolution weights and batches channels-last (NHWC) on CPU and
            CUDA. BetterCNN trains about 1.6x faster on a CPU this way (see the data-pipeline
            benchmark); results differ only by float rounding. ``False`` keeps the model's
            own layout.

    Example:
        >>> import facexpr
        >>> from facexpr.training import Trainer
        >>> model = facexpr.load("better", pretrained=False)
        >>> trainer = Trainer(model, optimizer="adamw", lr=2e-3, scheduler="onecycle",
        ...                   label_smoothing=0.1, augment="seed")
        >>> history = trainer.fit(train, val=val, epochs=30, batch_size=64)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizer: str | torch.optim.Optimizer = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        scheduler: str | None = None,
        loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cross_entropy",
        label_smoothing: float = 0.0,
        class_weight: str | Sequence[float] | None = None,
        metrics: Sequence[str] = ("accuracy",),
        augment: str | BatchAugment | None = None,
        freeze: str | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
        amp: bool = True,
        grad_clip: float | None = None,
        channels_last: bool = True,
    ) -> None:
        unknown = [m for m in metrics if m not in ("accuracy", "macro_f1")]
        if unknown:
            raise ValueError(f"Unknown metrics {unknown}. Available: accuracy, macro_f1.")
        optim.check_scheduler(scheduler)
        if freeze not in (None, "features"):
            raise ValueError(f"freeze must be None or 'features', got {freeze!r}.")
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"Trainer trains a torch.nn.Module (a FaceModel from facexpr.load(name)), got {type(model).__name__}; "
                "an ONNX Runtime model only predicts: load it with facexpr.load(..., backend='torch')."
            )
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(
                f"{type(model).__name__} has no trainable parameters (an ONNX Runtime model cannot be trained); "
                "load it with facexpr.load(..., backend='torch')."
            )
        self.device = _distributed.process_device(resolve_device(device))
        self.model = model.to(self.device)
        self.channels_last = channels_last and channels_last_suits(self.model, self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        elif self.device.type not in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.contiguous_format)
        self.seed = seed
        self.optimizer_arg = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.scheduler_name = scheduler
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        if isinstance(loss, str) and loss != "cross_entropy":
            raise ValueError(f"Unknown loss {loss!r}. Use 'cross_entropy' or pass a callable.")
        self._loss_fn = None if isinstance(loss, str) else loss
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight
        self.metrics = tuple(metrics)
        self.augment = get_augment(augment)
        self.freeze = freeze
        self.amp = amp and self.device.type == "cuda"
        self.grad_clip = grad_clip
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.history = History()
        self.stop_training = False
        self.epochs = 0
        self.batch_size = 0
        self.steps_per_epoch = 0
        self._weight: torch.Tensor | None = None
        self._train_hard: torch.Tensor | None = None
        self._legacy_loss = _overrides_without(type(self), "compute_loss", "y_pred")
        self._legacy_step = _overrides_without(type(self), "train_step", "indices")
        self.run_info: dict[str, Any] = {}
        """What identifies the run, written into every checkpoint (``state["run"]``) and compared
        on resume by :func:`~facexpr.training.checkpoint.check_checkpoint_run` (``train_recipe``
        stores the architecture, classes, data fingerprint and settings here)."""
        self._apply_freeze()

    # -- properties ---------------------------------------------------------------------------
    @property
    def unwrapped_model(self) -> nn.Module:
        """The model without any distributed wrapper.

        Example:
            >>> import facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> type(trainer.unwrapped_model).__name__
            'SimpleCNN'
        """
        return getattr(self.model, "module", self.model)

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (always true outside distributed training).

        Example:
            >>> import facexpr
            >>> from facexpr.training import Trainer
            >>> Trainer(facexpr.load("simple", pretrained=False), device="cpu").is_main_process
            True
        """
        return _distributed.rank() == 0

    @property
    def rank(self) -> int:
        """This process's rank (0 outside distributed training).

        Example:
            >>> import facexpr
            >>> from facexpr.training import Trainer
            >>> Trainer(facexpr.load("simple", pretrained=False), device="cpu").rank
            0
        """
        return _distributed.rank()

    @property
    def world_size(self) -> int:
        """Number of training processes (1 outside distributed training).

        Example:
            >>> import facexpr
            >>> from facexpr.training import Trainer
            >>> Trainer(facexpr.load("simple", pretrained=False), device="cpu").world_size
            1
        """
        return _distributed.world_size()

    @property
    def params(self) -> dict[str, Any]:
        """The run's settings as plain values: what callbacks see as ``self.params``.

        Keras's ``Callback.params``: :meth:`fit` hands this dict to every callback through
        :meth:`Callback.set_params <facexpr.training.Callback.set_params>` before training.
        ``epochs``, ``steps`` (batches per epoch) and ``batch_size`` are those of the current
        :meth:`fit` (0 before it).

        Example:
            >>> import facexpr
            >>> from facexpr.training import Trainer
            >>> params = Trainer(facexpr.load("simple", pretrained=False), optimizer="adamw", device="cpu").params
            >>> params["optimizer"], params["lr"], params["epochs"]
            ('adamw', 0.001, 0)
        """
        weight = self.class_weight
        return {
            "epochs": self.epochs,
            "steps": self.steps_per_epoch,
            "batch_size": self.batch_size,
            "optimizer": optim.optimizer_name(self.optimizer_arg),
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "scheduler": self.scheduler_name,
            "loss": self.loss_name,
            "label_smoothing": self.label_smoothing,
            "class_weight": weight if weight is None or isinstance(weight, str) else list(weight),
            "metrics": list(self.metrics),
            "augment": None if self.augment is None else repr(self.augment),
            "freeze": self.freeze,
            "seed": self.seed,
            "device": str(self.device),
            "world_size": self.world_size,
        }

    # -- building blocks ----------------------------------------------------------------------
    def _as_dataset(self, data: DataLike, name: str) -> FaceDataset:
        """``data`` as a data set; an ``(images, targets)`` pair keeps the model's class names."""
        labels = getattr(getattr(self.unwrapped_model, "config", None), "labels", None)
        return _as_dataset(data, name, labels)

    def setup_fit(self, train: FaceDataset, batch_size: int) -> None:
        """Hook run by :meth:`fit` once the training data is known, before the first epoch.

        Override it to prepare what every step of this run needs from the whole training data
        (call ``super().setup_fit(train, batch_size)`` first);
        :class:`~facexpr.training.DistillationTrainer` matches its teacher's classes and caches
        the teacher's logits here. It runs after the model's labels are synchronised with the
        data's classes and before the optimiser is built. The plain trainer's does nothing.

        Args:
            train: The training data, as a :class:`~facexpr.data.FaceDataset`.
            batch_size: The run's batch size (per process in distributed training).

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> class Counting(Trainer):
            ...     def setup_fit(self, train, batch_size):
            ...         super().setup_fit(train, batch_size)
            ...         self.faces = len(train)
            >>> trainer = Counting(facexpr.load("simple", pretrained=False), device="cpu")
            >>> _ = trainer.fit((torch.zeros(6, 48, 48, dtype=torch.uint8), torch.arange(6) % 7),
            ...                 epochs=1, batch_size=3, progress=False)
            >>> trainer.faces
            6
        """

    def _apply_freeze(self) -> None:
        if self.freeze == "features":
            features = getattr(self.unwrapped_model, "features", None)
            if features is None:
                raise ValueError("freeze='features' needs a model with a .features trunk.")
            for param in features.parameters():
                param.requires_grad_(False)

    def _set_train_mode(self) -> None:
        self.model.train()
        if self.freeze == "features":
            self.unwrapped_model.features.eval()  # frozen BatchNorm keeps its statistics

    def _build_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return optim.build_optimizer(
            self.optimizer_arg, params, lr=self.lr, weight_decay=self.weight_decay, momentum=self.momentum
        )

    def _class_weights(self, train: FaceDataset) -> torch.Tensor | None:
        if self.class_weight is None:
            return None
        num = len(train.classes)
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(f"class_weight must be 'balanced' or a sequence, got {self.class_weight!r}.")
            if train.soft:  # each class's mass of probability, which is what it weighs in the soft loss
                counts = train.targets.sum(dim=0, dtype=torch.float64).float().clamp(min=1)
            else:
                counts = torch.tensor(train.class_counts(), dtype=torch.float32).clamp(min=1)
            weights = counts.sum() / (num * counts)
        else:
            weights = torch.tensor(list(self.class_weight), dtype=torch.float32)
            if weights.numel() != num:
                raise ValueError(f"class_weight has {weights.numel()} entries but the data has {num} classes.")
        return weights.to(self.device)

    def transforms(self) -> FaceTransform:
        """The model's preprocessing (``model.transforms()``; the default one for a plain module).

        Example:
            >>> import facexpr
            >>> from facexpr.training import Trainer
            >>> Trainer(facexpr.load("simple", pretrained=False), device="cpu").transforms()
            FaceTransform(size=48, mean=(0.5,), std=(0.5,), crop_pct=1)
        """
        transforms = getattr(self.unwrapped_model, "transforms", None)
        return transforms() if callable(transforms) else FaceTransform()

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last and images.dim() == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def _normalize_unit(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise augmented faces scaled to [0, 1] with the model transform's mean and std.

        The same arithmetic as :meth:`FaceTransform.normalize <facexpr.transforms.FaceTransform.normalize>`
        after its division by 255, which augmentation needs to come first.
        """
        transform = self.transforms()
        mean = torch.tensor(transform.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(transform.std, device=images.device).view(1, -1, 1, 1)
        return self._layout((images - mean) / std)

    def compute_loss(
        self,
        x: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        y_pred: torch.Tensor | None = None,
        *,
        indices: torch.Tensor | None = None,
        training: bool = True,
    ) -> torch.Tensor:
        """Return the loss of a batch, in training and in evaluation alike (Keras's ``compute_loss``).

        :meth:`train_step` calls it with ``training=True``; :meth:`eval_step` (hence
        ``val_loss`` in :meth:`fit` and ``loss`` in :meth:`evaluate`) with ``training=False``.
        Override it for a custom loss: what it returns in evaluation is what ``val_loss``
        reports, so :class:`~facexpr.training.EarlyStopping` watches the loss being trained.

        The loss may be the batch's mean (a scalar) or one value per face (``N``): training
        minimises the mean, evaluation averages over every face of the data.

        With ``loss=`` a callable ``f``, the loss is ``f(y_pred, y)`` in both cases. The
        built-in cross-entropy takes ``targets`` as class indices (``N``) or class probabilities
        (``N x C``); in training it applies the trainer's class weights and label smoothing (with
        probabilities and class weights the batch's mean is over faces, torch's rule for
        probability targets), in evaluation it is the data's plain cross-entropy, which these
        training aids do not change.

        Args:
            x: The batch's normalised inputs (``None`` where the loss needs only the logits).
            y: The batch's targets: class indices or class probabilities.
            y_pred: The model's logits of the batch.
            indices: The positions of the batch's faces in the training data (in training; see
                :meth:`train_step`).
            training: Whether the loss is for an optimisation step or for evaluation.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> logits = torch.tensor([[2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]])
            >>> round(float(trainer.compute_loss(y=torch.tensor([0]), y_pred=logits)), 4)
            0.5461
            >>> votes = torch.tensor([[0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3]])
            >>> round(float(trainer.compute_loss(y=votes, y_pred=logits)), 4)
            1.1461
        """
        if y_pred is None:
            if x is None or y is None:
                raise TypeError("compute_loss needs y (the targets) and y_pred (the logits).")
            warnings.warn(
                "compute_loss(logits, targets) is deprecated; call compute_loss(x, y, y_pred) "
                "(or compute_loss(y=targets, y_pred=logits)).", DeprecationWarning, stacklevel=2,
            )
            x, y, y_pred = None, y, x
        if self._loss_fn is not None:
            return self._loss_fn(y_pred, y)
        if not training:
            return F.cross_entropy(y_pred.float(), y, reduction="none")
        return F.cross_entropy(y_pred.float(), y, weight=self._weight, label_smoothing=self.label_smoothing)

    def _loss(
        self, x: torch.Tensor, y: torch.Tensor, y_pred: torch.Tensor, indices: torch.Tensor | None, training: bool
    ) -> torch.Tensor:
        """:meth:`compute_loss`, also for subclasses that override its 0.1 form ``(logits, targets)``."""
        if self._legacy_loss:
            return self.compute_loss(y_pred, y)  # type: ignore[call-arg]
        return self.compute_loss(x, y, y_pred, indices=indices, training=training)

    def autocast(self) -> Any:
        """The mixed-precision context of the trainer's forward passes.

        bfloat16 autocast on CUDA with ``amp=True``; elsewhere a context that changes nothing.
        Custom steps and losses that run a model (such as a distillation teacher) use it too.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> with trainer.autocast():
            ...     logits = trainer.model(torch.zeros(1, 1, 48, 48))
            >>> logits.dtype
            torch.float32
        """
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    # -- steps users may override ---------------------------------------------------------------
    def train_step(
        self, images: torch.Tensor, targets: torch.Tensor, *, indices: torch.Tensor | None = None
    ) -> dict[str, float]:
        """One optimisation step on a normalised batch. Returns ``{"loss", "correct"}``.

        Override to customise training (mixup, ...); keep the return keys and call
        :meth:`check_loss` before ``backward()``. Everything a step needs arrives with the
        batch: :meth:`fit` passes the positions of the batch's faces in the training data as
        ``indices``, which :meth:`compute_loss` and :meth:`hard_targets` take.

        Args:
            images: The augmented, normalised batch, on the device.
            targets: Its targets (class indices or class probabilities), on the device.
            indices: The positions of its faces in the training data (``None`` outside
                :meth:`fit`).

        Example:
            Mixup by overriding the step (the batch arrives normalised, on the device)::

                class MixupTrainer(Trainer):
                    def train_step(self, images, targets, *, indices=None):
                        lam = float(torch.distributions.Beta(0.4, 0.4).sample())
                        order = torch.randperm(len(images))
                        mixed = lam * images + (1 - lam) * images[order]
                        self.optimizer.zero_grad(set_to_none=True)
                        logits = self.model(mixed)
                        loss = lam * self.compute_loss(mixed, targets, logits) + (1 - lam) * self.compute_loss(
                            mixed, targets[order], logits)
                        self.check_loss(loss)
                        loss.backward()
                        self.optimizer.step()
                        correct = (logits.argmax(1) == self.hard_targets(targets, indices)).sum()
                        return {"loss": float(loss.detach()), "correct": float(correct)}
        """
        assert self.optimizer is not None
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.model(images)
        loss = self._loss(images, targets, logits, indices, training=True)
        if loss.ndim:  # one loss per face: the step minimises their mean
            loss = loss.mean()
        self.check_loss(loss)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        correct = (logits.argmax(1) == self.hard_targets(targets, indices)).sum()
        return {"loss": float(loss.detach()), "correct": float(correct)}

    def hard_targets(self, targets: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """The class indices that a batch's accuracy counts: ``targets`` themselves, or for
        class probabilities each face's majority class.

        With the batch's ``indices`` in the training data of the current :meth:`fit`, that is
        the data's :attr:`~facexpr.data.FaceDataset.hard_targets` for those faces (FER+'s
        majority label, ties broken as FER+ does); otherwise each distribution's most probable
        class.

        Args:
            targets: The batch's targets.
            indices: The positions of its faces in the training data, as :meth:`train_step`
                receives them.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> trainer.hard_targets(torch.tensor([[0.2, 0.8], [0.9, 0.1]])).tolist()
            [1, 0]
        """
        if targets.ndim != 2:
            return targets
        if self._train_hard is not None and indices is not None and len(indices) == len(targets):
            return self._train_hard[indices.to(self._train_hard.device)].to(targets.device)
        return targets.argmax(1)

    def _check_weights(self) -> None:
        """Raise :class:`FloatingPointError` if a weight or buffer of the model is NaN or infinite."""
        for name, tensor in self.unwrapped_model.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise FloatingPointError(f"the weights are not finite (first: {name!r})")

    def check_loss(self, loss: torch.Tensor) -> None:
        """Raise :class:`FloatingPointError` if ``loss`` is NaN or infinite (on any rank).

        In distributed training every rank learns that one rank's loss is not finite, so all
        of them stop together instead of waiting for each other forever.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> trainer.check_loss(torch.tensor(float("nan")))
            Traceback (most recent call last):
            ...
            FloatingPointError: the loss is nan (not finite)
        """
        finite = torch.isfinite(loss.detach()).all()
        if _distributed.is_distributed():
            flag = finite.to(torch.float32).reshape(1)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            if not bool(flag.item()) and bool(finite):
                raise FloatingPointError("the loss of another rank is not finite")
        if not bool(finite):
            raise FloatingPointError(f"the loss is {loss.detach().float().mean().item()} (not finite)")

    def eval_step(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward a normalised batch without gradients. Returns ``(summed loss, logits)``.

        Uses :attr:`unwrapped_model`, so ranks may evaluate different numbers of batches. The
        loss is :meth:`compute_loss` with ``training=False``, summed over the batch's faces (a
        scalar loss counts as the batch's mean): a custom loss is what ``val_loss`` reports.
        ``targets`` may be class indices or class probabilities.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> loss, logits = trainer.eval_step(torch.zeros(2, 1, 48, 48), torch.tensor([0, 3]))
            >>> logits.shape
            torch.Size([2, 7])
        """
        with self.autocast():
            logits = self.unwrapped_model(images)
        loss = self._loss(images, targets, logits, None, training=False)
        return _batch_sum(loss, len(images)), logits.float()

    # -- public API ---------------------------------------------------------------------------
    def fit(
        self,
        train: DataLike,
        *,
        val: DataLike | None = None,
        epochs: int,
        batch_size: int = 64,
        callbacks: Iterable[Callback] = (),
        checkpoint: str | os.PathLike | None = None,
        resume: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> History:
        """Train for ``epochs`` epochs and return the :class:`~facexpr.training.History`.

        The model's measured metrics (``model.config.metrics``: a release's val and test figures)
        are cleared first: they describe the weights training starts from, and a fine-tuned
        model saved with them would quote them as its own.

        Args:
            train: Training data (a :class:`~facexpr.data.FaceDataset` such as
                :class:`~facexpr.data.FER2013` or :class:`~facexpr.data.ImageFolder`).
            val: Validation data; adds ``val_loss`` / ``val_accuracy`` (/ ``val_macro_f1``).
            epochs: Total number of epochs (including those already done when resuming).
            batch_size: Training batch size (per process in distributed training).
            callbacks: Callbacks such as :class:`EarlyStopping` or :class:`ModelCheckpoint`.
            checkpoint: File to write a full training checkpoint to after every epoch
                (atomically): model, optimiser, scheduler, epoch, RNG states, history.
            resume: Checkpoint file to continue from. The resumed run ends with the same
                weights and history as an uninterrupted run with the same seed.
            progress: Show a tqdm progress bar.

        Returns:
            The history of every epoch run so far.

        Raises:
            TrainingDivergedError: (a :class:`FloatingPointError`) If the loss or the weights
                become NaN or infinite; the last checkpoint written (the end of the previous
                epoch) is left intact, and no callback sees the diverged epoch, so nothing
                non-finite is saved.
            ValueError: If the training or validation data holds no faces.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> images = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
            >>> targets = torch.arange(16) % 7
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> history = trainer.fit((images, targets), epochs=2, batch_size=8, progress=False)
            >>> sorted(history.history), len(history.epoch)
            (['accuracy', 'loss', 'lr', 'seconds'], 2)
        """
        train_ds = self._as_dataset(train, "train")
        val_ds = self._as_dataset(val, "val") if val is not None else None
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if len(train_ds) == 0:
            raise ValueError("The training data holds no faces.")
        if val_ds is not None and len(val_ds) == 0:
            raise ValueError(
                "The validation data holds no faces: no epoch could be measured or chosen. Give validation "
                "faces (more images per class, or a val/ folder), or pass val=None."
            )
        if _distributed.wants_distributed():
            self.device = _distributed.init_from_env(self.device)
        self._sync_labels(train_ds)
        config = getattr(self.unwrapped_model, "config", None)
        if config is not None:  # a release's figures describe the weights it starts from, not what it trains
            config.metrics = {}
        self.setup_fit(train_ds, batch_size)
        self._weight = self._class_weights(train_ds)
        self._train_hard = train_ds.hard_targets if train_ds.soft else None
        self.epochs = epochs
        self.batch_size = batch_size
        self.model = _distributed.wrap(self.model, self.device)
        indices_per_rank = self._rank_len(len(train_ds))
        self.steps_per_epoch = max(1, math.ceil(indices_per_rank / batch_size))
        self.optimizer = self._build_optimizer()
        self.scheduler = optim.build_scheduler(
            self.scheduler_name, self.optimizer, lr=self.lr, epochs=epochs, steps=self.steps_per_epoch
        )
        start_epoch = 0
        self.history = History()
        if resume is not None:
            start_epoch = self.load_checkpoint(resume)
        cb_list = [ProgressBar()] if progress else []
        callback_list = CallbackList([*cb_list, *callbacks])
        callback_list.set_trainer(self)
        callback_list.set_params(self.params)
        self.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(start_epoch, epochs):
            self._seed_epoch(epoch)
            callback_list.on_epoch_begin(epoch)
            started = time.perf_counter()
            try:
                logs = self._train_epoch(train_ds, batch_size, epoch, callback_list)
                self._check_weights()  # before validation, callbacks and checkpoints see them
            except FloatingPointError as err:
                intact = checkpoint is not None and Path(checkpoint).is_file()
                where = f"; the last good checkpoint '{checkpoint}' is intact" if intact else ""
                raise TrainingDivergedError(
                    f"Training stopped at epoch {epoch + 1}: {err}{where}; nothing of this epoch was saved. "
                    "Try a lower learning rate or grad_clip."
                ) from None
            if val_ds is not None:
                val_logs = self._evaluate_logs(val_ds, max(256, batch_size))
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
            logs["seconds"] = self._reduce_max(time.perf_counter() - started)
            if self.scheduler is not None and not optim.steps_per_batch(self.scheduler_name):
                if self.scheduler_name == "plateau":
                    self.scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    self.scheduler.step()
            self.history.append(epoch, logs)
            callback_list.on_epoch_end(epoch, logs)
            if checkpoint is not None and self.is_main_process:
                self.save_checkpoint(checkpoint, epoch + 1)
            if self.stop_training:
                break
        callback_list.on_train_end()
        if _distributed.is_distributed():
            torch.distributed.barrier()  # rank 0 has written its files before anyone returns
        return self.history

    def evaluate(self, data: DataLike, *, batch_size: int = 256, progress: bool = False) -> dict[str, Any]:
        """Evaluate on a data set.

        Args:
            data: The data (a :class:`~facexpr.data.FaceDataset` or ``(images, targets)``).
            batch_size: Faces per forward pass.
            progress: Show a progress bar on stderr (on a terminal only).

        With soft targets (class probabilities, such as FER+'s votes), ``loss`` is the
        cross-entropy against them and the classification metrics are against each face's
        majority class (:attr:`~facexpr.data.FaceDataset.hard_targets`). Whenever the data has a
        vote distribution (soft targets, or a :class:`~facexpr.data.FERPlus` data set built with
        ``labels="majority"``, through its ``votes``), the report adds ``kl_divergence``
        (:func:`~facexpr.metrics.kl_divergence` of the votes from the model's probabilities) and
        ``ece_votes`` (:func:`~facexpr.metrics.expected_calibration_error` against the votes).
        The probabilities are :meth:`predict`'s: logits divided by the model's calibrated
        temperature.

        When the data's classes are some of the model's labels by name (FER2013's seven for an
        eight-class FER+ model, say), the faces are scored over the data's classes only: the
        prediction is the most probable of those, and ``per_class`` and ``confusion_matrix``
        list them; ``loss`` stays the model's cross-entropy over all its classes.

        Returns:
            ``loss``, ``accuracy``, ``macro_f1``, macro precision/recall, ``per_class``
            precision/recall/F1/support by label, and ``confusion_matrix`` (rows: true class);
            plus ``kl_divergence`` and ``ece_votes`` for data with votes.

        Raises:
            ValueError: If the data has more classes than the model predicts, or votes over
                another number of classes.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> images = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> report = trainer.evaluate((images, torch.arange(16) % 7))
            >>> sorted(report)[:4]
            ['accuracy', 'confusion_matrix', 'loss', 'macro_f1']
            >>> votes = torch.full((16, 7), 0.1).index_fill_(1, torch.tensor([6]), 0.4)
            >>> report = trainer.evaluate((images, votes))
            >>> "kl_divergence" in report and "ece_votes" in report
            True
        """
        ds = self._as_dataset(data, "data")
        if len(ds) == 0:
            raise ValueError("Nothing to evaluate: the data holds no faces.")
        config = getattr(self.unwrapped_model, "config", None)
        labels = getattr(config, "labels", ds.classes)
        votes = ds.targets if ds.soft else getattr(ds, "votes", None)
        if len(ds.classes) > len(labels) or (votes is not None and votes.shape[1] != len(labels)):
            raise ValueError(
                f"The model predicts {len(labels)} classes {list(labels)} but the data has "
                f"{len(ds.classes)} {list(ds.classes)}; evaluate it on data of its own classes."
            )
        columns = _named_subset(ds.classes, labels) if votes is None else None
        if columns is not None:  # e.g. an 8-class FER+ model on FER2013's seven: scored over the data's classes
            from ..data.mixing import onto_classes

            logits, loss = self._logits(onto_classes(ds, labels), batch_size, progress=progress)
            logits, labels = logits[:, columns], tuple(ds.classes)
        else:
            logits, loss = self._logits(ds, batch_size, progress=progress)
        if not len(ds):
            logits = torch.empty(0, len(labels))
        report = logits_report(logits, ds.hard_targets, labels, temperature=getattr(config, "temperature", 1.0),
                               votes=votes if len(ds) else None)
        return {"loss": loss, **report}

    def predict(self, data: DataLike, *, batch_size: int = 256) -> torch.Tensor:
        """Return class probabilities ``N x num_classes`` (CPU) for a data set, in order.

        The probabilities are those of :meth:`model.predict_proba <facexpr.FaceModel.predict_proba>`:
        the faces at the model's ``crop_pct``, logits divided by its calibrated
        ``config.temperature`` before the softmax.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> images = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> trainer.predict((images, torch.arange(16) % 7)).shape
            torch.Size([16, 7])
        """
        ds = self._as_dataset(data, "data")
        logits, _ = self._logits(ds, batch_size)
        config = getattr(self.unwrapped_model, "config", None)
        return (logits / getattr(config, "temperature", 1.0)).softmax(1)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike, epoch: int) -> Path:
        """Write a full training checkpoint atomically (``torch.save``, tensors and numbers only).

        Args:
            path: The checkpoint file.
            epoch: The number of epochs completed: the epoch a resumed run starts at.

        Example:
            >>> import tempfile, facexpr
            >>> from pathlib import Path
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     path = trainer.save_checkpoint(Path(tmp) / "checkpoint.pt", epoch=3)
            ...     print(path.name, trainer.load_checkpoint(path))
            checkpoint.pt 3
        """
        state = {
            "format": "facexpr-checkpoint-1",
            "epoch": epoch,
            "epochs": self.epochs,
            "model": self.unwrapped_model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "history": self.history.to_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": np.random.get_state()[1].tolist(),
                "python": repr(random.getstate()),
            },
            "seed": self.seed,
            "classes": list(getattr(getattr(self.unwrapped_model, "config", None), "labels", ()) or ()),
            "run": dict(self.run_info),
        }
        return atomic_write(Path(path), lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, path: str | os.PathLike) -> int:
        """Restore a checkpoint written by :meth:`save_checkpoint`; return the next epoch.

        Loaded with ``torch.load(weights_only=True)``: no arbitrary code is unpickled.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            CheckpointError: If the file is truncated or corrupt, is not a facexpr checkpoint,
                holds the weights of another architecture or number of classes, was trained on
                other class names, or its :attr:`run_info` differs from this trainer's.
            ValueError: If it was written by a run of another length whose learning-rate
                schedule depends on that length.

        Example:
            Resume an interrupted run (``fit(..., resume=path)`` does this for you)::

                trainer = Trainer(facexpr.load("better", pretrained=False))
                next_epoch = trainer.load_checkpoint("runs/better/checkpoint.pt")
        """
        path = Path(path)
        state = read_checkpoint(path, self.device)
        check_checkpoint_model(path, state, self.unwrapped_model)
        labels = getattr(getattr(self.unwrapped_model, "config", None), "labels", None)
        check_checkpoint_run(path, state, {"classes": list(labels)} if labels else {})
        planned = state.get("epochs")  # absent from checkpoints of facexpr 0.1.0
        if planned and self.epochs and planned != self.epochs and self.scheduler_name in ("cosine", "onecycle", "step"):
            raise ValueError(
                f"'{path}' was written by a run of epochs={planned}, and its {self.scheduler_name!r} "
                f"schedule is laid out over that length; resume with epochs={planned}, not "
                f"{self.epochs} (or use scheduler=None or 'plateau', or start a new run)."
            )
        self.unwrapped_model.load_state_dict(state["model"])
        if self.optimizer is None:
            self.optimizer = self._build_optimizer()
        if state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = History.from_dict(state["history"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        return int(state["epoch"])

    # -- internals ----------------------------------------------------------------------------
    def _sync_labels(self, train: FaceDataset) -> None:
        """Carry the data's class names into the model config so ``predict`` reports them."""
        model = self.unwrapped_model
        config = getattr(model, "config", None)
        if config is None:
            return
        num_out = getattr(model, "num_classes", None)
        if num_out is not None and num_out != len(train.classes):
            raise ValueError(
                f"The model has {num_out} outputs but the training data has {len(train.classes)} "
                f"classes {list(train.classes)}. Use facexpr.load(..., num_classes="
                f"{len(train.classes)}) or model.reset_classifier({len(train.classes)})."
            )
        if tuple(config.labels) != tuple(train.classes):
            config.labels = tuple(train.classes)

    def _rank_len(self, n: int) -> int:
        return math.ceil(n / self.world_size)

    def _all_reduce(self, values: Sequence[float] | torch.Tensor, op: str = "sum") -> Any:
        return _distributed.all_reduce(values, self.device, op)

    def _reduce_max(self, value: float) -> float:
        return self._all_reduce([value], op="max")[0]

    def _epoch_indices(self, n: int, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(n, generator=generator)

    def _seed_epoch(self, epoch: int) -> None:
        """Make each epoch's randomness a function of (seed, epoch, rank) alone, so resuming is exact."""
        seed = self.seed * 100_003 + epoch + self.rank * _RANK_SEED_STRIDE
        torch.manual_seed(seed)
        np.random.seed(seed % (2**32))
        random.seed(seed)

    def _train_epoch(
        self, train: FaceDataset, batch_size: int, epoch: int, callbacks: CallbackList
    ) -> dict[str, float]:
        self._set_train_mode()
        order = self._epoch_indices(len(train), epoch)  # the same on every rank
        if self.world_size > 1:
            order = _distributed.shard(order, self.rank, self.world_size)
        generator = torch.Generator().manual_seed(
            self.seed * 100_003 + epoch + 7 + self.rank * _RANK_SEED_STRIDE
        )
        total_loss, total_correct, seen = 0.0, 0.0, 0
        for step in range(self.steps_per_epoch):
            batch_index = order[step * batch_size : (step + 1) * batch_size]
            if len(batch_index) < 2 and step > 0:
                break  # a batch of one breaks BatchNorm; it is dropped
            callbacks.on_train_batch_begin(step)
            images = train.images[batch_index].float().div_(255.0)
            if self.augment is not None:
                images = self.augment(images, generator=generator)
            images = self._normalize_unit(images.to(self.device, non_blocking=True))
            targets = train.targets[batch_index].to(self.device, non_blocking=True)
            if self._legacy_step:
                out = self.train_step(images, targets)
            else:
                out = self.train_step(images, targets, indices=batch_index)
            if self.scheduler is not None and optim.steps_per_batch(self.scheduler_name):
                self.scheduler.step()
            n = len(batch_index)
            total_loss += out["loss"] * n
            total_correct += out["correct"]
            seen += n
            callbacks.on_train_batch_end(step, {"loss": total_loss / seen, "accuracy": total_correct / seen})
        _distributed.broadcast_buffers(self.unwrapped_model)
        total_loss, total_correct, seen = self._all_reduce([total_loss, total_correct, seen])
        logs = {"loss": total_loss / max(seen, 1)}
        if "accuracy" in self.metrics:
            logs["accuracy"] = total_correct / max(seen, 1)
        return logs

    def _logits_sum(
        self, images: torch.Tensor, targets: torch.Tensor, batch_size: int, progress: bool = False
    ) -> tuple[torch.Tensor, float]:
        """Return ``(logits N x C on the CPU, summed loss)`` of ``uint8`` images.

        The logits come from :func:`facexpr.inference.face_logits` (the model's own view of
        each face), each batch going through :meth:`eval_step` for its loss.
        """
        from tqdm.auto import tqdm

        if not len(images):
            return torch.empty(0, 0), 0.0
        total = 0.0
        bar = tqdm(total=len(images), unit="face", desc="evaluating", file=sys.stderr, leave=False,
                   dynamic_ncols=True, disable=not (progress and interactive(sys.stderr)))

        def step(inputs: torch.Tensor, start: int) -> torch.Tensor:
            nonlocal total
            loss, logits = self.eval_step(inputs, targets[start : start + len(inputs)].to(self.device))
            total += float(loss)
            bar.update(len(inputs))
            return logits

        was_training = self.model.training
        try:
            logits = face_logits(self.unwrapped_model, images, batch_size=batch_size,
                                 transform=self.transforms(), forward=step)[0]
        finally:
            bar.close()
            self.model.train(was_training)
        return logits, total

    def _logits(self, ds: FaceDataset, batch_size: int, progress: bool = False) -> tuple[torch.Tensor, float]:
        logits, total = self._logits_sum(ds.images, ds.targets, batch_size, progress)
        return logits, total / max(len(ds), 1)

    def _evaluate_logs(self, ds: FaceDataset, batch_size: int) -> dict[str, float]:
        """Validation logs; in distributed training each rank scores every N-th image."""
        images, targets, hard = ds.images, ds.targets, ds.hard_targets
        if self.world_size > 1:
            step = self.world_size
            images, targets, hard = images[self.rank :: step], targets[self.rank :: step], hard[self.rank :: step]
        logits, total = self._logits_sum(images, targets, batch_size)
        num_classes = getattr(self.unwrapped_model, "num_classes", None) or (
            logits.shape[1] if logits.numel() else len(ds.classes)
        )
        preds = logits.argmax(1) if logits.numel() else torch.empty(0, dtype=torch.int64)
        cm = confusion_matrix(preds, hard, num_classes)
        total = self._all_reduce([total])[0]
        cm = self._all_reduce(cm).long()
        n = int(cm.sum())
        logs = {"loss": total / max(n, 1)}
        if "accuracy" in self.metrics:
            logs["accuracy"] = float(cm.diag().sum()) / max(n, 1)
        if "macro_f1" in self.metrics:
            logs["macro_f1"] = classification_report(cm, [str(i) for i in range(num_classes)])["macro_f1"]
        return logs
