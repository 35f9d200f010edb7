"""A capacity probe's verdict: while it runs, whether it may stop (it has clearly broken the SLO,
or the confidence bound of harness/search_fit.py has settled it), and once it has run, the Probe
the search records (within the SLO or not, and whether the bound said so)."""

from pathlib import Path

from harness.analysis.figures import slo_breach
from harness.capacity import Probe
from harness.latency import IntervalLog, Latency, joined
from harness.matrix import Slo
from harness.record import RunRecord
from harness.record.names import HTML_SUFFIX
from harness.run import Enough
from harness.run.recorded import log_so_far
from harness.search_fit import (
    INSIDE,
    OUTSIDE,
    SETTLE_S,
    UNSURE_CONFIDENCE,
    can_lean_inside,
    good_by_second,
    good_so_far,
    settled,
    settled_together,
)

# A probe has clearly broken the SLO once, after EARLY_SHARE of its time (EARLY_S at least)
# and EARLY_REQUESTS requests, its p95 so far is CLEARLY times the SLO's, or its failures so far
# are: an overloaded queue only grows, so the rest of the probe could only be worse.
EARLY_S = 3.0
EARLY_SHARE = 0.25
EARLY_REQUESTS = 50
CLEARLY = 1.5
EARLY_MARGIN = 1.25


def good_share(slo: Slo, criterion: str) -> float:
    """The share of requests that must be good: 95 % within p95_ms, or min_goodput."""
    return slo.min_goodput if criterion == "goodput" else 0.95


def good_latency_ms(slo: Slo, criterion: str) -> float | None:
    """What makes a request good: within p95_ms; None: the recorder's goodput counter."""
    return None if criterion == "goodput" else slo.p95_ms


def until_known(
    slo: Slo, criterion: str, probe_s: float, min_requests: int, settle: tuple[str, ...]
) -> Enough:
    """For a probe: a reason to stop it now, else None. It stops once it has clearly broken
    the SLO; once the bound has settled its p95 under the SLO's ÷ EARLY_MARGIN, where `settle`
    holds INSIDE, or over its × EARLY_MARGIN, where it holds OUTSIDE (goodput: its share either
    way). The margin is for what a short window misses: a queue near its capacity swings over
    seconds (one long busy period), so a few seconds without one would settle a rate over the
    capacity inside."""

    def check(prefix: Path) -> str | None:
        log = log_so_far(prefix)
        if log is None:
            return None
        clearly = _clearly_outside(
            slo, probe_s, log.window_s, log.whole(), log.counter("dropped"), min_requests
        )
        if clearly or not settle or log.window_s < SETTLE_S:
            return clearly
        latency_ms, share = good_latency_ms(slo, criterion), good_share(slo, criterion)
        for verdict, margin in ((INSIDE, 1 / EARLY_MARGIN), (OUTSIDE, EARLY_MARGIN)):
            if verdict not in settle:
                continue
            good, attempts = good_so_far(log, latency_ms * margin if latency_ms else None)
            if attempts >= min_requests and settled(good, attempts, share) == verdict:
                return f"settled {verdict} the SLO after {log.window_s:.0f} s"
        return None

    return check


def _clearly_outside(
    slo: Slo, probe_s: float, window_s: float, so_far: Latency, dropped: int, min_requests: int
) -> str | None:
    """Stopped sooner, the probe would be invalid: it holds `min_requests` first."""
    attempts = so_far.requests + dropped
    if window_s < max(EARLY_S, EARLY_SHARE * probe_s) or attempts < max(
        EARLY_REQUESTS, min_requests
    ):
        return None
    failures = (so_far.failures + dropped) / attempts
    seconds = f"after {window_s:.0f} s"
    if so_far.p95_ms is not None and so_far.p95_ms > CLEARLY * slo.p95_ms:
        return f"p95 {so_far.p95_ms:.0f} ms {seconds}, over {CLEARLY:g}× the SLO's"
    if failures > CLEARLY * max(slo.max_failure_ratio, 0.01):
        return f"{failures:.0%} failed {seconds}, over {CLEARLY:g}× the SLO's share"
    return None


def probe_of(
    slo: Slo, criterion: str, record: RunRecord, prefix: Path, earlier: IntervalLog | None = None
) -> Probe:
    """The probe a finished run makes: within the SLO where the bound, on the requests its
    seconds' spread leaves independent, settles it inside, or, unsure, where the bound at
    UNSURE_CONFIDENCE on its requests as counted leans inside (by its own figures where it has
    too few requests for that), and its failures within the SLO's share. `earlier`: the log
    of an earlier run at the same rate whose seconds it counts before its own, as one window
    (harness/probing.py's last look): its verdict, p95, failures, requests and seconds are
    both runs'."""
    report = f"{record.name.stem}{HTML_SUFFIX}"
    stats = record.latency
    if record.status != "ok" or stats is None:
        reason = record.failure_reason or "failed"
        return Probe(record.name.load.rate, None, None, False, False, report, (reason,))
    log = log_so_far(prefix)
    p95_ms, failure_ratio, judged, measured_s = (
        stats.p95_ms,
        stats.failure_ratio,
        _failure_ratio(record, stats),
        record.measured_s,
    )
    if log is not None and earlier is not None:
        log = joined(earlier, log)
        whole = log.whole()
        p95_ms, measured_s = whole.p95_ms, log.window_s
        failure_ratio = judged = _failed_share(
            whole.failures, whole.requests, log.counter("dropped")
        )
    latency_ms = good_latency_ms(slo, criterion)
    good, attempts = good_so_far(log, latency_ms) if log else (None, None)
    seconds = good_by_second(log, latency_ms) if log else []
    share = good_share(slo, criterion)
    verdict = settled_together(seconds, share) if log else None
    # Its own figures where the files count no requests, or too few for the bound to lean
    # inside even were all good (a short probe at a low rate: a slow LLM's few streams).
    within = within_slo(slo, criterion, stats)
    if log is not None and (verdict or can_lean_inside(attempts, share)):
        leaning = verdict or settled(good, attempts, share, UNSURE_CONFIDENCE)
        within = leaning == INSIDE and (criterion == "goodput" or judged <= slo.max_failure_ratio)
    return Probe(
        rate=record.name.load.rate,
        p95_ms=p95_ms,
        failure_ratio=failure_ratio,
        valid=record.valid,
        within=within,
        report=report,
        invalid_reasons=tuple(record.invalid_reasons or ()),
        rps=(stats.requests - stats.failures) / stats.seconds if stats.seconds else None,
        ended_early=record.ended_early,
        goodput=stats.goodput,
        attempts=attempts,
        good_requests=good,
        settled=verdict in (INSIDE, OUTSIDE),
        seconds=measured_s,
    )


def _failure_ratio(record: RunRecord, stats: Latency) -> float:
    """Its failures, and arrivals it dropped, among its requests: the requests still out when a
    settled probe was stopped early are not failures, only cut short."""
    if not record.ended_early:
        return stats.failure_ratio
    dropped = record.schedule.dropped if record.schedule is not None else 0
    return _failed_share(stats.failures, stats.requests, dropped)


def _failed_share(failures: int, requests: int, dropped: int) -> float:
    """Failures and dropped arrivals among the requests and dropped arrivals."""
    attempts = requests + dropped
    return (failures + dropped) / attempts if attempts else 0.0


def within_slo(slo: Slo, criterion: str, stats: Latency) -> bool:
    """Whether a probe's own figures kept the SLO, by the search's criterion."""
    if criterion == "goodput":
        return stats.goodput is not None and stats.goodput >= slo.min_goodput
    return slo_breach(slo, stats) is None
