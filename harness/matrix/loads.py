"""The load of one run: a closed loop of users, requests arriving at a rate, or either of them
following a shape over time; and a run point, where and for how long that load is put on the
stack."""

import re
from dataclasses import dataclass
from datetime import timedelta

TIMESPAN_PATTERN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
ARRIVALS = ("poisson", "constant", "gamma")


def parse_run_time(text: str) -> int:
    """Seconds in a Locust time span ("20", "30s", "5m", "1h30m"), as Locust itself reads it."""
    if text.isdigit():
        return int(text)
    parts = TIMESPAN_PATTERN.match(text)
    if not text or parts is None:
        raise ValueError(f"{text!r} is not a Locust time span")
    hours, minutes, seconds = (int(parts.group(unit) or 0) for unit in "hms")
    return int(timedelta(hours=hours, minutes=minutes, seconds=seconds).total_seconds())


@dataclass(frozen=True)
class ClosedLoad:
    """Locust's own load: `users` clients, each sending its next request once answered."""

    users: int
    spawn_rate: float


@dataclass(frozen=True)
class OpenLoad:
    """Requests arriving at `rate` per second on a schedule (locust/openloop.py), whatever
    happened to the earlier ones; at most `max_in_flight` out at once, the rest dropped."""

    rate: float
    arrival: str = "poisson"  # one of ARRIVALS
    max_in_flight: int = 256
    burstiness: float = 1.0  # the gamma arrival's shape


@dataclass(frozen=True)
class ShapedLoad:
    """A load that changes over the run: phases of a rate (open loop) or of users (closed loop),
    each reached over its ramp and held, or a recorded trace of arrivals replayed (locust/
    schedules.py computes the arrivals, locust/shapes.py the users)."""

    shape: str  # its name in the matrix, and in the run's
    phases: tuple[tuple[float, float, float], ...] = ()  # (rate or users, ramp_s, hold_s)
    users: bool = False  # the phases count users (closed loop), not requests/s
    trace: str | None = None  # a trace file's path, relative to the repository
    speed: float = 1.0
    seconds: float = 0.0  # how long the shape lasts
    arrival: str = "poisson"
    burstiness: float = 1.0
    max_in_flight: int = 256

    @property
    def opened(self) -> bool:
        return not self.users


Load = ClosedLoad | OpenLoad | ShapedLoad


@dataclass(frozen=True)
class RunPoint:
    """One Locust run of a sweep: where, at what scale, under what load, for how long."""

    target: str
    models: int
    load: Load
    run_time: str  # the measured window, in Locust's format, as written

    @property
    def run_time_s(self) -> int:
        return parse_run_time(self.run_time)

    @property
    def opened(self) -> bool:
        """Whether requests arrive on a schedule (an open loop, flat or shaped)."""
        return isinstance(self.load, OpenLoad) or (
            isinstance(self.load, ShapedLoad) and self.load.opened
        )

    @property
    def shaped(self) -> bool:
        return isinstance(self.load, ShapedLoad)
