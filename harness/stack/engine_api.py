"""The Docker engine's API, asked over its socket (the `docker` SDK): how the Docker backends
(compose, swarm) find their containers, tasks and nodes while a run lasts.

No program is started for a question. A `docker-compose ps` took 0.35 s of CPU, and asked once a
second during every run it took a fifth of a core from the stack it measured; an API call takes
about a millisecond. The `docker` and `docker compose` programs only bring a stack up, scale it
and take it down. One client per engine (None: the one DOCKER_HOST or the default socket names;
else a named swarm node's unix://, tcp:// or ssh:// endpoint), kept for the process's life.
"""

import functools
from dataclasses import dataclass
from typing import Any

import docker
import requests
from docker.errors import DockerException, NotFound

from harness.stack.base import StackError

API_TIMEOUT_S = 20


@dataclass(frozen=True)
class Container:
    """A container as the engine lists it: no exit code or health (ask `state` for those)."""

    id: str
    name: str
    labels: dict[str, str]
    status: str  # created, running, restarting, paused, exited, dead, removing


@functools.cache
def client(docker_host: str | None = None) -> docker.APIClient:
    """The engine's low-level API client; an ssh:// engine through the ssh program, as the docker
    CLI reaches it (no Python ssh library)."""
    try:
        if docker_host is None:
            return docker.from_env(timeout=API_TIMEOUT_S).api
        return docker.APIClient(
            base_url=docker_host, timeout=API_TIMEOUT_S, use_ssh_client=True, version="auto"
        )
    except DockerException as error:
        raise StackError(
            f"the Docker engine {docker_host or ''} does not answer: {error}"
        ) from None


def ask(question: str, call, docker_host: str | None = None) -> Any:
    """One API call; StackError naming the question where the engine fails to answer (NotFound
    as it is: the thing asked of is gone)."""
    try:
        return call(client(docker_host))
    except NotFound:
        raise
    except (DockerException, requests.RequestException) as error:
        raise StackError(f"the Docker engine did not answer {question}: {error}") from None


def containers(label: str, docker_host: str | None = None) -> list[Container]:
    """Every container, running or not, that carries `label` (`key=value`)."""
    listing = ask(
        f"which containers carry {label}",
        lambda api: api.containers(all=True, filters={"label": [label]}),
        docker_host,
    )
    return [
        Container(
            item["Id"],
            (item.get("Names") or [item["Id"][:12]])[0].lstrip("/"),
            item.get("Labels") or {},
            item.get("State", ""),
        )
        for item in listing
    ]


def container_state(container_id: str, docker_host: str | None = None) -> dict[str, Any]:
    """The container's State (ExitCode, OOMKilled, Health ...); {} once it is removed."""
    try:
        found = ask(
            f"the state of {container_id[:12]}",
            lambda api: api.inspect_container(container_id),
            docker_host,
        )
    except NotFound:
        return {}
    return found.get("State") or {}


def container_log(container_id: str, tail: int, docker_host: str | None = None) -> str:
    """The last `tail` lines the container wrote, stdout and stderr together."""
    try:
        text = ask(
            f"the log of {container_id[:12]}",
            lambda api: api.logs(container_id, tail=tail),
            docker_host,
        )
    except (StackError, NotFound) as error:
        return f"(no log: {error})"
    return text.decode(errors="replace")
