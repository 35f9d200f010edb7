"""The interface every stack backend implements, and what it reports when a replica is lost."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.gpu import Check
from harness.matrix import StackSettings
from harness.telemetry.members import Member

LOG_TAIL_LINES = 80


class StackError(Exception):
    """The stack could not be brought up or kept at its scale; the text carries its logs."""


class Unusable(StackError):
    """The backend cannot run here, or the matrix does not give it what it needs: said before
    anything starts, with what is missing."""


@dataclass(frozen=True)
class ReplicaExit:
    """A process or container of the stack that is no longer running."""

    name: str
    exit_code: int | None
    reason: str
    log: str
    member_label: str  # which Member it was

    def describe(self) -> str:
        if self.exit_code is None:  # never ran, or lost with its host: no code to give
            return f"{self.name} {self.reason}"
        return f"{self.name} {self.reason} (exit code {self.exit_code})"


class Stack(ABC):
    """A stack brought up at N replicas: it reports a replica that exits (the out-of-memory
    case), can be restored to N, shows its logs, and always comes down."""

    backend: ClassVar[str]

    def __init__(self, target: str, models: int, env: dict[str, str]) -> None:
        self.target = target
        self.models = models
        self.env = env

    @classmethod
    @abstractmethod
    def create(
        cls,
        settings: StackSettings,
        target: str,
        models: int,
        env: dict[str, str],
        state_dir: Path,
    ) -> "Stack":
        """A stack, not started yet, for these settings; `state_dir` may hold its files."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> "Stack":
        """The stack another process started, from what its `state()` saved."""

    @classmethod
    @abstractmethod
    def preflight(cls, settings: StackSettings, target: str) -> None:
        """What this backend needs before anything starts, checked; Unusable naming what is
        missing."""

    @classmethod
    @abstractmethod
    def serves_reference_model(cls, settings: StackSettings, target: str) -> bool:
        """Whether the stack's replicas are this repository's model worker (services/model),
        whose GPU needs the harness knows; a stack of your own is checked for its GPUs alone."""

    @classmethod
    @abstractmethod
    def gpu_checks(cls, reference_model: bool) -> list[Check]:
        """What this backend needs to run replicas on a GPU (`inv doctor`), beyond the GPUs;
        with `reference_model`, what the reference model worker needs too."""

    @abstractmethod
    def start(self) -> None:
        """Start every service with `models` replicas; return without waiting for readiness."""

    @abstractmethod
    def exited(self) -> list[ReplicaExit]:
        """The processes or containers that stopped running."""

    @abstractmethod
    def restore(self) -> None:
        """Restart what exited, bringing the stack back to `models` replicas."""

    @abstractmethod
    def replicas_running(self) -> int | None:
        """How many replicas of the scaled service run now (healthy, where the service has a
        healthcheck), as the backend sees them; None when it cannot tell (a stack that scales
        itself). Readiness for a stack whose ready URL does not count its replicas."""

    def scale(self, models: int) -> None:
        """Another replica count without a redeploy, where the backend can (swarm)."""
        raise StackError(f"the {self.backend} backend cannot rescale a running stack")

    @property
    def rescalable(self) -> bool:
        return False

    @property
    def starts_server(self) -> bool:
        """Whether bringing the stack up starts what listens on the matrix's host (a stack
        that starts nothing points the load at a server already running)."""
        return True

    def locust_options(self, workers: int) -> list[str]:
        """Locust's options that place its workers for a run on this stack: local processes
        beside the master here."""
        return local_workers(workers)

    @abstractmethod
    def members(self) -> list[Member]:
        """What telemetry samples: each service's process tree or container, now."""

    @abstractmethod
    def logs(self) -> str:
        """The tail of every service's log."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and remove everything `start` made; safe to call twice."""

    @abstractmethod
    def backend_state(self) -> dict[str, Any]:
        """What this backend needs, beyond the common fields, to find the stack again."""

    def state(self) -> dict[str, Any]:
        """What another process needs to find this stack again (see `from_state`)."""
        return {
            "backend": self.backend,
            "target": self.target,
            "models": self.models,
            "env": self.env,
            **self.backend_state(),
        }


def local_workers(workers: int) -> list[str]:
    """Locust's workers as processes beside its master, on this machine (its --processes)."""
    return ["--processes", str(workers)] if workers > 1 else []


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
