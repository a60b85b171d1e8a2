"""The Trainer on tiny generated data: history, callbacks, checkpoints, resume, DDP, loggers."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import facexpr
from facexpr.data import FaceDataset
from facexpr.training import (
    OPTIMIZERS,
    SCHEDULERS,
    Callback,
    CheckpointError,
    CSVLogger,
    DistillationTrainer,
    EarlyStopping,
    History,
    ModelCheckpoint,
    TensorBoard,
    Trainer,
    WandbLogger,
)
from facexpr.training._distributed import shard

from ._train_worker import BATCH_SIZE, EPOCHS, make_data, make_trainer
from .conftest import FakeTerminal

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_train_worker.py")
HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Run every test on one thread, like the subprocesses (results must match bit for bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def data() -> tuple[FaceDataset, FaceDataset]:
    train = make_data(32)
    return train, train.subset(range(0, 32, 2))


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONPATH=str(REPO_ROOT))
    return env


def _without_seconds(history: History) -> dict[str, list[float]]:
    return {k: v for k, v in history.history.items() if k != "seconds"}


def _assert_same_weights(a: torch.nn.Module | dict, b: torch.nn.Module | dict) -> None:
    sa = a if isinstance(a, dict) else a.state_dict()
    sb = b if isinstance(b, dict) else b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


class ScoredTrainer(Trainer):
    """Reports a made-up ``val_loss`` for every epoch, so that the best epoch is known in advance."""

    SCORES = (0.9, 0.1, 0.5, 0.3)

    def eval_step(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, logits = super().eval_step(images, targets)
        return torch.tensor(self.SCORES[len(self.history.epoch)] * len(images)), logits


class Snapshot(Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.states.append({k: v.clone() for k, v in self.trainer.unwrapped_model.state_dict().items()})


# -- fit, evaluate, predict ----------------------------------------------------------------------
def test_fit_history_evaluate_predict(data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    trainer = make_trainer()
    history = trainer.fit(train, val=val, epochs=2, batch_size=BATCH_SIZE, progress=False)
    assert set(history.history) == HISTORY_KEYS
    assert history.epoch == [0, 1]
    assert all(len(v) == 2 and all(math.isfinite(x) for x in v) for v in history.history.values())
    assert history.history["loss"][1] < history.history["loss"][0]
    assert trainer.unwrapped_model.labels == ("class0", "class1", "class2")  # the data's names

    report = trainer.evaluate(val)
    assert {"loss", "accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(report)
    assert sum(map(sum, report["confusion_matrix"])) == len(val)
    assert set(report["per_class"]) == {"class0", "class1", "class2"}
    assert report["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    probs = trainer.predict(val)
    assert probs.shape == (len(val), 3)
    assert torch.allclose(probs.sum(1), torch.ones(len(val)))


def test_evaluation_sees_faces_at_the_models_crop_pct_like_predict(data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    trainer = make_trainer()
    trainer.fit(train, epochs=1, batch_size=BATCH_SIZE, progress=False)
    model = trainer.unwrapped_model
    whole = trainer.predict(val)
    model.config.crop_pct = 44 / 48
    cropped = trainer.predict(val)
    assert torch.allclose(cropped, model.predict_proba(val.images), atol=1e-5)
    assert not torch.allclose(cropped, whole, atol=1e-4)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_and_optimizer_runs(scheduler: str, data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    optimizer = OPTIMIZERS[SCHEDULERS.index(scheduler) % len(OPTIMIZERS)]
    trainer = make_trainer(optimizer=optimizer, scheduler=scheduler, lr=0.01)
    history = trainer.fit(train.subset(range(16)), val=val, epochs=2, batch_size=8, progress=False)
    assert len(history.epoch) == 2 and history.history["lr"][0] > 0


def test_same_seed_same_run_other_seed_differs(data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    runs = []
    for seed in (3, 3, 4):
        trainer = make_trainer(seed=seed)
        history = trainer.fit(train, val=val, epochs=2, batch_size=BATCH_SIZE, progress=False)
        runs.append((trainer.unwrapped_model.state_dict(), _without_seconds(history)))
    _assert_same_weights(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0]["features.0.weight"], runs[2][0]["features.0.weight"])


def test_bad_arguments_name_the_valid_choices(data: tuple[FaceDataset, FaceDataset]) -> None:
    with pytest.raises(ValueError, match="'cosin'. Available: cosine, onecycle, step, plateau"):
        make_trainer(scheduler="cosin")
    with pytest.raises(ValueError, match="freeze must be None or 'features', got 'head'"):
        make_trainer(freeze="head")
    with pytest.raises(ValueError, match="'adamax'. Available: adam, adamw, sgd"):
        make_trainer(optimizer="adamax").fit(data[0], epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"7 outputs but the training data has 3 classes.*num_classes=3"):
        make_trainer(num_classes=7).fit(data[0], epochs=1, progress=False)
    with pytest.raises(TypeError, match="FaceDataset"):
        make_trainer().fit([1, 2], epochs=1)  # type: ignore[arg-type]


# -- callbacks --------------------------------------------------------------------------------------
def test_early_stopping(data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    stop = EarlyStopping(monitor="val_loss", patience=1, min_delta=100.0)  # nothing improves by 100
    history = make_trainer().fit(train, val=val, epochs=5, batch_size=16, callbacks=[stop], progress=False)
    assert history.epoch == [0, 1]
    assert stop.stopped_epoch == 1 and stop.best_epoch == 0
    with pytest.raises(KeyError, match="'val_loss' is not in the logs.*pass val="):
        make_trainer().fit(train, epochs=1, batch_size=16, callbacks=[EarlyStopping()], progress=False)


def test_model_checkpoint_best_only_survives_resume(
    tmp_path: Path, data: tuple[FaceDataset, FaceDataset]
) -> None:
    train, val = data
    best = ModelCheckpoint(tmp_path / "best", monitor="val_loss")
    snap = Snapshot()
    make_trainer(cls=ScoredTrainer, scheduler=None).fit(
        train, val=val, epochs=3, batch_size=16, callbacks=[snap, best], checkpoint=tmp_path / "ckpt.pt",
        progress=False,
    )
    assert best.best_epoch == 1 and best.best == pytest.approx(0.1)
    saved = facexpr.load(tmp_path / "best", device="cpu")
    assert saved.config.metrics["checkpoint"]["epoch"] == 1
    _assert_same_weights(saved, snap.states[1])

    # A resumed run with a fresh callback knows that epoch 1 is the best so far: epoch 3
    # (val_loss 0.3) beats epoch 2 (0.5) but not epoch 1, so nothing is written.
    again = ModelCheckpoint(tmp_path / "best", monitor="val_loss")
    make_trainer(cls=ScoredTrainer, scheduler=None).fit(
        train, val=val, epochs=4, batch_size=16, callbacks=[again], resume=tmp_path / "ckpt.pt",
        progress=False,
    )
    assert again.best_epoch == 1 and again.last_saved is None
    assert facexpr.load(tmp_path / "best", device="cpu").config.metrics["checkpoint"]["epoch"] == 1


def test_csv_logger(tmp_path: Path, data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    path = tmp_path / "logs" / "history.csv"
    history = make_trainer().fit(train, val=val, epochs=2, batch_size=16, callbacks=[CSVLogger(path)],
                                 progress=False)
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert set(rows[0]) == {"epoch"} | HISTORY_KEYS
    assert [float(r["val_loss"]) for r in rows] == history.history["val_loss"]


def test_loggers_explain_a_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match="TensorBoard needs the optional package 'tensorboard'.*pip install tensorboard"):
        TensorBoard("runs")
    with pytest.raises(ImportError, match="WandbLogger needs the optional package 'wandb'.*pip install wandb"):
        WandbLogger("project")


def test_tensorboard_writes_scalars(tmp_path: Path, data: tuple[FaceDataset, FaceDataset]) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (optional)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train, val = data
    make_trainer().fit(train, val=val, epochs=2, batch_size=16, callbacks=[TensorBoard(tmp_path / "tb")],
                       progress=False)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr", "seconds"} <= tags
    assert [e.step for e in events.Scalars("loss/val")] == [0, 1]


def test_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[FaceDataset, FaceDataset]) -> None:
    wandb = pytest.importorskip("wandb", reason="wandb is not installed (optional)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    train, val = data
    logger = WandbLogger("facexpr-tests", name="tiny", config={"note": "test"}, dir=str(tmp_path))
    make_trainer().fit(train, val=val, epochs=2, batch_size=16, callbacks=[logger], progress=False)
    assert logger.run is None  # finished
    wandb.teardown()  # stop wandb's service, which flushes the run file
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    record = next(runs[0].glob("run-*.wandb")).read_bytes()  # what `wandb sync` would upload
    for key in (b"val_loss", b"val_accuracy", b"architecture", b"note"):
        assert key in record


# -- checkpoints, NaN, freeze ---------------------------------------------------------------------------
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, data: tuple[FaceDataset, FaceDataset]
) -> None:
    train, _ = data
    calls = {"n": 0}

    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        value = F.cross_entropy(logits.float(), targets)
        return value * float("nan") if calls["n"] > 3 else value  # 2 steps an epoch: NaN in epoch 2

    snap = Snapshot()
    trainer = make_trainer(loss=loss)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(FloatingPointError, match=r"epoch 2: the loss is nan \(not finite\).*ckpt.pt' is intact"):
        trainer.fit(train, epochs=3, batch_size=16, callbacks=[snap], checkpoint=ckpt, progress=False)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]["epoch"]) == 1
    _assert_same_weights(state["model"], snap.states[0])
    assert all(torch.isfinite(p).all() for p in trainer.unwrapped_model.parameters())


def test_freeze_features_trains_only_the_head(data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    trainer = make_trainer(freeze="features", lr=0.01)
    before = {k: v.clone() for k, v in trainer.unwrapped_model.state_dict().items()}
    trainer.fit(train, val=val, epochs=2, batch_size=16, progress=False)
    after = trainer.unwrapped_model.state_dict()
    features = [k for k in before if k.startswith("features.")]
    head = [k for k in before if k.startswith("classifier.") and k.endswith("weight")]
    assert features and head
    assert all(torch.equal(before[k], after[k]) for k in features)  # weights and BatchNorm statistics
    assert all(not torch.equal(before[k], after[k]) for k in head)


def test_checkpoint_errors(tmp_path: Path, data: tuple[FaceDataset, FaceDataset]) -> None:
    trainer = make_trainer()
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        trainer.load_checkpoint(tmp_path / "missing.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a facexpr training checkpoint"):
        trainer.load_checkpoint(tmp_path / "other.pt")
    # A one-cycle schedule is laid out over the run's length: resuming with another is refused.
    trainer.fit(data[0].subset(range(16)), epochs=1, batch_size=16, checkpoint=tmp_path / "c.pt", progress=False)
    with pytest.raises(ValueError, match="epochs=1.*'onecycle'.*resume with epochs=1, not 2"):
        make_trainer().fit(data[0], epochs=2, resume=tmp_path / "c.pt", progress=False)


@pytest.mark.slow
def test_kill_mid_epoch_and_resume_is_exact(tmp_path: Path, data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    torch.save({"images": train.images, "targets": train.targets}, tmp_path / "data.pt")
    marker = tmp_path / "stalled"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "fit", str(tmp_path / "data.pt"), str(tmp_path), "--stall", "1:1"],
        env=_subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the training subprocess exited early:\n{proc.stdout.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("the training subprocess never reached epoch 2")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-epoch 2: its checkpoint holds epoch 1
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1

    resumed = make_trainer()
    resumed_history = resumed.fit(train, val=val, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                  checkpoint=tmp_path / "checkpoint.pt", resume=tmp_path / "checkpoint.pt",
                                  progress=False)
    full = make_trainer()
    full_history = full.fit(train, val=val, epochs=EPOCHS, batch_size=BATCH_SIZE, progress=False)
    _assert_same_weights(resumed.unwrapped_model, full.unwrapped_model)
    assert resumed_history.epoch == full_history.epoch == [0, 1, 2]
    assert _without_seconds(resumed_history) == _without_seconds(full_history)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == EPOCHS


# -- distributed ------------------------------------------------------------------------------------------
def test_shard_matches_distributed_sampler() -> None:
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    parts = [shard(order, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(torch.cat(parts).tolist()) == set(range(11))
    sampler = torch.utils.data.DistributedSampler(range(11), num_replicas=3, rank=1, shuffle=False)
    assert shard(torch.arange(11), 1, 3).tolist() == list(sampler)


def _run_ddp(out: Path, images: torch.Tensor, targets: torch.Tensor) -> list[dict]:
    """Train the worker with DDP on 2 processes in ``out``; return each rank's info."""
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"images": images, "targets": targets}, out / "data.pt")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={port}", str(WORKER), "ddp", str(out / "data.pt"), str(out),
    ]
    result = subprocess.run(command, env=_subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
def test_ddp_two_processes_end_with_identical_weights(
    tmp_path: Path, data: tuple[FaceDataset, FaceDataset]
) -> None:
    train, _ = data
    info = _run_ddp(tmp_path, train.images, train.targets)
    assert [i["world_size"] for i in info] == [2, 2]
    assert [i["wrapped"] for i in info] == ["DistributedDataParallel"] * 2
    assert info[0]["steps_per_epoch"] == math.ceil(32 / 2 / BATCH_SIZE)  # each rank sees half
    assert info[0]["history"] == info[1]["history"]  # metrics reduced over both ranks
    assert set(info[0]["history"]["history"]) == HISTORY_KEYS
    _assert_same_weights(torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt"))
    _assert_same_weights(torch.load(tmp_path / "rank0.pt"),
                         torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"])
    assert (tmp_path / "history.csv").is_file()
    assert [p.name for p in tmp_path.glob("rank_zero_only_ran_on_*")] == ["rank_zero_only_ran_on_0"]

    # Soft targets are sharded with their images: one-hot distributions train as the indices do.
    soft = tmp_path / "soft"
    soft_info = _run_ddp(soft, train.images, F.one_hot(train.targets, 3).float())
    assert soft_info[0]["history"] == soft_info[1]["history"]
    _assert_same_weights(torch.load(soft / "rank0.pt"), torch.load(soft / "rank1.pt"))
    for key, values in info[0]["history"]["history"].items():
        if key != "seconds":
            assert soft_info[0]["history"]["history"][key] == pytest.approx(values, abs=1e-4), key
    hard_weights, soft_weights = torch.load(tmp_path / "rank0.pt"), torch.load(soft / "rank0.pt")
    for key in hard_weights:
        torch.testing.assert_close(soft_weights[key].float(), hard_weights[key].float(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [True, False])
def test_trainer_channels_last_option_sets_weight_layout(channels_last):
    from facexpr.models import memory_format_of

    model = facexpr.models.SimpleCNN()
    trainer = Trainer(model, device="cpu", channels_last=channels_last)
    expected = torch.channels_last if channels_last else torch.contiguous_format
    assert memory_format_of(trainer.model) == expected
    batch = trainer._normalize_unit(torch.rand(4, 1, 48, 48))
    assert batch.is_contiguous(memory_format=expected)


# -- knowledge distillation ----------------------------------------------------------------------
class ConstantTeacher(torch.nn.Module):
    """A 'teacher' that is sure every face belongs to class ``index``."""

    def __init__(self, num_classes: int = 3, index: int = 2) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        logits = torch.full((num_classes,), -4.0)
        logits[index] = 4.0
        self.register_buffer("logits", logits)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.logits * self.scale).expand(len(x), -1)


def test_distillation_loss_mixes_hard_and_soft_terms() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    teacher = torch.tensor([[1.0, 1.0, 0.0], [-1.0, 3.0, 0.0]])
    targets = torch.tensor([0, 2])
    hard_only = make_trainer(cls=DistillationTrainer, teacher=ConstantTeacher(), distill_alpha=0.0, label_smoothing=0.0)
    torch.testing.assert_close(hard_only.distillation_loss(logits, teacher, targets), F.cross_entropy(logits, targets))
    soft_only = make_trainer(cls=DistillationTrainer, teacher=ConstantTeacher(), distill_alpha=1.0, distill_temperature=2.0)
    expected = F.kl_div(F.log_softmax(logits / 2, 1), F.softmax(teacher / 2, 1), reduction="batchmean") * 4
    torch.testing.assert_close(soft_only.distillation_loss(logits, teacher, targets), expected)
    assert float(soft_only.distillation_loss(teacher, teacher, targets)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("teacher_mode", ["online", "cached"])
def test_distillation_student_follows_the_teacher_and_the_teacher_is_untouched(
    data: tuple[FaceDataset, FaceDataset], teacher_mode: str,
) -> None:
    train, val = data
    teacher = ConstantTeacher(index=2)
    trainer = make_trainer(cls=DistillationTrainer, teacher=teacher, distill_alpha=1.0, lr=0.01, augment=None, scheduler=None,
                           teacher_mode=teacher_mode)
    trainer.fit(train, epochs=3, batch_size=16, progress=False)
    # Only the teacher's soft labels count (alpha=1): the student predicts the teacher's class
    # for every face, although the hard labels are spread over three classes.
    assert (trainer.predict(val).argmax(1) == 2).all()
    frozen = trainer.teacher
    assert float(frozen.scale) == 1.0 and not frozen.scale.requires_grad and not frozen.training
    assert teacher.scale.requires_grad and teacher.training  # the caller's teacher is not touched


def test_distillation_refuses_a_teacher_with_other_classes() -> None:
    with pytest.raises(ValueError, match="teacher predicts 7 classes but the model 3"):
        make_trainer(cls=DistillationTrainer, teacher=facexpr.load("better", pretrained=False, device="cpu"))
    with pytest.raises(ValueError, match="distill_alpha must be in"):
        make_trainer(cls=DistillationTrainer, teacher=ConstantTeacher(), distill_alpha=1.5)


def test_distillation_matches_the_teacher_classes_by_name_and_leaves_the_teacher_alone() -> None:
    teacher = facexpr.load("simple", pretrained=False, labels=["calm", "excited", "sleepy"], device="cpu")
    teacher.train()
    student = facexpr.load("simple", pretrained=False, num_classes=3, device="cpu")
    trainer = DistillationTrainer(student, device="cpu", teacher=teacher, distill_alpha=1.0)
    data = make_data(12)
    reordered = FaceDataset(data.images, data.targets, classes=["sleepy", "calm", "excited"])
    trainer.fit(reordered, epochs=1, batch_size=6, progress=False)
    assert trainer._teacher_order.tolist() == [2, 0, 1]
    assert teacher.training and all(p.requires_grad for p in teacher.parameters())  # the caller's copy
    other = FaceDataset(data.images, data.targets, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"teacher's classes \['calm', 'excited', 'sleepy'\] are not"):
        DistillationTrainer(facexpr.load("simple", pretrained=False, num_classes=3, device="cpu"), device="cpu",
                            teacher=teacher).fit(other, epochs=1, batch_size=6, progress=False)
    with pytest.raises(ValueError, match="another model than the one being trained"):
        DistillationTrainer(student, device="cpu", teacher=student)


def test_cached_teacher_logits_average_each_image_and_its_mirror() -> None:
    torch.manual_seed(1)
    teacher = facexpr.load("simple", pretrained=False, labels=["b", "a", "c"], device="cpu")
    generated = make_data(10)
    data = FaceDataset(generated.images, generated.targets, classes=["a", "b", "c"])
    trainer = DistillationTrainer(facexpr.load("simple", pretrained=False, num_classes=3, device="cpu"),
                                  device="cpu", teacher=teacher, teacher_mode="cached")
    trainer.fit(data, epochs=1, batch_size=5, progress=False)
    inputs = (data.images.float() / 255 - 0.5) / 0.5
    with torch.inference_mode():
        expected = (teacher(inputs) + teacher(torch.flip(inputs, dims=[3]))) / 2
    torch.testing.assert_close(trainer._teacher_cache, expected[:, [1, 0, 2]], atol=1e-5, rtol=1e-5)
    assert not hasattr(trainer, "_teacher_logits")  # nothing is kept between a step and its loss
    with pytest.raises(ValueError, match="teacher_mode must be 'online' or 'cached'"):
        make_trainer(cls=DistillationTrainer, teacher=ConstantTeacher(), teacher_mode="offline")


def test_distillation_with_alpha_zero_trains_exactly_like_the_plain_trainer(
    data: tuple[FaceDataset, FaceDataset],
) -> None:
    # The subclass only adds its loss: with no weight on the teacher, the loop, the seeds and
    # the weights are those of the plain Trainer, in both teacher modes.
    train, val = data
    plain = make_trainer()
    plain.fit(train, val=val, epochs=2, batch_size=BATCH_SIZE, progress=False)
    for mode in ("online", "cached"):
        distilled = make_trainer(cls=DistillationTrainer, teacher=ConstantTeacher(), distill_alpha=0.0,
                                 teacher_mode=mode)
        distilled.fit(train, val=val, epochs=2, batch_size=BATCH_SIZE, progress=False)
        _assert_same_weights(plain.unwrapped_model, distilled.unwrapped_model)
        assert _without_seconds(plain.history) == _without_seconds(distilled.history)


# -- the narrow surface between the loop and the rest ---------------------------------------------
def test_trainer_predict_gives_the_probabilities_of_model_predict_proba(data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    trainer = make_trainer()
    trainer.fit(train, epochs=1, batch_size=BATCH_SIZE, progress=False)
    model = trainer.unwrapped_model
    model.config.temperature = 2.5  # a calibrated model
    model.config.mean, model.config.std = (0.4,), (0.3,)  # and its own normalisation
    model.config.crop_pct = 44 / 48
    torch.testing.assert_close(trainer.predict(val), model.predict_proba(val.images), atol=1e-5, rtol=1e-5)


def test_callbacks_see_the_run_through_params_and_never_private_fields(
    data: tuple[FaceDataset, FaceDataset],
) -> None:
    import inspect

    from facexpr.training import callbacks as callbacks_module

    class Record(Callback):
        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            self.seen = dict(self.params), self.model

    record = Record()
    trainer = make_trainer()
    trainer.fit(data[0], epochs=2, batch_size=BATCH_SIZE, callbacks=[record], progress=False)
    params, model = record.seen
    assert model is trainer.unwrapped_model
    assert (params["epochs"], params["steps"], params["batch_size"]) == (2, 32 // BATCH_SIZE, BATCH_SIZE)
    assert (params["optimizer"], params["lr"], params["scheduler"], params["seed"]) == ("adamw", 1e-3, "onecycle", 3)
    assert "trainer._" not in inspect.getsource(callbacks_module)


def test_model_checkpoint_starts_from_a_known_best_value(tmp_path: Path, data: tuple[FaceDataset, FaceDataset]) -> None:
    train, val = data
    best = ModelCheckpoint(tmp_path / "best", monitor="val_accuracy", initial_value_threshold=1.0)
    make_trainer().fit(train, val=val, epochs=1, batch_size=BATCH_SIZE, callbacks=[best], progress=False)
    assert best.best == 1.0 and not (tmp_path / "best").exists()  # nothing beat the known best


def test_building_a_trainer_joins_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("init_process_group called while building a Trainer")

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.distributed, "init_process_group", refuse)
    trainer = make_trainer()
    assert trainer.world_size == 1 and not torch.distributed.is_initialized()


def test_fit_on_tensors_keeps_the_models_class_names() -> None:
    model = facexpr.load("simple", pretrained=False, device="cpu")
    images = torch.randint(0, 256, (14, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    Trainer(model, device="cpu").fit((images, torch.arange(14) % 7), epochs=1, batch_size=7, progress=False)
    assert model.labels == facexpr.FER2013_LABELS


def test_progress_off_a_terminal_is_one_line_per_epoch(
    data: tuple[FaceDataset, FaceDataset], capsys: pytest.CaptureFixture[str]
) -> None:
    train, val = data
    make_trainer().fit(train, val=val, epochs=2, batch_size=BATCH_SIZE, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split(" ")[0:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "val_accuracy" in lines[0]


def test_progress_on_a_terminal_is_a_live_bar(
    data: tuple[FaceDataset, FaceDataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    trainer = make_trainer()
    trainer.fit(data[0], epochs=1, batch_size=BATCH_SIZE, progress=True)
    assert "\r" in terminal.text and "epoch 1/1" in terminal.text
    terminal.text = ""
    trainer.evaluate(data[1], batch_size=4, progress=True)
    assert "evaluating" in terminal.text
    terminal.text = ""
    trainer.evaluate(data[1], batch_size=4)
    assert terminal.text == ""  # progress is opt-in for evaluate


# -- checkpoints that cannot be used ---------------------------------------------------------------
class _Payload:
    """An object whose unpickling would run code: weights_only loading must refuse it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def test_truncated_or_malicious_checkpoints_are_refused_by_name(
    tmp_path: Path, data: tuple[FaceDataset, FaceDataset], capsys: pytest.CaptureFixture[str]
) -> None:
    trainer = make_trainer()
    good = trainer.save_checkpoint(tmp_path / "good.pt", epoch=1)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    malicious = tmp_path / "malicious.pt"
    torch.save({"format": "facexpr-checkpoint-1", "payload": _Payload()}, malicious)
    for path in (truncated, malicious):
        with pytest.raises(CheckpointError) as caught:
            make_trainer().load_checkpoint(path)
        message = str(caught.value)
        assert str(path) in message and "weights_only" not in message
        assert isinstance(caught.value, facexpr.FacexprError)
    assert "unpickled!" not in capsys.readouterr().out


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    simple = Trainer(facexpr.load("simple", pretrained=False, num_classes=3, device="cpu"), device="cpu")
    path = simple.save_checkpoint(tmp_path / "checkpoint.pt", epoch=1)
    with pytest.raises(CheckpointError, match=r"checkpoint.pt' holds another model's weights than this 'better'"):
        make_trainer().load_checkpoint(path)


def test_a_recipes_teacher_does_not_move_the_students_seeded_start(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from facexpr.training.recipes import Recipe, train_recipe

    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    for c, name in enumerate(("happy", "sad")):
        (tmp_path / "faces" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (48, 48), 30 * i + 100 * c).save(tmp_path / "faces" / name / f"{i}.png")
    torch.manual_seed(1)
    teacher = facexpr.load("simple", pretrained=False, labels=["happy", "sad"]).save_pretrained(tmp_path / "teacher")
    starts = {}
    for run, spec in (("alone", Recipe("simple", epochs=1, batch_size=4, lr=1e-12)),
                      ("taught", Recipe("simple", epochs=1, batch_size=4, lr=1e-12, teacher=str(teacher)))):
        best = train_recipe(spec, tmp_path / "faces", tmp_path / run, progress=False, device="cpu")
        starts[run] = next(iter(facexpr.load(best, device="cpu").parameters()))
    assert torch.allclose(starts["alone"], starts["taught"], atol=1e-6)  # lr 1e-12: the seeded start itself
