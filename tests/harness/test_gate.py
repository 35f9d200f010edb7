"""The SLO gate: a sweep whose valid runs break the SLO exits 99 when gated, 0 otherwise."""

import pytest

pytestmark = pytest.mark.slow


def test_a_gated_sweep_exits_99_naming_the_runs_that_break_the_slo(workspace, local_matrix):
    procfile = workspace.root / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.server --port ${API_PORT} --service-ms 20\n"
    )
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "num_users_list": [2],
        "spawn_rate_list": [2],
        "run_time": "3s",
        "ceiling": False,
        "min_requests": 10,
        "stack": {"procfile": str(procfile)},
        "slo": {"p95_ms": 5, "max_failure_ratio": 0.01},
    }
    workspace.write_matrix(**matrix)
    ungated = workspace.run("inv", "sweep", "--models", "1")
    assert ungated.returncode == 0, ungated.stdout
    gated = workspace.run("inv", "sweep", "--models", "1", "--gate")
    assert gated.returncode == 99, gated.stdout
    assert "SLO (p95 ≤ 5 ms and failures ≤ 1%) broken by: cpu/1_2_2 (p95 " in gated.stdout
    workspace.write_matrix(**{**matrix, "slo": {"p95_ms": 5000, "gate": True}})
    within = workspace.run("inv", "sweep", "--models", "1")
    assert within.returncode == 0, within.stdout
