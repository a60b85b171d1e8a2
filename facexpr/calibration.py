"""Temperature scaling: calibrated probabilities from one scalar fitted on validation data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["fit_temperature"]


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, *, max_iter: int = 200) -> float:
    """Fit the temperature ``T`` that minimises the cross-entropy of ``softmax(logits / T)``.

    Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017). Fit it on validation
    data, never on the test split. Dividing by ``T`` does not change the predicted class.

    Against class indices, the probabilities become the chance that the label is each class.
    Against label distributions (FER+'s votes), the cross-entropy is the KL divergence to
    the votes plus a constant: the probabilities become the share of annotators who would
    read the face as each class.

    Args:
        logits: ``N x C`` logits.
        targets: ``N`` class indices, or ``N x C`` label distributions (rows summing to 1).
        max_iter: L-BFGS iterations.

    Returns:
        The temperature (> 0).

    Example:
        >>> import torch
        >>> logits = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
        >>> targets = torch.tensor([0, 1, 1, 0])  # over-confident: one in four is wrong
        >>> fit_temperature(logits, targets) > 1
        True
        >>> votes = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])  # split readers
        >>> fit_temperature(logits, votes) > 10
        True
    """
    soft = targets.ndim == 2
    if logits.ndim != 2 or targets.shape not in ((logits.shape[0],), tuple(logits.shape)):
        raise ValueError(
            f"fit_temperature needs N x C logits and N class indices or N x C label distributions, "
            f"got {tuple(logits.shape)} and {tuple(targets.shape)}."
        )
    logits = logits.detach().double()
    targets = targets.detach().double() if soft else targets.detach().long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())
