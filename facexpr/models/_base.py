"""``FaceModel``: the contract every facexpr architecture follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ._config import ModelConfig, check_labels, default_labels

if TYPE_CHECKING:
    from ..results import Prediction
    from ..transforms import FaceTransform, ImageInput
    from ._protocol import FaceClassifier

__all__ = ["FaceModel"]


class FaceModel(nn.Module):
    """Base class of facexpr's networks: a plain :class:`torch.nn.Module` with metadata.

    Subclasses define ``self.features`` (convolutional trunk) and ``self.classifier`` (an
    :class:`~torch.nn.Sequential` whose last layer is the :class:`~torch.nn.Linear` output
    layer). They inherit timm's small model contract (:meth:`forward_features`,
    :meth:`forward_head`, :meth:`reset_classifier`), Keras-style :meth:`summary` and
    :meth:`predict`, and Hub-style :meth:`save_pretrained` / :meth:`push_to_hub`.

    Args:
        num_classes: Number of output classes. Ignored when ``labels`` is given.
        labels: Class names in output order; defaults to FER2013's seven expressions when
            ``num_classes`` is 7, else ``class_0 ...``.

    Example:
        >>> import torch, facexpr
        >>> model = facexpr.load("simple", pretrained=False)
        >>> model(torch.zeros(2, 1, 48, 48)).shape
        torch.Size([2, 7])
    """

    architecture: ClassVar[str] = ""
    features: nn.Sequential
    classifier: nn.Sequential
    precision: str
    """How predictions run on a CPU: ``"auto"`` (default: int8 where
    :func:`~facexpr.models.int8_supported`), ``"int8"`` or ``"fp32"``; see :meth:`inference_model`."""

    def __init__(self, num_classes: int = 7, labels: Sequence[str] | None = None) -> None:
        super().__init__()
        if labels is None:
            if not isinstance(num_classes, int) or num_classes < 1:
                raise ValueError(f"num_classes must be a positive int, got {num_classes!r}.")
            labels = default_labels(num_classes)
        self.config = ModelConfig(architecture=self.architecture, labels=check_labels(labels))
        self.precision = "auto"

    # -- timm's model contract -------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of output classes.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", pretrained=False, num_classes=3).num_classes
            3
        """
        return self.config.num_classes

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names, indexed by output position.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", pretrained=False).labels
            ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
        """
        return self.config.labels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Run the convolutional trunk: ``N x 1 x 48 x 48`` -> feature map.

        Example:
            >>> import torch, facexpr
            >>> model = facexpr.load("simple", pretrained=False, device="cpu")
            >>> model.forward_features(torch.zeros(2, 1, 48, 48)).shape
            torch.Size([2, 128, 6, 6])
        """
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Run the classifier on a feature map.

        Args:
            x: Output of :meth:`forward_features`.
            pre_logits: Return the input of the last linear layer instead of the logits.

        Example:
            >>> import torch, facexpr
            >>> model = facexpr.load("simple", pretrained=False, device="cpu")
            >>> features = model.forward_features(torch.zeros(2, 1, 48, 48))
            >>> model.forward_head(features).shape, model.forward_head(features, pre_logits=True).shape
            (torch.Size([2, 7]), torch.Size([2, 256]))
        """
        x = torch.flatten(x, 1)
        if pre_logits:
            return self.classifier[:-1](x)
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``N x num_classes`` for normalised inputs ``N x 1 x 48 x 48``.

        Example:
            >>> import torch, facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> model = facexpr.load("simple", pretrained=False, device="cpu")
            >>> inputs = model.transforms().batch([EXAMPLE_FACE])
            >>> model(inputs).shape
            torch.Size([1, 7])
        """
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Linear:
        """Return the output layer.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", pretrained=False).get_classifier()
            Linear(in_features=256, out_features=7, bias=True)
        """
        head = self.classifier[-1]
        assert isinstance(head, nn.Linear)
        return head

    def reset_classifier(self, num_classes: int, labels: Sequence[str] | None = None) -> None:
        """Replace the output layer with a freshly initialised one, for fine-tuning.

        Args:
            num_classes: New number of classes.
            labels: New class names (defaults as in the constructor). Must have
                ``num_classes`` entries.

        The temperature and metrics of the old head are dropped; ``config.crop_pct``, the view
        of a face that suits the backbone, is kept.

        Raises:
            ValueError: If ``labels`` and ``num_classes`` disagree.

        Example:
            >>> import facexpr
            >>> model = facexpr.load("better", pretrained=False)
            >>> model.reset_classifier(3, labels=["neg", "neu", "pos"])
            >>> model.labels
            ('neg', 'neu', 'pos')
        """
        labels = default_labels(num_classes) if labels is None else check_labels(labels)
        if len(labels) != num_classes:
            raise ValueError(
                f"reset_classifier got num_classes={num_classes} but {len(labels)} labels: "
                f"{list(labels)}."
            )
        old = self.get_classifier()
        new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        self.classifier[-1] = new
        self.config.labels = labels
        self.config.temperature = 1.0
        self.config.metrics = {}
        self.config.sha256 = None

    # -- Keras-style helpers -------------------------------------------------------------------
    def transforms(self) -> FaceTransform:
        """Return the preprocessing that turns any face image into this model's input.

        Example:
            >>> import facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> transform = facexpr.load("better", pretrained=False).transforms()
            >>> transform
            FaceTransform(size=48, mean=(0.5,), std=(0.5,), crop_pct=1)
            >>> transform(EXAMPLE_FACE).shape
            torch.Size([1, 48, 48])
        """
        from ..transforms import FaceTransform

        return FaceTransform(
            size=self.config.input_size, mean=self.config.mean, std=self.config.std, crop_pct=self.config.crop_pct
        )

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """Print and return a Keras-like table of layers, output shapes and parameters.

        Args:
            print_fn: Called with the table; ``None`` only returns it.

        Returns:
            The table as a string.

        Example:
            >>> import facexpr
            >>> _ = facexpr.load("simple", pretrained=False).summary()
            Model: "simple" (SimpleCNN), input (None, 1, 48, 48)
            ------------------------------------------------------
            Layer (type)            Output Shape           Param #
            ======================================================
            features.0 (Conv2d)     (None, 32, 48, 48)         320
            features.1 (ReLU)       (None, 32, 48, 48)           0
            features.2 (MaxPool2d)  (None, 32, 24, 24)           0
            features.3 (Conv2d)     (None, 64, 24, 24)      18,496
            features.4 (ReLU)       (None, 64, 24, 24)           0
            features.5 (MaxPool2d)  (None, 64, 12, 12)           0
            features.6 (Conv2d)     (None, 128, 12, 12)     73,856
            features.7 (ReLU)       (None, 128, 12, 12)          0
            features.8 (MaxPool2d)  (None, 128, 6, 6)            0
            classifier.0 (Linear)   (None, 256)          1,179,904
            classifier.1 (ReLU)     (None, 256)                  0
            classifier.2 (Linear)   (None, 7)                1,799
            ======================================================
            Total params: 1,274,375
            Trainable params: 1,274,375
            Non-trainable params: 0
        """
        rows: list[tuple[str, str, str, int]] = []
        hooks = []

        def hook(name: str) -> Callable[..., None]:
            def record(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
                params = sum(p.numel() for p in module.parameters(recurse=False))
                shape = "(None, " + ", ".join(str(d) for d in output.shape[1:]) + ")"
                rows.append((name, type(module).__name__, shape, params))

            return record

        for name, module in self.named_modules():
            if name and not list(module.children()):
                hooks.append(module.register_forward_hook(hook(name)))
        param = next(self.parameters())
        dummy = torch.zeros(
            2, self.config.in_chans, self.config.input_size, self.config.input_size,
            device=param.device, dtype=param.dtype,
        )
        was_training = self.training
        try:
            self.eval()
            with torch.inference_mode():
                self(dummy)
        finally:
            self.train(was_training)
            for handle in hooks:
                handle.remove()

        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        headers = ("Layer (type)", "Output Shape", "Param #")
        body = [(f"{name} ({kind})", shape, f"{params:,}") for name, kind, shape, params in rows]
        widths = [max(len(r[i]) for r in [headers, *body]) for i in range(3)]
        line = "-" * (sum(widths) + 4)
        fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}"
        out = [
            f'Model: "{self.architecture}" ({type(self).__name__}), input '
            f"(None, {self.config.in_chans}, {self.config.input_size}, {self.config.input_size})",
            line,
            fmt.format(*headers),
            line.replace("-", "="),
            *(fmt.format(*r) for r in body),
            line.replace("-", "="),
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
        ]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def predict(
        self, x: ImageInput, *, batch_size: int = 256, tta: bool = False, classes: Sequence[str] | None = None,
        precision: str | None = None,
    ) -> Prediction | list[Prediction]:
        """Classify face crops. See :func:`facexpr.predict` for the inputs accepted.

        On a CPU the faces run through the model's int8 twin where the CPU qualifies (see
        :meth:`inference_model`); ``precision="fp32"`` runs the PyTorch model itself.

        Args:
            x: A face crop or a list (or ``N x C x H x W`` tensor) of them.
            batch_size: Faces per forward pass.
            tta: Average each face over its test-time views.
            classes: Answer in these classes only, renormalised (e.g. ``FER2013_LABELS`` for an
                8-class FER+ model); see :func:`facexpr.inference.select_classes`.
            precision: ``"auto"``, ``"int8"`` or ``"fp32"`` for this call; default: the
                model's :attr:`precision`.

        Returns:
            One :class:`~facexpr.Prediction` for a single image, a list for a list or a
            ``N x C x H x W`` tensor.

        Example:
            >>> import facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> model = facexpr.load("better")
            >>> model.predict(EXAMPLE_FACE).label
            'happy'
            >>> len(model.predict([EXAMPLE_FACE, EXAMPLE_FACE], tta=True))
            2
            >>> sorted(model.predict(EXAMPLE_FACE, classes=["sad", "happy"]).probabilities)
            ['happy', 'sad']
        """
        # The model's only import of the inference module, made lazily at call time:
        # inference names FaceModel in its type hints.
        from ..inference import predict_faces

        return predict_faces(self, x, batch_size=batch_size, tta=tta, classes=classes, precision=precision)

    def predict_proba(
        self, x: ImageInput, *, batch_size: int = 256, tta: bool = False, classes: Sequence[str] | None = None,
        precision: str | None = None,
    ) -> torch.Tensor:
        """Return calibrated class probabilities, ``N x num_classes`` on the CPU.

        With ``classes``, ``N x len(classes)``: only those columns, renormalised. ``precision``
        as in :meth:`predict`.

        Example:
            >>> import facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> model = facexpr.load("better")
            >>> probs = model.predict_proba([EXAMPLE_FACE])
            >>> probs.shape, model.labels[int(probs.argmax())]
            (torch.Size([1, 7]), 'happy')
        """
        from ..inference import predict_proba  # lazily, as in predict

        return predict_proba(self, x, batch_size=batch_size, tta=tta, classes=classes, precision=precision)

    def inference_model(self, precision: str | None = None) -> FaceClassifier:
        """What runs this model's predictions: the model itself, or its int8 twin on a CPU.

        The model stays a trainable float32 network; on a CPU that qualifies
        (:func:`~facexpr.models.int8_supported`: x86-64 with AVX-512 VNNI, AVX-VNNI or
        AMX-INT8), ``precision="auto"`` runs predictions through an int8 twin, an
        :class:`~facexpr.models.ORTFaceModel` on the statically quantized graph. The official
        weights ship theirs; other weights get theirs built on first use (a few seconds; the
        ``export`` extra) and cached. It is rebuilt when the weights change (training,
        ``load_state_dict``, ``reset_classifier``). ``model(x)`` itself, training and export
        always use the float32 network.

        Args:
            precision: ``"auto"``, ``"int8"`` (on any CPU) or ``"fp32"``; default: the model's
                :attr:`precision`.

        Raises:
            ValueError: Unknown ``precision``, or ``"int8"`` for a model on a GPU.

        Example:
            >>> import facexpr
            >>> model = facexpr.load("simple", device="cpu")
            >>> model.inference_model("fp32") is model
            True
            >>> model.inference_model("int8")
            ORTFaceModel(architecture='simple', num_classes=7, backend='onnxruntime', precision='int8')
        """
        from ._int8 import resolve_runner

        return resolve_runner(self, precision)

    def __getstate__(self) -> dict[str, Any]:
        """The module's state for pickling and ``copy.deepcopy``, without the int8 twin (rebuilt on use)."""
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        state.pop("_int8_twin", None)
        return state

    # -- Hub-style persistence -----------------------------------------------------------------
    def save_pretrained(self, save_directory: str | Path) -> Path:
        """Write ``model.safetensors``, ``config.json``, ``metrics.json`` and a model card to a folder.

        Each file is written atomically. ``facexpr.load(save_directory)`` loads it back.

        Returns:
            The folder's path.

        Example:
            >>> import tempfile, facexpr
            >>> model = facexpr.load("simple", pretrained=False, labels=["neg", "neu", "pos"])
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     folder = model.save_pretrained(tmp)
            ...     files = sorted(path.name for path in folder.iterdir())
            ...     reloaded = facexpr.load(folder)
            >>> files
            ['README.md', 'config.json', 'metrics.json', 'model.safetensors']
            >>> reloaded.labels
            ('neg', 'neu', 'pos')
        """
        from ._hub import save_pretrained

        return save_pretrained(self, save_directory)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str = "Upload facexpr model",
        revision: str | None = None,
    ) -> str:
        """Publish the model on the Hugging Face Hub through :class:`huggingface_hub.HfApi`.

        Returns:
            The URL of the commit.

        Example:
            >>> import facexpr
            >>> model = facexpr.load("better", pretrained=False)
            >>> model.push_to_hub("my-user/fer-better", private=True)  # doctest: +SKIP
            'https://huggingface.co/my-user/fer-better/commit/...'
        """
        from ._hub import push_to_hub

        return push_to_hub(
            self, repo_id, private=private, token=token, commit_message=commit_message,
            revision=revision,
        )

    def extra_repr(self) -> str:
        """Return the architecture and number of classes shown in ``repr(model)``.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", pretrained=False).extra_repr()
            "architecture='simple', num_classes=7"
        """
        return f"architecture={self.architecture!r}, num_classes={self.num_classes}"
