"""The next run's Locust, started ahead (harness/run/locust.py, locust/waiting.py): it imports
while the harness finishes a run, and the next run's Locust is that very process, its files those
of any run; one started in an environment that has changed since is not used, but ended."""

import json

import psutil
import pytest

from harness.matrix import load_matrix
from harness.record.names import HTML_SUFFIX, LOG_SUFFIX
from harness.run.locust import start_ahead, start_locust, stop_group
from harness.run.recorded import log_so_far
from tests.standin.process import start_server

RUN_TIMEOUT_S = 60


@pytest.fixture
def server(free_port: int):
    """A stand-in server of 5 ms a request on `free_port`."""
    process = start_server(free_port, 5)
    try:
        yield f"http://127.0.0.1:{free_port}"
    finally:
        stop_group(process)


def waiting_locusts() -> list[int]:
    """The Locust processes of this one still waiting for their command line."""
    children = psutil.Process().children()
    return [child.pid for child in children if "waiting.py" in " ".join(child.cmdline())]


def test_the_next_runs_locust_is_the_one_started_ahead(tmp_path, server, local_matrix, monkeypatch):
    (tmp_path / "matrix.json").write_text(json.dumps({**local_matrix, "host": server}))
    matrix = load_matrix(tmp_path / "matrix.json")
    point = matrix.open_point("cpu", 1, 20, "2s", "poisson")

    start_ahead()
    ahead = waiting_locusts()
    assert len(ahead) == 1
    locust = start_locust(matrix, point, tmp_path / "first", 1, [])
    assert locust.pid == ahead[0]
    assert locust.wait(timeout=RUN_TIMEOUT_S) == 0
    assert "Starting Locust" in (tmp_path / f"first{LOG_SUFFIX}").read_text()
    assert (tmp_path / f"first{HTML_SUFFIX}").is_file()
    measured = log_so_far(tmp_path / "first")
    assert measured is not None and measured.whole().requests >= 20

    # Started before the environment changed: ended, and one started afresh runs instead.
    start_ahead()
    ahead = waiting_locusts()
    monkeypatch.setenv("LOADBENCH_TEST_MARK", "changed")
    locust = start_locust(matrix, point, tmp_path / "second", 1, [])
    assert len(ahead) == 1 and locust.pid != ahead[0]
    assert not psutil.pid_exists(ahead[0])
    assert locust.wait(timeout=RUN_TIMEOUT_S) == 0
    assert (tmp_path / f"second{HTML_SUFFIX}").is_file()


def test_one_started_ahead_in_another_environment_is_replaced_by_the_next(monkeypatch):
    # The defect this replaces: a run in one environment (a test's, a tune configuration's)
    # left its Locust waiting, and the next start ahead, in another, kept it for a run that
    # could only dismiss it and start one afresh.
    start_ahead()
    [stale] = waiting_locusts()
    monkeypatch.setenv("LOADBENCH_TEST_MARK", "changed")
    start_ahead()
    [fresh] = waiting_locusts()
    assert fresh != stale and not psutil.pid_exists(stale)
    start_ahead()
    assert waiting_locusts() == [fresh], "in the same environment, the one waiting is kept"
