"""Classification metrics computed from a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["confusion_matrix", "classification_report", "expected_calibration_error"]


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

    Example:
        >>> import torch
        >>> round(expected_calibration_error(torch.tensor([[0.9, 0.1], [0.6, 0.4]]), torch.tensor([0, 1])), 3)
        0.35
    """
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == targets).double()
    bins = torch.clamp((confidence * n_bins).long(), max=n_bins - 1)
    ece = torch.zeros((), dtype=torch.float64)
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.double().mean() * (confidence[mask].double().mean() - correct[mask].mean()).abs()
    return float(ece)
