"""A run's page second by second: the window's partial first and last seconds are left out of
every per-second chart (never drawn as whole seconds), and a shape's rises lead with when their
backlog was gone, then when p95 was back."""

import csv
import html
import json
import re
from pathlib import Path

from harness import locust_module
from harness.latency import read_interval_log
from harness.matrix import Matrix, ShapedLoad
from harness.pages.index import build_index
from harness.record import RunRecord, write_record
from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX, RunName
from harness.seconds import PhaseChange

histograms = locust_module("histograms")

START = 1_700_000_000.5  # the window opens mid-second, as a real one does
SECONDS = 12  # and closes mid-second: 11 whole seconds, a half at each end
RATE = 40  # answered a second, each in 30 ms
SPIKE = ShapedLoad("spike", ((40.0, 0.0, 4.0), (120.0, 0.0, 3.0), (40.0, 0.0, 5.0)), seconds=12)
WAKE = PhaseChange(4.0, 40.0, 120.0, 30.0, 7.0, 180, drain_s=6.5, queue_drained_s=6.0)


def write_run(reports: Path, matrix: Matrix, schema: int | None = None) -> str:
    """A shaped open-loop run whose every second answered RATE requests a second (half as many
    in each half second), its record, and its page as the index writes it (unescaped)."""
    name = RunName("cpu", 1, SPIKE)
    folder = reports / "cpu"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / name.stem
    latency = histograms.SecondHistograms()
    seconds = [int(START) + index for index in range(SECONDS + 1)]
    end = START + SECONDS
    with Path(f"{prefix}{INTERVALS_SUFFIX}").open("w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(["start_s", "length_s", "requests", "failures", "good", "scheduled"])
        for second in seconds:
            length = min(second + 1, end) - max(second, START)
            answered = round(RATE * length)
            for _ in range(answered):
                latency.record(second, 30.0)
            begins = f"{max(second, START) - START:.3f}"
            writer.writerow([begins, f"{length:.3f}", answered, 0, answered, answered])
    latency.write(f"{prefix}{HDR_SUFFIX}", seconds, START, end)
    log = read_interval_log(Path(f"{prefix}{HDR_SUFFIX}"), Path(f"{prefix}{INTERVALS_SUFFIX}"))
    record = RunRecord(
        name,
        "ok",
        backend="local",
        matrix=matrix.recorded,
        latency=log.whole(),
        invalid_reasons=(),
        measured_s=log.window_s,
        phase_changes=(WAKE,),
    )
    path = write_record(record, reports, folder)
    if schema is not None:  # as an older version wrote it: no drain
        written = json.loads(path.read_text())
        written["schema"] = schema
        for change in written["phase_changes"]:
            del change["drain_s"], change["queue_drained_s"]
        path.write_text(json.dumps(written))
    build_index(reports, matrix)
    return html.unescape((folder / f"{name.stem}.telemetry.html").read_text())


def drawn(page: str, title: str) -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """A chart's caption and its lines' points (seconds, value), as its markers' hints say."""
    figure = page.split(f"<figcaption>{title}", 1)[1].split("</figure>", 1)[0]
    caption = title + figure.split("</figcaption>", 1)[0]
    lines: dict[str, list[tuple[float, float]]] = {}
    for label, x, y in re.findall(r"<title>([^:<]+): seconds ([\d.]+), [a-z/ ]+ ([\d.]+)", figure):
        lines.setdefault(label, []).append((float(x), float(y)))
    return caption, lines


def test_no_per_second_chart_draws_a_partial_second_as_a_whole_one(tmp_path, fixture_matrix):
    page = write_run(tmp_path / "reports", fixture_matrix)
    caption, rates = drawn(page, "Requests per second")
    assert "partial seconds at the window's ends left out" in caption
    # 11 whole seconds of 40 answers: the halves (20 answers each) would read as a lull.
    assert [y for _, y in rates["answered"]] == [RATE] * 11
    assert [x for x, _ in rates["answered"]] == [0.5 + index for index in range(11)]
    for title in ("Latency per second", "Failures, late and dropped arrivals per second"):
        caption, lines = drawn(page, title)
        assert "partial seconds at the window's ends left out" in caption
        assert all(len(points) == 11 for points in lines.values()), (title, lines)
    caption, waiting = drawn(page, "Waiting, per second")
    assert len(waiting["outstanding"]) == 11


def test_a_rise_leads_with_its_drain_then_p95_back(tmp_path, fixture_matrix):
    page = write_run(tmp_path / "reports", fixture_matrix)
    said = re.search(r'<p class="lead" id="wake">([^<]*)</p>', page)[1]
    assert "the backlog of 180 requests was gone 6 s after the spike began" in said
    assert "0 s after it ended" not in said and "after it ended" in said  # 6.5 s, ended at 7 s
    assert "(6 s by the stack's own queue)" in said
    assert said.index("backlog") < said.index("p95 was back at its level before (30 ms) after 7 s")
    row = page.split('id="phase-changes"', 1)[1].split("</tbody>", 1)[0]
    assert "<td>6.5</td><td>6.0</td>" in row


def test_an_older_record_says_nothing_of_a_drain_it_never_measured(tmp_path, fixture_matrix):
    page = write_run(tmp_path / "reports", fixture_matrix, schema=6)
    said = re.search(r'<p class="lead" id="wake">([^<]*)</p>', page)[1]
    assert "backlog" not in said and "p95 was back" in said
    row = page.split('id="phase-changes"', 1)[1].split("</tbody>", 1)[0]
    assert "not within the run" not in row
