"""The capacity file, reports/{target}/capacity.json: per replica count, the highest Poisson
arrival rate found within the SLO, and every probe that found it. This module is its one writer
and its one reader; harness/search.py decides the probes.

    {"schema": 1, "target": "cpu", "slo": {"p95_ms": 500, "max_failure_ratio": 0.01},
     "tolerance": 0.05, "arrival": "poisson",
     "scales": {"2": {"capacity_rps": 183.0, "complete": true, "note": null, "seconds": 412.0,
                      "probes": [{"rate": 100, "p95_ms": 31.2, "failure_ratio": 0.0,
                                  "valid": true, "within": true, "report": "2_rate100.html"}]}}}
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.matrix import Slo

CAPACITY_FILE = "capacity.json"
SCHEMA = 1


@dataclass(frozen=True)
class Probe:
    rate: float
    p95_ms: float | None
    failure_ratio: float | None
    valid: bool
    within: bool  # p95 and failures within the SLO (a valid probe only)
    report: str  # the probe run's Locust report, beside capacity.json
    invalid_reasons: tuple[str, ...] = ()


@dataclass
class ScaleCapacity:
    """One replica count's search: its probes in the order run, and what they found."""

    probes: list[Probe] = field(default_factory=list)
    capacity_rps: float | None = None  # the highest rate within the SLO; None: none found yet
    complete: bool = False
    note: str | None = None  # how the search ended, when not by reaching the tolerance
    seconds: float = 0.0  # time spent probing, all sessions together


@dataclass
class CapacityFile:
    target: str
    slo: Slo
    tolerance: float
    arrival: str
    scales: dict[int, ScaleCapacity] = field(default_factory=dict)

    def matches(self, slo: Slo, tolerance: float, arrival: str) -> bool:
        """Whether a search with these settings may resume from this file."""
        return (self.slo, self.tolerance, self.arrival) == (slo, tolerance, arrival)


def capacity_path(reports: Path, target: str) -> Path:
    return reports / target / CAPACITY_FILE


def read_capacity(path: Path) -> CapacityFile | None:
    """The file as written; None when there is none, or it cannot be read (a search redoes it)."""
    try:
        raw = json.loads(path.read_text())
        return CapacityFile(
            target=raw["target"],
            slo=Slo(**raw["slo"]),
            tolerance=raw["tolerance"],
            arrival=raw["arrival"],
            scales={
                int(models): ScaleCapacity(
                    probes=[
                        Probe(**{**probe, "invalid_reasons": tuple(probe["invalid_reasons"])})
                        for probe in scale["probes"]
                    ],
                    capacity_rps=scale["capacity_rps"],
                    complete=scale["complete"],
                    note=scale["note"],
                    seconds=scale["seconds"],
                )
                for models, scale in raw["scales"].items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_capacity(path: Path, capacity: CapacityFile) -> None:
    """Whole or not at all: a search interrupted mid-write resumes from the last whole file."""
    data = {
        "schema": SCHEMA,
        "target": capacity.target,
        "slo": asdict(capacity.slo),
        "tolerance": capacity.tolerance,
        "arrival": capacity.arrival,
        "scales": {
            str(models): {
                "capacity_rps": scale.capacity_rps,
                "complete": scale.complete,
                "note": scale.note,
                "seconds": round(scale.seconds, 1),
                "probes": [
                    {**asdict(probe), "invalid_reasons": list(probe.invalid_reasons)}
                    for probe in scale.probes
                ],
            }
            for models, scale in sorted(capacity.scales.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)
