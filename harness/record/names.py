"""A run's file names: `reports/{target}/{stem}{suffix}`, the stem saying the point.

The one place that names a run's files and reads a name back (harness.record writes and reads
the record those files belong to). Closed loop: `{models}_{users}_{spawn}`; open loop:
`{models}_rate{rate}`; a shape: `{models}_shape-{name}`; numbers as written in the matrix; a
repetition after the first adds `_r{n}`.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from harness import REPO_ROOT
from harness.matrix import ClosedLoad, Load, OpenLoad, RunPoint, ShapedLoad

RECORD_SUFFIX = ".meta.json"
# Locust's files, then the run's own log; each named stem + suffix.
LOCUST_SUFFIXES = (
    ".html",
    "_stats.csv",
    "_stats_history.csv",
    "_failures.csv",
    "_exceptions.csv",
    ".json",
)
LOG_SUFFIX = ".log"
# The load generator's exact latencies (locust/recorder.py) and the resources table.
HDR_SUFFIX = ".hdr"
INTERVALS_SUFFIX = ".intervals.csv"
# A generative run's timings per request, each in the form of S.hdr (harness/generation.py).
GENERATION_SUFFIXES = {
    "ttft": ".ttft.hdr",
    "itl": ".itl.hdr",
    "tpot": ".tpot.hdr",
    "chunk_gap": ".chunk_gap.hdr",
}
RESOURCES_SUFFIX = ".resources.csv"
# The stack's own figures over time, where it exports them: queue depth and busy replicas.
STACK_SUFFIX = ".stack.csv"
RUN_SUFFIXES = (
    *LOCUST_SUFFIXES,
    HDR_SUFFIX,
    INTERVALS_SUFFIX,
    *GENERATION_SUFFIXES.values(),
    RESOURCES_SUFFIX,
    STACK_SUFFIX,
    LOG_SUFFIX,
)
STATS_SUFFIX = "_stats.csv"
HTML_SUFFIX = ".html"
RUN_PAGE_SUFFIX = ".telemetry.html"  # the run's own page, made from its files by the index

# Beside a target's runs: what the capacity search found (harness/capacity.py) and what the tune
# tried (harness/tune/file.py). Each configuration a tune tries has a reports folder of its own,
# reports/tune/{config}/, so its runs keep their names.
CAPACITY_FILE = "capacity.json"
TUNE_FILE = "tune.json"
TUNE_FOLDER = "tune"

# The members of a run's resources table and record that are not services of the stack.
MACHINE = "machine"  # the whole machine: CPU of all cores, memory in use
GPU = "gpu"  # one row per device, replica = its index
LOCUST = "locust"  # the load generator's process tree here (its master, and local workers)
LOCUST_WORKER = "locust-worker"  # its workers where the stack runs them (swarm)
# The instrument itself: the harness's process (its watch, telemetry and metrics reader) with the
# programs it starts, Locust and the stack's own processes excepted.
HARNESS = "harness"
# The Docker engine's own processes here (dockerd, containerd, the containers' shims, the port
# proxy): what the Docker path costs beside the containers, sampled where containers run here.
ENGINE = "docker-engine"
# Neither the stack, nor the load generator, nor the instrument, nor the machine's load.
NOT_THE_STACK = (LOCUST, LOCUST_WORKER, HARNESS, ENGINE)
STEM_PATTERN = re.compile(
    r"^(?P<models>[^_]+)_(?:rate(?P<rate>[^_]+)|shape-(?P<shape>[a-z0-9-]+)"
    r"|(?P<users>[^_]+)_(?P<spawn>[^_]+))(?:_r(?P<repeat>\d+))?$"
)


# What Locust loads beside a run's locustfile: the recorder (exact latencies, written as S.hdr
# and S.intervals.csv), for an open-loop run the scheduled arrivals, for a shape of users its
# load shape.
RECORDER = REPO_ROOT / "locust" / "recorder.py"
OPEN_LOOP = REPO_ROOT / "locust" / "openloop.py"
USERS_SHAPE = REPO_ROOT / "locust" / "shapes.py"


def locustfiles(locustfile: Path, open_loop: bool, shaped: bool = False) -> list[Path]:
    """Locust's files for a run, in the order it must load them: the recorder first (its
    counters must exist before the others'), the open loop's user or the users' shape, the
    run's locustfile."""
    extra = [OPEN_LOOP] if open_loop else [USERS_SHAPE] if shaped else []
    return [RECORDER, *extra, locustfile]


def in_repository(path: Path) -> str:
    """A path as Locust's image holds it too (the repository's layout), when it is in there."""
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def config_label(env: dict[str, str]) -> str:
    """A tuned configuration's settings, as its folder is named: MAX_BATCH=4,MAX_WAIT_MS=2."""
    return ",".join(f"{name}={value}" for name, value in sorted(env.items())) or "defaults"


def tune_reports(reports: Path, env: dict[str, str]) -> Path:
    """The reports folder of one tuned configuration's runs."""
    return reports / TUNE_FOLDER / config_label(env)


def member_label(service: str, replica: str) -> str:
    """A process or container of a run by its service and replica: `model-2`, `api`."""
    return f"{service}-{replica}" if replica else service


class RecordError(ValueError):
    """A record that cannot be read; the message names the file and what is wrong."""


def number_label(value: float) -> str:
    """A number as written in the matrix: 0.5 stays "0.5", 2 and 2.0 become "2"."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class RunName:
    """Which run a file belongs to: its target folder and its stem.

    Closed loop: `{models}_{users}_{spawn}`; open loop: `{models}_rate{rate}`; a shape:
    `{models}_shape-{name}`; numbers as
    written in the matrix. A repetition after the first adds `_r{n}`.
    """

    target: str
    models: int
    load: Load
    repeat: int = 1

    @classmethod
    def of(cls, point: RunPoint, repeat: int = 1) -> "RunName":
        return cls(point.target, point.models, point.load, repeat)

    @property
    def kind(self) -> str:
        """closed (users x spawn rate), open (an arrival rate) or shaped (either, over time)."""
        if isinstance(self.load, ShapedLoad):
            return "shaped"
        return "open" if isinstance(self.load, OpenLoad) else "closed"

    @property
    def point_stem(self) -> str:
        """The stem of the point, whichever repetition this is."""
        if isinstance(self.load, OpenLoad):
            return f"{self.models}_rate{number_label(self.load.rate)}"
        if isinstance(self.load, ShapedLoad):
            return f"{self.models}_shape-{self.load.shape}"
        return f"{self.models}_{self.load.users}_{number_label(self.load.spawn_rate)}"

    @property
    def stem(self) -> str:
        return self.point_stem if self.repeat == 1 else f"{self.point_stem}_r{self.repeat}"

    @property
    def spawn_rate_label(self) -> str:
        return number_label(self.load.spawn_rate) if isinstance(self.load, ClosedLoad) else ""

    def sort_key(self) -> tuple:
        load = self.load
        if isinstance(load, ClosedLoad):
            shape = (0, load.users, load.spawn_rate, "")
        elif isinstance(load, OpenLoad):
            shape = (1, 0, load.rate, "")
        else:
            shape = (2, 0, 0.0, load.shape)
        return (self.target, self.models, *shape, self.repeat)

    def path(self, reports: Path, suffix: str) -> Path:
        return reports / self.target / f"{self.stem}{suffix}"

    def record_path(self, reports: Path) -> Path:
        return self.path(reports, RECORD_SUFFIX)

    @classmethod
    def parse(cls, record_path: Path) -> "RunName":
        """The name a record file's place says, e.g. `cpu/2_8_4.meta.json`, `cpu/2_rate40_r2...`."""
        stem = record_path.name.removesuffix(RECORD_SUFFIX)
        match = STEM_PATTERN.match(stem)
        if match is None:
            raise RecordError(
                f"{record_path}: name is not {{models}}_{{users}}_{{spawn_rate}},"
                " {models}_rate{rate} or {models}_shape-{name} (then _r{repeat})"
            )
        try:
            if match["rate"] is not None:
                load: Load = OpenLoad(float(match["rate"]))
            elif match["shape"] is not None:
                load = ShapedLoad(match["shape"])
            else:
                load = ClosedLoad(int(match["users"]), float(match["spawn"]))
            repeat = int(match["repeat"] or 1)
            return cls(record_path.parent.name, int(match["models"]), load, repeat)
        except ValueError:
            raise RecordError(
                f"{record_path}: name is not {{models}}_{{users}}_{{spawn_rate}} with numbers"
            ) from None


def companion(record_path: Path, suffix: str) -> Path:
    """Another file of the run whose record is at `record_path`."""
    return record_path.with_name(record_path.name.removesuffix(RECORD_SUFFIX) + suffix)


def record_paths(reports: Path) -> list[Path]:
    """Every record under reports/{target}/; hidden folders are scratch space, not targets."""
    return [
        path
        for path in sorted(reports.glob(f"*/*{RECORD_SUFFIX}"))
        if not path.parent.name.startswith(".")
    ]
