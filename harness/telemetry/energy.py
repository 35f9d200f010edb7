"""Energy over a run, where a counter of it can be read: each GPU's total-energy counter (NVML,
Volta and later), else the CPU packages' RAPL counters (Linux powercap). Read before the run and
after it; where no counter can be read the energy is unknown (None), never zero. RAPL counts the
whole package: the load generator's share is in it, as everything else the machine runs."""

from dataclasses import dataclass
from pathlib import Path

from harness.telemetry.gpu import Gpus

POWERCAP = Path("/sys/class/powercap")


@dataclass(frozen=True)
class Reading:
    source: str  # what was read: "NVML total energy" or "RAPL packages"
    joules: dict[str, float]  # by counter
    ranges: dict[str, float]  # where a counter wraps around, in joules


def rapl_packages(root: Path = POWERCAP) -> list[Path]:
    """The package domains (intel-rapl:N, not their sub-zones intel-rapl:N:M) whose energy can
    be read; a VM or an unprivileged user usually has none."""
    found = []
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:
            continue
        try:
            int((zone / "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        found.append(zone)
    return found


def read_energy(root: Path = POWERCAP) -> Reading | None:
    """Every energy counter there is, now; None where there is none."""
    gpus = Gpus()
    try:
        joules = gpus.total_energy_j()
    finally:
        gpus.close()
    if joules:
        return Reading("NVML total energy", joules, {})
    packages = rapl_packages(root)
    if not packages:
        return None
    counters, ranges = {}, {}
    for zone in packages:
        counters[zone.name] = int((zone / "energy_uj").read_text()) / 1e6
        try:
            ranges[zone.name] = int((zone / "max_energy_range_uj").read_text()) / 1e6
        except (OSError, ValueError):
            pass
    return Reading("RAPL packages", counters, ranges)


def energy_between(first: Reading | None, last: Reading | None) -> tuple[float, str] | None:
    """Joules spent between two readings of the same counters, and their source."""
    if first is None or last is None or first.source != last.source:
        return None
    total = 0.0
    for counter, before in first.joules.items():
        after = last.joules.get(counter)
        if after is None:
            return None
        spent = after - before
        if spent < 0:  # the counter wrapped around
            if counter not in first.ranges:
                return None
            spent += first.ranges[counter]
        total += spent
    return total, first.source
