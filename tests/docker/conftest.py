"""The Docker engine fixture: installed and started when missing; skipped only when impossible
(failed instead where REQUIRE_DOCKER=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack.docker import docker_engine_answers
from tests.docker.engine import (
    EngineUnavailable,
    install_packages,
    start_dockerd,
    stop_dockerd,
)
from tools.docker_images import build_offline_images


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Docker engine that answers; yields the folder holding the install and daemon logs."""
    log_dir = tmp_path_factory.mktemp("docker-engine")
    try:
        install_packages(log_dir / "apt.log")
        daemon = None if docker_engine_answers() else start_dockerd(log_dir / "dockerd.log")
    except EngineUnavailable as reason:
        if os.environ.get("REQUIRE_DOCKER") == "1":  # CI: the Docker path must have run
            pytest.fail(f"no Docker engine, and REQUIRE_DOCKER=1: {reason}")
        pytest.skip(f"no Docker engine: {reason}")
    yield log_dir
    if daemon is not None:
        stop_dockerd(daemon)


@pytest.fixture(scope="session")
def built_images(docker_engine: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every image of the stack, built offline once a session (`make images`); its report."""
    return build_offline_images(tmp_path_factory.mktemp("images") / "build.log")
