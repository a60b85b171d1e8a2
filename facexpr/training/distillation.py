"""``DistillationTrainer``: a :class:`~facexpr.training.Trainer` that learns from a teacher too.

Keras's ``Distiller`` pattern: the subclass holds the teacher and its settings, and its
:meth:`~DistillationTrainer.compute_loss` gets the teacher's logits of the batch it is given and
mixes hard and soft targets; the loop and the steps are the plain ``Trainer``'s. It overrides
public hooks only (:meth:`~facexpr.training.Trainer.setup_fit`,
:meth:`~facexpr.training.Trainer.compute_loss`) and keeps nothing between a step and its loss.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import FaceDataset
from ..inference import face_logits
from ..transforms import FaceTransform
from .trainer import Trainer

__all__ = ["DistillationTrainer", "TEACHER_MODES", "teacher_class_order"]

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

    def setup_fit(self, train: FaceDataset, batch_size: int) -> None:
        """Match the teacher's classes to the data's by name and, with ``teacher_mode="cached"``,
        compute the teacher's logits of every training image (see :meth:`Trainer.setup_fit
        <facexpr.training.Trainer.setup_fit>`).

        Example:
            >>> import torch, facexpr
            >>> from facexpr.data import FaceDataset
            >>> from facexpr.training import DistillationTrainer
            >>> faces = FaceDataset(torch.zeros(8, 48, 48, dtype=torch.uint8), torch.arange(8) % 7, facexpr.FER2013_LABELS)
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False), device="cpu",
            ...                               teacher=facexpr.load("simple"), teacher_mode="cached")
            >>> trainer.setup_fit(faces, 4)
            >>> trainer.teacher_logits(torch.zeros(2, 1, 48, 48), indices=torch.tensor([0, 1])).shape
            torch.Size([2, 7])
        """
        super().setup_fit(train, batch_size)
        self._teacher_order = self._match_teacher_classes(train)
        self._teacher_cache = self._cache_teacher_logits(train, batch_size) if self.teacher_mode == "cached" else None

    def _match_teacher_classes(self, train: FaceDataset) -> torch.Tensor | None:
        """Return the order that puts the teacher's outputs in the data's class order, by name.

        Raises:
            ValueError: If the teacher's class names are not those of the data.
        """
        order = teacher_class_order(getattr(self.teacher, "labels", None), train.classes)
        return None if order is None else torch.tensor(order, device=self.device)

    @torch.inference_mode()
    def _cache_teacher_logits(self, train: FaceDataset, batch_size: int) -> torch.Tensor:
        """The teacher's logits of every training image, averaged with those of its mirror
        image, in the data's class order (``N x C`` on the device)."""
        def mirrored(images: torch.Tensor, start: int) -> torch.Tensor:
            with self.autocast():
                return (self.teacher(images).float() + self.teacher(torch.flip(images, dims=[3])).float()) / 2

        model_view = self.transforms()
        whole_face = FaceTransform(model_view.size, model_view.mean, model_view.std)  # as training batches are
        cache = face_logits(self.teacher, train.images, batch_size=max(batch_size, 256), transform=whole_face,
                            forward=mirrored)[0].to(self.device)
        return cache[:, self._teacher_order] if self._teacher_order is not None else cache

    def teacher_logits(self, images: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """The teacher's logits of a training batch, in the data's class order.

        From the cache with ``teacher_mode="cached"`` (by the batch's ``indices`` in the
        training data), else one forward pass of the frozen teacher on the augmented batch.

        Args:
            images: The normalised (augmented) batch.
            indices: The positions of its faces in the training data, as
                :meth:`~facexpr.training.Trainer.train_step` receives them.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
            ...                               teacher=facexpr.load("simple"), device="cpu")
            >>> trainer.teacher_logits(torch.zeros(2, 1, 48, 48)).shape
            torch.Size([2, 7])
        """
        if self._teacher_cache is not None and indices is not None:
            return self._teacher_cache[indices.to(self._teacher_cache.device)]
        with torch.no_grad(), self.autocast():
            logits = self.teacher(images)
        return logits[:, self._teacher_order] if self._teacher_order is not None else logits

    def compute_loss(
        self,
        x: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        y_pred: torch.Tensor | None = None,
        *,
        indices: torch.Tensor | None = None,
        training: bool = True,
    ) -> torch.Tensor:
        """The distillation loss of a training batch; the plain loss in evaluation.

        In training (``training=True``), the teacher's logits of the batch ``x`` (from the cache
        by ``indices`` with ``teacher_mode="cached"``, see :meth:`teacher_logits`) and
        :meth:`distillation_loss`; in evaluation, :meth:`Trainer.compute_loss
        <facexpr.training.Trainer.compute_loss>`, so ``val_loss`` is the plain trainer's.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.training import DistillationTrainer
            >>> trainer = DistillationTrainer(facexpr.load("simple", pretrained=False),
            ...                               teacher=facexpr.load("simple"), device="cpu")
            >>> logits = torch.tensor([[2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]])
            >>> float(trainer.compute_loss(None, torch.tensor([0]), logits, training=False).sum()) > 0
            True
            >>> trainer.compute_loss(torch.zeros(1, 1, 48, 48), torch.tensor([0]), logits).shape
            torch.Size([])
        """
        if not training or y_pred is None:
            return super().compute_loss(x, y, y_pred, indices=indices, training=training)
        if x is None and (self._teacher_cache is None or indices is None):
            raise ValueError("DistillationTrainer.compute_loss needs the batch x (or its indices with a cached "
                             "teacher) to get the teacher's logits.")
        teacher = self.teacher_logits(x, indices=indices)  # type: ignore[arg-type]
        return self.distillation_loss(y_pred, teacher, y)  # type: ignore[arg-type]

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
        hard = super().compute_loss(None, targets, logits, training=True)
        temperature = self.distill_temperature
        soft = F.kl_div(
            F.log_softmax(logits.float() / temperature, dim=1),
            F.log_softmax(teacher_logits.float() / temperature, dim=1),
            reduction="batchmean", log_target=True,
        ) * temperature**2
        return (1.0 - self.distill_alpha) * hard + self.distill_alpha * soft


def teacher_class_order(labels: Sequence[str] | None, classes: Sequence[str]) -> list[int] | None:
    """The order that puts a teacher's outputs (``labels``) in the training data's class order.

    Returns ``None`` when no reordering is needed or possible: the same order, a teacher without
    labels, or unnamed classes (``"0"``, ``"1"``...: positions are all there is).

    Raises:
        ValueError: If the teacher's class names are not those of the data.

    Example:
        >>> teacher_class_order(["sad", "happy"], ["happy", "sad"])
        [1, 0]
    """
    classes = tuple(classes)
    if labels is None or all(c.isdigit() for c in classes):
        return None
    labels = tuple(labels)
    if labels == classes:
        return None
    if sorted(labels) != sorted(classes):
        raise ValueError(
            f"The teacher's classes {list(labels)} are not the training data's "
            f"{list(classes)}; distillation needs a teacher of the same classes."
        )
    return [labels.index(c) for c in classes]
