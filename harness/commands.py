"""What each invoke task does, so tasks.py only parses options.

Each command returns the process exit code or raises CommandError; bad options and bad
matrices give exit code 2 before anything starts. The entry points' locations come from the
environment here and are passed down: REPORTS (default reports/), STACK_DIR (default .stack/).
"""

import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from harness import REPO_ROOT
from harness.analysis.comparison import regressions
from harness.analysis.figures import slo_breach
from harness.analysis.formatting import describe_breach, describe_slo
from harness.analysis.tune import describe_best, describe_ties
from harness.ceiling import cached_ceiling
from harness.doctor import gpu_checks
from harness.interrupts import interruptible
from harness.matrix import (
    ClosedLoad,
    Matrix,
    MatrixError,
    RunPoint,
    load_matrix,
    parse_run_time,
)
from harness.pages.compare import comparison_of, terminal_table, write_compare_page
from harness.pages.index import build_index
from harness.record.names import RECORD_SUFFIX, TUNE_FILE, RunName
from harness.results import gather
from harness.run import execute_run
from harness.search import search_at_scale
from harness.session import Command, at_each_scale
from harness.stack import (
    StackError,
    UnknownBackend,
    Unusable,
    backend_class,
    bring_down,
    bring_up,
    load_stack,
    resolve_backend,
    wait_ready,
)
from harness.stack.lifecycle import model_env
from harness.sweep import sweep_at_scale, sweep_plan
from harness.tune.file import read_tune, tune_path
from harness.tuning import tune_scales

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# The gate's exit codes: distinct from a failed run (1) and bad usage (2); 99 as k6's thresholds.
EXIT_SLO_BROKEN = 99
EXIT_REGRESSION = 98


class CommandError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def reports_dir() -> Path:
    return Path(os.environ.get("REPORTS") or REPO_ROOT / "reports")


def stack_dir() -> Path:
    return Path(os.environ.get("STACK_DIR") or REPO_ROOT / ".stack")


def _usage(option: str, problem: str, allowed: str) -> CommandError:
    return CommandError(f"{option}: {problem}; allowed: {allowed}", EXIT_USAGE)


def _matrix() -> Matrix:
    try:
        return load_matrix()
    except MatrixError as error:
        raise CommandError(str(error), EXIT_USAGE) from None


def _target(matrix: Matrix, target: str) -> str:
    try:
        return matrix.check_target(target or None)
    except MatrixError as error:
        raise CommandError(str(error), EXIT_USAGE) from None


def _backend(matrix: Matrix, backend: str, target: str) -> str:
    """The backend to use; one that cannot run here stops everything before it starts."""
    try:
        chosen = resolve_backend(backend or matrix.backend)
        backend_class(chosen).preflight(matrix.stack, target)
        return chosen
    except UnknownBackend as error:
        raise CommandError(f"--backend: {error}", EXIT_USAGE) from None
    except Unusable as error:
        raise CommandError(f"backend {chosen}: {error}", EXIT_USAGE) from None


def _gpu_ready(matrix: Matrix, target: str, backend: str) -> None:
    """A GPU sweep starts only when everything it needs is there (`inv doctor`)."""
    if target != "gpu":
        return
    missing = [check for check in gpu_checks(matrix, backend) if not check.ok]
    if missing:
        lines = "\n".join(f"  {check.what}: {check.said}" for check in missing)
        raise CommandError(f"the gpu target cannot run here:\n{lines}", EXIT_USAGE)


def _at_least_one(option: str, value: int) -> int:
    if value < 1:
        raise _usage(option, f"{value} is out of range", "integers >= 1")
    return value


def _command(models: int, target: str, backend: str) -> tuple[Command, list[int]]:
    """What every measuring command settles first (sweep, capacity, tune): the matrix, the
    scales, the target and the backend, all checked; bad usage exits 2 with nothing started."""
    matrix = _matrix()
    scales = list(matrix.models_list) if models == 0 else [_at_least_one("--models", models)]
    chosen_target = _target(matrix, target)
    chosen_backend = _backend(matrix, backend, chosen_target)
    _gpu_ready(matrix, chosen_target, chosen_backend)
    command = Command(matrix, chosen_target, chosen_backend, reports_dir(), stack_dir())
    return command, scales


def guarded(command: Callable[[], int]) -> int:
    """Run a command with SIGTERM as Ctrl-C; stack failures become exit code 1. Anything else
    that breaks is the harness's own bug: its traceback is kept in STACK_DIR, and the terminal
    gets one line saying where (the stack is down by then: every path takes it down)."""
    try:
        with interruptible():
            return command()
    except StackError as error:
        raise CommandError(f"stack: {error}", 1) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted; the stack is down", EXIT_INTERRUPTED) from None
    except Exception as error:
        stack_dir().mkdir(parents=True, exist_ok=True)
        where = stack_dir() / "harness-error.log"
        where.write_text(traceback.format_exc())
        raise CommandError(
            f"the harness broke: {type(error).__name__}: {error} (traceback in {where})", 1
        ) from None


def up(models: int, target: str, backend: str) -> int:
    command, _ = _command(_at_least_one("--models", models), target, backend)

    def start() -> int:
        matrix = command.matrix
        bring_up(matrix.stack, command.target, models, command.backend, command.state_dir)
        print(f"stack up at {matrix.host} ({command.backend}); `inv down` takes it down")
        return 0

    return guarded(start)


def down() -> int:
    stack = load_stack(stack_dir())
    if stack is None:
        print("no stack is up")
        return 0

    def stop() -> int:
        bring_down(stack, stack_dir())
        return 0

    return guarded(stop)


def run(models: int, users: int, spawn_rate: float, run_time: str, target: str) -> int:
    """One Locust run against the stack `inv up` brought up."""
    matrix = _matrix()
    stack = load_stack(stack_dir())
    if stack is None:
        raise CommandError("no stack is up: run `inv up --models N` first", EXIT_USAGE)
    if models and models != stack.models:
        raise _usage(
            "--models", f"the stack is up with {stack.models}, not {models}", f"{stack.models}"
        )
    if target and target != stack.target:
        raise _usage("--target", f"the stack is up for {stack.target}, not {target}", stack.target)
    _at_least_one("--users", users)
    if not spawn_rate > 0:
        raise _usage("--spawn-rate", f"{spawn_rate:g} is out of range", "numbers > 0")
    if run_time:
        try:
            if parse_run_time(run_time) == 0:
                raise ValueError(run_time)
        except ValueError:
            raise _usage("--run-time", f"{run_time!r} is not valid", "e.g. 20, 30s, 5m") from None
    point = RunPoint(
        stack.target, stack.models, ClosedLoad(users, spawn_rate), run_time or matrix.run_time
    )

    def measure() -> int:
        ready = wait_ready(stack, matrix.stack)
        # Never measured with the stack up (it would compete for the cores): only a cached one.
        ceiling = cached_ceiling(model_env(matrix.stack, stack.target)) if matrix.ceiling else None
        record = execute_run(matrix, point, stack, reports_dir(), ready, ceiling)
        build_index(reports_dir(), matrix)
        print(f"{record.status}: {record.failure_reason or 'see ' + str(reports_dir())}")
        return 0 if record.status == "ok" else 1

    return guarded(measure)


def slo_broken(runs: list, matrix: Matrix, target: str, scales: list[int]) -> list[str]:
    """The valid runs of this sweep that break the SLO, named with their figures: its own points,
    not the capacity search's probes beside them (above the capacity they break it by design)."""
    swept = {RunName.of(point, repeat).stem for point, repeat in sweep_plan(matrix, target, scales)}
    broken = []
    for run in runs:
        if run.target != target or run.stem not in swept or not run.counts:
            continue
        breach = slo_breach(matrix.slo, run.stats)
        if breach is not None:
            broken.append(f"{run.target}/{run.stem} ({describe_breach(breach)})")
    return broken


def sweep(models: int, target: str, backend: str, force: bool, gate: bool = False) -> int:
    """Every point at one scale, or at every scale of the matrix when models is 0."""
    command, scales = _command(models, target, backend)
    if not sweep_plan(command.matrix, command.target, scales):
        raise CommandError(
            f"{command.matrix.source.name}: the matrix has no run to sweep; allowed:"
            " num_users_list with spawn_rate_list, arrival_rate_list or shapes (docs/matrix.md)",
            EXIT_USAGE,
        )

    def measure() -> int:
        results = at_each_scale(command, scales, lambda session: sweep_at_scale(session, force))
        if not all(results):
            print("some runs failed; see their .log files and reports/index.html", file=sys.stderr)
            return 1
        matrix = command.matrix
        broken = slo_broken(gather(command.reports).runs, matrix, command.target, scales)
        if (gate or matrix.slo.gate) and broken:
            print(
                f"SLO ({describe_slo(matrix.slo)}) broken by: {'; '.join(broken)}", file=sys.stderr
            )
            return EXIT_SLO_BROKEN
        return 0

    return guarded(measure)


def capacity(models: int, target: str, backend: str, force: bool) -> int:
    """The capacity search at one scale, or at every scale of the matrix when models is 0."""
    command, scales = _command(models, target, backend)

    def measure() -> int:
        found = at_each_scale(command, scales, lambda session: search_at_scale(session, force))
        build_index(command.reports, command.matrix)
        return 1 if any(scale.note is not None for scale in found) else 0

    return guarded(measure)


def tune(models: int, target: str, backend: str, force: bool) -> int:
    """The tune at one scale, or at every scale of the matrix when models is 0."""
    command, scales = _command(models, target, backend)
    if command.matrix.tune is None:
        raise CommandError(
            f"{command.matrix.source.name}: tune: missing; allowed: a tune block naming the"
            ' settings to try, e.g. {"env": {"MAX_BATCH": [1, 4, 16]}} (docs/tune.md)',
            EXIT_USAGE,
        )

    def measure() -> int:
        tune_scales(command, scales, force)
        build_index(command.reports, command.matrix)
        best = read_tune(tune_path(command.reports, command.target))
        currency = _currency(command.matrix)
        print(f"tune: {describe_best(best, currency) if best else 'nothing tried'}", flush=True)
        if best is not None and (ties := describe_ties(best, currency)):
            print(f"tune: {ties}", flush=True)
        return 0 if best is not None and best.best is not None else 1

    return guarded(measure)


def _currency(matrix: Matrix) -> str:
    return matrix.cost.currency if matrix.cost else "$"


def compare(baseline: str, candidate: str, gate: bool, threshold: float) -> int:
    """Two sweeps' reports side by side: compare.html in the candidate's folder, a table here."""
    folders = {"BASELINE": Path(baseline), "CANDIDATE": Path(candidate)}
    for label, folder in folders.items():
        if not folder.is_dir() or not any(
            any(folder.glob(f"*/{pattern}")) for pattern in (f"*{RECORD_SUFFIX}", TUNE_FILE)
        ):
            raise _usage(
                label, f"{folder} holds no run", "a reports folder a sweep, search or tune wrote"
            )
    matrix = _matrix()
    gating = gate or matrix.slo.gate
    limit = threshold if threshold > 0 else matrix.regression_threshold
    comparison = comparison_of(folders["BASELINE"], folders["CANDIDATE"])
    print(terminal_table(comparison))
    page = write_compare_page(folders["BASELINE"], folders["CANDIDATE"], comparison, limit)
    print(f"compare: {page}")
    worse = regressions(comparison, limit)
    if not worse:
        return 0
    said = "; ".join(
        f"{point.named}: {metric.name} {metric.change:+.1%}" for point, metric in worse
    )
    print(f"significantly worse by more than {limit:.0%}: {said}", file=sys.stderr)
    return EXIT_REGRESSION if gating else 0


def doctor(backend: str) -> int:
    """What a GPU sweep needs, one line each; exit 2 when something is missing."""
    matrix = _matrix()
    try:
        chosen_backend = resolve_backend(backend or matrix.backend)
    except UnknownBackend as error:
        raise CommandError(f"--backend: {error}", EXIT_USAGE) from None
    checks = gpu_checks(matrix, chosen_backend)
    for check in checks:
        print(f"{'ok' if check.ok else 'MISSING'}  {check.what}: {check.said}")
    return 0 if all(check.ok for check in checks) else EXIT_USAGE


def index() -> int:
    matrix = _matrix()

    def render() -> int:
        print(f"index: {build_index(reports_dir(), matrix)}")
        return 0

    return guarded(render)


def setup() -> int:
    """Export the matrix's model into the cache, so workers start without exporting it."""
    env = {**os.environ, **_matrix().stack.env}
    return subprocess.run(
        [sys.executable, "-m", "services.model.prepare"], env=env, cwd=REPO_ROOT, check=False
    ).returncode


def clean(reports: bool) -> int:
    """Take any stack down and remove what the tools generated; reports only when asked."""
    down()
    generated = [stack_dir(), REPO_ROOT / ".nox", REPO_ROOT / ".pytest_cache"]
    if reports:
        generated.append(reports_dir())
    for path in generated:
        if Path(path).exists():
            shutil.rmtree(path)
            print(f"removed {path}")
    return 0
