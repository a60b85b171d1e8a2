"""benchmarks/bench_sources.py: a mean of models is scored like one model, over the classes asked for."""

from __future__ import annotations

import torch

from benchmarks.bench_sources import MeanOfModels, _probs
from facexpr.labels import FER2013_LABELS, FERPLUS_LABELS


class _Fixed:
    """A stand-in model answering the same probabilities for every face."""

    def __init__(self, labels: tuple[str, ...], row: list[float]) -> None:
        self.labels = labels
        self.row = torch.tensor(row)

    def predict_proba(self, images: torch.Tensor, classes: list[str] | None = None) -> torch.Tensor:
        probs = self.row.expand(len(images), -1)
        if classes is None:
            return probs
        chosen = probs[:, [self.labels.index(c) for c in classes]]
        return chosen / chosen.sum(1, keepdim=True)


def test_a_seven_class_member_gives_contempt_nothing_and_each_member_weighs_the_same() -> None:
    seven = _Fixed(tuple(FER2013_LABELS), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # all happy
    eight = _Fixed(tuple(FERPLUS_LABELS), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5])  # neutral / contempt
    mean = MeanOfModels([seven, eight])
    images = torch.zeros(3, 1, 48, 48, dtype=torch.uint8)
    over_eight = mean.predict_proba(images, FERPLUS_LABELS)
    assert over_eight.shape == (3, 8)
    torch.testing.assert_close(over_eight[0], torch.tensor([0, 0, 0, 0.5, 0, 0, 0.25, 0.25]))
    over_seven = mean.predict_proba(images, FER2013_LABELS)  # the eight-class member renormalised: all neutral
    torch.testing.assert_close(over_seven[0], torch.tensor([0, 0, 0, 0.5, 0, 0, 0.5]))


def test_one_model_is_read_over_the_classes_asked_for() -> None:
    eight = _Fixed(tuple(FERPLUS_LABELS), [0.1, 0.0, 0.0, 0.2, 0.0, 0.0, 0.3, 0.4])
    torch.testing.assert_close(_probs(eight, torch.zeros(1, 1, 48, 48), FERPLUS_LABELS)[0], eight.row)
    torch.testing.assert_close(_probs(eight, torch.zeros(1, 1, 48, 48), FER2013_LABELS)[0],
                               torch.tensor([1 / 6, 0, 0, 2 / 6, 0, 0, 3 / 6]))
