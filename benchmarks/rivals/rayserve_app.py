"""Ray Serve serving the model: 2 replicas, batches of up to 16 within 5 ms.

    RAY_SERVE_THROUGHPUT_OPTIMIZED=1 python benchmarks/rivals/rayserve_app.py PORT

Ray's own processes and its HTTP proxy bind 127.0.0.1; the script serves until it is stopped.
"""

from __future__ import annotations

import signal
import sys
import threading

import ray
from model import BATCH_TIMEOUT_S, MAX_BATCH, classify, load_model
from ray import serve
from starlette.requests import Request

REPLICAS = 2


@serve.deployment(num_replicas=REPLICAS, ray_actor_options={"num_cpus": 1})
class Classifier:
    def __init__(self) -> None:
        self.model = load_model()

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=BATCH_TIMEOUT_S)
    async def predict(self, images: list[bytes]) -> list[dict]:
        return classify(self.model, images)

    async def __call__(self, request: Request) -> dict:
        form = await request.form()
        return await self.predict(await form["file"].read())


if __name__ == "__main__":
    ray.init(num_cpus=REPLICAS, include_dashboard=False, _node_ip_address="127.0.0.1")
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
    serve.run(Classifier.bind(), route_prefix="/predict")
    stopped = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    serve.shutdown()
    ray.shutdown()
