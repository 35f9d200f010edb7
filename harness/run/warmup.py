"""The uncounted requests before a run: the same requests the run sends (locust/payloads.py),
bounded in count and in time, so a stack that hangs delays a run by WARMUP_BUDGET_S at most."""

import importlib.util
import sys
import time

import requests

from harness import REPO_ROOT
from harness.matrix import Matrix

REQUEST_TIMEOUT_S = 30.0
WARMUP_BUDGET_S = 60.0


def _payloads_module():
    """locust/payloads.py, which the locustfile imports by its folder, loaded here by its path
    (the folder `locust/` would shadow the Locust package as a package of ours)."""
    name = "loadbench_payloads"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "locust" / "payloads.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def warm_up(matrix: Matrix) -> str | None:
    """Send the matrix's warm-up requests; the reason when none succeeded."""
    if matrix.warmup_requests == 0:
        return None
    payloads = _payloads_module()
    prepared = payloads.Requests(matrix.request, payloads.read_images(matrix.images))
    deadline = time.monotonic() + WARMUP_BUDGET_S
    last_problem = "no request sent"
    sent = answered = 0
    for _ in range(matrix.warmup_requests):
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
        except requests.RequestException as error:
            problem = prepared.problem(0, b"", error)
        if problem is None:
            answered += 1
        else:
            last_problem = problem
    if answered:
        return None
    return f"warm-up: none of {sent} requests succeeded; last: {last_problem}"
