"""``Trainer``: a Keras-style training loop for facexpr models (and any classifier)."""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_write
from .._device import channels_last_suits
from .._device import best_device
from ..data.augment import BatchAugment, get_augment
from ..data.dataset import FaceDataset
from . import _distributed
from .callbacks import Callback, CallbackList, ProgressBar
from .history import History
from .metrics import classification_report, confusion_matrix

__all__ = ["Trainer", "OPTIMIZERS", "SCHEDULERS"]

OPTIMIZERS = ("adam", "adamw", "sgd")
"""Optimiser names accepted by ``Trainer(optimizer=...)`` (all from :mod:`torch.optim`)."""

SCHEDULERS = ("cosine", "onecycle", "step", "plateau")
"""Schedule names accepted by ``Trainer(scheduler=...)`` (all from ``torch.optim.lr_scheduler``)."""

DataLike = FaceDataset | tuple[torch.Tensor, torch.Tensor]

_RANK_SEED_STRIDE = 1_000_000_007
"""Offset between the per-epoch seeds of two ranks (rank 0 keeps the single-process seeds)."""


def _as_dataset(data: DataLike, name: str) -> FaceDataset:
    if isinstance(data, FaceDataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        images, targets = data
        classes = [str(i) for i in range(int(torch.as_tensor(targets).max()) + 1)]
        return FaceDataset(images, targets, classes)
    raise TypeError(
        f"{name} must be a facexpr FaceDataset (FER2013, ImageFolder, ...) or a tuple "
        f"(uint8 images Nx48x48, int targets N), got {type(data).__name__}."
    )


class Trainer:
    """Train, evaluate and predict with a model, the way Keras's ``fit`` does.

    The model stays a plain :class:`torch.nn.Module`. Batches are sliced straight from the
    data set's ``uint8`` tensor, augmented as a batch (:class:`~facexpr.data.BatchAugment`)
    and normalised with the model's own ``config.mean`` / ``config.std``.

    Distributed training needs no code change: launch the same script with
    ``torchrun --nproc_per_node=N script.py``. When ``$WORLD_SIZE`` > 1 the trainer joins the
    process group (NCCL on CUDA, each process on ``cuda:$LOCAL_RANK``; Gloo on CPU) unless
    it is already initialised, wraps the model in
    :class:`~torch.nn.parallel.DistributedDataParallel`, gives each rank its share of every
    epoch's shuffled order (``batch_size`` is per process), averages training and validation
    metrics over all ranks, and lets only rank 0 write checkpoints and run ``rank_zero_only``
    callbacks (:class:`ModelCheckpoint`, :class:`CSVLogger`, loggers, the progress bar).

    Args:
        model: The network (a :class:`~facexpr.models.FaceModel` or any module mapping
            ``N x 1 x 48 x 48`` to logits).
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (Nesterov momentum) or a
            :class:`torch.optim.Optimizer` already built on the model's parameters.
        lr: Learning rate (the peak rate for ``"onecycle"``).
        weight_decay: L2 penalty (decoupled for AdamW).
        momentum: SGD momentum.
        scheduler: ``None``, ``"cosine"``, ``"onecycle"``, ``"step"`` or ``"plateau"``.
        loss: ``"cross_entropy"`` or a callable ``(logits, targets) -> loss``.
        label_smoothing: Label smoothing of the cross-entropy.
        class_weight: ``None``, ``"balanced"`` (inverse class frequency) or one weight per class.
        metrics: Extra metrics to log besides loss: ``"accuracy"`` and/or ``"macro_f1"``.
        augment: Augmentation preset name (see :data:`~facexpr.data.AUGMENT_PRESETS`),
            a :class:`~facexpr.data.BatchAugment`, or ``None``.
        freeze: ``"features"`` trains only the classifier (fine-tuning); ``None`` trains all.
        device: Where to train; default CUDA, then MPS, then CPU.
        seed: Seed of shuffling, augmentation, dropout and initialisation of new layers.
        amp: Mixed precision (bfloat16 autocast) on CUDA.
        grad_clip: Clip the gradient norm to this value.
        channels_last: Store convolution weights and batches channels-last (NHWC) on CPU and
            CUDA. BetterCNN trains about 1.6x faster on a CPU this way (see the data-pipeline
            benchmark); results differ only by float rounding. ``False`` keeps the model's
            own layout.
        teacher: A trained model whose soft labels the model learns from (knowledge
            distillation, Hinton et al. 2015). A frozen copy of it sees the same augmented
            batch, in eval mode and without gradients. It must take the same input and predict
            the same classes; named classes are matched to the data's by name.
        distill_alpha: Weight of the distillation term: the loss is
            ``(1 - alpha) * cross_entropy + alpha * T^2 * KL(teacher || student)`` at
            temperature ``T``.
        distill_temperature: Softmax temperature ``T`` of both models in the distillation term.
        teacher_mode: ``"online"``: the teacher sees every augmented batch (exact, costs one
            teacher forward pass per step); ``"cached"``: the teacher's logits of every training
            image and its mirror image are computed once per :meth:`fit` and averaged, and each
            augmented batch is distilled towards those of its images (much cheaper with a large
            teacher, approximate under strong augmentation).

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
        teacher: nn.Module | None = None,
        distill_alpha: float = 0.5,
        distill_temperature: float = 4.0,
        teacher_mode: str = "online",
    ) -> None:
        unknown = [m for m in metrics if m not in ("accuracy", "macro_f1")]
        if unknown:
            raise ValueError(f"Unknown metrics {unknown}. Available: accuracy, macro_f1.")
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise ValueError(f"Unknown scheduler {scheduler!r}. Available: {', '.join(SCHEDULERS)}.")
        if freeze not in (None, "features"):
            raise ValueError(f"freeze must be None or 'features', got {freeze!r}.")
        self.device = torch.device(device) if device is not None else best_device()
        if _distributed.env_world_size() > 1 or _distributed.is_distributed():
            self.device = _distributed.init_from_env(self.device)
        self.model = model.to(self.device)
        self.channels_last = channels_last and channels_last_suits(self.model, self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        elif self.device.type not in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.contiguous_format)
        self.seed = seed
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
        self._optimizer_arg = optimizer
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.history = History()
        self.stop_training = False
        self.epochs = 0
        self.batch_size = 0
        self.steps_per_epoch = 0
        self._weight: torch.Tensor | None = None
        if not 0.0 <= distill_alpha <= 1.0:
            raise ValueError(f"distill_alpha must be in [0, 1], got {distill_alpha}.")
        if distill_temperature <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {distill_temperature}.")
        if teacher_mode not in ("online", "cached"):
            raise ValueError(f"teacher_mode must be 'online' or 'cached', got {teacher_mode!r}.")
        self.teacher_mode = teacher_mode
        self._teacher_order: torch.Tensor | None = None
        self._teacher_cache: torch.Tensor | None = None
        self._batch_teacher_logits: torch.Tensor | None = None
        self.teacher = self._prepare_teacher(teacher)
        self.distill_alpha = distill_alpha
        self.distill_temperature = distill_temperature
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

    # -- building blocks ----------------------------------------------------------------------
    def _apply_freeze(self) -> None:
        if self.freeze == "features":
            features = getattr(self.unwrapped_model, "features", None)
            if features is None:
                raise ValueError("freeze='features' needs a model with a .features trunk.")
            for param in features.parameters():
                param.requires_grad_(False)

    def _prepare_teacher(self, teacher: nn.Module | None) -> nn.Module | None:
        """Return a frozen copy of ``teacher`` on the trainer's device (the caller's is untouched)."""
        if teacher is None:
            return None
        if teacher is self.unwrapped_model:
            raise ValueError("The teacher must be another model than the one being trained.")
        teacher = copy.deepcopy(teacher).to(self.device).eval()
        if self.channels_last:
            teacher = teacher.to(memory_format=torch.channels_last)
        for param in teacher.parameters():
            param.requires_grad_(False)
        student_classes = getattr(self.unwrapped_model, "num_classes", None)
        teacher_classes = getattr(teacher, "num_classes", None)
        if student_classes is not None and teacher_classes is not None and student_classes != teacher_classes:
            raise ValueError(
                f"The teacher predicts {teacher_classes} classes but the model {student_classes}; "
                "distillation needs the same classes in the same order."
            )
        return teacher

    def _match_teacher_classes(self, train: FaceDataset) -> None:
        """Order the teacher's outputs like the training data's classes, matched by name.

        Raises:
            ValueError: If the teacher's class names are not those of the data.
        """
        self._teacher_order = None
        labels = getattr(self.teacher, "labels", None)
        classes = tuple(train.classes)
        if self.teacher is None or labels is None or all(c.isdigit() for c in classes):
            return  # unnamed classes (a tuple of tensors): positions are all there is
        labels = tuple(labels)
        if labels == classes:
            return
        if sorted(labels) != sorted(classes):
            raise ValueError(
                f"The teacher's classes {list(labels)} are not the training data's "
                f"{list(classes)}; distillation needs a teacher of the same classes."
            )
        self._teacher_order = torch.tensor([labels.index(c) for c in classes], device=self.device)

    @torch.inference_mode()
    def _cache_teacher_logits(self, train: FaceDataset, batch_size: int) -> torch.Tensor | None:
        """With ``teacher_mode="cached"``: the teacher's logits of every training image, averaged
        with those of its mirror image, in the data's class order (``N x C`` on the device)."""
        if self.teacher is None or self.teacher_mode != "cached":
            return None
        outputs = []
        for _, images in self._input_batches(train.images, max(batch_size, 256)):
            with self._autocast():
                logits = (self.teacher(images).float() + self.teacher(torch.flip(images, dims=[3])).float()) / 2
            outputs.append(logits)
        cache = torch.cat(outputs)
        return cache[:, self._teacher_order] if self._teacher_order is not None else cache

    def _set_train_mode(self) -> None:
        self.model.train()
        if self.freeze == "features":
            self.unwrapped_model.features.eval()  # frozen BatchNorm keeps its statistics

    def _build_optimizer(self) -> torch.optim.Optimizer:
        if isinstance(self._optimizer_arg, torch.optim.Optimizer):
            return self._optimizer_arg
        params = [p for p in self.model.parameters() if p.requires_grad]
        name = str(self._optimizer_arg).lower()
        if name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if name == "sgd":
            return torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, nesterov=self.momentum > 0,
                weight_decay=self.weight_decay,
            )
        raise ValueError(f"Unknown optimizer {self._optimizer_arg!r}. Available: {', '.join(OPTIMIZERS)}.")

    def _build_scheduler(self, optimizer: torch.optim.Optimizer, epochs: int, steps: int) -> Any:
        sched = torch.optim.lr_scheduler
        if self.scheduler_name == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=epochs * steps)
        if self.scheduler_name == "onecycle":
            return sched.OneCycleLR(optimizer, max_lr=self.lr, total_steps=epochs * steps)
        if self.scheduler_name == "step":
            return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
        if self.scheduler_name == "plateau":
            return sched.ReduceLROnPlateau(optimizer, factor=0.5, patience=3)
        return None

    @property
    def _per_step_scheduler(self) -> bool:
        return self.scheduler_name in ("cosine", "onecycle")

    def _class_weights(self, train: FaceDataset) -> torch.Tensor | None:
        if self.class_weight is None:
            return None
        num = len(train.classes)
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(f"class_weight must be 'balanced' or a sequence, got {self.class_weight!r}.")
            counts = torch.tensor(train.class_counts(), dtype=torch.float32).clamp(min=1)
            weights = counts.sum() / (num * counts)
        else:
            weights = torch.tensor(list(self.class_weight), dtype=torch.float32)
            if weights.numel() != num:
                raise ValueError(f"class_weight has {weights.numel()} entries but the data has {num} classes.")
        return weights.to(self.device)

    def _model_view(self, inputs: torch.Tensor) -> torch.Tensor:
        """Evaluation inputs as ``predict`` sees them: cropped to the model's ``config.crop_pct``."""
        config = getattr(self.unwrapped_model, "config", None)
        if getattr(config, "crop_pct", 1.0) == 1.0:
            return inputs
        cropped = self.unwrapped_model.transforms().center_crop(inputs)
        return cropped.contiguous(memory_format=torch.channels_last) if self.channels_last else cropped

    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        config = getattr(self.unwrapped_model, "config", None)
        mean = torch.tensor(getattr(config, "mean", (0.5,)), device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(getattr(config, "std", (0.5,)), device=images.device).view(1, -1, 1, 1)
        images = (images - mean) / std
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def compute_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the training loss of a batch (override for custom losses).

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> logits = torch.tensor([[2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]])
            >>> round(float(trainer.compute_loss(logits, torch.tensor([0]))), 4)
            0.5461
        """
        if self._loss_fn is not None:
            return self._loss_fn(logits, targets)
        return F.cross_entropy(
            logits.float(), targets, weight=self._weight, label_smoothing=self.label_smoothing
        )

    def distillation_loss(
        self, logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Return the knowledge-distillation loss of a batch (used when a teacher is set).

        ``(1 - alpha) * compute_loss(logits, targets) + alpha * T^2 * KL(p_teacher || p_student)``
        with both distributions softened at temperature ``T = distill_temperature``.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu",
            ...                   teacher=facexpr.load("simple", device="cpu"), distill_alpha=1.0)
            >>> logits = torch.randn(4, 7)
            >>> float(trainer.distillation_loss(logits, logits, torch.zeros(4, dtype=torch.long)))
            0.0
        """
        hard = self.compute_loss(logits, targets)
        temperature = self.distill_temperature
        soft = F.kl_div(
            F.log_softmax(logits.float() / temperature, dim=1),
            F.log_softmax(teacher_logits.float() / temperature, dim=1),
            reduction="batchmean", log_target=True,
        ) * temperature**2
        return (1.0 - self.distill_alpha) * hard + self.distill_alpha * soft

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    # -- steps users may override ---------------------------------------------------------------
    def train_step(self, images: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """One optimisation step on a normalised batch. Returns ``{"loss", "correct"}``.

        Override to customise training (mixup, distillation, ...); keep the return keys and
        call :meth:`check_loss` before ``backward()``.

        Example:
            Mixup by overriding the step (the batch arrives normalised, on the device)::

                class MixupTrainer(Trainer):
                    def train_step(self, images, targets):
                        lam = float(torch.distributions.Beta(0.4, 0.4).sample())
                        order = torch.randperm(len(images))
                        self.optimizer.zero_grad(set_to_none=True)
                        logits = self.model(lam * images + (1 - lam) * images[order])
                        loss = lam * self.compute_loss(logits, targets) + (1 - lam) * self.compute_loss(
                            logits, targets[order])
                        self.check_loss(loss)
                        loss.backward()
                        self.optimizer.step()
                        correct = (logits.argmax(1) == targets).sum()
                        return {"loss": float(loss.detach()), "correct": float(correct)}
        """
        assert self.optimizer is not None
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.model(images)
        if self.teacher is not None:
            if self._batch_teacher_logits is not None:  # teacher_mode="cached"
                teacher_logits = self._batch_teacher_logits
            else:
                with torch.no_grad(), self._autocast():
                    teacher_logits = self.teacher(images)
                if self._teacher_order is not None:
                    teacher_logits = teacher_logits[:, self._teacher_order]
            loss = self.distillation_loss(logits, teacher_logits, targets)
        else:
            loss = self.compute_loss(logits, targets)
        self.check_loss(loss)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        correct = (logits.argmax(1) == targets).sum()
        return {"loss": float(loss.detach()), "correct": float(correct)}

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

        Uses :attr:`unwrapped_model`, so ranks may evaluate different numbers of batches.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> loss, logits = trainer.eval_step(torch.zeros(2, 1, 48, 48), torch.tensor([0, 3]))
            >>> logits.shape
            torch.Size([2, 7])
        """
        with self._autocast():
            logits = self.unwrapped_model(images)
        loss = F.cross_entropy(logits.float(), targets, reduction="sum")
        return loss, logits.float()

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
            FloatingPointError: If the loss becomes NaN or infinite; the last checkpoint
                written (the end of the previous epoch) is left intact.

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
        train_ds = _as_dataset(train, "train")
        val_ds = _as_dataset(val, "val") if val is not None else None
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self._sync_labels(train_ds)
        self._match_teacher_classes(train_ds)
        self._teacher_cache = self._cache_teacher_logits(train_ds, batch_size)
        self._weight = self._class_weights(train_ds)
        self.epochs = epochs
        self.batch_size = batch_size
        self._wrap_distributed()
        indices_per_rank = self._rank_len(len(train_ds))
        self.steps_per_epoch = max(1, math.ceil(indices_per_rank / batch_size))
        self.optimizer = self._build_optimizer()
        self.scheduler = self._build_scheduler(self.optimizer, epochs, self.steps_per_epoch)
        start_epoch = 0
        self.history = History()
        if resume is not None:
            start_epoch = self.load_checkpoint(resume)
        cb_list = [ProgressBar()] if progress else []
        callback_list = CallbackList([*cb_list, *callbacks])
        callback_list.set_trainer(self)
        self.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(start_epoch, epochs):
            self._seed_epoch(epoch)
            callback_list.on_epoch_begin(epoch)
            started = time.perf_counter()
            try:
                logs = self._train_epoch(train_ds, batch_size, epoch, callback_list)
            except FloatingPointError as err:
                intact = checkpoint is not None and Path(checkpoint).is_file()
                where = f"; the last good checkpoint '{checkpoint}' is intact" if intact else ""
                raise FloatingPointError(
                    f"Training stopped at epoch {epoch + 1}: {err}{where}. Try a lower "
                    "learning rate or grad_clip."
                ) from None
            if val_ds is not None:
                val_logs = self._evaluate_logs(val_ds, max(256, batch_size))
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
            logs["seconds"] = self._reduce_max(time.perf_counter() - started)
            if self.scheduler is not None and not self._per_step_scheduler:
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

    def evaluate(self, data: DataLike, *, batch_size: int = 256) -> dict[str, Any]:
        """Evaluate on a data set.

        Returns:
            ``loss``, ``accuracy``, ``macro_f1``, macro precision/recall, ``per_class``
            precision/recall/F1/support by label, and ``confusion_matrix`` (rows: true class).

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> images = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> report = trainer.evaluate((images, torch.arange(16) % 7))
            >>> sorted(report)[:4]
            ['accuracy', 'confusion_matrix', 'loss', 'macro_f1']
        """
        ds = _as_dataset(data, "data")
        logits, loss = self._logits(ds, batch_size)
        preds = logits.argmax(1)
        labels = getattr(getattr(self.unwrapped_model, "config", None), "labels", ds.classes)
        cm = confusion_matrix(preds, ds.targets, len(labels))
        report = classification_report(cm, labels)
        return {"loss": loss, **report}

    def predict(self, data: DataLike, *, batch_size: int = 256) -> torch.Tensor:
        """Return softmax probabilities ``N x num_classes`` (CPU) for a data set, in order.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import Trainer
            >>> images = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
            >>> trainer = Trainer(facexpr.load("simple", pretrained=False), device="cpu")
            >>> trainer.predict((images, torch.arange(16) % 7)).shape
            torch.Size([16, 7])
        """
        ds = _as_dataset(data, "data")
        logits, _ = self._logits(ds, batch_size)
        return logits.softmax(1)

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
        }
        return atomic_write(Path(path), lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, path: str | os.PathLike) -> int:
        """Restore a checkpoint written by :meth:`save_checkpoint`; return the next epoch.

        Loaded with ``torch.load(weights_only=True)``: no arbitrary code is unpickled.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not a facexpr checkpoint, or if it was written by a run
                of another length whose learning-rate schedule depends on that length.

        Example:
            Resume an interrupted run (``fit(..., resume=path)`` does this for you)::

                trainer = Trainer(facexpr.load("better", pretrained=False))
                next_epoch = trainer.load_checkpoint("runs/better/checkpoint.pt")
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Checkpoint '{path}' does not exist.")
        state = torch.load(path, map_location=self.device, weights_only=True)
        if not isinstance(state, dict) or state.get("format") != "facexpr-checkpoint-1":
            raise ValueError(f"'{path}' is not a facexpr training checkpoint.")
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

    def _wrap_distributed(self) -> None:
        if not _distributed.is_distributed() or isinstance(self.model, nn.parallel.DistributedDataParallel):
            return
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    def _rank_len(self, n: int) -> int:
        return math.ceil(n / self.world_size)

    def _all_reduce(self, values: Sequence[float] | torch.Tensor, op: str = "sum") -> Any:
        """Sum (or max) numbers over all ranks; identity outside distributed training."""
        if not _distributed.is_distributed():
            return values if isinstance(values, torch.Tensor) else list(values)
        device = self.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
        tensor = torch.as_tensor(values, dtype=torch.float64).to(device)
        reduce_op = torch.distributed.ReduceOp.MAX if op == "max" else torch.distributed.ReduceOp.SUM
        torch.distributed.all_reduce(tensor, op=reduce_op)
        return tensor.cpu() if isinstance(values, torch.Tensor) else tensor.cpu().tolist()

    def _reduce_max(self, value: float) -> float:
        return self._all_reduce([value], op="max")[0]

    def _broadcast_buffers(self) -> None:
        """Give every rank rank 0's BatchNorm statistics (each rank updated its own last)."""
        if _distributed.is_distributed():
            for buffer in self.unwrapped_model.buffers():
                torch.distributed.broadcast(buffer.data, src=0)

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
            images = self._normalize(images.to(self.device, non_blocking=True))
            targets = train.targets[batch_index].to(self.device, non_blocking=True)
            if self._teacher_cache is not None:
                self._batch_teacher_logits = self._teacher_cache[batch_index.to(self._teacher_cache.device)]
            out = self.train_step(images, targets)
            self._batch_teacher_logits = None  # belongs to this batch only
            if self.scheduler is not None and self._per_step_scheduler:
                self.scheduler.step()
            n = len(batch_index)
            total_loss += out["loss"] * n
            total_correct += out["correct"]
            seen += n
            callbacks.on_train_batch_end(step, {"loss": total_loss / seen, "accuracy": total_correct / seen})
        self._broadcast_buffers()
        total_loss, total_correct, seen = self._all_reduce([total_loss, total_correct, seen])
        logs = {"loss": total_loss / max(seen, 1)}
        if "accuracy" in self.metrics:
            logs["accuracy"] = total_correct / max(seen, 1)
        return logs

    def _input_batches(self, images: torch.Tensor, batch_size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(start index, normalised float batch on the device)`` of ``uint8`` images."""
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].float().div_(255.0)
            yield start, self._normalize(batch.to(self.device))

    @torch.inference_mode()
    def _logits_sum(
        self, images: torch.Tensor, targets: torch.Tensor, batch_size: int
    ) -> tuple[torch.Tensor, float]:
        """Return ``(logits N x C on the CPU, summed loss)`` of ``uint8`` images."""
        was_training = self.model.training
        self.model.eval()
        outputs, total = [], 0.0
        try:
            for start, batch in self._input_batches(images, batch_size):
                batch_targets = targets[start : start + batch_size].to(self.device)
                loss, logits = self.eval_step(self._model_view(batch), batch_targets)
                total += float(loss)
                outputs.append(logits.cpu())
        finally:
            self.model.train(was_training)
        logits = torch.cat(outputs) if outputs else torch.empty(0, 0)
        return logits, total

    def _logits(self, ds: FaceDataset, batch_size: int) -> tuple[torch.Tensor, float]:
        logits, total = self._logits_sum(ds.images, ds.targets, batch_size)
        return logits, total / max(len(ds), 1)

    def _evaluate_logs(self, ds: FaceDataset, batch_size: int) -> dict[str, float]:
        """Validation logs; in distributed training each rank scores every N-th image."""
        images, targets = ds.images, ds.targets
        if self.world_size > 1:
            images, targets = images[self.rank :: self.world_size], targets[self.rank :: self.world_size]
        logits, total = self._logits_sum(images, targets, batch_size)
        num_classes = getattr(self.unwrapped_model, "num_classes", None) or (
            logits.shape[1] if logits.numel() else len(ds.classes)
        )
        preds = logits.argmax(1) if logits.numel() else torch.empty(0, dtype=torch.int64)
        cm = confusion_matrix(preds, targets, num_classes)
        total = self._all_reduce([total])[0]
        cm = self._all_reduce(cm).long()
        n = int(cm.sum())
        logs = {"loss": total / max(n, 1)}
        if "accuracy" in self.metrics:
            logs["accuracy"] = float(cm.diag().sum()) / max(n, 1)
        if "macro_f1" in self.metrics:
            logs["macro_f1"] = classification_report(cm, [str(i) for i in range(num_classes)])["macro_f1"]
        return logs
