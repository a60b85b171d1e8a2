"""The Trainer's public hooks (Keras's shape): compute_loss in training and evaluation, what
train_step receives, setup_fit, and one evaluation shared with release."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

import facexpr
from facexpr.data import FaceDataset
from facexpr.inference import face_logits
from facexpr.release import evaluate_split
from facexpr.training import DistillationTrainer, Trainer

from ._train_worker import make_data, make_trainer


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def constant_seven(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A loss of exactly 7.0 that still has a gradient."""
    return (logits * 0).sum() + 7.0


def test_a_custom_loss_is_what_val_loss_and_evaluate_report() -> None:
    data = make_data(16)
    trainer = make_trainer(loss=constant_seven)
    history = trainer.fit(data, val=data, epochs=1, batch_size=8, progress=False)
    assert history.history["loss"] == [pytest.approx(7.0)]
    assert history.history["val_loss"] == [pytest.approx(7.0)]  # was the cross-entropy (about 1.1)
    assert trainer.evaluate(data)["loss"] == pytest.approx(7.0)


def test_a_loss_per_face_is_averaged_in_training_and_over_the_data_in_evaluation() -> None:
    data = make_data(15)

    def per_face(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), targets, reduction="none") * 2

    trainer = make_trainer(loss=per_face)
    trainer.fit(data, epochs=1, batch_size=8, progress=False)
    plain = make_trainer()
    plain.unwrapped_model.load_state_dict(trainer.unwrapped_model.state_dict())
    # batches of 4: a batch-mean loss has to be weighted by its batch's size to match
    assert trainer.evaluate(data, batch_size=4)["loss"] == pytest.approx(2 * plain.evaluate(data)["loss"], rel=1e-5)
    with pytest.raises(ValueError, match=r"loss of shape \(2, 2\) for a batch of 4 faces"):
        make_trainer(loss=lambda logits, targets: torch.zeros(2, 2)).evaluate(data, batch_size=4)


def test_the_built_in_val_loss_stays_the_plain_cross_entropy() -> None:
    """Label smoothing and class weights shape training, not the number EarlyStopping watches."""
    data = make_data(16)
    smoothed = make_trainer(label_smoothing=0.3, class_weight="balanced")
    smoothed.fit(data, epochs=1, batch_size=8, progress=False)
    logits = smoothed.predict(data).log()  # temperature 1: log-probabilities
    assert smoothed.evaluate(data)["loss"] == pytest.approx(float(F.nll_loss(logits, data.targets)), rel=1e-4)


def test_a_subclass_with_the_old_compute_loss_still_runs_with_a_deprecation_warning() -> None:
    class Old(Trainer):
        def compute_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return constant_seven(logits, targets)

    with pytest.warns(DeprecationWarning, match=r"Old.compute_loss overrides the facexpr 0.1 signature"):
        trainer = make_trainer(cls=Old)
    history = trainer.fit(make_data(8), val=make_data(8), epochs=1, batch_size=4, progress=False)
    assert history.history["val_loss"] == [pytest.approx(7.0)]
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    plain = make_trainer()
    with pytest.warns(DeprecationWarning, match=r"compute_loss\(logits, targets\) is deprecated"):
        old_call = plain.compute_loss(logits, torch.tensor([0]))
    assert float(old_call) == float(plain.compute_loss(y=torch.tensor([0]), y_pred=logits))


def test_train_step_receives_the_batch_indices_and_setup_fit_sees_the_data() -> None:
    data = make_data(10)
    seen: list[list[int]] = []

    class Recording(Trainer):
        def setup_fit(self, train: FaceDataset, batch_size: int) -> None:
            super().setup_fit(train, batch_size)
            self.setup = (len(train), batch_size)

        def train_step(self, images: torch.Tensor, targets: torch.Tensor, *,
                       indices: torch.Tensor | None = None) -> dict[str, float]:
            assert indices is not None and torch.equal(data.targets[indices], targets.cpu())
            seen.append(indices.tolist())
            return super().train_step(images, targets, indices=indices)

    trainer = make_trainer(cls=Recording)
    trainer.fit(data, epochs=1, batch_size=4, progress=False)
    assert trainer.setup == (10, 4)
    assert sorted(i for batch in seen for i in batch) == list(range(10))


def test_hard_targets_of_soft_batches_come_from_the_training_data_by_index() -> None:
    images = make_data(4).images
    votes = torch.tensor([[0.4, 0.4, 0.2], [0.1, 0.2, 0.7], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    data = FaceDataset(images, votes, classes=["a", "b", "c"])
    trainer = make_trainer()
    trainer.fit(data, epochs=1, batch_size=4, progress=False)
    indices = torch.tensor([2, 0])
    assert trainer.hard_targets(votes[indices], indices).tolist() == data.hard_targets[indices].tolist()
    assert trainer.hard_targets(votes[indices]).tolist() == votes[indices].argmax(1).tolist()


def test_distillation_overrides_only_public_methods_and_keeps_no_batch_state() -> None:
    private = [name for name, value in vars(DistillationTrainer).items()
               if name.startswith("_") and not name.startswith("__") and callable(value) and hasattr(Trainer, name)]
    assert private == []
    teacher = facexpr.load("simple", pretrained=False, labels=["class0", "class1", "class2"], device="cpu")
    for mode in ("online", "cached"):
        trainer = make_trainer(cls=DistillationTrainer, teacher=teacher, teacher_mode=mode, distill_alpha=1.0)
        trainer.fit(make_data(8), epochs=1, batch_size=4, progress=False)
        before = dict(vars(trainer))
        batch = torch.zeros(2, 1, 48, 48)
        logits = torch.randn(2, 3)
        loss = trainer.compute_loss(batch, torch.tensor([0, 1]), logits, indices=torch.tensor([0, 1]))
        teacher_logits = trainer.teacher_logits(batch, indices=torch.tensor([0, 1]))
        assert float(loss) == pytest.approx(float(trainer.distillation_loss(logits, teacher_logits, torch.tensor([0, 1]))))
        assert vars(trainer).keys() == before.keys()  # a loss leaves nothing behind
        plain = trainer.compute_loss(batch, torch.tensor([0, 1]), logits, training=False)
        assert torch.allclose(plain, F.cross_entropy(logits, torch.tensor([0, 1]), reduction="none"))


def test_evaluate_and_evaluate_split_share_one_evaluation_at_the_models_crop() -> None:
    torch.manual_seed(0)
    model = facexpr.load("simple", pretrained=False, num_classes=3, labels=["a", "b", "c"], device="cpu")
    model.config.crop_pct = 44 / 48
    model.config.temperature = 1.7
    data = make_data(12)
    data = FaceDataset(data.images, data.targets, classes=["a", "b", "c"])
    votes = torch.softmax(torch.randn(12, 3), 1)
    trainer = Trainer(model, device="cpu", channels_last=False)
    report = trainer.evaluate(data)
    released = evaluate_split(model, data.images, data.targets, votes=votes)
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert report[key] == released[key]
    soft = FaceDataset(data.images, votes, classes=["a", "b", "c"])
    assert trainer.evaluate(soft)["kl_divergence"] == pytest.approx(released["kl_divergence"], rel=1e-9)
    logits = face_logits(model, data.images)[0]
    assert torch.equal(trainer.predict(data), (logits / 1.7).softmax(1))


def test_face_logits_is_public_and_documented() -> None:
    assert "face_logits" in facexpr.inference.__all__
    assert "forward" in inspect.signature(face_logits).parameters
