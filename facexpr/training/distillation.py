"""``DistillationTrainer``: a :class:`~facexpr.training.Trainer` that learns from a teacher too.

Keras's ``Distiller`` pattern: the subclass holds the teacher and its settings, computes the
teacher's logits in :meth:`~DistillationTrainer.train_step` and mixes hard and soft targets in
:meth:`~DistillationTrainer.compute_loss`; the loop itself is the plain ``Trainer``'s.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import FaceDataset
from .trainer import Trainer

__all__ = ["DistillationTrainer", "TEACHER_MODES"]

TEACHER_MODES = ("online", "cached")
"""How :class:`DistillationTrainer` gets the teacher's logits (see ``teacher_mode``)."""


class DistillationTrainer(Trainer):
    """Train a model on the labels and on a teacher's soft labels (Hinton et al. 2015).

    A frozen copy of the teacher scores the same augmented batch as the student, in eval mode
    and without gradients (or, with ``teacher_mode="cached"``, once per :meth:`fit`). The loss
    is ``(1 - alpha) * cross_entropy + alpha * T^2 * KL(teacher || student)`` at temperature
    ``T``, where ``cross_entropy`` is the plain trainer's loss: against the class ids, or against
    each face's distribution for soft targets (such as FER+'s votes). Validation,
    :meth:`evaluate` and :meth:`predict` are the plain trainer's.

    Args:
        model: The student being trained.
        teacher: A trained model that takes the same input and predicts the same classes;
            named classes are matched to the data's by name. The caller's model is untouched.
        distill_alpha: Weight ``alpha`` of the distillation term, in [0, 1].
        distill_temperature: Softmax temperature ``T`` of both models in the distillation term.
        teacher_mode: ``"online"``: the teacher sees every augmented batch (exact, costs one
            teacher forward pass per step); ``"cached"``: the teacher's logits of every training
            image and its mirror image are computed once per :meth:`fit` and averaged, and each
            augmented batch is distilled towards those of its images (much cheaper with a large
            teacher, approximate under strong augmentation).
        **kwargs: Every other :class:`~facexpr.training.Trainer` argument.

    Raises:
        ValueError: If an argument is out of range, or the teacher predicts other classes.

    Example:
        >>> import facexpr
        >>> from facexpr.training import DistillationTrainer
        >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
        ...                               teacher=facexpr.load("simple"), teacher_mode="cached",
        ...                               optimizer="adamw", lr=3e-3, device="cpu")
        >>> history = trainer.fit(train, val=val, epochs=40)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        teacher: nn.Module,
        distill_alpha: float = 0.5,
        distill_temperature: float = 4.0,
        teacher_mode: str = "online",
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= distill_alpha <= 1.0:
            raise ValueError(f"distill_alpha must be in [0, 1], got {distill_alpha}.")
        if distill_temperature <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {distill_temperature}.")
        if teacher_mode not in TEACHER_MODES:
            raise ValueError(f"teacher_mode must be 'online' or 'cached', got {teacher_mode!r}.")
        super().__init__(model, **kwargs)
        self.distill_alpha = distill_alpha
        self.distill_temperature = distill_temperature
        self.teacher_mode = teacher_mode
        self.teacher = self._prepare_teacher(teacher)
        self._teacher_order: torch.Tensor | None = None
        self._teacher_cache: torch.Tensor | None = None
        self._teacher_logits: torch.Tensor | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The plain trainer's settings plus the distillation ones.

        Example:
            >>> import facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
            ...                               teacher=facexpr.load("simple"), device="cpu")
            >>> trainer.params["distill_alpha"], trainer.params["teacher_mode"]
            (0.5, 'online')
        """
        return {
            **super().params,
            "distill_alpha": self.distill_alpha,
            "distill_temperature": self.distill_temperature,
            "teacher_mode": self.teacher_mode,
        }

    def _prepare_teacher(self, teacher: nn.Module) -> nn.Module:
        """Return a frozen copy of ``teacher`` on the trainer's device (the caller's is untouched)."""
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

    def _prepare_fit(self, train: FaceDataset, batch_size: int) -> None:
        super()._prepare_fit(train, batch_size)
        self._teacher_order = self._match_teacher_classes(train)
        self._teacher_cache = self._cache_teacher_logits(train, batch_size) if self.teacher_mode == "cached" else None

    def _match_teacher_classes(self, train: FaceDataset) -> torch.Tensor | None:
        """Return the order that puts the teacher's outputs in the data's class order, by name.

        Raises:
            ValueError: If the teacher's class names are not those of the data.
        """
        labels = getattr(self.teacher, "labels", None)
        classes = tuple(train.classes)
        if labels is None or all(c.isdigit() for c in classes):
            return None  # unnamed classes (a tuple of tensors): positions are all there is
        labels = tuple(labels)
        if labels == classes:
            return None
        if sorted(labels) != sorted(classes):
            raise ValueError(
                f"The teacher's classes {list(labels)} are not the training data's "
                f"{list(classes)}; distillation needs a teacher of the same classes."
            )
        return torch.tensor([labels.index(c) for c in classes], device=self.device)

    @torch.inference_mode()
    def _cache_teacher_logits(self, train: FaceDataset, batch_size: int) -> torch.Tensor:
        """The teacher's logits of every training image, averaged with those of its mirror
        image, in the data's class order (``N x C`` on the device)."""
        outputs = []
        for _, images in self._input_batches(train.images, max(batch_size, 256)):
            with self._autocast():
                logits = (self.teacher(images).float() + self.teacher(torch.flip(images, dims=[3])).float()) / 2
            outputs.append(logits)
        cache = torch.cat(outputs)
        return cache[:, self._teacher_order] if self._teacher_order is not None else cache

    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's logits of the current training batch, in the data's class order.

        From the cache with ``teacher_mode="cached"`` (by the batch's image indices), else one
        forward pass of the frozen teacher on the augmented batch.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
            ...                               teacher=facexpr.load("simple"), device="cpu")
            >>> trainer.teacher_logits(torch.zeros(2, 1, 48, 48)).shape
            torch.Size([2, 7])
        """
        if self._teacher_cache is not None and self._batch_indices is not None:
            return self._teacher_cache[self._batch_indices.to(self._teacher_cache.device)]
        with torch.no_grad(), self._autocast():
            logits = self.teacher(images)
        return logits[:, self._teacher_order] if self._teacher_order is not None else logits

    def train_step(self, images: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """One optimisation step towards the labels and the teacher's logits of this batch.

        The teacher's logits are set aside for :meth:`compute_loss`, then the plain
        :meth:`Trainer.train_step <facexpr.training.Trainer.train_step>` runs.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> faces, targets = torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 7
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
            ...                               teacher=facexpr.load("simple"), device="cpu")
            >>> history = trainer.fit((faces, targets), epochs=1, batch_size=4, progress=False)
            >>> sorted(history.history)
            ['accuracy', 'loss', 'lr', 'seconds']
        """
        self._teacher_logits = self.teacher_logits(images)
        try:
            return super().train_step(images, targets)
        finally:
            self._teacher_logits = None  # belongs to this batch only

    def compute_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The distillation loss inside :meth:`train_step`; the plain loss anywhere else.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
            ...                               teacher=facexpr.load("simple"), device="cpu")
            >>> logits = torch.tensor([[2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]])
            >>> round(float(trainer.compute_loss(logits, torch.tensor([0]))), 4)  # no teacher batch
            0.5461
        """
        if self._teacher_logits is None:
            return super().compute_loss(logits, targets)
        return self.distillation_loss(logits, self._teacher_logits, targets)

    def distillation_loss(
        self, logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Return the knowledge-distillation loss of a batch.

        ``(1 - alpha) * hard + alpha * T^2 * KL(p_teacher || p_student)``, where ``hard`` is the
        plain trainer's loss (:meth:`Trainer.compute_loss <facexpr.training.Trainer.compute_loss>`)
        and both distributions are softened at temperature ``T = distill_temperature``.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False), device="cpu",
            ...                               teacher=facexpr.load("simple", device="cpu"), distill_alpha=1.0)
            >>> logits = torch.randn(4, 7)
            >>> float(trainer.distillation_loss(logits, logits, torch.zeros(4, dtype=torch.long)))
            0.0
        """
        hard = super().compute_loss(logits, targets)
        temperature = self.distill_temperature
        soft = F.kl_div(
            F.log_softmax(logits.float() / temperature, dim=1),
            F.log_softmax(teacher_logits.float() / temperature, dim=1),
            reduction="batchmean", log_target=True,
        ) * temperature**2
        return (1.0 - self.distill_alpha) * hard + self.distill_alpha * soft
