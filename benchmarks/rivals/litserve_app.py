"""LitServe serving the model: 2 workers on the CPU, batches of up to 16 within 5 ms.

python benchmarks/rivals/litserve_app.py PORT
"""

from __future__ import annotations

import sys

import litserve
from model import BATCH_TIMEOUT_S, MAX_BATCH, classify, load_model

WORKERS = 2


class Classifier(litserve.LitAPI):
    def setup(self, device: str) -> None:
        self.model = load_model()

    def decode_request(self, request) -> bytes:
        return request["file"].file.read()

    def predict(self, images: list[bytes]) -> list[dict]:
        return classify(self.model, images)

    def encode_response(self, answer: dict) -> dict:
        return answer


if __name__ == "__main__":
    api = Classifier(max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_S)
    server = litserve.LitServer(api, accelerator="cpu", workers_per_device=WORKERS)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False)
