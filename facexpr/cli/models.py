"""``facexpr models``: the models with their size, accuracy and where their weights are."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``models`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    p = subparsers.add_parser("models", parents=parents, help="list the models with their size and accuracy")
    p.add_argument("--filter", default=None, help="shell-style pattern, e.g. 'b*'")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr models`` with the parsed ``args``; return the exit status."""
    from ..errors import WeightsNotAvailableError
    from ..models import CONFIG_NAME, DEFAULT_MODEL, WEIGHTS_NAME, ModelConfig, get_model_entry, list_models, load
    from ..models._builder import shipped_weights_dir

    rows = []
    for name in list_models(args.filter, tags=True):
        entry = get_model_entry(name)
        tagged = entry.weights.labels if entry.weights is not None else None
        fresh = entry.cls(labels=tagged)
        params = sum(p.numel() for p in fresh.parameters())
        val = test = measured = "-"
        status = "not released"
        if entry.weights is not None and entry.weights.sha256 is not None:
            shipped = shipped_weights_dir(name)
            try:
                if entry.weights.shipped and (shipped / WEIGHTS_NAME).is_file():
                    metrics = ModelConfig.from_file(shipped / CONFIG_NAME).metrics  # + metrics.json
                else:
                    metrics = load(name, device="cpu").config.metrics
                val, test = _known_metric(metrics, "val"), _known_metric(metrics, "test")
                measured = _measured_on(metrics)
                status = "shipped"
            except WeightsNotAvailableError:
                status = "on the Hub"
        shown = f"{name} (default)" if name == DEFAULT_MODEL else name
        rows.append((shown, type(fresh).__name__, f"{params:,}", measured, val, test, status))
    headers = ("name", "class", "params", "measured on", "val acc", "test acc", "weights")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _measured_on(config_metrics: dict) -> str:
    """Which labels the stored val and test accuracies are against: FER+'s majority (a model
    measured against FER+'s votes) or FER2013's own."""
    return "FER+ majority" if "kl_divergence" in (config_metrics.get("test") or {}) else "FER2013"


def _known_metric(config_metrics: dict, split: str) -> str:
    """The accuracy measured on ``split`` to 3 decimals, or ``-``."""
    value = (config_metrics.get(split) or {}).get("accuracy")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"
