"""One run's files (S.meta.json, Locust's S_stats.csv) read into a RunResult; all runs in reports/.

A run counts only once its S.meta.json exists (the harness writes it last), so a run still in
progress, or one killed before it finished, is not listed. Metadata from older sweeps may lack
fields: the ones the name already says (target, replicas, users, spawn rate) are read from the
file's place, `reports/{target}/{models}_{users}_{spawn}.meta.json`, and the rest are optional.
"""

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

META_SUFFIX = ".meta.json"
AGGREGATED_ROW = "Aggregated"


class RunFileError(ValueError):
    """A run's file that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Stats:
    """The "Aggregated" row of Locust's S_stats.csv: every request of the run."""

    requests: int
    failures: int
    rps: float
    median_ms: float | None
    average_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class RunResult:
    target: str
    models: int
    users: int
    spawn_rate: float
    spawn_rate_label: str
    stem: str
    directory: Path
    status: str  # "ok" or "failed", as the harness wrote it
    failure_reason: str | None
    exit_code: int | None
    stats: Stats | None  # None when Locust left no statistics (the run failed before it started)
    started_at: str | None
    ended_at: str | None
    run_time: str | None
    run_time_s: float | None
    ramp_s: float | None
    backend: str | None
    model: str | None
    runtime: str | None
    device: str | None
    machine: dict[str, Any] | None
    revision: str | None
    matrix: dict[str, Any] | None
    locust_cpu_warning: bool

    @property
    def point(self) -> tuple[str, int, int, float]:
        return (self.target, self.models, self.users, self.spawn_rate)

    @property
    def html_report(self) -> Path | None:
        return self._existing(".html")

    @property
    def log(self) -> Path | None:
        return self._existing(".log")

    @property
    def measured(self) -> bool:
        """A run whose numbers can be compared: it finished and answered requests."""
        return self.status == "ok" and self.stats is not None and self.stats.requests > 0

    def _existing(self, suffix: str) -> Path | None:
        path = self.directory / f"{self.stem}{suffix}"
        return path if path.is_file() else None


@dataclass(frozen=True)
class UnreadableRun:
    path: Path
    problem: str


@dataclass(frozen=True)
class Gathered:
    runs: list[RunResult]
    unreadable: list[UnreadableRun]


def gather(reports_dir: Path) -> Gathered:
    """Every complete run in reports_dir/{target}/, sorted by target, replicas, users, spawn rate.

    A run whose files cannot be read is reported, not dropped silently, so the page can say so.
    """
    runs: list[RunResult] = []
    unreadable: list[UnreadableRun] = []
    for meta_path in sorted(reports_dir.glob(f"*/*{META_SUFFIX}")):
        if meta_path.parent.name.startswith("."):
            continue  # a run's scratch folder, or another tool's hidden one: not a target
        try:
            runs.append(read_run(meta_path))
        except RunFileError as error:
            unreadable.append(UnreadableRun(path=meta_path, problem=str(error)))
    runs.sort(key=lambda run: run.point)
    return Gathered(runs=runs, unreadable=unreadable)


def read_run(meta_path: Path) -> RunResult:
    stem = meta_path.name.removesuffix(META_SUFFIX)
    meta = _read_meta(meta_path)
    named = _parse_stem(stem, meta_path)
    stats_path = meta_path.with_name(f"{stem}_stats.csv")
    stats = read_stats(stats_path) if stats_path.is_file() else None
    status = meta.get("status") or ("ok" if stats is not None else "failed")
    if status not in ("ok", "failed"):
        raise RunFileError(f"{meta_path}: status: {status!r} is neither 'ok' nor 'failed'")
    failure_reason = _text(meta.get("failure_reason"))
    if status == "failed" and not failure_reason:
        failure_reason = "no reason recorded"
    spawn_rate = meta.get("spawn_rate", named["spawn_rate"])
    return RunResult(
        target=str(meta.get("target", meta_path.parent.name)),
        models=_integer(meta.get("models", named["models"]), "models", meta_path),
        users=_integer(meta.get("users", named["users"]), "users", meta_path),
        spawn_rate=_number(spawn_rate, "spawn_rate", meta_path),
        spawn_rate_label=str(meta.get("spawn_rate_label", named["spawn_rate_label"])),
        stem=stem,
        directory=meta_path.parent,
        status=status,
        failure_reason=failure_reason,
        exit_code=meta["exit_code"] if isinstance(meta.get("exit_code"), int) else None,
        stats=stats,
        started_at=_text(meta.get("started_at")),
        ended_at=_text(meta.get("ended_at")),
        run_time=_text(meta.get("run_time")),
        run_time_s=_optional_number(meta.get("run_time_s")),
        ramp_s=_optional_number(meta.get("ramp_s")),
        backend=_text(meta.get("backend")),
        model=_text(meta.get("model")),
        runtime=_text(meta.get("runtime")),
        device=_text(meta.get("device")),
        machine=meta.get("machine") if isinstance(meta.get("machine"), dict) else None,
        revision=_text(meta.get("revision")),
        matrix=meta.get("matrix") if isinstance(meta.get("matrix"), dict) else None,
        locust_cpu_warning=bool(meta.get("locust_cpu_warning", False)),
    )


def read_stats(stats_path: Path) -> Stats:
    """The "Aggregated" row of Locust's --csv statistics file."""
    try:
        with stats_path.open(newline="") as stats_file:
            rows = list(csv.DictReader(stats_file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RunFileError(f"{stats_path}: cannot be read: {error}") from None
    aggregated = [row for row in rows if row.get("Name") == AGGREGATED_ROW]
    if not aggregated:
        raise RunFileError(f"{stats_path}: no {AGGREGATED_ROW!r} row")
    row = aggregated[0]
    try:
        return Stats(
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            rps=float(row["Requests/s"]),
            median_ms=_milliseconds(row["Median Response Time"]),
            average_ms=_milliseconds(row["Average Response Time"]),
            p50_ms=_milliseconds(row["50%"]),
            p90_ms=_milliseconds(row["90%"]),
            p95_ms=_milliseconds(row["95%"]),
            p99_ms=_milliseconds(row["99%"]),
            max_ms=_milliseconds(row["Max Response Time"]),
        )
    except KeyError as missing:
        raise RunFileError(f"{stats_path}: no column {missing}") from None
    except (TypeError, ValueError) as error:
        raise RunFileError(f"{stats_path}: {AGGREGATED_ROW} row: {error}") from None


def _milliseconds(cell: str | None) -> float | None:
    # Locust writes "N/A" for percentiles of a run without requests.
    if cell is None or cell.strip() in ("", "N/A"):
        return None
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(f"{cell!r} is not a finite number")
    return value


def _read_meta(meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise RunFileError(f"{meta_path}: cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise RunFileError(
            f"{meta_path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(meta, dict):
        raise RunFileError(f"{meta_path}: not a JSON object")
    return meta


def _parse_stem(stem: str, meta_path: Path) -> dict[str, Any]:
    parts = stem.split("_")
    if len(parts) != 3:
        raise RunFileError(f"{meta_path}: name is not {{models}}_{{users}}_{{spawn_rate}}")
    models, users, spawn_rate_label = parts
    try:
        return {
            "models": int(models),
            "users": int(users),
            "spawn_rate": float(spawn_rate_label),
            "spawn_rate_label": spawn_rate_label,
        }
    except ValueError:
        raise RunFileError(
            f"{meta_path}: name is not {{models}}_{{users}}_{{spawn_rate}} with numbers"
        ) from None


def _text(value: Any) -> str | None:
    # Optional fields are shown, not computed with: any value is shown as text.
    return None if value is None else str(value)


def _optional_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any, field: str, meta_path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RunFileError(f"{meta_path}: {field}: {value!r} is not a positive integer")
    return value


def _number(value: Any, field: str, meta_path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RunFileError(f"{meta_path}: {field}: {value!r} is not a positive number")
    return float(value)
