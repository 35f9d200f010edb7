"""The swarm backend: the matrix's compose files deployed as a Docker Swarm stack.

`docker stack deploy` with the files rendered for Swarm (swarm_files.py) and the Locust workers
as a service of the stack (compose/docker-compose.swarm.yml); `docker service scale` changes the
replica count without a redeploy, so the stack may stay up between the sweep's scales. A
replica task that fails (exits, is OOM-killed) is reported with its state, exit code and log;
Swarm starts another, and `restore` waits until the service has its replicas again. `docker
stack rm`, then a wait until its containers and networks are gone, always.
"""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from harness import REPO_ROOT
from harness.gpu import Check
from harness.matrix import StackSettings
from harness.record.names import LOCUST_WORKER, in_repository, locustfiles
from harness.stack.base import LOG_TAIL_LINES, ReplicaExit, Stack, StackError, Unusable
from harness.stack.docker import compose_files, docker_gpu_checks, names_gpu_image
from harness.stack.network import free_port
from harness.stack.swarm_files import render
from harness.telemetry.members import Member

LOCUST_FILE = REPO_ROOT / "compose" / "docker-compose.swarm.yml"
LOCUST_SERVICE = LOCUST_WORKER
DOCKER_TIMEOUT_S = 300
GONE_TIMEOUT_S = 180
CONVERGE_TIMEOUT_S = 300
POLL_S = 1.0
# How long the master waits for the stack's Locust workers to connect before it gives up.
EXPECT_WORKERS_S = 120
FAILED_STATES = ("failed", "rejected", "orphaned")
SWARM_INIT = "docker swarm init --advertise-addr 127.0.0.1"
TASK_FORMAT = (
    '{{.ID}}|{{.Label "com.docker.swarm.service.name"}}|{{.Label "com.docker.swarm.task.name"}}'
)


class SwarmNotActive(Unusable):
    """This Docker engine is not a swarm manager: nothing can be deployed."""


def docker(*args: str, check: bool = True, timeout: float = DOCKER_TIMEOUT_S) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise StackError(f"`docker {' '.join(args)}` failed ({done.returncode}): {done.stderr}")
    return done.stdout


def require_swarm() -> None:
    """This engine must be an active swarm manager; the message says how to make it one."""
    try:
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    except (StackError, OSError, subprocess.TimeoutExpired) as error:
        raise SwarmNotActive(
            f"the swarm backend needs a Docker engine that answers: {error}"
        ) from None
    node_state, manager = (state.split() + ["", ""])[:2]
    if node_state != "active":
        raise SwarmNotActive(
            f"Docker is not in swarm mode (node state {node_state or 'unknown'}):"
            f" run `{SWARM_INIT}` for one node, or join this node to a swarm (README, Swarm)"
        )
    if manager != "true":
        raise SwarmNotActive("this node is a swarm worker: run the harness on a manager")


class SwarmStack(Stack):
    backend = "swarm"

    def __init__(
        self,
        target: str,
        models: int,
        env: dict[str, str],
        name: str,
        files: list[str],
        service: str | None,
        registry: str,
        rendered: str,
        acknowledged: list[str],
    ) -> None:
        super().__init__(target, models, env)
        self.name = name
        self.files = files
        self.service = service
        self.registry = registry
        self.rendered = rendered  # the stack file deployed, kept in the state folder
        self.acknowledged = acknowledged  # failed tasks already reported and restored

    @classmethod
    def create(
        cls,
        settings: StackSettings,
        target: str,
        models: int,
        env: dict[str, str],
        state_dir: Path,
    ) -> "SwarmStack":
        cls.preflight(settings, target)
        files = [*compose_files(settings, target), str(LOCUST_FILE)]
        swarm_env = {
            **env,
            "LOCUST_MASTER_HOST": settings.swarm.locust_master_host,
            "LOCUST_MASTER_PORT": str(free_port()),
            "LOCUST_PLACEMENT": settings.swarm.locust_placement,
            "LOCUST_WORKERS": str(settings.swarm.locust_workers),
            # A worker has the open loop's user whatever the run: its master starts the
            # classes it wants.
            "LOCUSTFILES": ",".join(
                in_repository(path) for path in locustfiles(settings.swarm.locustfile, True)
            ),
        }
        name = f"loadbench-{target}-{os.getpid()}"
        rendered = str(state_dir / f"{name}.stack.yml")
        return cls(
            target,
            models,
            swarm_env,
            name,
            files,
            settings.scale_service,
            settings.swarm.image_registry,
            rendered,
            [],
        )

    @classmethod
    def preflight(cls, settings: StackSettings, target: str) -> None:
        compose_files(settings, target)
        require_swarm()

    @classmethod
    def serves_reference_model(cls, settings: StackSettings, target: str) -> bool:
        return names_gpu_image(settings, target)

    @classmethod
    def gpu_checks(cls, reference_model: bool) -> list[Check]:
        """The nodes' engines need what a compose GPU stack needs; this one is checked."""
        return docker_gpu_checks(reference_model)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SwarmStack":
        return cls(
            state["target"],
            state["models"],
            state["env"],
            state["name"],
            state["files"],
            state["service"],
            state["registry"],
            state["rendered"],
            state["acknowledged"],
        )

    def backend_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": self.files,
            "service": self.service,
            "registry": self.registry,
            "rendered": self.rendered,
            "acknowledged": self.acknowledged,
        }

    def start(self) -> None:
        notes: list[str] = []
        stack_file = render(
            [Path(path) for path in self.files],
            {**os.environ, **self.env},
            self.service,
            self.models,
            self.registry,
            notes,
        )
        for note in notes:
            print(f"swarm: {note}", flush=True)
        Path(self.rendered).parent.mkdir(parents=True, exist_ok=True)
        Path(self.rendered).write_text(yaml.safe_dump(stack_file, sort_keys=False))
        # The images are the nodes' own (or the registry's): never look them up elsewhere.
        docker("stack", "deploy", "--resolve-image", "never", "-c", self.rendered, self.name)

    def scale(self, models: int) -> None:
        """A new replica count for the scaled service: no redeploy."""
        if self.service is None:
            raise StackError("a stack that scales itself (stack.scale_service null) is redeployed")
        self.models = models
        docker("service", "scale", "--detach", f"{self.name}_{self.service}={models}")

    def tasks(self) -> list[dict[str, str]]:
        """Every task of the stack's services, as `docker stack ps` lists them now."""
        listing = docker(
            "stack", "ps", self.name, "--no-trunc", "--format", "{{json .}}", check=False
        )
        return [json.loads(line) for line in listing.splitlines() if line.strip()]

    def exited(self) -> list[ReplicaExit]:
        gone = []
        for task in self.tasks():
            state = task["CurrentState"].split()[0].lower()
            service = task["Name"].split(".")[0].removeprefix(f"{self.name}_")
            if service == LOCUST_SERVICE or task["ID"] in self.acknowledged:
                continue  # Locust's workers quit after each run by design
            if not _failed(task):
                continue
            code, oom = self._exit(task["ID"])
            reason = "was OOMKilled" if oom else f"is {state} ({task['Error'] or 'no error given'})"
            label = (
                f"{service}-{task['Name'].split('.')[1]}" if service == self.service else service
            )
            gone.append(ReplicaExit(task["Name"], code, reason, self._task_log(task["ID"]), label))
        return gone

    def _exit(self, task_id: str) -> tuple[int | None, bool]:
        """The task's exit code, and whether its container was killed for memory."""
        status = docker(
            "inspect",
            "--format",
            "{{.Status.ContainerStatus.ExitCode}}|{{.Status.ContainerStatus.ContainerID}}",
            task_id,
            check=False,
        ).strip()
        code, _, container = status.partition("|")
        oom = docker("inspect", "--format", "{{.State.OOMKilled}}", container, check=False).strip()
        return (int(code) if code.lstrip("-").isdigit() else None), oom == "true"

    def _task_log(self, task_id: str) -> str:
        return docker(
            "service", "logs", "--no-task-ids", "--tail", str(LOG_TAIL_LINES), task_id, check=False
        )

    def restore(self) -> None:
        """Note the failed tasks as reported; Swarm replaces them: wait until it has."""
        self.acknowledged = [task["ID"] for task in self.tasks() if _failed(task)]
        self.wait_converged()

    def locust_options(self, workers: int) -> list[str]:
        """The workers are a service of the stack: the master the harness runs waits for them."""
        return [
            "--master",
            "--master-bind-host",
            self.env["LOCUST_MASTER_HOST"],
            "--master-bind-port",
            self.env["LOCUST_MASTER_PORT"],
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            str(EXPECT_WORKERS_S),
        ]

    @property
    def rescalable(self) -> bool:
        return self.service is not None

    def replicas_running(self) -> int | None:
        """Swarm counts a task running once its container is up and, with a healthcheck,
        healthy: the service's "running/desired"."""
        if self.service is None:
            return None
        replicas = docker(
            "service",
            "ls",
            "--filter",
            f"name={self.name}_{self.service}",
            "--format",
            "{{.Replicas}}",
            check=False,
        ).split()
        running = replicas[0].split("/")[0] if replicas else ""
        return int(running) if running.isdigit() else 0

    def wait_converged(self) -> None:
        if self.service is None:
            return
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.replicas_running() == self.models:
                return
            time.sleep(POLL_S)
        raise StackError(
            f"{self.name}_{self.service} did not reach {self.models} running replicas\n"
            f"{self.logs()}"
        )

    def members(self) -> list[Member]:
        listing = docker(
            "ps",
            "--filter",
            f"label=com.docker.stack.namespace={self.name}",
            "--format",
            TASK_FORMAT,
            check=False,
        )
        found = []
        for line in listing.splitlines():
            container_id, service_name, task_name = line.split("|")
            service = service_name.removeprefix(f"{self.name}_")
            slot = task_name.split(".")[1] if task_name.count(".") >= 2 else ""
            scaled = service in (self.service, LOCUST_SERVICE)
            long_id = docker("inspect", "--format", "{{.Id}}", container_id, check=False).strip()
            found.append(Member(service, slot if scaled else "", container_id=long_id))
        return found

    def logs(self) -> str:
        services = docker("stack", "services", self.name, "--format", "{{.Name}}", check=False)
        return "\n".join(
            f"--- {service} ---\n"
            + docker("service", "logs", "--tail", str(LOG_TAIL_LINES), service, check=False)
            for service in services.split()
        )

    def stop(self) -> None:
        docker("stack", "rm", self.name, check=False)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        label = f"label=com.docker.stack.namespace={self.name}"
        while time.monotonic() < deadline:
            containers = docker("ps", "-aq", "--filter", label, check=False).split()
            networks = docker("network", "ls", "-q", "--filter", label, check=False).split()
            if not containers and not networks:
                return
            time.sleep(POLL_S)
        raise StackError(
            f"stack {self.name}: containers or networks still there after {GONE_TIMEOUT_S}s"
        )


def _failed(task: dict[str, str]) -> bool:
    state = task["CurrentState"].split()[0].lower()
    return state in FAILED_STATES or (state == "shutdown" and bool(task["Error"]))
