"""The seed architectures, the registry and the model contract."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

import facexpr
from facexpr.models import FaceModel, ModelConfig, register_model

# Parameter shapes, in order, straight from the seed project's layer lists (DEVELOPERS.md).
SPEC = {
    "simple": [
        (32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 64, 3, 3), (128,),
        (256, 4608), (256,), (7, 256), (7,),
    ],
    "improved": [
        (32, 1, 3, 3), (32,), (32,), (32,),
        (64, 32, 3, 3), (64,), (64,), (64,),
        (128, 64, 3, 3), (128,), (128,), (128,),
        (256, 128, 3, 3), (256,), (256,), (256,),
        (512, 2304), (512,), (7, 512), (7,),
    ],
    "better": [
        (32, 1, 3, 3), (32,), (32,), (32,),
        (64, 32, 3, 3), (64,), (64,), (64,),
        (128, 64, 3, 3), (128,), (128,), (128,),
        (256, 4608), (256,), (256,), (256,), (7, 256), (7,),
    ],
}
LAYERS = {
    "simple": ["Conv2d", "ReLU", "MaxPool2d"] * 3 + ["Linear", "ReLU", "Linear"],
    "improved": ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 4
    + ["Dropout", "Linear", "ReLU", "Dropout", "Linear"],
    "better": ["Conv2d", "BatchNorm2d", "LeakyReLU", "MaxPool2d"] * 3
    + ["Linear", "BatchNorm1d", "LeakyReLU", "Dropout", "Linear"],
}


def test_list_models() -> None:
    assert facexpr.list_models()[:3] == ["better", "improved", "simple"]
    assert facexpr.list_models("s*") == ["simple"]
    assert "better" not in facexpr.list_models(exclude="b*")


def test_unknown_name_lists_available() -> None:
    with pytest.raises(ValueError, match="Unknown model .bettr.. Available: better, better.ferplus, improved, simple"):
        facexpr.load("bettr")


def test_duplicate_registration_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("better")(type("Again", (FaceModel,), {}))


@pytest.mark.parametrize("name", sorted(SPEC))
class TestSeedArchitecture:
    def test_parameter_shapes_in_order(self, name: str) -> None:
        model = facexpr.load(name, pretrained=False)
        assert [tuple(p.shape) for p in model.parameters()] == SPEC[name]

    def test_layers_in_order(self, name: str) -> None:
        model = facexpr.load(name, pretrained=False)
        kinds = [type(m).__name__ for m in model.modules() if not list(m.children())]
        assert kinds == LAYERS[name]
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)

    def test_forward_shapes_and_contract(self, name: str) -> None:
        model = facexpr.load(name, pretrained=False, device="cpu")
        assert not model.training
        x = torch.randn(3, 1, 48, 48)
        features = model.forward_features(x)
        assert features.ndim == 4 and features.shape[0] == 3
        assert model.forward_head(features).shape == (3, 7)
        assert model.forward_head(features, pre_logits=True).shape[1] == model.get_classifier().in_features
        assert torch.equal(model(x), model.forward_head(features))
        assert model.labels == facexpr.FER2013_LABELS

    def test_save_load_round_trip_is_bit_identical(self, name: str, tmp_path: Path) -> None:
        model = facexpr.load(name, pretrained=False, device="cpu")
        with torch.no_grad():  # give BatchNorm non-trivial running statistics
            for buffer in model.buffers():
                if buffer.is_floating_point():
                    buffer.uniform_(0.5, 1.5)
        folder = model.save_pretrained(tmp_path / name)
        assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "metrics.json", "model.safetensors"]
        loaded = facexpr.load(folder, device="cpu")
        x = torch.randn(4, 1, 48, 48)
        assert torch.equal(model(x), loaded(x))
        assert loaded.config.sha256 == model.config.sha256
        assert type(loaded) is type(model)

    def test_reset_classifier_and_num_classes(self, name: str, tmp_path: Path) -> None:
        model = facexpr.load(name, pretrained=False, num_classes=3)
        assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 3)
        assert model.labels == ("class_0", "class_1", "class_2")
        model.reset_classifier(2, labels=["calm", "excited"])
        assert model.get_classifier().out_features == 2
        loaded = facexpr.load(model.save_pretrained(tmp_path / "ft"))
        assert loaded.labels == ("calm", "excited")

    def test_summary_lists_layers_and_totals(self, name: str) -> None:
        model = facexpr.load(name, pretrained=False)
        text = model.summary(print_fn=None)
        total = sum(p.numel() for p in model.parameters())
        assert f"Total params: {total:,}" in text
        assert "(None, 7)" in text
        assert text.count("Conv2d") == len([m for m in model.modules() if isinstance(m, nn.Conv2d)])


def _multiply_adds(model: nn.Module) -> int:
    """Multiply-adds of one 48x48 face through every convolution and linear layer."""
    total = 0

    def count(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output[0].numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 1, 48, 48))
    for hook in hooks:
        hook.remove()
    return total


def test_vgg7_bn_is_vgg8_bn_with_one_conv_less_and_three_quarters_of_the_channels() -> None:
    vgg7, vgg8 = facexpr.load("vgg7_bn", pretrained=False), facexpr.load("vgg8_bn", pretrained=False)
    convs = [m for m in vgg7.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (1, 24), (24, 48), (48, 48), (48, 96), (96, 96), (96, 192), (192, 192)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is None for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in vgg7.modules()) == 4
    assert [type(m).__name__ for m in vgg7.classifier] == [type(m).__name__ for m in vgg8.classifier]
    assert vgg7.get_classifier().in_features == vgg8.get_classifier().in_features == 256
    assert vgg7.classifier[0].in_features == 192 * 3 * 3
    assert sum(p.numel() for p in vgg7.parameters()) == 1_099_727
    assert _multiply_adds(vgg7) < 0.5 * _multiply_adds(vgg8)
    vgg7.reset_classifier(8)
    assert vgg7(torch.randn(2, 1, 48, 48)).shape == (2, 8)


def test_reset_classifier_label_mismatch() -> None:
    model = facexpr.load("simple", pretrained=False)
    with pytest.raises(ValueError, match="num_classes=3 but 2 labels"):
        model.reset_classifier(3, labels=["a", "b"])


def test_load_with_labels(tmp_path: Path) -> None:
    model = facexpr.load("better", pretrained=False, labels=["neg", "pos"])
    assert model.num_classes == 2 and model.labels == ("neg", "pos")
    with pytest.raises(ValueError, match="contradicts"):
        facexpr.load("better", pretrained=False, num_classes=3, labels=["a", "b"])


def test_load_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        facexpr.load(tmp_path / "empty")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        facexpr.load(tmp_path / "file.bin")
    with pytest.raises(ValueError, match="pretrained=False needs an architecture name"):
        facexpr.load(tmp_path / "empty", pretrained=False)


def test_pickle_files_are_never_loaded(tmp_path: Path) -> None:
    """A folder whose weights are a pickle (not safetensors) is refused, not unpickled."""
    model = facexpr.load("simple", pretrained=False)
    folder = model.save_pretrained(tmp_path / "m")
    torch.save(model.state_dict(), folder / "model.safetensors")
    with pytest.raises(facexpr.ChecksumMismatchError):
        facexpr.load(folder)
    config = ModelConfig.from_file(folder / "config.json")
    config.sha256 = None
    (folder / "config.json").write_text(__import__("json").dumps(config.to_dict()))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        facexpr.load(folder)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="architecture"):
        ModelConfig.from_dict({"labels": ["a"]})
    with pytest.raises(ValueError, match=r"num_classes must be the number of labels \(2\), got 3"):
        ModelConfig.from_dict({"architecture": "simple", "labels": ["a", "b"], "num_classes": 3})
    with pytest.raises(ValueError, match="unique"):
        ModelConfig(architecture="simple", labels=("a", "a"))


def test_load_returns_channels_last_weights_with_unchanged_outputs():
    from facexpr.models import memory_format_of

    model = facexpr.load("better", device="cpu")
    assert memory_format_of(model) == torch.channels_last
    plain = facexpr.models.BetterCNN()
    plain.load_state_dict(model.state_dict())
    plain.eval()
    assert memory_format_of(plain) == torch.contiguous_format
    x = torch.randn(8, 1, 48, 48)
    with torch.inference_mode():
        expected = plain(x)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_save_pretrained_of_channels_last_model_round_trips(tmp_path):
    model = facexpr.load("simple", device="cpu")
    folder = model.save_pretrained(tmp_path / "copy")
    again = facexpr.load(folder, device="cpu")
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name


def test_save_pretrained_writes_the_same_bytes_for_the_same_weights(tmp_path):
    # A release pins the sha256 of its weights, so saving the same tensors again must not
    # change the file (safetensors writes a multi-key metadata dict in no fixed order).
    model = facexpr.load("simple", pretrained=False, device="cpu")
    saved = {
        model.save_pretrained(tmp_path / f"save{i}").joinpath("model.safetensors").read_bytes()
        for i in range(6)
    }
    assert len(saved) == 1
    assert facexpr.load(tmp_path / "save0", device="cpu").config.sha256 == hashlib.sha256(saved.pop()).hexdigest()


# -- every config.json value is checked on load ------------------------------------------------------

BAD_CONFIG_VALUES = [  # (field, value, part of the allowed values named in the message)
    ("input_size", 8000, "int from 8 to 512"),
    ("input_size", 0, "int from 8 to 512"),
    ("input_size", -48, "int from 8 to 512"),
    ("input_size", "48px", "int from 8 to 512"),
    ("input_size", True, "int from 8 to 512"),
    ("temperature", float("nan"), "number from 0.001 to 1e+06"),
    ("temperature", float("inf"), "number from 0.001 to 1e+06"),
    ("temperature", "hot", "number from 0.001 to 1e+06"),
    ("temperature", 0, "number from 0.001 to 1e+06"),
    ("temperature", 1e-300, "number from 0.001 to 1e+06"),
    ("mean", [float("nan")], "numbers from -10 to 10"),
    ("mean", [1e308], "numbers from -10 to 10"),
    ("mean", [0.5, 0.5, 0.5], "1 or in_chans (1)"),
    ("mean", 0.5, "list of 1 or in_chans"),
    ("std", [0], "numbers from 0.001 to 1000"),
    ("std", [1e-320], "numbers from 0.001 to 1000"),
    ("input_size", 40, "48 for architecture 'simple'"),
    ("in_chans", 3, "1 for architecture 'simple'"),
    ("labels", 5, "non-empty list of unique, non-empty strings"),
    ("labels", None, "non-empty list of unique, non-empty strings"),
    ("labels", "abcdefg", "non-empty list of unique, non-empty strings"),
    ("labels", [], "non-empty list of unique, non-empty strings"),
    ("labels", ["a", ""], "non-empty list of unique, non-empty strings"),
    ("architecture", ["better"], "registered model name (better, improved, simple, vgg7_bn, vgg8_bn)"),
    ("architecture", "resnet50", "registered model name"),
    ("crop_pct", 0, "between 0.5 and 1.0"),
    ("crop_pct", "1", "between 0.5 and 1.0"),
    ("in_chans", 2, "one of 1, 3"),
    ("sha256", "abc", "64 lowercase hex digits"),
    ("num_classes", "7", "positive int"),
]


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return facexpr.load("simple", pretrained=False, device="cpu").save_pretrained(tmp_path_factory.mktemp("cfg") / "m")


@pytest.mark.parametrize(("field", "value", "allowed"), BAD_CONFIG_VALUES,
                         ids=[f"{f}={v!r}" for f, v, _ in BAD_CONFIG_VALUES])
def test_bad_config_value_is_refused_on_load_naming_file_field_and_allowed_values(
    saved_folder: Path, tmp_path: Path, field: str, value: object, allowed: str
) -> None:
    import json
    import shutil

    folder = Path(shutil.copytree(saved_folder, tmp_path / "model"))
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))  # NaN and inf as JSON's NaN/Infinity
    with pytest.raises(facexpr.InvalidConfigError) as info:
        facexpr.load(folder, device="cpu")
    message = str(info.value)
    assert str(folder / "config.json") in message and f"field {field!r}" in message and allowed in message
    assert isinstance(info.value, (ValueError, facexpr.FacexprError))


def test_config_built_in_code_is_checked_too() -> None:
    with pytest.raises(facexpr.InvalidConfigError, match=r"ModelConfig.input_size .* got 8000"):
        ModelConfig("simple", input_size=8000)
    with pytest.raises(facexpr.InvalidConfigError, match="ModelConfig.labels"):
        facexpr.load("simple", pretrained=False, labels="abc")
    with pytest.raises(facexpr.InvalidConfigError, match="ModelConfig.labels"):
        facexpr.load("simple", pretrained=False).reset_classifier(3, labels="abc")
    config = ModelConfig("simple", labels=["a", "b"], input_size=224, in_chans=3, mean=[0.5, 0.4, 0.3], std=[0.2])
    assert config.labels == ("a", "b") and config.mean == (0.5, 0.4, 0.3)


def test_folder_written_before_metrics_json_still_loads(saved_folder: Path, tmp_path: Path) -> None:
    """Old folders keep metrics and recipe (and other keys) inside config.json."""
    import json
    import shutil

    folder = Path(shutil.copytree(saved_folder, tmp_path / "old"))
    (folder / "metrics.json").unlink()
    config = json.loads((folder / "config.json").read_text())
    config.update(metrics={"test": {"accuracy": 0.5}}, recipe={"model": "simple", "epochs": 2},
                  from_a_newer_version=True)
    (folder / "config.json").write_text(json.dumps(config))
    model = facexpr.load(folder, device="cpu")
    assert model.config.metrics == {"test": {"accuracy": 0.5}} and model.config.recipe["epochs"] == 2
    resaved = model.save_pretrained(tmp_path / "new")  # saved again in the new split
    assert "metrics" not in json.loads((resaved / "config.json").read_text())
    assert json.loads((resaved / "metrics.json").read_text())["metrics"] == {"test": {"accuracy": 0.5}}


# -- other official weights of an architecture: "architecture.tag" ----------------------------------


def test_tagged_weights_build_their_architecture_with_their_labels() -> None:
    from facexpr.labels import FERPLUS_LABELS
    from facexpr.models import get_model_entry, register_weights

    assert "better.ferplus" in facexpr.list_models(tags=True) and "better.ferplus" not in facexpr.list_models()
    fresh = facexpr.load("better.ferplus", pretrained=False, device="cpu")
    assert fresh.architecture == "better" and fresh.labels == FERPLUS_LABELS
    assert fresh(torch.zeros(2, 1, 48, 48)).shape == (2, 8)
    if get_model_entry("better.ferplus").weights.sha256 is None:
        with pytest.raises(facexpr.WeightsNotAvailableError, match="facexpr train --recipe better.ferplus"):
            facexpr.load("better.ferplus")
    with pytest.raises(ValueError, match="'<architecture>.<tag>'"):
        register_weights("resnet.ferplus", get_model_entry("better.ferplus").weights)
    with pytest.raises(ValueError, match="already registered"):
        register_weights("better.ferplus", get_model_entry("better.ferplus").weights)


def test_an_architecture_without_weights_of_its_own_names_its_released_tags() -> None:
    from facexpr.models import get_model_entry

    assert get_model_entry("vgg7_bn").weights is None and get_model_entry("vgg7_bn.mixed").weights.sha256
    with pytest.raises(facexpr.WeightsNotAvailableError,
                       match=r"for 'vgg7_bn' yet \(released weights of this architecture: vgg7_bn.mixed\)"):
        facexpr.load("vgg7_bn")
