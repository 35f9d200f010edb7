"""TorchServe's handler of this repository's model: a batch of raw images in, {"label", "score"}
per image out.

A custom handler rather than TorchServe's image_classifier: that one runs a TorchScript or eager
torch model after torchvision's preprocessing, while the stack it is compared with runs the
exported ONNX file with onnxruntime after its own decoding (Pillow's draft mode, bicubic resize
of the centre square, mean 127, std 128). The archive carries the ONNX file; the code that loads
and runs it is examples/model.py, the same as every other stack's (start.sh puts the repository
on the workers' PYTHONPATH).
"""

from __future__ import annotations

from pathlib import Path

from examples.model import classify, load_model
from services.queue import JobError


class ImageClassifier:
    def __init__(self) -> None:
        self.model = None
        self.initialized = False

    def initialize(self, context) -> None:
        # The archive's files, the ONNX one among them, are unpacked into model_dir.
        self.model = load_model(onnx_dir=Path(context.system_properties["model_dir"]))
        self.initialized = True

    def handle(self, data: list[dict], context) -> list[dict]:
        # A raw body arrives as "body"; a multipart form's `data` field as "data".
        images = [bytes(row.get("data") or row.get("body") or b"") for row in data]
        answers = []
        for index, answer in enumerate(classify(self.model, images)):
            context.set_response_content_type(index, "application/json")
            if isinstance(answer, JobError):
                context.set_response_status(answer.status, answer.message, index)
                answers.append({"error": answer.message})
            else:
                answers.append({"label": answer.label, "score": answer.score})
        return answers
