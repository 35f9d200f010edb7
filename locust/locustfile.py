"""The built-in user: one image per request, picked at random, sent as the matrix's `request` block
says (locust/payloads.py), and judged by its `expect`. The harness passes the block with
`--loadbench-request JSON` and the image folder with `--loadbench-images` (options the recorder
defines, as it is loaded with any locustfile); without them (this file alone, by hand), it posts
the 5 sample photos to our stack's /predict.
"""

import json
from pathlib import Path

from locust import FastHttpUser, constant, task
from payloads import Requests, read_images

SAMPLE_IMAGES = Path(__file__).parent / "images"
_prepared: list[Requests] = []


def prepared(environment) -> Requests:
    """The requests, built once per process from the options (which a worker learns from its
    master only once the test starts, hence not at import)."""
    if not _prepared:
        options = environment.parsed_options
        spec = json.loads(getattr(options, "loadbench_request", "") or "{}")
        folder = getattr(options, "loadbench_images", "")
        _prepared.append(Requests(spec, read_images(Path(folder) if folder else SAMPLE_IMAGES)))
    return _prepared[0]


class ClassifierUser(FastHttpUser):
    # No think time: each user is one client sending its next image as soon as the last is answered.
    wait_time = constant(0)

    @task
    def predict(self) -> None:
        self.send()

    def send(self, image: str | None = None) -> None:
        """One request: the named image of the folder (a replayed trace names them), else one
        picked at random."""
        requests = prepared(self.environment)
        payload = requests.pick(image)
        with self.client.request(
            requests.method,
            requests.path,
            data=payload.body,
            headers=payload.headers,
            name=requests.path,
            catch_response=True,
        ) as response:
            # Status 0: no answer came (the connection failed or was reset); `error` says why.
            status, error = response.status_code, getattr(response, "error", None)
            try:
                body = (response.content or b"") if status else b""
            except Exception as failure:  # the answer broke off while it was read
                status, error, body = 0, failure, b""
            problem = requests.problem(status, body, error)
            if problem is None:
                response.success()
            else:
                response.failure(problem)
