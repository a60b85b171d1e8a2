"""shrink: a smaller VGG started from a larger trained one, alone and as a recipe's start."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.models import VGG7BN, VGG8BN
from facexpr.training.recipes import Recipe, train_recipe
from facexpr.training import shrink


def _faces(count: int = 96, seed: int = 0) -> torch.Tensor:
    """Smooth random faces: a 3x3 convolution can follow what a deeper stage makes of them."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 1, 6, 6, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=48, mode="bilinear", align_corners=False)
    return (smooth * 255).round().to(torch.uint8)


def _source(seed: int = 0) -> VGG8BN:
    """A vgg8_bn whose batch-norm scales rank its channels in a known order: channel c scores c."""
    torch.manual_seed(seed)
    model = VGG8BN(labels=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
    with torch.no_grad():
        for layer in model.features:
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.weight.copy_(torch.arange(layer.num_features, dtype=torch.float32) / layer.num_features + 0.1)
    return model.eval()


def _convs(model: torch.nn.Module) -> list[torch.nn.Conv2d]:
    return [layer for layer in model.features if isinstance(layer, torch.nn.Conv2d)]


def test_the_stages_that_keep_their_convolutions_get_the_channels_with_the_largest_scales() -> None:
    source = _source()
    small = shrink(source, VGG7BN(), _faces(), hint_epochs=(1, 1))
    big = _convs(source)
    # vgg7_bn's stages 3 and 4 (its convolutions 4-7) are vgg8_bn's (5-8), untouched by the hints
    for mine, theirs in zip(_convs(small)[3:], big[4:]):
        kept_out = torch.arange(theirs.out_channels - mine.out_channels, theirs.out_channels)
        kept_in = torch.arange(theirs.in_channels - mine.in_channels, theirs.in_channels)
        assert torch.equal(mine.weight, theirs.weight[kept_out][:, kept_in])
    columns = (torch.arange(256 - 192, 256)[:, None] * 9 + torch.arange(9)).reshape(-1)
    assert torch.equal(small.classifier[0].weight, source.classifier[0].weight[:, columns])
    assert torch.equal(small.classifier[4].weight, source.classifier[4].weight)
    assert small.labels == source.labels and not small.training


def test_the_refitted_first_stage_reproduces_the_larger_networks_features() -> None:
    source, faces = _source(), _faces(256)

    def error(epochs: int, lines: list[str]) -> float:
        torch.manual_seed(0)
        small = shrink(source, VGG7BN(), faces, hint_epochs=(epochs, 0), hint_lrs=(3e-2, 0), batch_size=32,
                       log=lines.append)
        with torch.no_grad():
            inputs = small.transforms().normalize(faces)
            wanted = source.features[:7](inputs)[:, 8:]  # the 24 channels of 32 with the largest scales
            return float(torch.nn.functional.mse_loss(small.features[:4](inputs), wanted) / wanted.pow(2).mean())

    lines: list[str] = []
    fitted, unfitted = error(12, lines), error(0, [])
    assert len(lines) == 12 and lines[0].startswith("stage 1 hint pass 1/12: mean squared error")
    assert fitted < 0.8 and fitted < unfitted / 3  # relative to the error of zeros


def test_shrinking_into_the_same_architecture_copies_every_weight() -> None:
    source = _source()
    same = shrink(source, VGG8BN(), _faces())
    for (name, mine), theirs in zip(same.named_parameters(), source.parameters()):
        assert torch.equal(mine, theirs), name
    assert same.config.temperature == 1.0  # a temperature fitted to the source's logits is not carried over


def test_shrinking_is_repeatable_under_a_seed() -> None:
    first = shrink(_source(), VGG7BN(), _faces(), hint_epochs=(1, 1), seed=3)
    second = shrink(_source(), VGG7BN(), _faces(), hint_epochs=(1, 1), seed=3)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_bad_pairs_and_bad_faces_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="stage 1 of VGG8BN .* is not smaller than VGG7BN"):
        shrink(VGG7BN(), VGG8BN(), _faces())
    with pytest.raises(ValueError, match="VGG7BN has 8 classes, the source 7"):
        shrink(_source(), VGG7BN(num_classes=8), _faces())
    with pytest.raises(ValueError, match="ImprovedCNN.s head differs from VGG8BN.s"):
        shrink(_source(), facexpr.load("improved", pretrained=False), _faces())
    with pytest.raises(ValueError, match="uint8 tensor N x 1 x 48 x 48 with N >= 2 .*, got shape \\(4, 48, 48\\)"):
        shrink(_source(), VGG7BN(), torch.zeros(4, 48, 48, dtype=torch.uint8))
    with pytest.raises(ValueError, match="N >= 2 .*, got shape \\(1, 1, 48, 48\\)"):
        shrink(_source(), VGG7BN(), torch.zeros(1, 1, 48, 48, dtype=torch.uint8))


def test_the_batch_norm_statistics_never_see_a_batch_of_one_face() -> None:
    small = shrink(_source(), VGG7BN(), _faces(count=9), hint_epochs=(0, 0), batch_size=4)  # 9 = 4 + 4 + 1
    assert all(torch.isfinite(m.running_var).all() for m in small.modules() if isinstance(m, torch.nn.BatchNorm1d))


def test_shrinking_keeps_every_index_on_the_models_device(monkeypatch: pytest.MonkeyPatch) -> None:
    # "meta" stands for an accelerator here: a tensor made on the CPU beside one made on it fails
    # as it would on CUDA or MPS, without needing one. Batch norm cannot count batches on "meta",
    # so the statistics pass (plain forward passes on the model's device) is left out.
    from facexpr.training import shrinking

    monkeypatch.setattr(shrinking, "_estimate_batch_norm", lambda *args: None)
    source, target = _source().to("meta"), VGG7BN().to("meta")
    small = shrink(source, target, _faces(count=8), hint_epochs=(0, 0))
    assert small.classifier[0].weight.device.type == "meta"


def _tree(root: Path, classes: list[str], per_class: int) -> Path:
    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, (48, 48), dtype=np.uint8) + index * 80
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_a_recipe_starts_from_a_shrunk_model_once_and_resumes_without_shrinking_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    source = _source().save_pretrained(tmp_path / "vgg8")
    data = _tree(tmp_path / "faces", ["happy", "sad"], 6)
    recipe = Recipe("vgg7_bn", epochs=1, batch_size=4, lr=0.0, shrink_from=str(source))
    from facexpr.training import shrinking as module

    with mock.patch.object(module, "shrink", wraps=module.shrink) as spy:
        best = train_recipe(recipe, data, tmp_path / "run", progress=False, device="cpu")
        assert spy.call_count == 1
        train_recipe(Recipe("vgg7_bn", epochs=2, batch_size=4, lr=0.0, shrink_from=str(source)), data,
                     tmp_path / "run", progress=False, device="cpu")
        assert spy.call_count == 1  # the checkpoint holds the weights
    trained = facexpr.load(best, device="cpu")
    assert trained.config.architecture == "vgg7_bn" and trained.labels == _source().labels  # the head is kept
    assert trained.config.recipe["shrink_from"] == str(source)
    assert "shrink_from" not in Recipe("vgg7_bn", epochs=1).to_dict()


def test_facexpr_train_shrink_from_starts_the_architecture_from_a_larger_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from facexpr.cli import main

    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    source = _source().save_pretrained(tmp_path / "vgg8")
    data = _tree(tmp_path / "faces", ["happy", "sad"], 6)
    code = main(["train", "--model", "vgg7_bn", "--shrink-from", str(source), "--data", str(data), "--epochs", "1",
                 "--batch-size", "4", "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"starting from {source}'s weights" in err and "shrunk to vgg7_bn" in err and "shrinking: stage 1 hint pass 1/4" in err
    assert facexpr.load(tmp_path / "run" / "best", device="cpu").config.recipe["shrink_from"] == str(source)


def test_fine_tuning_a_shrunk_release_starts_from_its_own_weights_without_its_recipes_teacher(tmp_path: Path) -> None:
    from facexpr.training.recipes import recipe_for_model

    data = tmp_path / "faces"
    own = recipe_for_model("vgg7_bn.mixed", data, pretrained=True, epochs=4, lr=1e-4)
    assert (own.model, own.pretrained, own.shrink_from, own.teacher) == ("vgg7_bn.mixed", True, None, None)
    assert "distill_alpha" not in own.to_dict() and own.lr == 1e-4
    taught = recipe_for_model("vgg7_bn.mixed", data, pretrained=True, teacher="vgg8_bn.ferplus", distill_alpha=0.9)
    assert (taught.teacher, taught.distill_alpha, taught.shrink_from) == ("vgg8_bn.ferplus", 0.9, None)
    fresh = recipe_for_model("vgg7_bn.mixed", data)  # without pretrained: random weights, the recipe's settings
    assert (fresh.shrink_from, fresh.teacher, fresh.pretrained, fresh.lr) == (None, None, False, 1e-3)
    thinned = recipe_for_model("vgg7_bn", data, shrink_from="vgg8_bn.mixed")
    assert (thinned.shrink_from, thinned.teacher) == ("vgg8_bn.mixed", None)
    with pytest.raises(ValueError, match="distill_alpha set, but training 'vgg7_bn.mixed' distils from no teacher"):
        recipe_for_model("vgg7_bn.mixed", data, pretrained=True, distill_alpha=0.9)
    with pytest.raises(ValueError, match="shrink_from='vgg8_bn.mixed' and pretrained both say where"):
        recipe_for_model("vgg7_bn.mixed", data, pretrained=True, shrink_from="vgg8_bn.mixed")


def test_a_recipe_cannot_start_both_shrunk_and_from_released_weights(tmp_path: Path) -> None:
    data = _tree(tmp_path / "faces", ["happy", "sad"], 2)
    with pytest.raises(ValueError, match="for 'vgg7_bn' starts from 'vgg8_bn.mixed' thinned .* facexpr train --model NAME --pretrained"):
        train_recipe(Recipe("vgg7_bn", epochs=1, shrink_from="vgg8_bn.mixed"), data, tmp_path / "run",
                     pretrained=True, progress=False, device="cpu")
    with pytest.raises(ValueError, match="The recipe 'vgg7_bn.mixed' starts from 'vgg8_bn.mixed' thinned"):
        train_recipe("vgg7_bn.mixed", data, tmp_path / "run", pretrained=True, progress=False, device="cpu")
    assert not (tmp_path / "run").exists()


def test_a_teacher_of_other_classes_is_refused_before_the_shrinking_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    source = _source().save_pretrained(tmp_path / "vgg8")
    teacher = VGG8BN(labels=["happy", "sad"]).save_pretrained(tmp_path / "teacher")
    data = _tree(tmp_path / "faces", ["happy", "sad"], 4)
    from facexpr.training import shrinking as module

    with mock.patch.object(module, "shrink", wraps=module.shrink) as spy, \
            pytest.raises(ValueError, match="The teacher's classes \\['happy', 'sad'\\] are not the training data's"):
        train_recipe(Recipe("vgg7_bn", epochs=1, batch_size=4, shrink_from=str(source), teacher=str(teacher)), data,
                     tmp_path / "run", progress=False, device="cpu")
    assert spy.call_count == 0


def test_facexpr_train_pretrained_fine_tunes_the_default_from_its_own_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from facexpr.cli import main
    from facexpr.training import shrinking as module

    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    data = _tree(tmp_path / "faces", ["happy", "sad"], 6)
    with mock.patch.object(module, "shrink", wraps=module.shrink) as spy:
        code = main(["train", "--model", facexpr.DEFAULT_MODEL, "--pretrained", "--data", str(data), "--epochs", "1",
                     "--batch-size", "4", "--lr", "1e-12", "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert code == 0 and spy.call_count == 0
    assert f"starting from {facexpr.DEFAULT_MODEL}'s weights, its 8-class head kept" in capsys.readouterr().err
    released = facexpr.load(facexpr.DEFAULT_MODEL, device="cpu")
    tuned = facexpr.load(tmp_path / "run" / "best", device="cpu")
    assert "teacher" not in tuned.config.recipe and "shrink_from" not in tuned.config.recipe
    assert "test" in released.config.metrics and set(tuned.config.metrics) == {"checkpoint"}  # not the release's
    card = (tmp_path / "run" / "best" / "README.md").read_text()
    assert f"{released.config.metrics['test']['accuracy']:.4f}" not in card and "three label sources" not in card
    name, weight = next(iter(released.named_parameters()))  # lr 1e-12: the released weights, as good as untouched
    assert torch.allclose(dict(tuned.named_parameters())[name], weight, atol=1e-6)


def test_facexpr_train_recipe_with_a_shrunk_start_and_pretrained_names_the_recipe_and_the_way_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facexpr.cli import main

    data = _tree(tmp_path / "faces", ["happy", "sad"], 2)
    assert main(["train", "--recipe", "vgg7_bn.mixed", "--pretrained", "--data", str(data),
                 "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--recipe vgg7_bn.mixed starts from vgg8_bn.mixed thinned" in err and "--model NAME --pretrained" in err
    assert not (tmp_path / "run").exists()
