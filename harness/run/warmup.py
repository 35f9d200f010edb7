"""The uncounted requests before a run: the same requests the run sends (locust/payloads.py),
bounded in count and in time, so a stack that hangs delays a run by WARMUP_BUDGET_S at most. A
generative answer is read whole and judged as the run judges it (locust/sse.py).

A stack that served the run before, seconds ago, is warm: it gets DRAIN_REQUESTS instead, which
wait out what that run left queued (a FIFO queue answers them after it), so that the run starts
on an empty queue as it would after the whole warm-up. Where none of them succeeds (the stack
died since, or that queue outlasted a request's timeout), the whole warm-up follows, judged as
ever. A capacity search's probes take that (harness/probing.py): 20 warm-up requests cost a
probe 0.5 s on the reference stack, and a generative server one generation each."""

import time

import requests

from harness import REPO_ROOT, locust_module
from harness.matrix import Matrix

REQUEST_TIMEOUT_S = 30.0
WARMUP_BUDGET_S = 60.0
DRAIN_REQUESTS = 1


def warm_up(matrix: Matrix, warm: bool = False) -> str | None:
    """Send the matrix's warm-up requests, DRAIN_REQUESTS where the stack is `warm` (none where
    the matrix asks none), and the warm-up after them where none succeeded, all within one
    WARMUP_BUDGET_S; the reason when none of the warm-up's succeeded."""
    if matrix.warmup_requests == 0:
        return None
    payloads, sse = locust_module("payloads"), locust_module("sse")
    prepared = payloads.load_requests(matrix.request, matrix.images, REPO_ROOT)
    deadline = time.monotonic() + WARMUP_BUDGET_S

    def send(count: int) -> tuple[int, int, str]:
        """`count` requests, one after the other, until the deadline: (sent, answered, the
        last problem)."""
        last_problem = "no request sent"
        sent = answered = 0
        for _ in range(count):
            left = deadline - time.monotonic()
            if left <= 0:
                last_problem += f" (warm-up stopped after {WARMUP_BUDGET_S:g} s)"
                break
            payload = prepared.pick()
            sent += 1
            try:
                answer = requests.request(
                    prepared.method,
                    matrix.host + prepared.path,
                    data=payload.body,
                    headers=payload.headers,
                    timeout=min(REQUEST_TIMEOUT_S, left),
                )
                problem = prepared.problem(answer.status_code, answer.content)
                if problem is None and prepared.generative:
                    chat = prepared.generative == payloads.CHAT
                    problem = sse.judged(answer.content, chat, streamed=prepared.stream)
            except requests.RequestException as error:
                problem = prepared.problem(0, b"", error)
            if problem is None:
                answered += 1
            else:
                last_problem = problem
        return sent, answered, last_problem

    if warm and send(min(DRAIN_REQUESTS, matrix.warmup_requests))[1]:
        return None
    sent, answered, last_problem = send(matrix.warmup_requests)
    if answered:
        return None
    return f"warm-up: none of {sent} requests succeeded; last: {last_problem}"
