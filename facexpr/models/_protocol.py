"""``FaceClassifier``: what inference needs from a model, whatever runs it.

:class:`~facexpr.models.FaceModel` (PyTorch) and :class:`~facexpr.models.ORTFaceModel`
(ONNX Runtime) both satisfy it; :func:`facexpr.predict`, :meth:`FaceModel.predict
<facexpr.models.FaceModel.predict>`, the photo engine, video, webcam and Ray accept either.
Training needs a :class:`~facexpr.models.FaceModel`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from ..transforms import FaceTransform
    from ._config import ModelConfig

__all__ = ["FaceClassifier"]


@runtime_checkable
class FaceClassifier(Protocol):
    """A face classifier as inference sees it: metadata, preprocessing and logits.

    Attributes:
        config: The model's :class:`~facexpr.models.ModelConfig` (labels, input size,
            mean/std, ``crop_pct``, temperature).

    Example:
        >>> import facexpr
        >>> from facexpr.models import FaceClassifier
        >>> isinstance(facexpr.load("simple", pretrained=False), FaceClassifier)
        True
        >>> isinstance(facexpr.load("simple", backend="onnxruntime"), FaceClassifier)
        True
    """

    config: ModelConfig

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names, indexed by output position.

        Example:
            >>> import facexpr
            >>> facexpr.load("simple", backend="onnxruntime").labels[:2]
            ('angry', 'disgust')
        """
        ...

    @property
    def num_classes(self) -> int:
        """Number of output classes.

        Example:
            >>> import facexpr
            >>> facexpr.load("vgg8_bn.ferplus", backend="onnxruntime").num_classes
            8
        """
        ...

    def transforms(self) -> FaceTransform:
        """The preprocessing that turns a face image into the model's input.

        Example:
            >>> import facexpr
            >>> from facexpr.assets import EXAMPLE_FACE
            >>> facexpr.load("simple", backend="onnxruntime").transforms()(EXAMPLE_FACE).shape
            torch.Size([1, 48, 48])
        """
        ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``N x num_classes`` for a normalised batch ``N x C x H x W``."""
        ...

    def inference_model(self, precision: str | None = None) -> FaceClassifier:
        """What runs the predictions at ``precision``: the model itself, or its int8 twin.

        Example:
            >>> import facexpr
            >>> model = facexpr.load("simple", device="cpu")
            >>> model.inference_model("fp32") is model
            True
        """
        ...
