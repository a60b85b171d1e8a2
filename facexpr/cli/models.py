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
    from ..models import CONFIG_NAME, WEIGHTS_NAME, ModelConfig, get_model_entry, list_models, load
    from ..models._builder import shipped_weights_dir

    rows = []
    for name in list_models(args.filter, tags=True):
        entry = get_model_entry(name)
        tagged = entry.weights.labels if entry.weights is not None else None
        fresh = entry.cls(labels=tagged)
        params = sum(p.numel() for p in fresh.parameters())
        val = test = "-"
        status = "not released"
        if entry.weights is not None and entry.weights.sha256 is not None:
            shipped = shipped_weights_dir(name)
            try:
                if entry.weights.shipped and (shipped / WEIGHTS_NAME).is_file():
                    metrics = ModelConfig.from_file(shipped / CONFIG_NAME).metrics  # + metrics.json
                else:
                    metrics = load(name, device="cpu").config.metrics
                val, test = _known_metric(metrics, "val"), _known_metric(metrics, "test")
                status = "shipped"
            except WeightsNotAvailableError:
                status = "on the Hub"
        rows.append((name, type(fresh).__name__, f"{params:,}", val, test, status))
    headers = ("name", "class", "params", "val acc", "test acc", "weights")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _known_metric(config_metrics: dict, split: str) -> str:
    """The accuracy measured on ``split`` to 3 decimals, or ``-``."""
    value = (config_metrics.get(split) or {}).get("accuracy")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"
