"""The harness stops a run early by SIGINT (harness/run/locust.py): one that races the run's own
end, while Locust writes its last files, leaves it to finish them and exit 0, not die of it."""

import signal
import subprocess
import sys
import textwrap

from harness import REPO_ROOT
from harness.record.names import HDR_SUFFIX, RECORDER
from harness.run.locust import stop_group
from tests.waiting import wait_until

QUITTING = "quitting: writing its last files"


def test_a_sigint_while_locust_quits_lets_it_finish_its_files(tmp_path) -> None:
    # A user that sends nothing, and a last listener slow enough that the SIGINT surely lands
    # while Locust quits: the window a real run's final writes open for a few milliseconds.
    locustfile = tmp_path / "slow_to_quit.py"
    locustfile.write_text(
        textwrap.dedent(
            f"""
            import time
            from locust import User, constant, events, task

            class Idle(User):
                wait_time = constant(0.1)

                @task
                def nothing(self):
                    pass

            @events.quitting.add_listener
            def _slow(**_kw):
                print({QUITTING!r}, flush=True)
                time.sleep(3)
            """
        )
    )
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
                "2s",
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
            wait_until(lambda: QUITTING in log.read_text(errors="replace"), 60, "Locust to quit")
            stop_group(locust)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
    assert locust.returncode == 0, log.read_text(errors="replace")
    assert (prefix.parent / f"{prefix.name}{HDR_SUFFIX}").is_file()
