"""The swarm backend: the matrix's compose files deployed as a Docker Swarm stack.

`docker stack deploy` with the files rendered for Swarm (swarm_files.py) and the Locust workers
as a service of the stack (compose/docker-compose.swarm.yml); `docker service scale` changes the
replica count without a redeploy, so the stack may stay up between the sweep's scales. A
replica task that fails (exits, is OOM-killed) is reported with its state, exit code and log;
Swarm starts another, and `restore` waits until the service has its replicas again. A node the
swarm finds down takes its tasks with it: each is reported as lost with its node, from the
swarm's own node and task states; Swarm places them elsewhere where the placement allows, and
where it cannot, `restore` and `scale` say so rather than wait. The nodes the matrix names
(`stack.swarm.nodes`) are reached through their own engines: the stack's containers there are
found and sampled through them. `docker stack rm`, then a wait until its containers and
networks are gone on every node that answers, always. The docker program deploys, scales and
removes the stack; its tasks, nodes and containers are read through the engines' API
(engine_api.py), which starts no program for the watch that asks once a second, and read as
swarm_engine.py says (with the swarm's own state and the matrix's nodes).
"""

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from harness import REPO_ROOT
from harness.matrix import StackSettings
from harness.record.names import LOCUST_WORKER, in_repository, locustfiles, member_label
from harness.stack.base import ReplicaExit, StackError
from harness.stack.docker import EngineStack, compose_files
from harness.stack.engine_api import ask, containers
from harness.stack.network import free_port
from harness.stack.swarm_engine import (
    ENDED_STATES,
    NODE_TIMEOUT_S,
    docker,
    require_swarm,
    service_log,
    swarm_nodes,
    task_exit,
    task_failed,
    task_fields,
    task_service,
    task_state,
)
from harness.stack.swarm_files import render
from harness.telemetry.members import Member

LOCUST_FILE = REPO_ROOT / "compose" / "docker-compose.swarm.yml"
LOCUST_SERVICE = LOCUST_WORKER
GONE_TIMEOUT_S = 180
CONVERGE_TIMEOUT_S = 300
POLL_S = 1.0
# How long the master waits for the stack's Locust workers to connect before it gives up.
EXPECT_WORKERS_S = 120
# How long the scheduler may keep a replica pending as unplaceable ("no suitable node") before
# the stack says it cannot be placed: the scheduler retries as nodes and resources change.
PLACEMENT_GRACE_S = 15
UNPLACEABLE = "no suitable node"


class SwarmStack(EngineStack):
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
        nodes: list[dict[str, str]],
    ) -> None:
        super().__init__(target, models, env)
        self.name = name
        self.files = files
        self.service = service
        self.registry = registry
        self.rendered = rendered  # the stack file deployed, kept in the state folder
        self.acknowledged = acknowledged  # tasks already reported, failed or lost, and restored
        self.nodes = nodes  # the matrix's nodes (name, docker_host, id); none: the local engine

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
        nodes, notes = swarm_nodes(settings)
        for note in notes:
            print(f"swarm: {note}", flush=True)
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
            nodes,
        )

    @classmethod
    def preflight(cls, settings: StackSettings, target: str) -> None:
        compose_files(settings, target)
        require_swarm()
        swarm_nodes(settings)

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
            state["nodes"],
        )

    def backend_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": self.files,
            "service": self.service,
            "registry": self.registry,
            "rendered": self.rendered,
            "acknowledged": self.acknowledged,
            "nodes": self.nodes,
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
        """A new replica count for the scaled service: no redeploy. Returns once Swarm runs
        them all; StackError where it cannot place them (wait_converged)."""
        if self.service is None:
            raise StackError("a stack that scales itself (stack.scale_service null) is redeployed")
        self.models = models
        docker("service", "scale", "--detach", f"{self.name}_{self.service}={models}")
        self.wait_converged()

    def tasks(self, service: str | None = None, desired: str | None = None) -> list[dict[str, str]]:
        """The tasks of the stack's services (of `service` alone, those Swarm means to bring to
        the `desired` state alone), from the engine's API: each as `docker stack ps` shows it,
        with the node it was given to ("" for none) and its container's exit."""
        label = f"com.docker.stack.namespace={self.name}"
        services = {
            found["ID"]: found["Spec"]["Name"]
            for found in ask(
                "the stack's services", lambda api: api.services(filters={"label": label})
            )
            if service is None or found["Spec"]["Name"] == service
        }
        if not services:
            return []
        filters = {"service": list(services), **({"desired-state": desired} if desired else {})}
        listing = ask("the stack's tasks", lambda api: api.tasks(filters=filters))
        return [
            task_fields(task, services[task["ServiceID"]])
            for task in listing
            if task["ServiceID"] in services
        ]

    def nodes_down(self) -> dict[str, str]:
        """The swarm's nodes that are not ready, by id: each named (as the matrix names it, else
        by its hostname) with the swarm's status and its reason, e.g. `node-2 (down: heartbeat
        failure)`."""
        named = {node["id"]: node["name"] for node in self.nodes}
        down = {}
        for node in ask("the swarm's nodes", lambda api: api.nodes()):
            status = node.get("Status") or {}
            state, reason = status.get("State", "unknown"), status.get("Message", "")
            if state == "ready":
                continue
            name = named.get(
                node["ID"], (node.get("Description") or {}).get("Hostname", node["ID"])
            )
            down[node["ID"]] = f"{name} ({state}{': ' + reason if reason else ''})"
        return down

    def gone(self) -> list[tuple[dict[str, str], str | None]]:
        """The tasks not yet reported that failed, or that a node lost: each with the node's
        description where it was lost (None: it failed)."""
        down = self.nodes_down()
        found: list[tuple[dict[str, str], str | None]] = []
        for task in self.tasks():
            if task["ID"] in self.acknowledged:
                continue
            if task["NodeID"] in down and task_state(task) not in ENDED_STATES:
                found.append((task, down[task["NodeID"]]))
            elif task_service(task, self.name) != LOCUST_SERVICE and task_failed(task):
                # Locust's workers quit after each run by design; only a lost node counts.
                found.append((task, None))
        return found

    def exited(self) -> list[ReplicaExit]:
        reported = []
        for task, node in self.gone():
            service = task_service(task, self.name)
            slot = task["Name"].split(".")[1]
            label = member_label(service, slot if service in (self.service, LOCUST_SERVICE) else "")
            if node is not None:
                # Its node is down: no exit code, no log to fetch from there.
                reported.append(
                    ReplicaExit(
                        task["Name"],
                        None,
                        f"was lost with node {node}",
                        "(no log: its node is down)",
                        label,
                    )
                )
                continue
            code, oom = task_exit(task)
            state = task_state(task)
            reason = "was OOMKilled" if oom else f"is {state} ({task['Error'] or 'no error given'})"
            reported.append(
                ReplicaExit(task["Name"], code, reason, self._task_log(task["ID"]), label)
            )
        return reported

    def _task_log(self, task_id: str) -> str:
        return service_log("--no-task-ids", task_id)

    def restore(self) -> None:
        """Note the failed and lost tasks as reported; Swarm replaces them: wait until it has."""
        self.acknowledged = [*self.acknowledged, *(task["ID"] for task, _node in self.gone())]
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

    def _scaled_tasks(self) -> list[dict[str, str]]:
        """The scaled service's tasks that Swarm means to run now."""
        return self.tasks(f"{self.name}_{self.service}", desired="running")

    def replicas_running(self) -> int | None:
        """The scaled service's tasks running (with a healthcheck: healthy) that Swarm means to
        keep. Not `docker service ls`'s count: it goes on counting a lost node's tasks."""
        if self.service is None:
            return None
        return sum(task_state(task) == "running" for task in self._scaled_tasks())

    def wait_converged(self) -> None:
        """Until Swarm runs `models` replicas; StackError where it cannot place some (their
        placement or resources fit no node that is up), or after CONVERGE_TIMEOUT_S."""
        if self.service is None:
            return
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        unplaceable_since: float | None = None
        while time.monotonic() < deadline:
            tasks = self._scaled_tasks()
            if sum(task_state(task) == "running" for task in tasks) == self.models:
                return
            unplaced = [task for task in tasks if UNPLACEABLE in task["Error"]]
            if not unplaced:
                unplaceable_since = None
            elif unplaceable_since is None:
                unplaceable_since = time.monotonic()
            elif time.monotonic() - unplaceable_since >= PLACEMENT_GRACE_S:
                down = "; ".join(self.nodes_down().values()) or "none"
                raise StackError(
                    f"Swarm cannot place {len(unplaced)} of the {self.models} replicas of"
                    f" {self.name}_{self.service}: {unplaced[0]['Error']}; nodes down: {down}"
                )
            time.sleep(POLL_S)
        raise StackError(
            f"{self.name}_{self.service} did not reach {self.models} running replicas\n"
            f"{self.logs()}"
        )

    def members(self) -> list[Member]:
        """The stack's containers: on each node the matrix names, through that node's engine
        (one that does not answer is said and left out); else on the local engine."""
        engines = [(node["docker_host"], node["name"]) for node in self.nodes] or [(None, "")]
        found = []
        for docker_host, node in engines:
            try:
                found += self._containers(docker_host, node)
            except (StackError, OSError, subprocess.TimeoutExpired) as error:
                why = str(error).strip().splitlines()[-1]
                where = f"node {node}" if node else "the local engine"
                print(f"swarm: {where} is not sampled: {why}", flush=True)
        return found

    def _containers(self, docker_host: str | None, node: str) -> list[Member]:
        found = []
        for container in containers(f"com.docker.stack.namespace={self.name}", docker_host):
            if container.status != "running":
                continue
            service_name = container.labels.get("com.docker.swarm.service.name", "")
            task_name = container.labels.get("com.docker.swarm.task.name", "")
            service = service_name.removeprefix(f"{self.name}_")
            slot = task_name.split(".")[1] if task_name.count(".") >= 2 else ""
            scaled = service in (self.service, LOCUST_SERVICE)
            found.append(
                Member(
                    service,
                    slot if scaled else "",
                    container_id=container.id,
                    node=node,
                    docker_host=docker_host,
                )
            )
        return found

    def logs(self) -> str:
        """The tasks Swarm means to run that do not run yet, with its reason for each (where a
        replica cannot be placed, this says why); then each service's log."""
        waiting = [
            f"{task['Name']}: {task['CurrentState']} {task['Error']}".rstrip()
            for task in self.tasks()
            if task["DesiredState"].lower() == "running" and task_state(task) != "running"
        ]
        services = docker("stack", "services", self.name, "--format", "{{.Name}}", check=False)
        return "\n".join(
            [
                *(["--- tasks not running ---", *waiting] if waiting else []),
                *(f"--- {service} ---\n{service_log(service)}" for service in services.split()),
            ]
        )

    def stop(self) -> None:
        docker("stack", "rm", self.name, check=False)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        label = f"label=com.docker.stack.namespace={self.name}"
        while time.monotonic() < deadline:
            containers = self._left(["ps", "-aq", "--filter", label])
            networks = docker("network", "ls", "-q", "--filter", label, check=False).split()
            if not containers and not networks:
                return
            time.sleep(POLL_S)
        raise StackError(
            f"stack {self.name}: containers or networks still there after {GONE_TIMEOUT_S}s"
        )

    def _left(self, listing: list[str]) -> list[str]:
        """What a docker listing still shows on the local engine and on each named node's
        engine that answers (a node that is down holds nothing Swarm can remove)."""
        engines = [None, *(node["docker_host"] for node in self.nodes)]
        found = []
        for engine in engines:
            try:
                found += docker(*listing, host=engine, timeout=NODE_TIMEOUT_S).split()
            except (StackError, OSError, subprocess.TimeoutExpired):
                continue
        return found
