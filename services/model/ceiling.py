"""`python -m services.model.ceiling`: what one worker's model does alone, in-process.

No Redis, no HTTP: the sample photos decoded, preprocessed and classified at batch 1 and at
MAX_BATCH, with the worker's own settings (model, runtime, device, NUM_THREADS), a few seconds
each; the better of the two is the most a replica can serve (a worker batches only where that
pays: services.model.batching). The harness compares each run's throughput with N times it.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from services.model.classifiers import classifier_for
from services.model.preprocess import decode
from services.model.runtimes import DeviceUnavailable, create_runtime
from services.settings import Settings, SettingsError, load_settings

SAMPLE_IMAGES = sorted((Path(__file__).resolve().parents[2] / "locust" / "images").glob("*.jpg"))


@dataclass(frozen=True)
class InProcess:
    images_per_s: float
    median_batch_s: float
    batch_size: int


def measure(
    settings: Settings,
    batch_size: int,
    seconds: float,
    whole_job: bool,
    photos: list[Path] = SAMPLE_IMAGES,
) -> InProcess:
    """Images/s of the model on the photos (the samples by default): `whole_job` decodes and
    preprocesses each batch as a worker does; otherwise only the forward pass of one ready
    batch is timed."""
    classifier = classifier_for(settings)
    runtime = create_runtime(classifier, settings)
    images = [path.read_bytes() for path in photos]
    pixels = settings.max_image_pixels

    def batch(offset: int) -> np.ndarray:
        chosen = [images[(offset + n) % len(images)] for n in range(batch_size)]
        return np.stack([decode(data, classifier.preprocessing, pixels) for data in chosen])

    ready = batch(0)
    runtime.logits(ready)  # warm-up
    durations: list[float] = []
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        runtime.logits(batch(done) if whole_job else ready)
        durations.append(time.perf_counter() - started)
        done += batch_size
    return InProcess(done / sum(durations), statistics.median(durations), batch_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    try:
        settings = load_settings()
        figures = max(
            (
                measure(settings, size, seconds, whole_job=True)
                for size in sorted({1, settings.max_batch})
            ),
            key=lambda measured: measured.images_per_s,
        )
    except (SettingsError, DeviceUnavailable) as error:
        print(f"ceiling: {error}", file=sys.stderr)
        return 2
    # Named as the workers name what they serve on /ready, so the harness can tell whether
    # these figures describe the stack it measures.
    served = {"model": classifier_for(settings).name, "runtime": settings.runtime}
    print(json.dumps({**asdict(figures), **served, "device": settings.device}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
