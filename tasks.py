"""invoke tasks: the stack (up, down), one Locust run, a sweep, the index; `inv --list` shows them.

Each task parses its options and calls one function of harness.commands (tools.docker_images
for the images). MATRIX=path selects
another matrix, REPORTS=dir another output folder.
"""

from collections.abc import Callable

from invoke import Collection, Context, Exit, task

from harness import commands
from tools import docker_images

TARGET_HELP = "cpu or gpu (default: the first of the matrix's targets)"
BACKEND_HELP = "auto or a backend: compose, local, swarm (default: the matrix's backend)"


def _call(command: Callable[..., int], *args: object) -> None:
    try:
        code = command(*args)
    except commands.CommandError as error:
        raise Exit(str(error), code=error.code) from None
    if code != 0:
        raise Exit(code=code)


@task(
    help={
        "models": "model-worker replicas (default 1)",
        "target": TARGET_HELP,
        "backend": BACKEND_HELP,
    }
)
def up(c: Context, models: int = 1, target: str = "", backend: str = "") -> None:
    """Bring the stack up and return once it reports every replica ready."""
    _call(commands.up, models, target, backend)


@task
def down(c: Context) -> None:
    """Take down the stack `inv up` brought up."""
    _call(commands.down)


@task(
    help={
        "models": "replicas the stack is up with (default: the stack's)",
        "users": "Locust users (default 1)",
        "spawn-rate": "users started per second, a number: --spawn-rate=0.5 (default 1)",
        "run-time": "measured window after the ramp, e.g. 30s, 1m (default: the matrix's)",
        "target": "the stack's target (default: the stack's)",
    }
)
def run(
    c: Context,
    models: int = 0,
    users: int = 1,
    spawn_rate: float = 1.0,
    run_time: str = "",
    target: str = "",
) -> None:
    """One Locust run against the stack that is up; writes reports/{target}/{m}_{u}_{r}.*"""
    _call(commands.run, models, users, spawn_rate, run_time, target)


@task(
    help={
        "models": "replicas to sweep at (default: each of num_models_list in turn)",
        "target": TARGET_HELP,
        "backend": BACKEND_HELP,
        "force": "redo runs whose complete results exist",
        "gate": "exit 99 when a valid run breaks the SLO (as slo.gate in the matrix)",
    }
)
def sweep(
    c: Context,
    models: int = 0,
    target: str = "",
    backend: str = "",
    force: bool = False,
    gate: bool = False,
) -> None:
    """Every run of the matrix at each scale: stack up, the runs, stack down."""
    _call(commands.sweep, models, target, backend, force, gate)


@task(
    help={
        "models": "replicas to search at (default: each of num_models_list in turn)",
        "target": TARGET_HELP,
        "backend": BACKEND_HELP,
        "force": "search again from scratch instead of resuming",
    }
)
def capacity(
    c: Context, models: int = 0, target: str = "", backend: str = "", force: bool = False
) -> None:
    """The highest Poisson rate within the SLO at each scale: reports/{target}/capacity.json"""
    _call(commands.capacity, models, target, backend, force)


@task(
    help={
        "models": "replicas to tune at (default: each of num_models_list in turn)",
        "target": TARGET_HELP,
        "backend": BACKEND_HELP,
        "force": "tune again from scratch instead of resuming",
    }
)
def tune(
    c: Context, models: int = 0, target: str = "", backend: str = "", force: bool = False
) -> None:
    """Each configuration of the matrix's tune block, its capacity: reports/{target}/tune.json"""
    _call(commands.tune, models, target, backend, force)


@task(
    help={
        "baseline": "the earlier sweep's reports folder",
        "candidate": "the later sweep's reports folder; compare.html is written there",
        "gate": "exit 98 when a point is significantly worse than the threshold (as slo.gate)",
        "threshold": "relative change that counts as a regression (default: regression_threshold)",
    }
)
def compare(
    c: Context, baseline: str, candidate: str, gate: bool = False, threshold: float = 0.0
) -> None:
    """Two sweeps side by side: a verdict per point (Welch's t-test) and compare.html."""
    _call(commands.compare, baseline, candidate, gate, threshold)


@task(help={"backend": BACKEND_HELP})
def doctor(c: Context, backend: str = "") -> None:
    """Check what a GPU sweep needs (driver, GPUs, Docker's GPU support, the image, the fit)."""
    _call(commands.doctor, backend)


@task
def index(c: Context) -> None:
    """Render reports/index.html from every run under reports/."""
    _call(commands.index)


@task
def setup(c: Context) -> None:
    """Prepare the matrix's model (its ONNX file in the cache) so workers start quickly."""
    _call(commands.setup)


@task(help={"rebuild-base": "rebuild the debootstrap base image even if its tag exists"})
def images(c: Context, rebuild_base: bool = False) -> None:
    """Build the stack's images offline (needs root and a running Docker engine)."""
    try:
        print(docker_images.build_command(rebuild_base))
    except docker_images.ImageBuildError as error:
        raise Exit(str(error), code=1) from None


@task(help={"reports": "also delete the reports folder"})
def clean(c: Context, reports: bool = False) -> None:
    """Take any stack down; remove .stack, .nox and caches (and reports with --reports)."""
    _call(commands.clean, reports)


namespace = Collection(
    up, down, run, sweep, capacity, tune, compare, doctor, index, setup, images, clean
)
