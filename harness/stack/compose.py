"""The compose backend: `docker compose` (or docker-compose v1), one project per sweep.

The scaled service runs N times through `up -d --scale`; a container that stops during a sweep
(OOMKilled included) is reported with its exit code and log; `down -v --remove-orphans` always.
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
from harness.telemetry.members import Member

COMPOSE_TIMEOUT_S = 600
INSPECT_FORMAT = (
    '{{.Id}}|{{.Name}}|{{index .Config.Labels "com.docker.compose.service"}}'
    '|{{index .Config.Labels "com.docker.compose.container-number"}}'
    "|{{.State.Status}}|{{.State.ExitCode}}|{{.State.OOMKilled}}"
    "|{{if .State.Health}}{{.State.Health.Status}}{{end}}"
)


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

    def container_ids(self) -> list[str]:
        return self.compose("ps", "-a", "-q", check=False).stdout.split()

    def inspect(self) -> list[dict[str, str]]:
        """Each container of the project, as `docker inspect` sees it now."""
        ids = self.container_ids()
        if not ids:
            return []
        inspect = subprocess.run(
            ["docker", "inspect", "--format", INSPECT_FORMAT, *ids],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        fields = ("id", "name", "service", "number", "status", "exit_code", "oom_killed", "health")
        # Matched by id: a container removed meanwhile is missing from the answer.
        return [
            dict(zip(fields, line.split("|"), strict=True)) for line in inspect.stdout.splitlines()
        ]

    def member(self, container: dict[str, str]) -> Member:
        replica = container["number"] if container["service"] == self.service else ""
        return Member(container["service"], replica, container_id=container["id"])

    def exited(self) -> list[ReplicaExit]:
        gone = []
        for container in self.inspect():
            if container["status"] in ("running", "restarting", "created"):
                continue
            if container["service"] != self.service and container["exit_code"] == "0":
                continue  # a one-shot helper service that finished its job
            oom = container["oom_killed"] == "true"
            reason = "was OOMKilled" if oom else f"is {container['status']}"
            gone.append(
                ReplicaExit(
                    container["name"].lstrip("/"),
                    int(container["exit_code"]),
                    reason,
                    self.container_log(container["id"]),
                    self.member(container).label,
                )
            )
        return gone

    def replicas_running(self) -> int | None:
        if self.service is None:
            return None
        return sum(
            container["service"] == self.service
            and container["status"] == "running"
            and container["health"] in ("", "healthy")
            for container in self.inspect()
        )

    def members(self) -> list[Member]:
        return [
            self.member(container)
            for container in self.inspect()
            if container["status"] == "running"
        ]

    def container_log(self, container_id: str) -> str:
        logs = subprocess.run(
            ["docker", "logs", "--tail", str(LOG_TAIL_LINES), container_id],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return logs.stdout + logs.stderr

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
