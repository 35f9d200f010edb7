"""A run's own page (S.telemetry.html): its latencies and failures by kind, the run second by
second (offered and answered, p50/p95/p99, failures, late and dropped arrivals, the requests
outstanding and, where the stack exports them, its queue and busy replicas; a generative run's
TTFT and output tokens), a shape's changes
of load and their wake, where a request's time went, where the machine's CPU went (the stack,
Locust, the harness, the Docker engine, unaccounted), and what every process used over time.

Written once, by `write_run_pages`, for every run measured and without a page yet, so the index
stays quick however many runs there are.
"""

from collections import defaultdict
from pathlib import Path

from harness import charts
from harness.analysis import limits
from harness.analysis.instrument import cpu_account
from harness.analysis.sentences import shape_sentences
from harness.generation_files import WHOLE_SECOND_S
from harness.latency import LatencyFileError, read_interval_log
from harness.pages.render import environment, write_page
from harness.pages.streams import stream_second_charts
from harness.pages.telemetry import breakdown_bar, legend_entries, node_figures
from harness.record.names import (
    GPU,
    HDR_SUFFIX,
    INTERVALS_SUFFIX,
    MACHINE,
    RECORD_SUFFIX,
    RESOURCES_SUFFIX,
    RUN_PAGE_SUFFIX,
    STACK_SUFFIX,
    member_label,
)
from harness.results import Run
from harness.seconds import DRAIN_SCHEMA, Second, seconds_of
from harness.telemetry.metrics import read_stack_table
from harness.telemetry.table import node_cpu, read_table


def write_run_pages(reports_dir: Path, runs: list[Run]) -> None:
    """The page of every run that was measured and has no page yet, or an older one than its
    record (a run measured again, or a capacity probe that took a sweep point's name)."""
    template = None
    for run in runs:
        page = run.directory / f"{run.stem}{RUN_PAGE_SUFFIX}"
        hdr = run.directory / f"{run.stem}{HDR_SUFFIX}"
        record = run.directory / f"{run.stem}{RECORD_SUFFIX}"
        if not hdr.is_file() or (
            page.is_file() and page.stat().st_mtime_ns >= record.stat().st_mtime_ns
        ):
            continue
        if template is None:
            template = environment(reports_dir).get_template("run.html.j2")
        bar = breakdown_bar(run)
        write_page(
            page,
            template.render(
                run=run,
                bar=bar,
                legend_entries=legend_entries([bar]),
                seconds=_per_second(run),
                nodes=node_figures(run),
                charts=_over_time(run.directory / f"{run.stem}{RESOURCES_SUFFIX}"),
                findings=limits.saturations(run),
                wakes=shape_sentences([run]),
                drain_schema=DRAIN_SCHEMA,
                account=cpu_account(run.record.resources),
                reports_dir=reports_dir,
            ),
        )


def _per_second(run: Run) -> list[charts.Chart]:
    try:
        log = read_interval_log(
            run.directory / f"{run.stem}{HDR_SUFFIX}",
            run.directory / f"{run.stem}{INTERVALS_SUFFIX}",
        )
    except (LatencyFileError, FileNotFoundError):
        return []
    opened = run.kind == "open" or (run.kind == "shaped" and run.record.name.load.opened)
    every = seconds_of(log, opened)
    # The window's first and last seconds are partial: their counts would read as a lull, their
    # few requests' percentiles as noise. Every per-second chart leaves them out, and says so.
    seconds = [one for one in every if one.length_s >= WHOLE_SECOND_S]
    if not seconds:
        return []
    left_out = (
        " (partial seconds at the window's ends left out)" if len(seconds) < len(every) else ""
    )
    rates = {"offered": [(s.start_s, s.scheduled) for s in seconds]} if opened else {}
    rates["answered"] = [(s.start_s, s.requests) for s in seconds]
    rates["good"] = [(s.start_s, s.good) for s in seconds]  # within the goodput threshold
    percentiles = {
        label: [(s.start_s, getattr(s, field)) for s in seconds if getattr(s, field)]
        for label, field in (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))
    }
    failed = {"failures": [(s.start_s, s.failures) for s in seconds]}
    if opened:
        failed["late"] = [(s.start_s, s.late) for s in seconds]
        failed["dropped"] = [(s.start_s, s.dropped) for s in seconds]
    made = [
        _chart(f"Requests per second{left_out}", "requests/s", rates),
        _chart(f"Latency per second{left_out}", "ms", percentiles),
        _chart(f"Failures, late and dropped arrivals per second{left_out}", "requests", failed),
    ]
    waiting = _waiting(run, seconds, opened)
    if waiting:
        made.append(_chart(f"Waiting, per second{left_out}", "requests or replicas", waiting))
    if run.record.stream is not None:
        made += stream_second_charts(run.directory / run.stem, log)
    return made


def _waiting(run: Run, seconds: list[Second], opened: bool) -> dict[str, list]:
    """The requests outstanding (the client's view), and the stack's queue and busy replicas
    (its own, where it exports them)."""
    found: dict[str, list] = {}
    if opened:
        found["outstanding"] = [(s.start_s, s.outstanding) for s in seconds]
    rows = read_stack_table(run.directory / f"{run.stem}{STACK_SUFFIX}")
    for column, label in (("queue_depth", "queue"), ("busy_replicas", "busy replicas")):
        points = [(float(row["t_s"]), float(row[column])) for row in rows if row[column] != ""]
        points = [(t, value) for t, value in points if t >= 0]
        if points:
            found[label] = points
    return found


def _chart(title: str, unit: str, lines: dict[str, list[tuple[float, float]]]) -> charts.Chart:
    series = [
        charts.Series(label, points, index)
        for index, (label, points) in enumerate(lines.items())
        if points
    ]
    return charts.line_chart(title, "seconds", unit, series, hint_unit=f" {unit}")


def _over_time(table: Path) -> list[charts.Chart]:
    """CPU and memory of each member (and each GPU, each swarm node) against time, from the
    run's table."""
    cpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
    memory: dict[str, list[tuple[float, float]]] = defaultdict(list)
    gpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
    rows = read_table(table)
    for row in rows:
        label = member_label(row["service"], row["replica"])
        t_s = float(row["t_s"])
        if row["service"] == GPU:
            gpu[f"GPU {row['replica']} util %"].append((t_s, float(row["gpu_util_percent"])))
            continue
        if row["cpu_percent"]:
            cpu[label].append((t_s, float(row["cpu_percent"])))
        if row["rss_mib"] and row["service"] != MACHINE:
            memory[label].append((t_s, float(row["rss_mib"])))
    made = [
        charts.line_chart(
            "CPU over time (% of one core)", "seconds", "% of a core", _series(cpu), hint_unit="%"
        ),
        charts.line_chart(
            "Memory over time (resident)", "seconds", "MiB", _series(memory), hint_unit=" MiB"
        ),
    ]
    nodes = {node: sorted(sums.items()) for node, sums in node_cpu(rows).items()}
    if nodes:
        made.append(
            charts.line_chart(
                "CPU per node over time (its containers, % of one core)",
                "seconds",
                "% of a core",
                _series(nodes),
                hint_unit="%",
            )
        )
    if gpu:
        made.append(charts.line_chart("GPU over time", "seconds", "%", _series(gpu), hint_unit="%"))
    return made


def _series(points: dict[str, list[tuple[float, float]]]) -> list[charts.Series]:
    return [
        charts.Series(label, values, index) for index, (label, values) in enumerate(points.items())
    ]
