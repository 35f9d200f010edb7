"""A Docker engine for the docker-marked tests: Debian's docker.io installed and dockerd started
when missing (as root), and stopped again afterwards if these tests started it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness.stack.docker import docker_engine_answers

# iproute2's `ip` makes the two-node tests' network namespace (second_node.py).
DEBIAN_PACKAGES = ("docker.io", "docker-compose", "debootstrap", "iproute2")
ENGINE_START_TIMEOUT_S = 60.0
# Tried in order: a sandbox may refuse dockerd the iptables rules and the docker0 bridge, which
# the tests do without (their builds and containers use the host network).
DOCKERD_OPTION_SETS = ((), ("--iptables=false", "--ip6tables=false", "--bridge=none"))


class EngineUnavailable(Exception):
    """No Docker engine can be had here; the text says why, for the skip message."""


def _missing_programs() -> list[str]:
    programs = ("dockerd", "docker-compose", "debootstrap", "ip")
    return [program for program in programs if shutil.which(program) is None]


def install_packages(log_path: Path) -> None:
    """apt-get install Debian's Docker, Compose v1 and debootstrap, refreshing the index once."""
    if not _missing_programs():
        return
    if os.geteuid() != 0:
        raise EngineUnavailable(f"{', '.join(_missing_programs())} missing and not root to install")
    if shutil.which("apt-get") is None:
        raise EngineUnavailable(f"{', '.join(_missing_programs())} missing and no apt-get")
    install = ["apt-get", "install", "-y", *DEBIAN_PACKAGES]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_path.open("ab") as log:
        for attempt in ([install], [["apt-get", "update"], install]):
            if all(
                subprocess.run(
                    command, stdout=log, stderr=subprocess.STDOUT, env=environment, timeout=900
                ).returncode
                == 0
                for command in attempt
            ):
                return
    packages = " ".join(DEBIAN_PACKAGES)
    raise EngineUnavailable(f"apt-get could not install {packages}; see {log_path}")


def start_dockerd(log_path: Path) -> subprocess.Popen[bytes]:
    """dockerd in a process group of its own, once `docker info` answers."""
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine answers, and only root may start dockerd")
    for options in DOCKERD_OPTION_SETS:
        with log_path.open("ab") as log:
            daemon = subprocess.Popen(
                ["dockerd", *options], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
        while time.monotonic() < deadline and daemon.poll() is None:
            if docker_engine_answers():
                return daemon
            time.sleep(1)
        stop_dockerd(daemon)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
    raise EngineUnavailable(f"dockerd did not start; last lines of {log_path}:\n{tail}")


def stop_dockerd(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM to dockerd's group (containerd with it), SIGKILL if it lingers."""
    if daemon.poll() is not None:
        return
    os.killpg(daemon.pid, signal.SIGTERM)
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=10)
