"""The load of one run: a closed loop of users, requests arriving at a rate, or either of them
following a shape over time; and a run point, where and for how long that load is put on the
stack."""

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from harness import REPO_ROOT, locust_module
from harness.matrix.schema import MatrixError

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


def shaped_load(source: str, name: str, given: list | dict, data: dict, images: Path) -> ShapedLoad:
    """A shape of the matrix, typed: its phases in seconds, or its trace read (so that a trace
    that cannot be read stops everything before it starts, naming it)."""
    common = {
        "shape": name,
        "arrival": data["arrival"],
        "burstiness": data["burstiness"],
        "max_in_flight": data["max_in_flight"],
    }
    schedules = locust_module("schedules")
    if isinstance(given, dict):
        path = REPO_ROOT / given["trace"]
        try:
            arrivals = schedules.read_trace(path, given.get("speed", 1.0))
        except (OSError, ValueError) as error:
            raise MatrixError(
                source,
                f"shapes.{name}.trace",
                str(error),
                "a CSV or JSON Lines file of arrival times `t`",
            ) from None
        _check_traced_prompts(source, name, arrivals, data["request"])
        named = {sent for _, sent in arrivals if isinstance(sent, str)}
        missing = sorted(named - {path.name for path in images.iterdir()})
        if missing:
            raise MatrixError(
                source,
                f"shapes.{name}.trace",
                f"names images the request's folder lacks: {', '.join(missing[:3])}",
                "files of request.images",
            )
        seconds = arrivals[-1][0] if arrivals else 0.0
        return ShapedLoad(
            **common, trace=given["trace"], speed=given.get("speed", 1.0), seconds=seconds
        )
    kinds = {"rate" in phase for phase in given} | {"users" not in phase for phase in given}
    if kinds != {True} and kinds != {False}:
        raise MatrixError(
            source,
            f"shapes.{name}",
            "mixes rates and users, or a phase has neither",
            "phases of rate (open loop) or of users (closed loop), each",
        )
    users = "users" in given[0]
    phases = tuple(
        (
            float(phase["users"] if users else phase["rate"]),
            float(parse_run_time(phase.get("ramp", "0"))),
            float(parse_run_time(phase.get("hold", "0"))),
        )
        for phase in given
    )
    seconds = schedules.duration(phases)
    if seconds <= 0:
        raise MatrixError(source, f"shapes.{name}", "lasts no time", "phases with a ramp or a hold")
    return ShapedLoad(**common, phases=phases, users=users, seconds=seconds)


def _check_traced_prompts(source: str, name: str, arrivals: list, request: dict) -> None:
    """A trace's prompts and sizes need a generative request, whose arrivals send no image."""
    generative = request.get("body") in locust_module("payloads").DEFAULT_PATHS
    traced = [sent for _, sent in arrivals if sent is not None and not isinstance(sent, str)]
    images = [sent for _, sent in arrivals if isinstance(sent, str)]
    if traced and not generative:
        raise MatrixError(
            source,
            f"shapes.{name}.trace",
            "gives prompts or token counts, but the requests are not generative",
            "request.body openai_chat or openai_completions, or a trace of t and image",
        )
    if images and generative:
        raise MatrixError(
            source,
            f"shapes.{name}.trace",
            "names images, but the requests are generative",
            "prompt, input_tokens, output_tokens beside t",
        )
