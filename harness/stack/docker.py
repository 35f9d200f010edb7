"""The Docker engine and its compose program, as found on this machine."""

import shutil
import subprocess

from harness.stack.base import StackError


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        info = subprocess.run(
            [docker, "info"], capture_output=True, timeout=20, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0


def compose_command() -> list[str]:
    """`docker compose` when the plugin is there, else the docker-compose v1 program."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is not None:
        return [legacy]
    raise StackError(
        "backend compose needs `docker compose` or `docker-compose`; neither was found "
        "(use backend local)"
    )
