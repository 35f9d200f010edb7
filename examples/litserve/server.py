"""LitServe serving this repository's model on the CPU: POST /predict, a multipart `file`.

    python -m examples.litserve.server --port 8000 --workers 2

Each of the `--workers` inference processes loads the model (examples/model.py) and answers
batches of up to 16 images gathered within 5 ms, as the rivals benchmark runs it; each answer is
{"label": ..., "score": ...}, or the status and message of an image it cannot classify. GET
/health answers 200 once every worker has loaded the model, 503 before.
"""

from __future__ import annotations

import argparse

import litserve as ls
from fastapi.responses import JSONResponse

from examples.model import BATCH_TIMEOUT_S, MAX_BATCH, classify, load_model
from services.queue import JobError, Prediction


class ImageClassifier(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = load_model()

    def decode_request(self, request) -> bytes:
        return request["file"].file.read()

    def predict(self, images: list[bytes]) -> list[Prediction | JobError]:
        return classify(self.model, images)

    # No return annotation: LitServe would make it the endpoint's response model, which a union
    # with a Response cannot be.
    def encode_response(self, answer: Prediction | JobError):
        if isinstance(answer, JobError):
            # Returned, not raised: a raised HTTPException would fail the whole batch.
            return JSONResponse({"error": answer.message}, status_code=answer.status)
        return {"label": answer.label, "score": answer.score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="model processes")
    arguments = parser.parse_args()
    api = ImageClassifier(max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_S)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=arguments.workers)
    server.run(host=arguments.host, port=arguments.port, generate_client_file=False)


if __name__ == "__main__":
    main()
