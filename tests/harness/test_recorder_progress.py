"""While a run lasts, the recorder (locust/recorder.py) keeps its files up to the last whole
second, brought up to date every PROGRESS_S: the harness stops a probe once they settle its
verdict (harness/verdict.py), so every second they lag is a second the probe runs for nothing."""

import csv
import re
import time
from pathlib import Path

from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX
from tests.harness.test_locust_stop import stopped_locust

FOLLOWED_S = 4.0  # how long the test reads the files while Locust runs
# Up to a whole second behind, written every half second (PROGRESS_S), read every 50 ms, and a
# second more for a busy machine. Written every 2 s a second behind, they lagged up to 4 s.
MOST_LAG_S = 2.5
# A request event every 10 ms, as an open loop's answers come (no server: the recorder is what
# is tested).
BUSY_USER = """
from locust import constant

class Busy(Idle):
    wait_time = constant(0.01)

    @task
    def answered(self):
        self.environment.events.request.fire(
            request_type="GET", name="/x", response_time=5.0, response_length=0,
            exception=None, context={},
        )
"""


def covered_until(prefix: Path) -> float | None:
    """Up to when, in seconds since the epoch, the files hold the window; None before both."""
    try:
        header = Path(f"{prefix}{HDR_SUFFIX}").read_text()
        with Path(f"{prefix}{INTERVALS_SUFFIX}").open() as table:
            rows = list(csv.DictReader(table))
    except FileNotFoundError:
        return None
    start = re.search(r"StartTime: ([\d.]+)", header)
    if start is None or not rows:
        return None
    last = rows[-1]
    return float(start.group(1)) + float(last["start_s"]) + float(last["length_s"])


def test_the_files_follow_a_run_within_a_second_and_their_write_interval(tmp_path) -> None:
    lags = []

    def followed(_log: Path, prefix: Path) -> bool:
        """Read the files every 50 ms for FOLLOWED_S once they exist; then stop Locust."""
        if covered_until(prefix) is None:
            return False
        ends = time.monotonic() + FOLLOWED_S
        while time.monotonic() < ends:
            covered = covered_until(prefix)
            if covered is not None:
                lags.append(time.time() - covered)
            time.sleep(0.05)
        return True

    returncode, text, _, _ = stopped_locust(tmp_path, BUSY_USER, "60s", followed)
    assert returncode == 0, text
    assert len(lags) > FOLLOWED_S / 0.1 and max(lags) < MOST_LAG_S, lags
