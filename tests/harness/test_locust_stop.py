"""The harness stops a run early by SIGINT (harness/run/locust.py): the measured window closes at
the signal, and one that races the run's own end, while Locust writes its last files, leaves it
to finish them and exit 0, not die of it."""

import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from harness import REPO_ROOT
from harness.record.names import HDR_SUFFIX, RECORDER
from harness.run.locust import stop_group
from tests.waiting import wait_until

QUITTING = "quitting: writing its last files"
# A user that sends nothing, beside a listener of `quitting` (indented for the file's end).
IDLE_USER = """
import time
from locust import User, constant, events, task

class Idle(User):
    wait_time = constant(0.1)

    @task
    def nothing(self):
        pass
"""


def stopped_locust(
    tmp_path: Path, listener: str, run_time: str, ready: Callable[[Path, Path], bool]
) -> tuple[int, str, Path, float]:
    """Locust with the recorder and an idle user beside `listener`, stopped by the harness's
    SIGINT once `ready(log, prefix)`: its exit code, its log, the recorder's prefix and when the
    stop was asked (time.time())."""
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(IDLE_USER + textwrap.dedent(listener))
    prefix = tmp_path / "run"
    log = tmp_path / "locust.log"
    with log.open("wb") as output:
        locust = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "--locustfile",
                f"{RECORDER},{locustfile}",
                "--headless",
                "--users",
                "1",
                "--spawn-rate",
                "1",
                "--run-time",
                run_time,
                "--loadbench-prefix",
                str(prefix),
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            wait_until(lambda: ready(log, prefix), 60, "Locust to be ready for the SIGINT")
            asked_at = time.time()
            stop_group(locust)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
    return locust.returncode, log.read_text(errors="replace"), prefix, asked_at


def hdr_of(prefix: Path) -> Path:
    return prefix.parent / f"{prefix.name}{HDR_SUFFIX}"


def test_a_sigint_while_locust_quits_lets_it_finish_its_files(tmp_path) -> None:
    # A last listener slow enough that the SIGINT surely lands while Locust quits: the window a
    # real run's final writes open for a few milliseconds.
    slow_to_quit = f"""
        @events.quitting.add_listener
        def _slow(**_kw):
            print({QUITTING!r}, flush=True)
            time.sleep(3)
        """
    returncode, text, prefix, _ = stopped_locust(
        tmp_path,
        slow_to_quit,
        "2s",
        lambda log, _prefix: QUITTING in log.read_text(errors="replace"),
    )
    assert returncode == 0, text
    assert hdr_of(prefix).is_file()


def test_a_sigint_closes_the_window_at_once_not_after_what_locust_does_first(tmp_path) -> None:
    # On SIGINT Locust writes its HTML report first, its event loop held meanwhile: an open
    # loop's arrivals due then are not sent, and a window that closed only later counted them
    # due (a probe stopped early read "issued 122 arrivals of the 126 due"). Here a listener of
    # `quitting` that runs before the recorder's (registered later: Locust calls them in
    # reverse) holds Locust a second: a window that closed at `quitting` would end that late.
    slow_after_the_signal = f"""
        @events.init.add_listener
        def _after_the_recorders(environment, **_kw):
            @environment.events.quitting.add_listener
            def _slow(**_kw):
                print({QUITTING!r}, flush=True)
                time.sleep(1.0)
        """
    returncode, text, prefix, asked_at = stopped_locust(
        tmp_path, slow_after_the_signal, "60s", lambda _log, prefix: hdr_of(prefix).is_file()
    )
    assert returncode == 0 and QUITTING in text, text
    window_end = float(
        re.search(r"MeasuredWindow: [\d.]+ to ([\d.]+)", hdr_of(prefix).read_text()).group(1)
    )
    assert window_end - asked_at < 0.5, (asked_at, window_end)
