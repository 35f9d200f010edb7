"""The load of one run: a closed loop of users, or requests arriving at a rate; and a run point,
where and for how long that load is put on the stack."""

import re
from dataclasses import dataclass
from datetime import timedelta

TIMESPAN_PATTERN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
ARRIVALS = ("poisson", "constant")


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


Load = ClosedLoad | OpenLoad


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
