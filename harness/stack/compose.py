"""The compose backend: `docker compose` (or docker-compose v1), one project per sweep.

The scaled service runs N times through `up -d --scale`; a container that stops during a sweep
(OOMKilled included) is reported with its exit code and log; `down -v --remove-orphans` always.
The compose program only brings the project up and down: its containers are found, watched and
sampled through the engine's API (engine_api.py) by the project's label.
"""

import os
import subprocess
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from harness.matrix import StackSettings
from harness.stack.base import LOG_TAIL_LINES, ReplicaExit, StackError, Unusable
from harness.stack.docker import (
    EngineStack,
    compose_command,
    compose_files,
    docker_engine_answers,
)
from harness.stack.engine_api import Container, container_log, container_state, containers
from harness.telemetry.members import Member

COMPOSE_TIMEOUT_S = 600
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
PROJECT_LABEL = "com.docker.compose.project"
# A container in one of these states runs, or is about to.
LIVE_STATES = ("running", "restarting", "created")


class ComposeStack(EngineStack):
    backend = "compose"

    def __init__(
        self,
        target: str,
        models: int,
        env: dict[str, str],
        command: list[str],
        project: str,
        files: list[str],
        service: str | None,
    ) -> None:
        super().__init__(target, models, env)
        self.command = command
        self.project = project
        self.files = files
        self.service = service  # None: the stack scales itself from ${REPLICAS}

    @classmethod
    def create(
        cls,
        settings: StackSettings,
        target: str,
        models: int,
        env: dict[str, str],
        state_dir: Path,
    ) -> "ComposeStack":
        files = compose_files(settings, target)
        project = f"loadbench-{target}-m{models}-{os.getpid()}"
        return cls(target, models, env, compose_command(), project, files, settings.scale_service)

    @classmethod
    def preflight(cls, settings: StackSettings, target: str) -> None:
        compose_files(settings, target)
        if not docker_engine_answers():
            raise Unusable("`docker info` does not answer: start dockerd, or use backend local")

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ComposeStack":
        return cls(
            state["target"],
            state["models"],
            state["env"],
            state["command"],
            state["project"],
            state["files"],
            state["service"],
        )

    def compose_args(self, *args: str) -> list[str]:
        files = [part for path in self.files for part in ("-f", path)]
        return [*self.command, "-p", self.project, *files, *args]

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # The services' settings reach the compose files through ${VAR} interpolation.
        done = subprocess.run(
            self.compose_args(*args),
            env={**os.environ, **self.env},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=COMPOSE_TIMEOUT_S,
            check=False,
        )
        if check and done.returncode != 0:
            raise StackError(
                f"`{' '.join(self.compose_args(*args))}` failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}"
            )
        return done

    def start(self) -> None:
        scale = [] if self.service is None else ["--scale", f"{self.service}={self.models}"]
        self.compose("up", "-d", *scale)

    def containers(self) -> list[Container]:
        """Each container of the project now, as the engine lists it (its API, no program:
        asked once a second while a run lasts)."""
        return containers(f"{PROJECT_LABEL}={self.project}")

    def member(self, container: Container) -> Member:
        service = container.labels.get(SERVICE_LABEL, "")
        replica = container.labels.get(NUMBER_LABEL, "") if service == self.service else ""
        return Member(service, replica, container_id=container.id)

    def exited(self) -> list[ReplicaExit]:
        gone = []
        for container in self.containers():
            if container.status in LIVE_STATES:
                continue
            state = container_state(container.id)
            if not state:
                continue  # removed meanwhile
            exit_code = int(state.get("ExitCode", 0))
            if container.labels.get(SERVICE_LABEL) != self.service and exit_code == 0:
                continue  # a one-shot helper service that finished its job
            reason = "was OOMKilled" if state.get("OOMKilled") else f"is {container.status}"
            gone.append(
                ReplicaExit(
                    container.name,
                    exit_code,
                    reason,
                    container_log(container.id, LOG_TAIL_LINES),
                    self.member(container).label,
                )
            )
        return gone

    def replicas_running(self) -> int | None:
        if self.service is None:
            return None
        return sum(
            container.labels.get(SERVICE_LABEL) == self.service
            and container.status == "running"
            and _healthy(container_state(container.id))
            for container in self.containers()
        )

    def members(self) -> list[Member]:
        return [
            self.member(container)
            for container in self.containers()
            if container.status == "running"
        ]

    def restore(self) -> None:
        self.start()

    def logs(self) -> str:
        done = self.compose("logs", "--no-color", "--tail", str(LOG_TAIL_LINES), check=False)
        return done.stdout + done.stderr

    def stop(self) -> None:
        self.compose("down", "-v", "--remove-orphans")

    def backend_state(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "project": self.project,
            "files": self.files,
            "service": self.service,
        }


def _healthy(state: dict) -> bool:
    """Running and, where the service has a healthcheck, found healthy by it."""
    health = state.get("Health")
    return state.get("Running", False) and (health is None or health.get("Status") == "healthy")
