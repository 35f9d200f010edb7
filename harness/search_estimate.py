"""Where a capacity search starts: an estimate of the most the stack can serve at a scale. The
best valid closed-loop throughput at this scale and stack setup (harness/stack_setup.py), else
the in-process ceiling where it describes the stack, else a short closed-loop burst
(harness/run/burst.py). (A tune seeds the search with a capacity it measured instead:
harness/tuning.py.)"""

from pathlib import Path

from harness.capacity import Estimate
from harness.results import Run, gather
from harness.run import served_model
from harness.run.burst import BURST_S, burst_throughput, burst_users
from harness.session import ScaleSession
from harness.stack_setup import StackSetup

UNANSWERED_RPS = 10.0  # where a search starts when a burst got no answer at all


def closed_loop_estimate(
    runs: list[Run], target: str, models: int, setup: StackSetup
) -> Estimate | None:
    """The best valid closed-loop throughput at this scale, among the runs of this target on
    this setup only: another backend's, or other settings', is another stack's."""
    closed = [
        run.stats.rps
        for run in runs
        if run.kind == "closed"
        and run.counts
        and (run.target, run.models, run.setup) == (target, models, setup)
    ]
    return Estimate(max(closed), "the best closed-loop run at this scale") if closed else None


def estimate_at_scale(session: ScaleSession, reports: Path) -> Estimate:
    """The most the stack can serve at this scale, from what says it best."""
    target, models = session.command.target, session.models
    swept = closed_loop_estimate(gather(reports).runs, target, models, session.command.setup)
    if swept is not None:
        return swept
    stack = session.up()  # measures the ceiling first, where the matrix asks for it
    ceiling = session.ceiling
    if ceiling is not None and ceiling.describes(served_model(session.ready)):
        return Estimate(models * ceiling.images_per_s, "the replicas' in-process ceiling")
    rps = burst_throughput(session.matrix, stack, target, models)
    if rps is None:
        return Estimate(UNANSWERED_RPS, "nothing: a burst got no answer")
    users = burst_users(session.matrix, models)
    return Estimate(rps, f"a closed-loop burst of {users} users for {BURST_S} s")
