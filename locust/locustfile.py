"""One user posting one of the sample photos, picked at random per request, to /predict."""

import random
from pathlib import Path

from locust import FastHttpUser, constant, task

IMAGES_DIR = Path(__file__).parent / "images"
# Read once when Locust starts, so the load generator spends its CPU on requests, not disk.
IMAGES = {path.name: path.read_bytes() for path in sorted(IMAGES_DIR.glob("*.jpg"))}
if not IMAGES:
    raise RuntimeError(f"no .jpg sample images in {IMAGES_DIR}")
PREDICTION_KEYS = {"success", "prediction", "score"}


class ClassifierUser(FastHttpUser):
    # No think time: each user is one client sending its next image as soon as the last is answered.
    wait_time = constant(0)

    @task
    def predict(self) -> None:
        name, image = random.choice(list(IMAGES.items()))
        with self.client.post(
            "/predict",
            files={"file": (name, image, "image/jpeg")},
            name="/predict",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            try:
                answer = response.json()
            except ValueError:
                response.failure(f"not JSON: {response.text[:200]}")
                return
            if not isinstance(answer, dict) or set(answer) != PREDICTION_KEYS:
                response.failure(f"keys are not exactly {sorted(PREDICTION_KEYS)}: {answer!r}")
            elif answer["success"] is not True:
                response.failure(f"success is not true: {answer!r}")
