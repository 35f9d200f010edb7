"""The swarm as its engines tell it, for the swarm backend (swarm.py): the docker program, on
the local engine or a node's; whether this engine can deploy a stack; the nodes the matrix names,
found in the swarm; and a task as the engine's API gives it, read as `docker stack ps` shows it
(its state, its exit, whether it failed) and its log."""

import subprocess
from typing import Any

from harness.matrix import StackSettings
from harness.stack.base import LOG_TAIL_LINES, StackError, Unusable
from harness.stack.engine_api import container_state

DOCKER_TIMEOUT_S = 300
# A node's engine that does not answer within this long is taken as gone (an ssh:// or tcp://
# host that went away would otherwise hold each call until the system's TCP timeout).
NODE_TIMEOUT_S = 20
LOG_TIMEOUT_S = 30
FAILED_STATES = ("failed", "rejected", "orphaned")
# A task in one of these states holds nothing any more; in any other it runs, or is on its way.
ENDED_STATES = ("complete", "shutdown", *FAILED_STATES, "remove")
SWARM_INIT = "docker swarm init --advertise-addr 127.0.0.1"


class SwarmNotActive(Unusable):
    """This Docker engine is not a swarm manager: nothing can be deployed."""


def docker(
    *args: str, check: bool = True, timeout: float = DOCKER_TIMEOUT_S, host: str | None = None
) -> str:
    """The output of a docker command, on the local engine or on the one at `host`."""
    on = ["-H", host] if host is not None else []
    done = subprocess.run(
        ["docker", *on, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise StackError(
            f"`docker {' '.join([*on, *args])}` failed ({done.returncode}): {done.stderr}"
        )
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
            f" run `{SWARM_INIT}` for one node, or join this node to a swarm (docs/swarm.md)"
        )
    if manager != "true":
        raise SwarmNotActive("this node is a swarm worker: run the harness on a manager")


def swarm_nodes(settings: StackSettings) -> tuple[list[dict[str, str]], list[str]]:
    """The nodes the matrix names that answer, each with its id in this swarm as its own engine
    gives it, and what else to say of the swarm's nodes. A named node whose engine does not
    answer is Unusable while every node of the swarm is up (its endpoint is wrong), and left
    out, said, while some node is down (it may be that one); one that is not in this swarm is
    Unusable."""
    listing = docker("node", "ls", "--format", "{{.ID}}|{{.Hostname}}|{{.Status}}").split()
    swarm = {
        node_id: (hostname, status)
        for node_id, hostname, status in (line.split("|") for line in listing)
    }
    some_down = any(status.lower() != "ready" for _hostname, status in swarm.values())
    found, notes = [], []
    for node in settings.swarm.nodes:
        try:
            node_id = docker(
                "info",
                "--format",
                "{{.Swarm.NodeID}}",
                host=node.docker_host,
                timeout=NODE_TIMEOUT_S,
            ).strip()
        except (StackError, OSError, subprocess.TimeoutExpired) as error:
            if not some_down:
                raise Unusable(
                    f"stack.swarm.nodes: the engine of {node.name} ({node.docker_host}) does not"
                    f" answer: {error}"
                ) from None
            notes.append(
                f"the engine of {node.name} does not answer and the swarm has a node down:"
                f" {node.name} is left out"
            )
            continue
        if node_id not in swarm:
            raise Unusable(
                f"stack.swarm.nodes: {node.name} ({node.docker_host}) is not a node of this"
                " swarm: join it (`docker swarm join`), or name its engine's endpoint"
            )
        found.append({"name": node.name, "docker_host": node.docker_host, "id": node_id})
    named = {node["id"] for node in found}
    unnamed = sorted(
        hostname
        for node_id, (hostname, status) in swarm.items()
        if node_id not in named and status.lower() == "ready"
    )
    if settings.swarm.nodes and unnamed:
        notes.append(
            f"the matrix names no engine for node(s) {', '.join(unnamed)}: the stack's"
            " containers there are not sampled (stack.swarm.nodes)"
        )
    return found, notes


def service_log(*what: str) -> str:
    """The tail of a service's or a task's log. Bounded: a log kept on a node that is gone
    may never come."""
    try:
        return docker(
            "service",
            "logs",
            "--tail",
            str(LOG_TAIL_LINES),
            *what,
            check=False,
            timeout=LOG_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"(no log within {LOG_TIMEOUT_S}s)"


def task_fields(task: dict[str, Any], service: str) -> dict[str, str]:
    """A task from the engine's API, with the fields `docker stack ps` shows: its Name is the
    service's and its slot (a global service's: its node's id), CurrentState its state's word."""
    status = task.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    exit_code = container.get("ExitCode")
    return {
        "ID": task["ID"],
        "Name": f"{service}.{task.get('Slot') or task.get('NodeID', '')}",
        "NodeID": task.get("NodeID", ""),
        "DesiredState": task.get("DesiredState", ""),
        "CurrentState": status.get("State", "unknown"),
        "Error": status.get("Err", ""),
        "ContainerID": container.get("ContainerID", ""),
        "ExitCode": "" if exit_code is None else str(exit_code),
    }


def task_exit(task: dict[str, str]) -> tuple[int | None, bool]:
    """The task's exit code, and whether its container was killed for memory (where this
    engine holds the container)."""
    code = task["ExitCode"]
    container = task["ContainerID"]
    oom = bool(container_state(container).get("OOMKilled")) if container else False
    return (int(code) if code.lstrip("-").isdigit() else None), oom


def task_state(task: dict[str, str]) -> str:
    return task["CurrentState"].split()[0].lower()


def task_service(task: dict[str, str], stack: str) -> str:
    return task["Name"].split(".")[0].removeprefix(f"{stack}_")


def task_failed(task: dict[str, str]) -> bool:
    state = task_state(task)
    return state in FAILED_STATES or (state == "shutdown" and bool(task["Error"]))
