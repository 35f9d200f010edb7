"""The main job, end to end on the local backend: two nox sweep sessions give the 8 reports,
each a real Locust report with requests in it; a second pass resumes without redoing them."""

import csv
import json
import os

import pytest

EXPECTED_STEMS = {
    f"{models}_{users}_{spawn}" for models in (1, 2) for users in (1, 4) for spawn in (1, 2)
}


@pytest.mark.slow
def test_two_sessions_give_eight_reports_then_resume(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    # Counted over the whole sweep, as `nox -s sweep` runs the sessions: 1 replica's first.
    for session, last in (("sweep(models=2)", "[run 8/8]"), ("sweep(models=1)", "[run 4/8]")):
        result = workspace.run("nox", "-s", session)
        assert result.returncode == 0, result.stdout
        assert last in result.stdout and "stack down" in result.stdout

    reports = workspace.reports / "cpu"
    locust_reports = {path for path in reports.glob("*.html") if ".telemetry." not in path.name}
    assert {path.name.removesuffix(".html") for path in locust_reports} == EXPECTED_STEMS
    for stem in EXPECTED_STEMS:
        html = (reports / f"{stem}.html").read_text()
        assert "locust" in html.lower() and "/predict" in html
        with (reports / f"{stem}_stats.csv").open() as stats:
            aggregated = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
        assert int(aggregated["Request Count"]) > 0
        assert int(aggregated["Failure Count"]) == 0
        meta = json.loads((reports / f"{stem}.meta.json").read_text())
        assert meta["status"] == "ok"
        assert set(meta["files"]) >= {f"{stem}.html", f"{stem}_stats.csv", f"{stem}.json"}
        assert (reports / f"{stem}.telemetry.html").is_file(), "the page explaining the run"
    assert not list(reports.glob(".*")), "no scratch folder is left behind"
    assert (workspace.reports / "index.html").is_file()

    again = workspace.run("nox", "-s", "sweep(models=1)")
    assert again.returncode == 0, again.stdout
    assert "4 of 4 runs already complete, skipped" in again.stdout
    assert "stack up" not in again.stdout

    # A run page older than its record (the run measured again) is written anew; others stay.
    stale, kept = reports / "1_1_1.telemetry.html", reports / "1_4_1.telemetry.html"
    stale.write_text("a page of the run before")
    os.utime(stale, ns=(0, 0))
    kept_at = kept.stat().st_mtime_ns
    assert workspace.run("inv", "index").returncode == 0
    assert "a page of the run before" not in stale.read_text()
    assert kept.stat().st_mtime_ns == kept_at
