"""`python -m services.model.prepare`: export the configured model's ONNX file into the cache.

Run ahead of time (make setup, the Dockerfile) so workers start without exporting; a worker
still exports it itself when the file is missing.
"""

from __future__ import annotations

import sys

from services.model.classifiers import get_classifier
from services.model.runtimes import ensure_onnx
from services.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"prepare: {error}", file=sys.stderr)
        return 2
    classifier = get_classifier(settings.model_name, settings.model_weights)
    path = ensure_onnx(classifier, settings.model_cache_dir)
    print(f"prepare: {classifier.name} ready at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
