"""Soft targets (class probabilities such as FER+'s votes): the loss, class weights, accuracy
against the majority label, distillation, and the metrics against the votes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import facexpr
from facexpr.data import FaceDataset
from facexpr.metrics import expected_calibration_error, kl_divergence
from facexpr.training import DistillationTrainer, Trainer

from ._train_worker import BATCH_SIZE, make_data, make_trainer
from .test_training import _one_thread  # noqa: F401  (autouse: one thread, as there)


def _soft(data: FaceDataset, seed: int = 0) -> FaceDataset:
    """The same faces with a vote-like distribution: mostly the class, some random spread."""
    generator = torch.Generator().manual_seed(seed)
    spread = torch.rand(len(data), len(data.classes), generator=generator)
    probs = 0.6 * F.one_hot(data.targets, len(data.classes)).float() + 0.4 * spread / spread.sum(1, keepdim=True)
    return FaceDataset(data.images, probs, data.classes)


def _one_hot(data: FaceDataset) -> FaceDataset:
    return FaceDataset(data.images, F.one_hot(data.targets, len(data.classes)).float(), data.classes)


class Majority(FaceDataset):
    """A soft data set whose majority labels are given (as FERPlus's are), not each row's argmax."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, classes: list[str], majority: torch.Tensor) -> None:
        super().__init__(images, targets, classes)
        self.majority = majority

    @property
    def hard_targets(self) -> torch.Tensor:
        return self.majority


class AlwaysFirst(nn.Module):
    """Predicts class 0 for every face; its one parameter gets a gradient but never matters."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))
        self.logits = torch.tensor([5.0] + [0.0] * (num_classes - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1) + 0 * self.bias + 0 * x.mean()


# -- the loss --------------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_soft_loss_is_cross_entropy_against_the_distribution_with_weights_and_smoothing(smoothing: float) -> None:
    trainer = make_trainer(label_smoothing=smoothing)
    trainer._weight = torch.tensor([1.0, 2.0, 0.5])
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    votes = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])
    smoothed = votes * (1 - smoothing) + smoothing / 3
    expected = -(trainer._weight * smoothed * F.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(trainer.compute_loss(y=votes, y_pred=logits), expected)


def test_one_hot_soft_targets_train_like_class_indices() -> None:
    train = make_data(32)
    val = train.subset(range(0, 32, 2))
    hard = make_trainer()  # strong augmentation, label smoothing 0.1, onecycle
    hard.fit(train, val=val, epochs=2, batch_size=BATCH_SIZE, progress=False)
    soft = make_trainer()
    soft.fit(_one_hot(train), val=_one_hot(val), epochs=2, batch_size=BATCH_SIZE, progress=False)
    for (name, a), b in zip(hard.unwrapped_model.state_dict().items(), soft.unwrapped_model.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), atol=1e-4, rtol=1e-4, msg=name)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert soft.history.history[key] == pytest.approx(hard.history.history[key], abs=1e-4), key


def test_training_on_vote_distributions_learns_and_is_seeded() -> None:
    train = _soft(make_data(48))
    val = _soft(make_data(24, seed=1), seed=1)
    runs = []
    for _ in range(2):
        trainer = make_trainer(lr=3e-3)
        trainer.fit(train, val=val, epochs=3, batch_size=BATCH_SIZE, progress=False)
        runs.append(trainer)
    assert runs[0].history.history["val_loss"] == runs[1].history.history["val_loss"]
    losses = runs[0].history.history["loss"]
    assert losses[-1] < losses[0]
    assert runs[0].history.history["val_accuracy"][-1] > 0.5  # three classes: chance is 1/3


def test_tensors_with_soft_targets_are_a_data_set() -> None:
    data = _soft(make_data(16))
    trainer = make_trainer()
    history = trainer.fit((data.images, data.targets), epochs=1, batch_size=8, progress=False)
    assert set(history.history) == {"loss", "accuracy", "lr", "seconds"}


# -- class weights ---------------------------------------------------------------------------------
def test_balanced_class_weights_of_soft_targets_come_from_each_class_mass() -> None:
    votes = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0], [0, 1.0, 0], [0, 0, 1.0]])
    data = FaceDataset(torch.zeros(6, 48, 48, dtype=torch.uint8), votes, ["a", "b", "c"])
    weights = make_trainer(class_weight="balanced")._class_weights(data)
    assert data.class_counts() == [4, 1, 1]  # by each face's top class
    mass = torch.tensor([3.0, 2.0, 1.0])  # but class a holds 3 faces' worth of votes, b 2, c 1
    torch.testing.assert_close(weights, 6 / (3 * mass))
    # With one-hot distributions the mass is the class count: the same weights as class indices.
    hard = make_data(10)
    trainer = make_trainer(class_weight="balanced")
    torch.testing.assert_close(trainer._class_weights(_one_hot(hard)), trainer._class_weights(hard))


def test_balanced_soft_training_runs_and_weights_the_rare_class_more() -> None:
    data = _soft(make_data(24))
    trainer = make_trainer(class_weight="balanced")
    trainer.fit(data, epochs=1, batch_size=8, progress=False)
    mass = data.targets.sum(0)
    assert torch.argmax(trainer._weight) == torch.argmin(mass)


# -- accuracy against the majority label -----------------------------------------------------------
def test_fit_and_evaluate_count_accuracy_against_the_data_sets_majority_label() -> None:
    # Every face's votes tie between classes 0 and 1; the data set's majority label says 1 (as
    # FER+'s tie rule can), while each row's argmax would say 0, which the model always predicts.
    votes = torch.tensor([[0.5, 0.5, 0.0]] * 6)
    data = Majority(torch.zeros(6, 48, 48, dtype=torch.uint8), votes, ["a", "b", "c"], torch.ones(6, dtype=torch.long))
    trainer = Trainer(AlwaysFirst(), lr=0.0, device="cpu", augment=None)
    history = trainer.fit(data, val=data, epochs=1, batch_size=3, progress=False)
    assert history.history["accuracy"] == [0.0] and history.history["val_accuracy"] == [0.0]
    assert trainer.evaluate(data)["accuracy"] == 0.0
    plain = FaceDataset(data.images, votes, data.classes)  # argmax: class 0, which the model predicts
    assert trainer.evaluate(plain)["accuracy"] == 1.0
    assert trainer.hard_targets(votes[:2]).tolist() == [0, 0]  # outside fit: each row's argmax


# -- evaluate against the votes --------------------------------------------------------------------
def test_evaluate_reports_kl_and_ece_against_the_votes_at_the_models_temperature() -> None:
    data = _soft(make_data(20))
    trainer = make_trainer()
    trainer.unwrapped_model.config.temperature = 2.0
    report = trainer.evaluate(data)
    probs = trainer.predict(data).double()
    assert report["kl_divergence"] == pytest.approx(kl_divergence(data.targets, probs), rel=1e-6)
    assert report["ece_votes"] == pytest.approx(expected_calibration_error(probs, data.targets), rel=1e-6)
    assert report["loss"] == pytest.approx(float(F.cross_entropy(trainer._logits(data, 256)[0], data.targets)), rel=1e-5)
    trainer.unwrapped_model.config.temperature = 1.0
    assert trainer.evaluate(data)["kl_divergence"] != pytest.approx(report["kl_divergence"])
    assert "kl_divergence" not in trainer.evaluate(make_data(20))  # class indices: no votes


def test_evaluate_refuses_votes_over_other_classes() -> None:
    trainer = make_trainer()
    seven = FaceDataset(torch.zeros(2, 48, 48, dtype=torch.uint8), torch.full((2, 7), 1 / 7), [str(i) for i in range(7)])
    with pytest.raises(ValueError, match="predicts 3 classes .* but the data has 7"):
        trainer.evaluate(seven)


# -- distillation ----------------------------------------------------------------------------------
def test_distillation_mixes_the_teacher_with_the_soft_target_loss() -> None:
    teacher = facexpr.load("simple", pretrained=False, labels=["class0", "class1", "class2"], device="cpu")
    trainer = make_trainer(cls=DistillationTrainer, teacher=teacher, distill_alpha=0.25, label_smoothing=0.0)
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    teacher_logits = torch.tensor([[1.0, 1.0, 0.0], [-1.0, 3.0, 0.0]])
    votes = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])
    kd = F.kl_div(F.log_softmax(logits / 4, 1), F.softmax(teacher_logits / 4, 1), reduction="batchmean") * 16
    expected = 0.75 * F.cross_entropy(logits, votes) + 0.25 * kd
    torch.testing.assert_close(trainer.distillation_loss(logits, teacher_logits, votes), expected)
    for mode in ("online", "cached"):
        student = make_trainer(cls=DistillationTrainer, teacher=teacher, teacher_mode=mode)
        history = student.fit(_soft(make_data(16)), epochs=1, batch_size=8, progress=False)
        assert set(history.history) == {"loss", "accuracy", "lr", "seconds"}


# -- the metrics -----------------------------------------------------------------------------------
def test_kl_divergence_matches_torch_and_is_zero_only_at_the_votes() -> None:
    votes = torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    expected = F.kl_div(probs.double().log(), votes.double(), reduction="batchmean")
    assert kl_divergence(votes, probs) == pytest.approx(float(expected))
    assert kl_divergence(votes, votes) == 0.0 and kl_divergence(votes, probs) > 0
    assert kl_divergence(votes[:1], torch.tensor([[1.0, 0.0, 0.0]])) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(votes, probs[:, :2])


def test_ece_against_votes_uses_the_share_of_votes_of_the_predicted_class() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]])
    votes = torch.tensor([[0.6, 0.4], [0.7, 0.3], [0.0, 1.0]])
    # one face per bin: |0.9 - 0.6|, |0.7 - 0.7|, |0.8 - 1.0|, each weighing 1/3
    assert expected_calibration_error(probs, votes) == pytest.approx((0.3 + 0.0 + 0.2) / 3)
    one_hot = F.one_hot(torch.tensor([0, 1, 1]), 2).float()
    assert expected_calibration_error(probs, one_hot) == expected_calibration_error(probs, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="do not match"):
        expected_calibration_error(probs, votes[:2])


def test_a_tensor_pair_of_soft_targets_keeps_the_models_names_only_when_the_classes_match() -> None:
    images = torch.zeros(4, 48, 48, dtype=torch.uint8)
    seven = Trainer(facexpr.load("simple", pretrained=False, device="cpu"), device="cpu")
    assert seven._as_dataset((images, torch.full((4, 7), 1 / 7)), "data").classes == facexpr.FER2013_LABELS
    assert seven._as_dataset((images, torch.full((4, 3), 1 / 3)), "data").classes == ("0", "1", "2")
    assert seven._as_dataset((images, torch.tensor([0, 1, 2, 0])), "data").classes == facexpr.FER2013_LABELS
