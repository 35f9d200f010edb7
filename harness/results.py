"""Every complete run under reports/: its record, and the statistics Locust wrote for it.

A run counts only once its record exists (the harness writes it last), so a run still in
progress, or one killed before it finished, is not listed; a run whose files cannot be read is
reported, not dropped silently, so the page can say so.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from harness.latency import Latency
from harness.record import RunRecord, read_record
from harness.record.names import (
    HTML_SUFFIX,
    LOG_SUFFIX,
    RUN_PAGE_SUFFIX,
    STATS_SUFFIX,
    RecordError,
    companion,
    record_paths,
)
from harness.stack_setup import StackSetup

AGGREGATED_ROW = "Aggregated"


@dataclass(frozen=True)
class Run:
    """One complete run as the analysis and the pages see it."""

    record: RunRecord
    # Every request of the measured window: exact, from the run's HdrHistogram (schema 2 on),
    # else Locust's own rounded figures; None when Locust left none (it failed before it began).
    stats: Latency | None
    directory: Path

    @property
    def target(self) -> str:
        return self.record.name.target

    @property
    def models(self) -> int:
        return self.record.name.models

    @property
    def setup(self) -> StackSetup:
        """What its stack ran on and with: runs are compared only on one target and setup."""
        return StackSetup.recorded(self.record.backend, self.record.matrix)

    @property
    def kind(self) -> str:
        """ "closed" (users x spawn rate) or "open" (an arrival rate)."""
        return self.record.name.kind

    @property
    def users(self) -> int:
        """A closed-loop run's users (ask `kind` first)."""
        return self.record.name.load.users

    @property
    def spawn_rate(self) -> float:
        return self.record.name.load.spawn_rate

    @property
    def rate(self) -> float:
        """An open-loop run's arrival rate (ask `kind` first)."""
        return self.record.name.load.rate

    @property
    def stem(self) -> str:
        return self.record.name.stem

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def measured(self) -> bool:
        """A run whose numbers exist: it finished and answered requests."""
        return self.status == "ok" and self.stats is not None and self.stats.requests > 0

    @property
    def counts(self) -> bool:
        """A run whose numbers may feed a conclusion: measured, and valid (run/validity.py)."""
        return self.measured and self.record.valid

    @property
    def why_invalid(self) -> tuple[str, ...]:
        """Why an invalid run is left out: its record's reasons (run/validity.py); a record
        written before reasons were kept holds none where Locust's CPU warning made it invalid."""
        reasons = self.record.invalid_reasons
        return reasons if reasons else ("Locust warned that its CPU was saturated",)

    @property
    def html_report(self) -> Path | None:
        return self._existing(HTML_SUFFIX)

    @property
    def log(self) -> Path | None:
        return self._existing(LOG_SUFFIX)

    @property
    def page(self) -> Path | None:
        """The run's own page (harness/pages/run.py), once the index has written it."""
        return self._existing(RUN_PAGE_SUFFIX)

    def _existing(self, suffix: str) -> Path | None:
        path = self.directory / f"{self.stem}{suffix}"
        return path if path.is_file() else None


@dataclass(frozen=True)
class UnreadableRun:
    path: Path
    problem: str


@dataclass(frozen=True)
class Gathered:
    runs: list[Run]
    unreadable: list[UnreadableRun]


def gather(reports_dir: Path) -> Gathered:
    """Every complete run in reports_dir/{target}/, in the order of their names."""
    runs: list[Run] = []
    unreadable: list[UnreadableRun] = []
    for record_path in record_paths(reports_dir):
        try:
            runs.append(read_run(record_path))
        except RecordError as error:
            unreadable.append(UnreadableRun(path=record_path, problem=str(error)))
    runs.sort(key=lambda run: run.record.name.sort_key())
    return Gathered(runs=runs, unreadable=unreadable)


def read_run(record_path: Path) -> Run:
    record = read_record(record_path)
    stats_path = companion(record_path, STATS_SUFFIX)
    if record.latency is not None:
        stats = record.latency
    else:
        stats = read_stats(stats_path) if stats_path.is_file() else None
    return Run(record=record, stats=stats, directory=record_path.parent)


def read_stats(stats_path: Path) -> Latency:
    """The "Aggregated" row of Locust's --csv statistics file (runs before exact latencies)."""
    try:
        with stats_path.open(newline="") as stats_file:
            rows = list(csv.DictReader(stats_file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RecordError(f"{stats_path}: cannot be read: {error}") from None
    aggregated = [row for row in rows if row.get("Name") == AGGREGATED_ROW]
    if not aggregated:
        raise RecordError(f"{stats_path}: no {AGGREGATED_ROW!r} row")
    row = aggregated[0]
    try:
        requests, failures = int(row["Request Count"]), int(row["Failure Count"])
        rps = float(row["Requests/s"])
        return Latency(
            requests=requests,
            failures=failures,
            seconds=requests / rps if rps > 0 else 0.0,
            mean_ms=_milliseconds(row["Average Response Time"]),
            p50_ms=_milliseconds(row["50%"]),
            p90_ms=_milliseconds(row["90%"]),
            p95_ms=_milliseconds(row["95%"]),
            p99_ms=_milliseconds(row["99%"]),
            p999_ms=_milliseconds(row["99.9%"]),
            max_ms=_milliseconds(row["Max Response Time"]),
            exact=False,
        )
    except KeyError as missing:
        raise RecordError(f"{stats_path}: no column {missing}") from None
    except (TypeError, ValueError) as error:
        raise RecordError(f"{stats_path}: {AGGREGATED_ROW} row: {error}") from None


def _milliseconds(cell: str | None) -> float | None:
    # Locust writes "N/A" for percentiles of a run without requests.
    if cell is None or cell.strip() in ("", "N/A"):
        return None
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(f"{cell!r} is not a finite number")
    return value
