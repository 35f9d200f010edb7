"""Generative runs on the pages and in comparisons: the index's table of streams and its charts,
what limits each scale (queueing against shared decode), each run's TTFT and output tokens
second by second, `inv compare` judging TTFT p95, ITL p95 and output tokens/s, and the charts
drawn by a real browser."""

import re
from dataclasses import replace
from pathlib import Path

import pytest

from harness.analysis.comparison import BETTER, SAME, WORSE, compare, regressions
from harness.generation_files import stream_seconds
from harness.latency import read_interval_log
from harness.matrix import ClosedLoad, Matrix
from harness.pages.index import build_index
from harness.pages.streams import stream_second_charts
from harness.results import gather
from tests.chromium import headless_chromium
from tests.index.streams import (
    OUTPUT_TOKENS,
    POINTS,
    REQUESTS_A_SECOND,
    write_stream_run,
    write_stream_runs,
)

STREAM_CHARTS = (
    "cpu: TTFT p95 against users",
    "cpu: TTFT p95 against offered requests/s",
    "cpu: output tokens/s against replicas",
)


@pytest.fixture
def stream_reports(tmp_path: Path, fixture_matrix: Matrix) -> Path:
    reports = tmp_path / "reports"
    write_stream_runs(reports, fixture_matrix)
    return reports


def rows_of(html: str, table: str) -> dict[str, str]:
    """Each row of a table by its run, as HTML."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r'<tr data-run="([^"]+)">(.*?)</tr>', body, re.S))


def cell(row: str, field: str) -> str:
    return re.search(rf'data-field="{field}" data-sort="([^"]*)"', row)[1]


def test_the_index_tables_each_streams_ttft_itl_and_tokens(stream_reports, fixture_matrix):
    html = build_index(stream_reports, fixture_matrix).read_text()
    rows = rows_of(html, "streams-cpu-table")
    assert len(rows) == len(POINTS)
    for models, load, ttft_ms, itl_ms in POINTS:
        stem = (
            f"{models}_{load.users}_{load.spawn_rate:g}"
            if isinstance(load, ClosedLoad)
            else (f"{models}_rate{load.rate:g}")
        )
        row = rows[f"cpu/{stem}"]
        for p in ("p50", "p95", "p99"):
            assert float(cell(row, f"ttft_{p}")) == pytest.approx(ttft_ms, rel=0.001)
            assert float(cell(row, f"itl_{p}")) == pytest.approx(itl_ms, rel=0.001)
        assert float(cell(row, "chunk_gap_p99")) == pytest.approx(itl_ms, rel=0.001)
        # Every second's requests, 21 tokens each, over the window's seconds: 10 a second.
        tokens_per_s = float(cell(row, "output_tokens_per_s"))
        assert tokens_per_s == pytest.approx(REQUESTS_A_SECOND * OUTPUT_TOKENS, rel=0.01)
        assert cell(row, "token_source") == "usage" and cell(row, "goodput") == "1.0"
    for title in STREAM_CHARTS:
        assert f"<figcaption>{title}</figcaption>" in html


def test_what_limits_each_scale_tells_queueing_from_shared_decode(stream_reports, fixture_matrix):
    html = build_index(stream_reports, fixture_matrix).read_text()
    said = html.split("<h3>What limits each scale</h3>", 1)[1].split("</ul>", 1)[0]
    assert "cpu, 1 replica: requests queue before their prefill" in said
    assert "TTFT p50 went from 40 to 260 ms (+550%) and ITL p50 went from 10 to 11 ms" in said
    assert "cpu, 2 replicas: decode is shared (batched) among more streams" in said
    assert "at 1 user, TTFT is mostly the prefill of 12 input tokens on average" in said
    # The open loop is a scale's load axis of its own: 2 to 8 req/s.
    assert "From 2 req/s to 8 req/s, TTFT p50 went from 42 to 90 ms" in said


def test_image_classifier_runs_have_no_stream_part(reports_copy, fixture_matrix):
    html = build_index(reports_copy, fixture_matrix).read_text()
    assert "Streams:" not in html and "TTFT" not in html


def test_a_run_page_draws_ttft_and_output_tokens_second_by_second(stream_reports, fixture_matrix):
    build_index(stream_reports, fixture_matrix)  # it writes each run's page
    run = next(run for run in gather(stream_reports).runs if run.stem == "1_8_4")
    log = read_interval_log(
        run.directory / f"{run.stem}.hdr", run.directory / f"{run.stem}.intervals.csv"
    )
    ttft, tokens, in_flight = stream_second_charts(run.directory / run.stem, log)
    # The window opens and closes mid-second: those two halves are left out, and said.
    left_out = " (partial seconds at the window's ends left out)"
    assert ttft.title == f"Time to first token per second{left_out}"
    assert [line.label for line in ttft.lines] == ["p50", "p95", "p99"]
    assert len(log.intervals) == 10 and len(ttft.lines[1].markers) == 8
    assert tokens.title == f"Output tokens per second{left_out}"
    hints = [marker.hint for marker in tokens.lines[0].markers]
    assert len(hints) == 8 and all(hint.endswith("tokens/s 210 tokens/s") for hint in hints)
    # 8 users, each with its stream in flight at every second's end.
    hints = [marker.hint for marker in in_flight.lines[0].markers]
    assert len(hints) == 8 and all(hint.endswith(" 8 streams") for hint in hints), hints
    page = (run.directory / f"{run.stem}.telemetry.html").read_text()
    assert all(one.title.replace("'", "&#39;") in page for one in (ttft, tokens, in_flight))


def test_a_last_second_of_no_length_is_left_out_not_divided_by(stream_reports, fixture_matrix):
    # A probe stopped on a second's edge leaves a last second of length 0: its rate is None,
    # and the charts, which draw whole seconds only, draw the rest (it broke the index once).
    run = next(run for run in gather(stream_reports).runs if run.stem == "1_8_4")
    log = read_interval_log(
        run.directory / f"{run.stem}.hdr", run.directory / f"{run.stem}.intervals.csv"
    )
    last = replace(log.intervals[-1], start_s=log.window_s, length_s=0.0)
    edged = replace(log, intervals=[*log.intervals, last])
    every = stream_seconds(run.directory / run.stem, edged)
    assert every[-1].output_tokens_per_s is None and not every[-1].whole
    _, tokens, _ = stream_second_charts(run.directory / run.stem, edged)
    assert len(tokens.lines[0].markers) == 8


def test_compare_judges_ttft_itl_and_tokens(tmp_path: Path, fixture_matrix: Matrix):
    before, after = tmp_path / "before", tmp_path / "after"
    write_stream_run(before, fixture_matrix, 1, ClosedLoad(4, 4), 120.0, 10.5)
    # Slower to the first token, the tokens after it as fast: TTFT worse, ITL the same.
    write_stream_run(after, fixture_matrix, 1, ClosedLoad(4, 4), 180.0, 10.5)
    comparison = compare(gather(before).runs, gather(after).runs, [], [])
    (point,) = comparison.points
    verdicts = {metric.name: metric.verdict for metric in point.metrics}
    assert verdicts["TTFT p95"] == WORSE
    assert verdicts["ITL p95"] == SAME and verdicts["output tokens/s"] == SAME
    assert {metric.samples for metric in point.metrics if metric.name == "ITL p95"} == {"windows"}
    gated = [metric.name for _, metric in regressions(comparison, 0.05)]
    # End to end each answer took 60 ms longer: p95 is worse too.
    assert set(gated) == {"TTFT p95", "p95"}
    faster = compare(gather(after).runs, gather(before).runs, [], [])
    assert {m.name: m.verdict for m in faster.points[0].metrics}["TTFT p95"] == BETTER


@pytest.mark.browser
def test_the_stream_charts_are_drawn_in_a_browser(stream_reports, fixture_matrix, tmp_path):
    index = build_index(stream_reports, fixture_matrix)
    dom = headless_chromium(["--dump-dom", index.as_uri()], tmp_path / "profile")
    figures = re.findall(r"<figure class=\"chart\">(.*?)</figure>", dom, re.S)
    drawn = {re.search(r"<figcaption>(.*?)</figcaption>", figure)[1]: figure for figure in figures}
    for title in STREAM_CHARTS:
        figure = drawn[title]
        assert "<svg" in figure and figure.count("<circle") >= 2
        assert re.search(r'<polyline[^>]* points="[\d., ]+', figure)
