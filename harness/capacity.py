"""The capacity file, reports/{target}/capacity.json: per replica count, the highest arrival rate
found within the SLO, where the search started, and every probe that found it. This module is
its one writer and its one reader (its format: these dataclasses, harness/record/codec.py);
harness/search.py decides the probes.

    {"schema": 5, "target": "cpu", "slo": {"p95_ms": 500, "max_failure_ratio": 0.01, ...},
     "tolerance": 0.05, "arrival": "poisson", "probe_time": "auto", "criterion": "p95",
     "setup": {"backend": "compose", "stack_env": {"MODEL_NAME": "efficientnet-lite0", ...}},
     "scales": {"2": {"capacity_rps": 183.0, "complete": true, "note": null, "seconds": 412.0,
                      "estimate": {"rps": 196.0,
                                   "source": "the best closed-loop run at this scale"},
                      "probes": [{"rate": 167, "p95_ms": 31.2, "failure_ratio": 0.0, "rps": 166.2,
                                  "valid": true, "within": true, "report": "2_rate167.html",
                                  "invalid_reasons": [], "ended_early": null, "attempts": 2830,
                                  "good_requests": 2790, "settled": true, "ramp": false,
                                  "turn_rps": null, "seconds": 20.0, "last_look": true}],
                      "sure_rps": 183.0}}}
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.matrix import Slo
from harness.record.codec import CodecError, from_data, to_data
from harness.record.names import CAPACITY_FILE
from harness.stack_setup import StackSetup

# 1: without the estimate, the probes' throughput and early ends, the probe time. 2: without
# the setup (read as unknown). 3: without the probes' request counts and settled verdicts, the
# ramp, the scale's sure_rps (read as unknown: None). 4: without the probes' measured seconds
# and the last look (read as unknown and not one).
SCHEMA = 5


@dataclass(frozen=True)
class Probe:
    rate: float
    p95_ms: float | None
    failure_ratio: float | None
    valid: bool
    within: bool  # p95 and failures within the SLO (a valid probe only)
    report: str  # the probe run's Locust report, beside capacity.json
    invalid_reasons: tuple[str, ...] = ()
    rps: float | None = None  # answered successfully per second
    ended_early: str | None = None  # a probe stopped once it had clearly broken the SLO
    goodput: float | None = None  # the share of its requests good within the SLO's threshold
    attempts: int | None = None  # its requests, the lost ones included (None: files before 4)
    good_requests: int | None = None  # of them, good by the search's criterion
    settled: bool | None = (
        None  # whether `within` is the confidence bound's (harness/search_fit.py)
    )
    ramp: bool = False  # the search's first look: a rate rising to `rate`, not a flat one
    turn_rps: float | None = None  # a ramp's: the rate where its p95 turned over the SLO
    seconds: float | None = None  # how long it measured (None: files before schema 5)
    # The search's look at its answer for the matrix's whole run_time. One at a rate a short
    # probe measured counts that probe's seconds before its own: its figures are both runs'.
    last_look: bool = False


# An estimate's source where a tune seeds the search from a configuration it already measured.
MEASURED = "the nearest configuration measured"


@dataclass(frozen=True)
class Estimate:
    """The throughput the search started from, and where it came from."""

    rps: float
    source: str

    @property
    def measured(self) -> bool:
        """A capacity another configuration measured, not a throughput: no ramp to find it."""
        return self.source.startswith(MEASURED)


@dataclass
class ScaleCapacity:
    """One replica count's search: its probes in the order run, and what they found."""

    probes: list[Probe] = field(default_factory=list)
    capacity_rps: float | None = None  # the highest rate within the SLO; None: none found yet
    complete: bool = False
    note: str | None = None  # how the search ended, when not by reaching the tolerance
    seconds: float = 0.0  # time spent probing, all sessions together
    estimate: Estimate | None = None
    sure_rps: float | None = (
        None  # the highest rate settled within the SLO at the bound's confidence
    )

    def found_by(self) -> Probe | None:
        """The probe that found the capacity: within at its rate, its last look where held."""
        at = [p for p in self.probes if p.within and not p.ramp and p.rate == self.capacity_rps]
        return max(at, key=lambda probe: probe.last_look, default=None)


@dataclass
class CapacityFile:
    target: str
    slo: Slo
    tolerance: float
    arrival: str
    probe_time: str = ""  # "": files of schema 1, which did not record it
    criterion: str = "p95"  # what a rate within the SLO keeps: its p95, or its goodput
    scales: dict[int, ScaleCapacity] = field(default_factory=dict)
    setup: StackSetup = StackSetup()  # what it was searched on (files before schema 3: unknown)

    def matches(self, other: "CapacityFile") -> bool:
        """Whether a search with `other`'s settings, on `other`'s setup, may resume from this
        file: another backend's or other stack settings' probes say nothing of this stack."""
        settings = ("slo", "tolerance", "arrival", "probe_time", "criterion", "setup")
        return all(getattr(self, name) == getattr(other, name) for name in settings)


def capacity_path(reports: Path, target: str) -> Path:
    return reports / target / CAPACITY_FILE


def read_capacity(path: Path) -> CapacityFile | None:
    """The file as written; None when there is none, or it cannot be read (a search redoes it)."""
    try:
        return from_data(CapacityFile, json.loads(path.read_text()), path.name)
    except (OSError, ValueError, CodecError):
        return None


def write_capacity(path: Path, capacity: CapacityFile) -> None:
    """Whole or not at all: a search interrupted mid-write resumes from the last whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps({"schema": SCHEMA, **to_data(capacity)}, indent=2) + "\n")
    os.replace(partial, path)
