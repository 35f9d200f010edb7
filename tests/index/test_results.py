"""Reading runs: the real fixtures' numbers, older sweeps' metadata, incomplete and broken runs."""

import csv
import json
from pathlib import Path

import pytest

from harness.record.names import RecordError
from harness.results import gather, read_run, read_stats

FIXTURE_RUNS = Path(__file__).parent / "fixtures" / "reports" / "cpu"


def aggregated_row(stats_csv: Path) -> dict[str, str]:
    with stats_csv.open(newline="") as stats_file:
        return next(row for row in csv.DictReader(stats_file) if row["Name"] == "Aggregated")


def test_every_fixture_run_is_read_with_the_numbers_of_its_csv():
    gathered = gather(FIXTURE_RUNS.parent)
    assert gathered.unreadable == []
    metas = sorted(FIXTURE_RUNS.glob("*.meta.json"))
    assert len(gathered.runs) == len(metas) >= 5
    for run in gathered.runs:
        meta = json.loads((FIXTURE_RUNS / f"{run.stem}.meta.json").read_text())
        assert (run.target, run.models, run.users, run.spawn_rate, run.status) == (
            meta["target"],
            meta["models"],
            meta["users"],
            meta["spawn_rate"],
            meta["status"],
        )
        row = aggregated_row(FIXTURE_RUNS / f"{run.stem}_stats.csv")
        assert run.stats.requests == int(row["Request Count"])
        assert run.stats.failures == int(row["Failure Count"])
        assert run.stats.rps == pytest.approx(float(row["Requests/s"]))
        assert run.stats.p50_ms == float(row["50%"])
        assert run.stats.p90_ms == float(row["90%"])
        assert run.stats.p95_ms == float(row["95%"])
        assert run.stats.p99_ms == float(row["99%"])
        assert run.stats.mean_ms == float(row["Average Response Time"])
        assert run.stats.p999_ms == float(row["99.9%"])
        assert run.stats.exact is False


def test_the_fixtures_hold_a_failed_run_with_its_reason_and_log():
    failed = [run for run in gather(FIXTURE_RUNS.parent).runs if run.status == "failed"]
    assert len(failed) == 1
    assert "killed by signal 9" in failed[0].record.failure_reason
    assert failed[0].record.failure_reason in failed[0].log.read_text()


def test_a_run_without_metadata_is_still_running_and_not_listed(reports_copy: Path):
    (reports_copy / "cpu" / "1_4_4.meta.json").unlink()
    stems = [run.stem for run in gather(reports_copy).runs]
    assert "1_4_4" not in stems and "1_1_4" in stems


def test_hidden_folders_are_not_targets(reports_copy: Path):
    scratch = reports_copy / ".1_1_4.abcd"
    scratch.mkdir()
    (reports_copy / "cpu" / "1_1_4.meta.json").rename(scratch / "1_1_4.meta.json")
    assert "1_1_4" not in [run.stem for run in gather(reports_copy).runs]


def test_older_metadata_without_optional_fields(reports_copy: Path):
    older = reports_copy / "old"
    older.mkdir()
    (reports_copy / "cpu" / "1_1_4_stats.csv").rename(older / "3_16_0.5_stats.csv")
    (older / "3_16_0.5.meta.json").write_text("{}")
    run = read_run(older / "3_16_0.5.meta.json")
    assert (
        run.target,
        run.models,
        run.users,
        run.spawn_rate,
        run.record.name.spawn_rate_label,
    ) == (
        "old",
        3,
        16,
        0.5,
        "0.5",
    )
    assert run.status == "ok" and run.measured
    record = run.record
    assert (record.machine, record.revision, record.matrix, record.started_at) == (None,) * 4
    assert run.html_report is None


def test_older_metadata_of_a_run_without_statistics_is_failed(tmp_path: Path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "1_1_1.meta.json").write_text('{"schema": 1}')
    run = read_run(tmp_path / "cpu" / "1_1_1.meta.json")
    assert (run.status, run.record.failure_reason, run.stats) == (
        "failed",
        "no reason recorded",
        None,
    )


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("1_1_1.meta.json", "{not json", "not JSON: Expecting property name"),
        ("1_1_1.meta.json", "[1, 2]", "not a JSON object"),
        ("1_1_1.meta.json", '{"status": "great"}', "status: 'great' is neither"),
        ("1_1_1.meta.json", '{"models": 0}', "models: 0 is not a positive integer"),
        ("1_1_1.meta.json", '{"spawn_rate": "fast"}', "spawn_rate: 'fast' is not a positive"),
        ("latest.meta.json", "{}", "name is not {models}_{users}_{spawn_rate}"),
        ("a_b_c.meta.json", "{}", "name is not {models}_{users}_{spawn_rate} with numbers"),
    ],
)
def test_unreadable_metadata_is_reported_with_the_file_and_the_problem(
    tmp_path: Path, name: str, text: str, problem: str
):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / name).write_text(text)
    gathered = gather(tmp_path)
    assert gathered.runs == []
    [unreadable] = gathered.unreadable
    assert str(tmp_path / "cpu" / name) in unreadable.problem
    assert problem in unreadable.problem


def test_statistics_without_requests_have_no_percentiles(tmp_path: Path):
    stats_csv = tmp_path / "1_1_1_stats.csv"
    header = (FIXTURE_RUNS / "1_1_4_stats.csv").read_text().splitlines()[0]
    zero_row = ",Aggregated,0,0,0,0,0,0,0,0.0,0.0" + ",N/A" * 11
    stats_csv.write_text(f"{header}\n{zero_row}\n")
    stats = read_stats(stats_csv)
    assert (stats.requests, stats.p95_ms, stats.failure_ratio) == (0, None, 0.0)


def test_statistics_without_an_aggregated_row_or_column_are_refused(tmp_path: Path):
    stats_csv = tmp_path / "1_1_1_stats.csv"
    stats_csv.write_text("Type,Name,Request Count\nPOST,/predict,3\n")
    with pytest.raises(RecordError, match="no 'Aggregated' row"):
        read_stats(stats_csv)
    stats_csv.write_text("Type,Name,Request Count\n,Aggregated,3\n")
    with pytest.raises(RecordError, match="no column 'Failure Count'"):
        read_stats(stats_csv)
