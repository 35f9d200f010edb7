"""A locustfile that keeps every response time of the measured window, unrounded, in the file
RAW_LATENCIES names: the ground truth the recorder's exact percentiles are checked against."""

import json
import os

from locust import FastHttpUser, constant, events, task

RAW = os.environ["RAW_LATENCIES"]
seen: list[float] = []
measuring = []


class PostingUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self) -> None:
        self.client.post("/predict", data=b"image", name="/predict")


@events.spawning_complete.add_listener
def _measure(user_count: int, **_kw) -> None:
    measuring.append(True)


@events.test_stopping.add_listener
def _stop(**_kw) -> None:
    measuring.clear()


@events.request.add_listener
def _keep(response_time: float, **_kw) -> None:
    if measuring:
        seen.append(response_time)


@events.quitting.add_listener
def _write(**_kw) -> None:
    with open(RAW, "w") as handle:
        json.dump(seen, handle)
