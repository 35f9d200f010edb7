"""What the compose files and Dockerfiles promise, checked without a Docker engine.

The hostnet override restates the API as `api-hostnet` (Compose v1 cannot drop a published port),
so these tests also catch the two definitions drifting apart.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import REPO_ROOT
from harness.stack.docker import compose_command
from tools.docker_images import (
    REDIS_IMAGE,
    SERVICE_IMAGES,
    ImageBuildError,
    debian_mirror,
    locked_version,
)

COMPOSE = REPO_ROOT / "compose"


def load(name: str) -> dict:
    return yaml.safe_load((COMPOSE / name).read_text())


def started_services(*names: str) -> dict[str, dict]:
    """The services `up` starts with these files: merged shallowly, inactive profiles left out."""
    merged: dict[str, dict] = {}
    for name in names:
        for service, definition in load(name)["services"].items():
            merged.setdefault(service, {}).update(definition)
    return {name: service for name, service in merged.items() if "profiles" not in service}


def test_base_file_publishes_only_the_api_on_loopback() -> None:
    base = load("docker-compose.yml")
    assert "version" not in base
    services = base["services"]
    assert set(services) == {"redis", "api", "model"}
    assert services["redis"]["image"] == REDIS_IMAGE
    assert "ports" not in services["redis"] and "ports" not in services["model"]
    assert "container_name" not in services["model"]
    assert [port.split(":")[0] for port in services["api"]["ports"]] == ["127.0.0.1"]
    for name in ("api", "model"):
        assert services[name]["image"] == SERVICE_IMAGES[name][1]
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert all("healthcheck" in service for service in services.values())


def test_hostnet_override_puts_every_started_service_on_the_host_network() -> None:
    services = started_services("docker-compose.yml", "docker-compose.hostnet.yml")
    assert set(services) == {"redis", "api-hostnet", "model"}
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert "ports" not in service, name
    assert "--bind" in services["redis"]["command"]
    api_command = services["api-hostnet"]["command"]
    assert api_command[api_command.index("--host") + 1] == "127.0.0.1"


def test_hostnet_api_is_the_base_api_on_another_network() -> None:
    api = load("docker-compose.yml")["services"]["api"]
    api_hostnet = load("docker-compose.hostnet.yml")["services"]["api-hostnet"]
    for key in ("build", "image", "healthcheck", "depends_on"):
        assert api_hostnet[key] == api[key], key
    assert set(api_hostnet["environment"]) == set(api["environment"])
    assert api_hostnet["command"][:2] == api["command"][:2]


# Variables a service reads that compose must not pass through: each replica makes its own id
# (one passed would be every replica's), and the model image sets its cache folder itself.
NOT_PASSED = {"WORKER_ID", "MODEL_CACHE_DIR"}


@pytest.mark.parametrize("service", ["api", "model"])
def test_compose_passes_every_variable_its_service_reads(service: str) -> None:
    # The environment table of docs/stack.md says which service reads each variable (the
    # services' settings test holds it to services/settings.py); a variable set in stack.env
    # must reach the containers, or it would work locally and be dropped in compose silently.
    table = (REPO_ROOT / "docs" / "stack.md").read_text().split("| variable | read by |")[1]
    lines = table.splitlines()[2:]
    rows = [
        line.split("|") for line in itertools.takewhile(lambda line: line.startswith("|"), lines)
    ]
    read = {cells[1].strip(" `") for cells in rows if service in cells[2]} - NOT_PASSED
    assert read, "the table names no variable of this service"
    # The hostnet override restates the API whole and adds to the model's environment.
    definitions = [("docker-compose.yml", service)]
    if service == "api":
        definitions.append(("docker-compose.hostnet.yml", "api-hostnet"))
    for file, name in definitions:
        passed = set(load(file)["services"][name]["environment"])
        assert read <= passed, (file, name, sorted(read - passed))


def test_gpu_override_reserves_the_gpu_for_the_model_only() -> None:
    services = load("docker-compose.gpu.yml")["services"]
    assert set(services) == {"model"}
    model = services["model"]
    assert model["environment"]["DEVICE"] == "cuda"
    (device,) = model["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert model["image"] == SERVICE_IMAGES["model-gpu"][1] != SERVICE_IMAGES["model"][1]
    assert model["build"]["args"] == SERVICE_IMAGES["model-gpu"][2]


@pytest.mark.parametrize("image", ["api", "model", "locust"])
def test_dockerfile_offers_the_offline_options_and_runs_as_a_user(image: str) -> None:
    dockerfile = (REPO_ROOT / SERVICE_IMAGES[image][0]).read_text()
    assert dockerfile.startswith("#") and "\nARG BASE_IMAGE=" in dockerfile
    assert "requirements.lock .whl* /build/" in dockerfile
    assert "-c /build/requirements.lock" in dockerfile, "the image installs the locked versions"
    assert "PIP_CERT=/build/ca-certificates.crt" in dockerfile
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "\nUSER app\n" in final_stage
    assert "/build" not in final_stage, "the wheelhouse must stay in the build stage"


def test_torch_is_pinned_once_and_locked_at_that_version() -> None:
    pins = [
        (path, line)
        for path in (
            REPO_ROOT / "pyproject.toml",
            REPO_ROOT / "Makefile",
            *REPO_ROOT.glob("services/*/Dockerfile"),
            *COMPOSE.glob("*.yml"),
        )
        for line in path.read_text().splitlines()
        if re.search(r"\btorch\s*=+\s*\d", line)
    ]
    assert [path.name for path, _ in pins] == ["pyproject.toml"], pins
    pinned = re.search(r"torch==(\S+)\"", pins[0][1])[1]
    assert locked_version("torch") == pinned


def test_dockerignore_lets_the_builds_see_only_what_they_copy() -> None:
    rules = (REPO_ROOT / ".dockerignore").read_text().split()
    assert rules[rules.index("*") :][:6] == [
        "*",
        "!pyproject.toml",
        "!requirements.lock",
        "!services/",
        "!locust/",
        "!.whl/",
    ]


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        (
            "sources.list.d/debian.sources",
            "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
            "Components: main\n\n"
            "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n",
        ),
        (
            "sources.list",
            "# deb http://old.example/debian bookworm main\n"
            "deb http://mirror.example/debian-security bookworm-security main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n",
        ),
    ],
)
def test_debian_mirror_reads_both_apt_source_formats(
    tmp_path: Path, file_name: str, text: str
) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / file_name).write_text(text)
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_debian_mirror_without_the_suite_says_so(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian trixie main\n")
    with pytest.raises(ImageBuildError, match="no apt source for Debian bookworm"):
        debian_mirror(tmp_path)


@pytest.mark.docker
@pytest.mark.parametrize(
    "overrides",
    [[], ["docker-compose.hostnet.yml"], ["docker-compose.gpu.yml"]],
    ids=["base", "hostnet", "gpu"],
)
def test_compose_accepts_the_files(docker_engine: Path, overrides: list[str]) -> None:
    files = [arg for name in ["docker-compose.yml", *overrides] for arg in ("-f", COMPOSE / name)]
    checked = subprocess.run(
        [*compose_command(), "-p", "config-check", *files, "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
