"""`python -m services.model.prepare`: export the configured model's ONNX file into the cache.

Run ahead of time (make setup, the Dockerfile) so workers start without exporting; a worker
still exports it itself when the file is missing. The user's own ONNX file (MODEL_NAME=onnx) has
nothing to export: prepare checks that onnxruntime loads and runs it, as its variables say.
"""

from __future__ import annotations

import sys

from services.model.classifiers import Classifier, classifier_for
from services.model.runtimes import OnnxRuntime, ensure_onnx
from services.settings import Settings, SettingsError, load_settings


def check_onnx_file(classifier: Classifier, settings: Settings) -> str:
    """The file loaded and run once on the CPU (SettingsError where it cannot be); what the worker
    will serve, in words."""
    OnnxRuntime(classifier, "cpu", 1, settings.model_cache_dir)
    crop = classifier.preprocessing.crop
    batch = "any" if classifier.fixed_batch is None else f"fixed at {classifier.fixed_batch}"
    labels = classifier.labels
    shown = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
    return (
        f"{crop}x{crop} {'NHWC' if classifier.channels_last else 'NCHW'} input, batch {batch}, "
        f"{len(labels)} classes ({shown})"
    )


def main() -> int:
    try:
        settings = load_settings()
        classifier = classifier_for(settings)
        if classifier.model_file is not None:
            served = check_onnx_file(classifier, settings)
            print(f"prepare: {classifier.model_file} loads: {served}; nothing to export")
            return 0
    except SettingsError as error:
        print(f"prepare: {error}", file=sys.stderr)
        return 2
    path = ensure_onnx(classifier, settings.model_cache_dir)
    print(f"prepare: {classifier.name} ready at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
