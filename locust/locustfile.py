"""The built-in user: one image (or, for a generative kind, one prompt) per request, picked at
random, sent as the matrix's `request` block says (locust/payloads.py), and judged by its
`expect`. The harness passes the block with `--loadbench-request JSON` and the image folder with
`--loadbench-images` (options the recorder defines, as it is loaded with any locustfile); without
them (this file alone, by hand), it posts the 5 sample photos to our stack's /predict.

A generative answer is read here as it streams, line by line with each line's arrival time, and
measured by locust/sse.py; its figures travel to the recorder with the request's report (in its
context, under GENERATION_KEY), its end-to-end latency as the report's response time.
"""

import json
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, task
from payloads import CHAT, Payload, Requests, load_requests
from recorder import GENERATION_KEY, RECORDER
from sse import Generation, StreamBroken, read_stream, read_whole

SAMPLE_IMAGES = Path(__file__).parent / "images"
_prepared: list[Requests] = []


def prepared(environment) -> Requests:
    """The requests, built once per process from the options (which a worker learns from its
    master only once the test starts, hence not at import). Locust runs in the repository, so
    the prompts' path, relative to it, is read from here."""
    if not _prepared:
        options = environment.parsed_options
        spec = json.loads(getattr(options, "loadbench_request", "") or "{}")
        folder = getattr(options, "loadbench_images", "")
        images = Path(folder) if folder else SAMPLE_IMAGES
        _prepared.append(load_requests(spec, images, Path.cwd()))
    return _prepared[0]


def timed_lines(response, stall_timeout_s: float):
    """The answer's lines as they arrive, each with its time; StreamBroken when no line comes
    for `stall_timeout_s`, or when the connection breaks off. The line is read from the socket
    as soon as it is whole: reading a block would hold each chunk until the block filled."""
    raw = response._response  # geventhttpclient's response: the only one that reads a line
    while True:
        timer = gevent.Timeout(stall_timeout_s)
        timer.start()
        try:
            line = raw.readline(b"\n")
        except gevent.Timeout as fired:
            if fired is not timer:
                raise
            stalled = f"stalled: no data for {stall_timeout_s:g} s"
            raise StreamBroken(time.monotonic(), stalled) from None
        except Exception as failure:  # reset, or cut inside a chunk
            raise StreamBroken(time.monotonic(), f"stream cut: {type(failure).__name__}") from None
        finally:
            timer.close()
        if not line:
            # A last line without its newline stays in the buffer, where readline leaves it.
            rest = raw.read()
            if rest:
                yield time.monotonic(), rest
            return
        yield time.monotonic(), line


class ClassifierUser(FastHttpUser):
    # No think time: each user is one client sending its next image as soon as the last is answered.
    wait_time = constant(0)

    @task
    def predict(self) -> None:
        self.send()

    def send(self, traced: object = None) -> None:
        """One request: what a replayed trace's arrival asks (an image of the folder, or a
        prompt or its sizes), else one picked at random."""
        requests = prepared(self.environment)
        payload = requests.pick(traced)
        if requests.generative:
            self.generate(requests, payload)
            return
        with self._request(requests, payload) as response:
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

    def _request(self, requests: Requests, payload: Payload, **options):
        """The request as the matrix describes it, its answer judged by the caller."""
        return self.client.request(
            requests.method,
            requests.path,
            data=payload.body,
            headers=payload.headers,
            name=requests.path,
            catch_response=True,
            **options,
        )

    def generate(self, requests: Requests, payload: Payload) -> None:
        """One generative request, measured from its send, or in an open loop from its
        scheduled send (the arrival's time, as its latency is)."""
        scheduled = getattr(self.client.request_event, "due", None)
        started = (scheduled() if scheduled else None) or time.monotonic()
        chat = requests.generative == CHAT
        with RECORDER.stream(), self._request(requests, payload, stream=True) as response:
            status, error = response.status_code, getattr(response, "error", None)
            generation: Generation | None = None
            try:
                if status != requests.expected_status:
                    problem = requests.problem(
                        status, (response.content or b"") if status else b"", error
                    )
                elif requests.stream:
                    lines = timed_lines(response, requests.stall_timeout_s)
                    generation = read_stream(lines, chat, started, requests.count_tokens)
                else:
                    body = response.content or b""
                    ended = time.monotonic()
                    generation = read_whole(body, chat, started, ended, requests.count_tokens)
            except Exception as failure:  # the answer broke off while it was read
                problem = requests.problem(0, b"", failure)
            if generation is not None:
                problem = generation.problem
                response.request_meta["context"][GENERATION_KEY] = generation
                if problem is not None:
                    response.release()  # the rest of a broken stream must not be read as an answer
            response.request_meta["response_time"] = (time.monotonic() - started) * 1000
            if problem is None:
                response.success()
            else:
                response.failure(problem)
