"""A server this repository did not write, swept end to end: LitServe serving our model
(examples/litserve), brought up from its Procfile, ready when /health answers 2xx, scaling itself
to ${REPLICAS} workers, with no metrics and no ceiling; `nox -s sweep` at 1 and 2 of its workers.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack.network import free_port
from tests.chromium import headless_chromium

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "litserve" / "matrix.json"


def test_litserve_is_swept_at_one_and_two_workers(tmp_path: Path):
    pytest.importorskip("litserve", reason="the examples extra (make setup) brings LitServe")
    matrix = json.loads(EXAMPLE.read_text())
    matrix.update(
        host=f"http://127.0.0.1:{free_port()}",
        num_users_list=[4],
        spawn_rate_list=[4],
        run_time="5s",
        warmup_requests=8,
    )
    matrix_path = tmp_path / "matrix.json"
    matrix_path.write_text(json.dumps(matrix))
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "MATRIX": str(matrix_path),
        "REPORTS": str(reports),
        "STACK_DIR": str(tmp_path / "stack"),
    }
    env.pop("API_PORT", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nox"), "-s", "sweep"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for models in (1, 2):
        record = json.loads((reports / "cpu" / f"{models}_4_4.meta.json").read_text())
        assert record["status"] == "ok" and record["valid"], record
        assert record["latency"]["requests"] > 50 and record["latency"]["failures"] == 0
        assert record["stages"] is None
        assert record["stages_missing"].startswith("the stack exports no metrics")
        assert record["ceiling"] is None
        litserve = [m for m in record["resources"]["members"] if m["service"] == "litserve"]
        assert litserve, "the server's process tree was sampled"
    page = headless_chromium(["--dump-dom", (reports / "index.html").as_uri()], tmp_path / "chrome")
    for models in (1, 2):
        assert f'data-run="cpu/{models}_4_4"' in page
    assert "Stage metrics not available: the stack exports no metrics" in page
    assert not (tmp_path / "stack" / "state.json").exists()
