"""Exact latencies for every request of the measured window, merged across Locust's processes.

The harness loads this file before the run's locustfile (`-f recorder.py,locustfile.py`), so any
locustfile gets it, and names where to write with `--loadbench-prefix PREFIX`. Locust rounds
response times above 100 ms to two significant digits; this records each one, in microseconds,
into an HdrHistogram (1 µs to 60 s, 3 significant digits) per second of the measured window:
from "spawning complete" (when Locust resets its statistics) to the stop. Workers send their
finished seconds to the master with their regular reports; the master (or the only process)
writes, every few seconds while the test runs (so the harness can follow it) and whole when it
quits:

  PREFIX.hdr            the HdrHistogram interval log (its standard text form: one line per
                        second, `start,length,max,encoded histogram`), every request's latency;
  PREFIX.intervals.csv  per second: requests, failures, good (successes that met every
                        threshold of goodput.py's options), failures by kind (`failure:<kind>`: the
                        failure's message up to its first colon, "HTTP 503", "no answer
                        (ConnectionResetError)", or the exception's type), and the counters
                        other parts of the load generator keep through `count()` (the open
                        loop's scheduled, late and dropped).

A run of generative requests (an OpenAI-compatible server, locust/sse.py) also writes, per
second, the TTFT, ITL and TPOT of its successful requests and every gap between two of their
content chunks, each in the same form as PREFIX.hdr (PREFIX.ttft.hdr, PREFIX.itl.hdr,
PREFIX.tpot.hdr, PREFIX.chunk_gap.hdr), and counts in the intervals file its
`generations` (requests answered 200 and read), `streams` among them, `streams_opened` and
`streams_closed` (generative requests sent and ended, whatever their end; those in flight when
the window opens count as opened in its first second), `output_tokens` (a failed
stream's received ones included), `input_tokens`, and where the output tokens were counted from
(`tokens_from_usage`: the server's usage; `tokens_from_tokenizer`: the matrix's tokenizer;
`tokens_from_chunks`: a token a content chunk).

Only this module writes these files; harness/latency.py and harness/generation.py read them.
"""

import csv
import math
import re
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import gevent
import goodput
from histograms import SecondHistograms, replaced
from locust import events
from locust.exception import CatchResponseError
from locust.runners import MasterRunner, WorkerRunner
from sse import Generation

REPORT_KEY = "loadbench_intervals"
COUNTERS = ("requests", "failures", "good")
FAILURE_PREFIX = "failure:"
MAX_KINDS = 16  # distinct failure kinds per process; the rest count as "other"
HTTP_ERROR = re.compile(r"^(\d{3}) ")  # Locust's own "503 Server Error: ..."
PROGRESS_S = 2.0  # how often the files are brought up to date while the test runs
# A worker reports every 3 s: the master writes only the seconds whose reports have all come.
REPORT_LAG_S = {True: 4.0, False: 1.0}
# The key of a request's context under which the built-in locustfile hands its Generation over.
GENERATION_KEY = "loadbench_generation"
# A generative request's timings, each a log of its own: PREFIX.{name}.hdr.
GENERATION_SERIES = ("ttft", "itl", "tpot", "chunk_gap")


class Recorder:
    """This process's seconds of the measured window; the master's hold every process's."""

    def __init__(self) -> None:
        self.latency = SecondHistograms()
        self.generation = {name: SecondHistograms() for name in GENERATION_SERIES}
        self.generative = False  # a generative request was recorded: its files are written
        self.counters: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.window_start: float | None = None
        self.window_end: float | None = None
        self.kinds: set[str] = set()
        self.streams_in_flight = 0  # this process's generative requests sent and not yet over

    def start(self) -> None:
        """The measured window opens once: a shaped run reaches its user counts again and
        again, and its window is the whole shape."""
        if self.window_start is not None:
            return
        for series in (self.latency, *self.generation.values()):
            series.clear()
        self.counters.clear()
        self.window_start = time.time()
        self.window_end = None
        # Those already in flight open the window's count, so that its seconds' opened less
        # closed is what was in flight (harness/generation_files.py adds them up).
        self.counters[math.floor(self.window_start)]["streams_opened"] += self.streams_in_flight

    def stop(self) -> None:
        if self.window_start is not None and self.window_end is None:
            self.window_end = time.time()

    @property
    def measuring(self) -> bool:
        return self.window_start is not None and self.window_end is None

    def record(self, response_time_ms: float, failure: str | None, good: bool) -> None:
        """One answered request; `failure` is its kind when it failed, `good` whether it was
        (locust/goodput.py)."""
        second = math.floor(time.time())
        self.latency.record(second, response_time_ms)
        self.counters[second]["requests"] += 1
        if failure is not None:
            self.counters[second]["failures"] += 1
            self.counters[second][FAILURE_PREFIX + self._kept(failure)] += 1
        elif good:
            self.counters[second]["good"] += 1

    def record_generation(self, generation: Generation, failed: bool) -> None:
        """A generative request's figures, beside its latency: its tokens whatever happened
        (what a failed stream received was sent), its timings only when it succeeded (a cut
        stream's would be of a shorter answer than asked)."""
        self.generative = True
        second = math.floor(time.time())
        counters = self.counters[second]
        counters["generations"] += 1
        counters["streams"] += int(generation.streamed)
        counters["output_tokens"] += generation.output_tokens
        counters["input_tokens"] += generation.input_tokens or 0
        counters[f"tokens_from_{generation.token_source}"] += 1
        if failed:
            return
        timings = {"ttft": generation.ttft_s, "itl": generation.itl_s, "tpot": generation.tpot_s}
        for name, seconds in timings.items():
            if seconds is not None:
                self.generation[name].record(second, seconds * 1000)
        for gap in generation.chunk_gaps_s:
            self.generation["chunk_gap"].record(second, gap * 1000)

    def _kept(self, kind: str) -> str:
        if kind not in self.kinds and len(self.kinds) >= MAX_KINDS:
            return "other"
        self.kinds.add(kind)
        return kind

    @contextmanager
    def stream(self) -> Iterator[None]:
        """A generative request from its send to its end, whatever the end: counted as opened
        and closed, per second, so that the streams in flight at each second's end are known,
        summed over every Locust process."""
        self.streams_in_flight += 1
        self.count("streams_opened")
        try:
            yield
        finally:
            self.streams_in_flight -= 1
            self.count("streams_closed")

    def count(self, counter: str, amount: int = 1) -> None:
        if self.measuring:
            self.counters[math.floor(time.time())][counter] += amount

    def take_finished(self, everything: bool) -> list[dict]:
        """The seconds that are over (all of them at the stop), encoded for the master."""
        now = math.floor(time.time())
        taken = []
        for second in self._seconds():
            if not everything and second >= now:
                continue
            generation = {name: series.take(second) for name, series in self.generation.items()}
            taken.append(
                {
                    "second": second,
                    "histogram": self.latency.take(second),
                    "generation": {name: one for name, one in generation.items() if one},
                    "counters": dict(self.counters.pop(second, {})),
                }
            )
        return taken

    def _seconds(self) -> list[int]:
        series = (self.latency, *self.generation.values())
        return sorted(set(self.counters).union(*(one.by_second for one in series)))

    def merge(self, seconds: list[dict]) -> None:
        for entry in seconds:
            second = entry["second"]
            if entry["histogram"] is not None:
                self.latency.add(second, entry["histogram"])
            for name, encoded in entry["generation"].items():
                self.generation[name].add(second, encoded)
            self.generative |= "generations" in entry["counters"]
            for counter, amount in entry["counters"].items():
                self.counters[second][counter] += amount

    def write(self, prefix: str, until: float | None = None) -> None:
        """The files as they stand: at the stop, the whole window; while the test runs, the
        seconds before `until` (whose reports have all arrived), so that the harness can
        follow the run."""
        if self.window_start is None:
            return  # the test never reached its measured window: nothing to report
        start = self.window_start
        end = until if until is not None else self.window_end or time.time()
        if end <= start:
            return
        seconds = [second for second in self._seconds() if second < end]
        self.latency.write(f"{prefix}.hdr", seconds, start, end)
        if self.generative:
            for name, series in self.generation.items():
                series.write(f"{prefix}.{name}.hdr", seconds, start, end)
        self._write_table(prefix, seconds, start, end)

    def _write_table(self, prefix: str, seconds: list[int], start: float, end: float) -> None:
        names = list(COUNTERS) + sorted(
            {name for second in seconds for name in self.counters.get(second, {})} - set(COUNTERS)
        )
        with replaced(f"{prefix}.intervals.csv") as table:
            writer = csv.writer(table)
            writer.writerow(["start_s", "length_s", *names])
            for second in seconds:
                begins, ends = max(second, start), min(second + 1, end)
                counters = self.counters.get(second, {})
                writer.writerow(
                    [f"{begins - start:.3f}", f"{ends - begins:.3f}"]
                    + [counters.get(name, 0) for name in names]
                )


RECORDER = Recorder()


def count(counter: str, amount: int = 1) -> None:
    """For other parts of the load generator: add to a per-second counter of the window."""
    RECORDER.count(counter, amount)


def failure_kind(exception: BaseException) -> str:
    """What kind of failure a request met: its message up to the first colon where a locustfile
    named it (catch_response), the HTTP status where Locust raised one, else the exception's
    type."""
    text = str(exception).strip()
    status = HTTP_ERROR.match(text)
    if status:
        return f"HTTP {status[1]}"
    if isinstance(exception, CatchResponseError) and text:
        return text.split(":", 1)[0].strip()[:60]
    return type(exception).__name__


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    """The harness's options, defined here since this file is loaded with any locustfile."""
    parser.add_argument(
        "--loadbench-prefix",
        default="",
        include_in_web_ui=False,
        help="write PREFIX.hdr and PREFIX.intervals.csv for the measured window",
    )
    goodput.add_options(parser)
    parser.add_argument(
        "--loadbench-request",
        default="{}",
        include_in_web_ui=False,
        help="the matrix's request block, as JSON, for the built-in locustfile",
    )
    parser.add_argument(
        "--loadbench-images",
        default="",
        include_in_web_ui=False,
        help="a folder of images for the built-in locustfile (default: its sample photos)",
    )


def _close_the_window_on_sigint() -> None:
    """The harness stops a run early by SIGINT (harness/run/locust.py). Locust then writes its
    HTML report before anything else, its event loop held meanwhile (a tenth of a second and
    more): the window closes at the signal, so that what the run could not do once asked to stop
    (an open loop's arrivals due while the report was written) is not counted against it."""
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        return  # ignored, or the default that ends the process: no stop to measure up to

    def _stopping(signum, frame) -> None:
        RECORDER.stop()
        previous(signum, frame)

    signal.signal(signal.SIGINT, _stopping)


@events.init.add_listener
def _attach(environment, **_kwargs) -> None:
    runner = environment.runner
    prefix = environment.parsed_options.loadbench_prefix if environment.parsed_options else ""
    # A worker records whenever it runs: it cannot know what its master was asked until the
    # master's first message, and its seconds cost the master nothing it does not want.
    if not prefix and not isinstance(runner, WorkerRunner):
        return

    @environment.events.spawning_complete.add_listener
    def _window_opens(user_count: int, **_kw) -> None:
        RECORDER.start()

    if not isinstance(runner, WorkerRunner):
        _close_the_window_on_sigint()

    @environment.events.test_stopping.add_listener
    def _window_closes(**_kw) -> None:
        RECORDER.stop()
        if not isinstance(runner, WorkerRunner):
            # The harness stops a run early by SIGINT (harness/run/locust.py); one that races
            # the run's own end would interrupt this process's last writes (Locust then dies
            # of it, exit -2), and the run stops anyway.
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    if not isinstance(runner, MasterRunner):

        @environment.events.request.add_listener
        def _each_request(response_time, exception, context=None, **_kw) -> None:
            if RECORDER.measuring:
                kind = None if exception is None else failure_kind(exception)
                generation = (context or {}).get(GENERATION_KEY)
                thresholds = goodput.from_options(environment.parsed_options)
                good = kind is None and thresholds.is_good(response_time, generation)
                RECORDER.record(response_time, kind, good)
                if generation is not None:
                    RECORDER.record_generation(generation, failed=kind is not None)

    if isinstance(runner, WorkerRunner):

        @environment.events.report_to_master.add_listener
        def _send(client_id, data, **_kw) -> None:
            data[REPORT_KEY] = RECORDER.take_finished(everything=not RECORDER.measuring)

        return

    if isinstance(runner, MasterRunner):

        @environment.events.worker_report.add_listener
        def _receive(client_id, data, **_kw) -> None:
            RECORDER.merge(data.get(REPORT_KEY, []))

    lag_s = REPORT_LAG_S[isinstance(runner, MasterRunner)]

    def _progress() -> None:
        while RECORDER.measuring:
            RECORDER.write(prefix, until=math.floor(time.time() - lag_s))
            gevent.sleep(PROGRESS_S)

    @environment.events.spawning_complete.add_listener
    def _follow(user_count: int, **_kw) -> None:
        gevent.spawn(_progress)

    @environment.events.quitting.add_listener
    def _write(**_kw) -> None:
        RECORDER.stop()
        RECORDER.write(prefix)
