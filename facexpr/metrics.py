"""Classification metrics computed from a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["confusion_matrix", "classification_report", "expected_calibration_error", "kl_divergence", "logits_report"]


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Return the ``num_classes x num_classes`` confusion matrix (rows: true, columns: predicted).

    Example:
        >>> import torch
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2).tolist()
        [[1, 1], [0, 1]]
    """
    index = targets.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def classification_report(cm: torch.Tensor, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support from a confusion matrix.

    Classes that are never predicted get precision 0; classes without support get recall 0
    (and are left out of nothing: macro averages cover every class, as scikit-learn does).

    Returns:
        ``{"accuracy", "macro_f1", "macro_precision", "macro_recall", "per_class",
        "confusion_matrix"}``.

    Example:
        >>> import torch
        >>> cm = confusion_matrix(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2)
        >>> report = classification_report(cm, ["no", "yes"])
        >>> report["accuracy"], round(report["macro_f1"], 4)
        (0.75, 0.7333)
        >>> report["per_class"]["no"]
        {'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'support': 2}
    """
    cm = cm.double()
    tp = cm.diag()
    predicted = cm.sum(0)
    support = cm.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))
    total = float(cm.sum())
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": cm.long().tolist(),
    }


def expected_calibration_error(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, with equal-width bins.

    Guo et al. (ICML 2017): faces are binned by the probability of their predicted class
    (``n_bins`` equal bins over [0, 1]), and the error is the mean over faces of
    ``|mean confidence - mean accuracy|`` of their bin.

    ``targets`` are class indices (``N``; accuracy is 1 when the prediction is the target), or
    label distributions such as FER+'s votes (``N x C``). With a distribution, a face's accuracy
    is the share of the votes its predicted class got: the chance that the prediction matches a
    label drawn from the votes, so a model is calibrated when a face it is 70% sure of gets 70%
    of the votes for that class. This is ECE "against the human label distribution" rather than
    against the majority label, which is misleading when annotators disagree (Baan et al.,
    "Stop Measuring Calibration When Humans Disagree", EMNLP 2022, arXiv:2210.16133). On
    one-hot distributions it equals the ECE of their class indices.

    Args:
        probs: Predicted probabilities, ``N x C``.
        targets: Class indices (``N``) or label distributions (``N x C``, rows summing to 1).
        n_bins: Number of confidence bins.

    Returns:
        The ECE, in [0, 1].

    Example:
        >>> import torch
        >>> probs = torch.tensor([[0.9, 0.1], [0.6, 0.4]])
        >>> round(expected_calibration_error(probs, torch.tensor([0, 1])), 3)
        0.35
        >>> round(expected_calibration_error(probs, torch.tensor([[0.8, 0.2], [0.6, 0.4]])), 3)
        0.05
    """
    confidence, predicted = probs.max(dim=1)
    if targets.ndim == 2:
        if targets.shape != probs.shape:
            raise ValueError(f"targets of shape {tuple(targets.shape)} do not match probs of shape {tuple(probs.shape)}.")
        correct = targets.double().gather(1, predicted.unsqueeze(1)).squeeze(1)
    else:
        correct = (predicted == targets).double()
    bins = torch.clamp((confidence * n_bins).long(), max=n_bins - 1)
    ece = torch.zeros((), dtype=torch.float64)
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.double().mean() * (confidence[mask].double().mean() - correct[mask].mean()).abs()
    return float(ece)


def kl_divergence(targets: torch.Tensor, probs: torch.Tensor) -> float:
    """Mean Kullback-Leibler divergence ``KL(targets || probs)`` over faces, in nats.

    ``sum_c t_c * log(t_c / p_c)`` for each face, with ``0 * log 0 = 0``: how far the predicted
    probabilities are from a label distribution such as FER+'s votes (0 when they are equal).
    It is the cross-entropy against the votes minus the votes' own entropy, so it ranks models
    as the soft-target loss does, on a scale where 0 is perfect. A class with votes and a
    predicted probability of 0 gives ``inf``.

    Args:
        targets: Label distributions, ``N x C`` (rows summing to 1).
        probs: Predicted probabilities, ``N x C``.

    Returns:
        The mean divergence (``nan`` for no faces).

    Raises:
        ValueError: If the shapes differ.

    Example:
        >>> import torch
        >>> votes = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
        >>> kl_divergence(votes, votes)
        0.0
        >>> round(kl_divergence(votes, torch.tensor([[0.25, 0.25, 0.5], [0.5, 0.25, 0.25]])), 4)
        0.6931
    """
    if targets.shape != probs.shape or targets.ndim != 2:
        raise ValueError(f"kl_divergence needs two N x C tensors of the same shape, got targets of shape "
                         f"{tuple(targets.shape)} and probs of shape {tuple(probs.shape)}.")
    t, p = targets.double(), probs.double()
    per_face = (torch.special.xlogy(t, t) - torch.special.xlogy(t, p)).sum(dim=1)
    return float(per_face.mean())


def logits_report(
    logits: torch.Tensor,
    targets: torch.Tensor,
    labels: Sequence[str],
    *,
    temperature: float = 1.0,
    votes: torch.Tensor | None = None,
) -> dict[str, Any]:
    """The classification report of a split's logits, and the probabilities' fit to its votes.

    The one evaluation that :meth:`facexpr.training.Trainer.evaluate` and
    :func:`facexpr.release.evaluate_split` share: the :func:`classification_report` of the
    logits' top class against ``targets`` and, with ``votes``, :func:`kl_divergence` and
    :func:`expected_calibration_error` of the probabilities at ``temperature`` (computed in
    float64) against the votes.

    Args:
        logits: ``N x C`` logits.
        targets: Class indices ``N`` (FER+: the majority label).
        labels: The ``C`` class names.
        temperature: The logits are divided by it before the softmax (the model's calibrated
            ``config.temperature``).
        votes: Label distributions ``N x C`` (FER+'s votes), or ``None``.

    Returns:
        :func:`classification_report`'s keys, plus ``kl_divergence`` and ``ece_votes`` with ``votes``.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        >>> report = logits_report(logits, torch.tensor([0, 1, 1]), ["no", "yes"])
        >>> round(report["accuracy"], 4)
        0.6667
        >>> votes = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
        >>> with_votes = logits_report(logits, torch.tensor([0, 1, 1]), ["no", "yes"], votes=votes)
        >>> sorted(set(with_votes) - set(report))
        ['ece_votes', 'kl_divergence']
    """
    preds = logits.argmax(1)
    report = classification_report(confusion_matrix(preds, targets, len(labels)), labels)
    if votes is not None:
        probs = (logits.double() / temperature).softmax(1)
        report["kl_divergence"] = kl_divergence(votes, probs)
        report["ece_votes"] = expected_calibration_error(probs, votes)
    return report
