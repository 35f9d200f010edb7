"""Goodput: whether one request was good, DistServe's definition. A request is good when it
succeeded and met every threshold the SLO gives: its end-to-end latency, its time to first token
(TTFT) and its inter-token latency (ITL; locust/sse.py defines both). An answer of one token has
no ITL: the ITL threshold is met. A threshold the request has no figure for (a TTFT threshold on
a request that streamed nothing) is not met: nothing shows it was.

Plain Python, no Locust: the recorder judges each request with it (locust/recorder.py), and the
harness writes the thresholds as the recorder's options (harness/run/locust.py), so the options'
names live here alone. The record, the capacity search and the pages read the count it gives.
"""

from dataclasses import dataclass

# Each threshold's option; 0 (the default) leaves it out.
OPTIONS = {
    "e2e_ms": "--loadbench-goodput-ms",
    "ttft_ms": "--loadbench-ttft-ms",
    "itl_ms": "--loadbench-itl-ms",
}
HELP = {
    "e2e_ms": "a good request is answered within this many ms",
    "ttft_ms": "a good request's first token comes within this many ms",
    "itl_ms": "a good request's inter-token latency is at most this many ms",
}


@dataclass(frozen=True)
class Thresholds:
    """In ms; None: not judged."""

    e2e_ms: float | None = None
    ttft_ms: float | None = None
    itl_ms: float | None = None

    @property
    def judged(self) -> bool:
        """Some threshold is given: good requests are counted (none are without)."""
        return any(limit is not None for limit in vars(self).values())

    def is_good(self, latency_ms: float, generation) -> bool:
        """A successful request's verdict; `generation` is its locust/sse.py Generation (None
        for a request that is not generative)."""
        if not self.judged:
            return False
        if self.e2e_ms is not None and latency_ms > self.e2e_ms:
            return False
        if self.ttft_ms is not None:
            ttft_s = None if generation is None else generation.ttft_s
            if ttft_s is None or ttft_s * 1000 > self.ttft_ms:
                return False
        if self.itl_ms is not None:
            if generation is None:
                return False
            itl_s = generation.itl_s  # None: one token, nothing between tokens to judge
            if itl_s is not None and itl_s * 1000 > self.itl_ms:
                return False
        return True

    def command_line(self) -> list[str]:
        """The recorder's options that say these thresholds."""
        given = {name: limit for name, limit in vars(self).items() if limit is not None}
        return [part for name, limit in given.items() for part in (OPTIONS[name], str(limit))]


def add_options(parser) -> None:
    """The thresholds as options of Locust's parser."""
    for name, option in OPTIONS.items():
        parser.add_argument(
            option, type=float, default=0.0, include_in_web_ui=False, help=HELP[name]
        )


def from_options(parsed) -> Thresholds:
    """The thresholds Locust was given; a worker learns them from its master once the test has
    started, so they are read each time."""
    limits = {
        name: getattr(parsed, option.removeprefix("--").replace("-", "_"), 0) or 0
        for name, option in OPTIONS.items()
    }
    return Thresholds(**{name: limit if limit > 0 else None for name, limit in limits.items()})
