"""reports/index.html from real runs' files: its numbers are the CSVs', its links resolve."""

import csv
import json
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from harness.matrix import Matrix, Slo
from harness.pages.index import build_index, render_index
from tests.index.page import Page, parse_page
from tests.index.runs import make_run, make_stats

PERCENTILES = {"p50_ms": "50%", "p90_ms": "90%", "p95_ms": "95%", "p99_ms": "99%"}


def csv_numbers(reports_dir: Path) -> dict[str, dict[str, Any]]:
    """Per run ("cpu/1_4_4"): its metadata and its Locust "Aggregated" row, read directly."""
    numbers = {}
    for meta_path in sorted(reports_dir.glob("*/*.meta.json")):
        stem = meta_path.name.removesuffix(".meta.json")
        with meta_path.with_name(f"{stem}_stats.csv").open(newline="") as stats_file:
            row = next(row for row in csv.DictReader(stats_file) if row["Name"] == "Aggregated")
        meta = json.loads(meta_path.read_text())
        numbers[f"{meta_path.parent.name}/{stem}"] = {"meta": meta, "row": row}
    return numbers


def build(reports_dir: Path, matrix: Matrix) -> tuple[str, Page]:
    html = build_index(reports_dir, matrix).read_text()
    return html, parse_page(html)


def test_the_summary_table_shows_each_runs_csv_numbers(reports_copy: Path, fixture_matrix: Matrix):
    _, page = build(reports_copy, fixture_matrix)
    expected = csv_numbers(reports_copy)
    assert set(page.summary_rows) == set(expected)
    slo = fixture_matrix.slo
    for run, numbers in expected.items():
        cells, row, meta = page.summary_rows[run], numbers["row"], numbers["meta"]
        assert int(cells["models"].text) == meta["models"]
        assert int(cells["users"].text) == meta["users"]
        assert cells["spawn_rate"].text == meta["spawn_rate_label"]
        assert int(cells["requests"].text) == int(row["Request Count"])
        assert float(cells["rps"].sort_value) == float(row["Requests/s"])
        assert float(cells["rps"].text) == pytest.approx(float(row["Requests/s"]), abs=0.051)
        for field, column in PERCENTILES.items():
            assert float(cells[field].sort_value) == float(row[column])
            assert float(cells[field].text) == pytest.approx(float(row[column]), abs=0.51)
        failure_ratio = int(row["Failure Count"]) / int(row["Request Count"])
        assert float(cells["failure_ratio"].sort_value) == pytest.approx(failure_ratio)
        assert cells["failure_ratio"].text.endswith("%")
        assert float(cells["failure_ratio"].text[:-1]) == pytest.approx(
            failure_ratio * 100, abs=0.0051
        )
        assert cells["status"].text == meta["status"]
        if meta["status"] == "ok":
            within = float(row["95%"]) <= slo.p95_ms and failure_ratio <= slo.max_failure_ratio
            assert cells["slo"].sort_value == ("within" if within else "outside")


def test_links_resolve_and_nothing_is_loaded_from_a_network(
    reports_copy: Path, fixture_matrix: Matrix
):
    html, page = build(reports_copy, fixture_matrix)
    files = [link for link in page.links if not link.startswith("#")]
    assert files, "the page links no run file"
    for link in files:
        assert "://" not in link
        assert (reports_copy / unquote(link)).is_file(), link
    for report in reports_copy.glob("*/*.html"):
        assert report.relative_to(reports_copy).as_posix() in files
    for log in reports_copy.glob("*/*.log"):
        assert log.relative_to(reports_copy).as_posix() in files
    # Styles, script and charts are inline: no external stylesheet, script, image or frame.
    assert page.sources == []
    assert not {"link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert "@import" not in html and "url(" not in html


def test_failed_run_is_listed_with_its_reason_and_log(reports_copy: Path, fixture_matrix: Matrix):
    _, page = build(reports_copy, fixture_matrix)
    failed = {
        run: numbers["meta"]
        for run, numbers in csv_numbers(reports_copy).items()
        if numbers["meta"]["status"] == "failed"
    }
    assert failed
    for run, meta in failed.items():
        assert meta["failure_reason"] in page.text
        assert f"{run}.log" in page.links
    total_at_scale = sum(
        1 for numbers in csv_numbers(reports_copy).values() if numbers["meta"]["models"] == 2
    )
    [reason] = [meta["failure_reason"] for meta in failed.values()]
    assert f"With 2 replicas on cpu, 1 of {total_at_scale} runs failed: {reason}" in page.text


def test_conclusions_are_the_csvs_arithmetic(reports_copy: Path, fixture_matrix: Matrix):
    _, page = build(reports_copy, fixture_matrix)
    numbers = csv_numbers(reports_copy)
    ok = {run: values for run, values in numbers.items() if values["meta"]["status"] == "ok"}
    rps = {
        (v["meta"]["models"], v["meta"]["users"], v["meta"]["spawn_rate"]): float(
            v["row"]["Requests/s"]
        )
        for v in ok.values()
    }
    shared = [
        (users, spawn) for (models, users, spawn) in rps if models == 2 and (1, users, spawn) in rps
    ]
    users, spawn = max(shared)
    speedup = rps[(2, users, spawn)] / rps[(1, users, spawn)]
    assert f"cpu: 2 replicas serve {speedup:.2f}× the throughput of 1" in page.text
    assert f"{speedup / 2 * 100:.0f}% of linear scaling" in page.text

    # Known from the fixtures' CSVs: p95 <= 50 ms at 1_1_4 (14 ms, 103.9 req/s), 2_1_4 (15 ms,
    # 94.1 req/s) and 2_4_1 (50 ms, 111.4 req/s); every other run is above 50 ms or failed.
    assert (
        "cpu: 2 replicas at 4 users (spawn rate 1/s): 111.4 req/s with p95 50 ms and 0% failures."
        in page.text
    )
    # No GPU here: the page says so instead of a comparison.
    assert "No measured GPU runs, so there is no GPU/CPU comparison to draw." in page.text


def test_charts_and_context_are_on_the_page(reports_copy: Path, fixture_matrix: Matrix):
    _, page = build(reports_copy, fixture_matrix)
    assert page.tags["svg"] == 3  # throughput, p95 and scaling against users
    assert page.tags["polyline"] >= 4
    meta = json.loads(next(reports_copy.glob("cpu/*.meta.json")).read_text())
    assert meta["machine"]["cpu"] in page.text
    assert f"{meta['machine']['cores']} cores" in page.text
    assert meta["revision"] == "77ba1de45cec1a0a8735abdf205d04ee047156b3"
    assert meta["revision"] in page.text
    assert "closed loop" in page.text
    assert "highest spawn rate" in page.text
    assert "SLO: p95 ≤ 50 ms and failures ≤ 1%" in page.text


def test_the_slo_is_the_matrixs(reports_copy: Path, fixture_matrix: Matrix):
    stricter = replace(fixture_matrix, slo=Slo(p95_ms=12345, max_failure_ratio=0))
    _, page = build(reports_copy, stricter)
    assert "SLO: p95 ≤ 12345 ms and failures ≤ 0%" in page.text


def test_partial_sweep_older_runs_and_unreadable_runs(reports_copy: Path, fixture_matrix: Matrix):
    for meta in reports_copy.glob("cpu/2_*.meta.json"):
        meta.unlink()  # the 2-replica runs have not finished yet
    older = reports_copy / "cpu-2025"
    older.mkdir()
    for suffix in ("_stats.csv", ".log"):
        (reports_copy / "cpu" / f"1_1_4{suffix}").rename(older / f"1_1_4{suffix}")
    (reports_copy / "cpu" / "1_1_4.meta.json").unlink()
    (older / "1_1_4.meta.json").write_text('{"schema": 1, "status": "ok"}')
    (older / "1_4_4.meta.json").write_text("{oops")
    finished = {
        f"cpu/{meta.name.removesuffix('.meta.json')}"
        for meta in reports_copy.glob("cpu/*.meta.json")
    }
    _, page = build(reports_copy, fixture_matrix)
    assert set(page.summary_rows) == finished | {"cpu-2025/1_1_4"}
    assert "cpu: only 1 replica measured" in page.text
    assert "cpu-2025/1_4_4.meta.json: not JSON" in page.text


def test_a_field_of_the_wrong_type_makes_its_run_unreadable_not_guessed(
    reports_copy: Path, fixture_matrix: Matrix
):
    meta_path = reports_copy / "cpu" / "1_1_4.meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(machine={"cores": 2})  # a part may be missing: it is unknown
    meta_path.write_text(json.dumps(meta))
    _, page = build(reports_copy, fixture_matrix)
    assert "cpu/1_1_4" in page.summary_rows
    assert "unknown CPU, 2 cores, ? GiB memory, GPU: none" in page.text
    meta.update(ramp_s="x")  # a value of the wrong type is not read as something else
    meta_path.write_text(json.dumps(meta))
    _, page = build(reports_copy, fixture_matrix)
    assert "cpu/1_1_4" not in page.summary_rows
    assert "cpu/1_1_4.meta.json: ramp_s: 'x' is not of type float" in page.text


def test_everything_shown_is_escaped(reports_copy: Path, fixture_matrix: Matrix):
    meta_path = next(reports_copy.glob("cpu/*.meta.json"))
    meta = json.loads(meta_path.read_text())
    meta.update(status="failed", failure_reason="<script>alert('x')</script> & <b>")
    meta_path.write_text(json.dumps(meta))
    html, page = build(reports_copy, fixture_matrix)
    assert page.tags["script"] == 1  # only the page's own sort script
    assert "<b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;" in html


def test_gpu_against_cpu_charts_from_hand_built_runs(tmp_path: Path, fixture_matrix: Matrix):
    # No GPU here and no GPU fixture is faked: these runs are built by hand, not measured.
    runs = [
        make_run("cpu", models=1, users=8, stats=make_stats(rps=20.0, p90_ms=200.0)),
        make_run("gpu", models=1, users=8, stats=make_stats(rps=64.0, p90_ms=110.0)),
    ]
    page = parse_page(render_index(tmp_path, runs, [], fixture_matrix))
    assert page.tags["rect"] >= 4  # two bars per chart, plus the legend's swatches
    assert "CPU against GPU: throughput at the same point" in page.text
    assert "CPU against GPU: p90 latency at the same point" in page.text
    assert "the GPU serves 3.20× the CPU's throughput" in page.text


def test_an_empty_reports_folder_gets_a_page_saying_so(tmp_path: Path, fixture_matrix: Matrix):
    reports_dir = tmp_path / "not-yet"
    index = build_index(reports_dir, fixture_matrix)
    assert index == reports_dir / "index.html"
    page = parse_page(index.read_text())
    assert "No complete run" in page.text
    assert "nothing to conclude" in page.text


def test_the_page_is_replaced_whole_and_readable_by_all(reports_copy: Path, fixture_matrix: Matrix):
    build_index(reports_copy, fixture_matrix)
    index = build_index(reports_copy, fixture_matrix)
    assert stat.S_IMODE(index.stat().st_mode) == 0o644
    assert [path.name for path in reports_copy.iterdir() if path.is_file()] == ["index.html"]
