"""nox sessions: sweep(models=N) and capacity(models=N) for each N of the matrix, the tune,
tests, lint, the benchmarks.

Run with the project's own nox (.venv/bin/nox, as the Makefile does): every session but one runs
in that virtualenv (venv_backend "none"), so it installs nothing and starts in seconds; the rivals
benchmark makes a virtualenv of its own, so LitServe and Ray Serve stay out of the project's.
Arguments after `--` go to the command: `nox -s "sweep(models=2)" -- --target gpu --force`.
"""

import sys

import nox

try:
    from harness.matrix import MatrixError, load_matrix
    from tools.lock import LOCK
except ModuleNotFoundError as missing:
    sys.exit(f"noxfile.py: {missing}: run the project's nox: `make setup`, then .venv/bin/nox")

nox.options.sessions = ["lint", "tests"]

# Time a sweep gets after Ctrl-C to take its stack down before nox stops waiting for it.
TEARDOWN_GRACE_S = 120.0
# The serving stacks ours is measured against, at the versions issue 13's figures came from.
RIVALS = ("litserve==0.2.19", "ray[serve]==2.60.0")


def _requested_target(argv: list[str]) -> str | None:
    """The `--target` passed through after `--`, if any."""
    posargs = argv[argv.index("--") + 1 :] if "--" in argv else []
    for position, arg in enumerate(posargs):
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
        if arg == "--target" and position + 1 < len(posargs):
            return posargs[position + 1]
    return None


# A wrong matrix, or a target this machine cannot run, stops nox before any session starts, with
# exit code 2: a failing session could only exit 1.
try:
    MATRIX = load_matrix()
    MATRIX.check_target(_requested_target(sys.argv))
except MatrixError as error:
    print(error, file=sys.stderr)
    sys.exit(2)


@nox.session(venv_backend="none", default=False)
@nox.parametrize("models", MATRIX.models_list)
def sweep(session: nox.Session, models: int) -> None:
    """Stack up at this many replicas, every run of the matrix (closed, open loop), stack down."""
    _invoke(session, "sweep", models)


@nox.session(venv_backend="none", default=False)
@nox.parametrize("models", MATRIX.models_list)
def capacity(session: nox.Session, models: int) -> None:
    """Stack up at this many replicas, find the highest Poisson rate within the SLO, stack down."""
    _invoke(session, "capacity", models)


@nox.session(venv_backend="none", default=False)
def tune(session: nox.Session) -> None:
    """Each configuration of the matrix's tune block at every scale (one: -- --models N), its
    capacity; one session, since a configuration's scales share its stack where it rescales."""
    _invoke(session, "tune")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The test suite (pytest); pass options after --, e.g. -- -m 'not slow'."""
    session.run(sys.executable, "-m", "pytest", *session.posargs)


@nox.session(venv_backend="none", default=False)
def benchmark(session: nox.Session) -> None:
    """Figures of the stack itself (benchmarks/stack_benchmark.py), not pass/fail."""
    session.run(sys.executable, "benchmarks/stack_benchmark.py", *session.posargs)


@nox.session(name="index-benchmark", venv_backend="none", default=False)
def index_benchmark(session: nox.Session) -> None:
    """The index page with 1,000 runs (benchmarks/index_benchmark.py): render, size, load."""
    session.run(sys.executable, "benchmarks/index_benchmark.py", *session.posargs)


@nox.session(name="search-benchmark", venv_backend="none", default=False)
def search_benchmark(session: nox.Session) -> None:
    """The capacity search's time to an answer and its error (benchmarks/search_benchmark.py)."""
    session.run(sys.executable, "benchmarks/search_benchmark.py", *session.posargs)


@nox.session(name="generator-benchmark", venv_backend="none", default=False)
def generator_benchmark(session: nox.Session) -> None:
    """The load generator's own floor at a few rates (benchmarks/generator_benchmark.py)."""
    session.run(sys.executable, "benchmarks/generator_benchmark.py", *session.posargs)


@nox.session(name="stream-benchmark", venv_backend="none", default=False)
def stream_benchmark(session: nox.Session) -> None:
    """The streams one Locust process reads well (benchmarks/stream_benchmark.py)."""
    session.run(sys.executable, "benchmarks/stream_benchmark.py", *session.posargs)


@nox.session(name="instrument-benchmark", venv_backend="none", default=False)
def instrument_benchmark(session: nox.Session) -> None:
    """The harness's own CPU during a run, per backend (benchmarks/instrument_benchmark.py)."""
    session.run(sys.executable, "benchmarks/instrument_benchmark.py", *session.posargs)


@nox.session(name="rivals-benchmark", default=False)
def rivals_benchmark(session: nox.Session) -> None:
    """Ours against LitServe and Ray Serve on the same cores (benchmarks/rivals_benchmark.py)."""
    session.install("-c", str(LOCK), "-e", ".[dev]", *RIVALS)
    session.run("python", "benchmarks/rivals_benchmark.py", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the repository."""
    session.run(sys.executable, "-m", "ruff", "check", *session.posargs)
    session.run(sys.executable, "-m", "ruff", "format", "--check", *session.posargs)


def _invoke(session: nox.Session, task: str, models: int | None = None) -> None:
    """One invoke task at one scale (None: the task's own choice, every scale); arguments after
    `--` pass through."""
    session.run(
        sys.executable,
        "-m",
        "invoke",
        task,
        *(["--models", str(models)] if models is not None else []),
        *session.posargs,
        interrupt_timeout=TEARDOWN_GRACE_S,
        terminate_timeout=TEARDOWN_GRACE_S,
    )
