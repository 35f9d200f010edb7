"""How a capacity probe runs: at a flat Poisson rate for as long as its verdict needs (probe_time
"auto") or for probe_time; as the search's first look, a ramp of rising rate; as its last, the
answer's rate held for the matrix's run_time. Each makes the Probe the search records
(harness/search.py decides which, and at what rate)."""

import math
from dataclasses import replace
from pathlib import Path

from harness.capacity import Probe
from harness.latency import IntervalLog
from harness.matrix import Matrix, RunPoint, ShapedLoad, Slo, parse_run_time
from harness.record import RunRecord
from harness.record.names import HTML_SUFFIX
from harness.run import Enough
from harness.run.recorded import log_so_far
from harness.search_fit import INSIDE, OUTSIDE, RateAt, ramp_turn
from harness.session import ScaleSession
from harness.verdict import CLEARLY, probe_of, until_known

POISSON = "poisson"  # the capacity is the highest Poisson rate, whatever the sweep's arrival
AUTO = "auto"  # capacity.probe_time: each probe as long as its verdict needs
# An unsure probe's length: enough requests for its p95 to rest on AUTO_REQUESTS / 20 of them
# beyond it, within AUTO_S seconds (a settled one ends sooner).
AUTO_REQUESTS = 320
AUTO_S = (5, 40)
# A last look that counts a short probe's seconds measures at least this share of run_time
# itself: time for the slow spells it is for to come.
OWN_LOOK = 0.5
SAME_S = 0.01  # a probe's files measured the seconds it recorded, to the log's own rounding
# A probe lasts long enough for its Poisson arrivals to hold min_requests but 1 time in 100 (a
# count falls this many standard deviations under its mean that often).
SHORT_Z = 2.33
RAMP_S = 10
RAMP_FROM, RAMP_TO = 0.2, 1.5  # the ramp's rates, as shares of the search's estimate
RAMP_SHAPE = "capacity-ramp"


def flat_probe(
    session: ScaleSession,
    rate: float,
    auto: bool,
    last_look: bool = False,
    earlier: Probe | None = None,
) -> Probe:
    """One probe at a flat rate: as long as its verdict needs (auto), or probe_time; the last
    look at the search's answer for the matrix's whole run_time, unless settled outside. A look
    at a rate a short probe measured (`earlier`, its files still there) counts that probe's
    seconds before its own, measuring only the rest of run_time itself (OWN_LOOK of it at
    least), as the rate's second run (`{models}_rate{R}_r2`, beside the probe's files). Each
    runs long enough to hold min_requests at its rate (`holding_seconds`): shorter, it would be
    invalid whatever the stack did."""
    matrix, slo, criterion = session.matrix, session.matrix.slo, session.matrix.capacity.criterion
    counted = _log_of(session, earlier) if earlier is not None else None
    if last_look:
        run_time = matrix.run_time
        if counted is not None:
            look_s = parse_run_time(matrix.run_time)
            run_time = f"{math.ceil(max(look_s - counted.window_s, OWN_LOOK * look_s))}s"
    else:
        run_time = f"{auto_seconds(rate)}s" if auto else matrix.capacity.probe_time
    holding = holding_seconds(rate, matrix.min_requests)
    if parse_run_time(run_time) < holding:
        run_time = f"{holding}s"
    point = matrix.open_point(session.command.target, session.models, rate, run_time, POISSON)
    # A short probe ends once settled either way; the last look only once settled outside
    # (within, it is held whole: the slow spells it is for may come late).
    settle = () if not auto else (OUTSIDE,) if last_look else (INSIDE, OUTSIDE)
    enough = until_known(slo, criterion, point.run_time_s, matrix.min_requests, settle)
    record = session.run(point, repeat=1 if counted is None else 2, enough=enough, keep_warm=True)
    probe = probe_of(slo, criterion, record, _prefix(session, record), counted)
    return replace(probe, last_look=last_look)


def counted_before(probes: list[Probe], rate: float) -> Probe | None:
    """The short probe at `rate` whose seconds a last look there counts before its own: the
    latest valid one (the same stack at the same rate: a search resumes on its setup only)."""
    same = [p for p in probes if p.rate == rate and p.valid and not p.ramp and not p.last_look]
    return same[-1] if same else None


def _log_of(session: ScaleSession, probe: Probe) -> IntervalLog | None:
    """A probe's latency log, from its files; None where they are gone, or are another run's
    (a sweep's at the same rate, since)."""
    stem = probe.report.removesuffix(HTML_SUFFIX)
    log = log_so_far(session.command.reports / session.command.target / stem)
    if log is None or probe.seconds is None or abs(log.window_s - probe.seconds) > SAME_S:
        return None
    return log


def look_seconds(matrix: Matrix) -> float | None:
    """How long the last look at a search's answer lasts: the matrix's run_time with "auto"
    probes; None with a fixed probe_time, whose probes are all as long as it already."""
    return parse_run_time(matrix.run_time) if matrix.capacity.probe_time == AUTO else None


def auto_seconds(rate: float) -> int:
    """An auto probe's whole length at `rate`: AUTO_REQUESTS requests, within AUTO_S."""
    return min(max(math.ceil(AUTO_REQUESTS / rate), AUTO_S[0]), AUTO_S[1])


def holding_seconds(rate: float, min_requests: int) -> int:
    """How long a run at a Poisson `rate` takes to hold `min_requests` arrivals but 1 time in
    100: the mean count m with (m - min_requests) / sqrt(m) = SHORT_Z."""
    root = SHORT_Z / 2 + math.sqrt(SHORT_Z**2 / 4 + min_requests)
    return math.ceil(root**2 / rate)


def ramp_probe(session: ScaleSession, top: float) -> Probe:
    """The search's first look: the rate rising from RAMP_FROM to RAMP_TO of the estimate over
    RAMP_S seconds, and the rate where its p95 turned over the SLO."""
    point = ramp_point(session.matrix, session.command.target, session.models, top)
    record = session.run(point, enough=turned(session.matrix.slo), keep_warm=True)
    report = f"{record.name.stem}{HTML_SUFFIX}"
    log = log_so_far(_prefix(session, record))
    if record.status != "ok" or record.latency is None or log is None:
        return Probe(top, None, None, False, False, report, (record.failure_reason or "failed",))
    rate_at = RateAt(top * RAMP_FROM / RAMP_TO, top, RAMP_S)
    return Probe(
        rate=top,
        p95_ms=record.latency.p95_ms,
        failure_ratio=record.latency.failure_ratio,
        valid=True,  # its figures judge nothing: only where it turned is read
        within=False,
        report=report,
        ramp=True,
        turn_rps=ramp_turn(log, rate_at, session.matrix.slo.p95_ms),
    )


def turned(slo: Slo) -> Enough:
    """For a ramp: a reason to stop it once its last second's p95 is CLEARLY over the SLO's
    (what comes after only piles onto the queue)."""

    def check(prefix: Path) -> str | None:
        log = log_so_far(prefix)
        if log is None or len(log.intervals) < 2:
            return None
        last = log.intervals[-1]
        p95 = log.span(last.start_s, last.start_s + last.length_s).p95_ms
        if p95 is None or p95 <= CLEARLY * slo.p95_ms:
            return None
        return f"turned: p95 {p95:.0f} ms after {log.window_s:.0f} s"

    return check


def ramp_point(matrix: Matrix, target: str, models: int, top: float) -> RunPoint:
    low = top * RAMP_FROM / RAMP_TO
    load = ShapedLoad(
        RAMP_SHAPE,
        phases=((low, 0.0, 0.0), (top, float(RAMP_S), 0.0)),
        seconds=float(RAMP_S),
        arrival=POISSON,
        max_in_flight=matrix.max_in_flight,
    )
    return RunPoint(target, models, load, f"{RAMP_S}s")


def _prefix(session: ScaleSession, record: RunRecord) -> Path:
    """Where a finished run's files lie, less their suffix."""
    return record.name.path(session.command.reports, "")
