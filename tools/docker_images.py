"""Build the stack's images where no registry can be reached.

A Debian base comes from `debootstrap` + `docker import`; Redis is Debian's `redis-server` on that
base, tagged with the official image's name so the compose file runs unchanged; the api and model
images are built from services/ through the Dockerfiles' offline options (base image argument,
wheelhouse, CA bundle). The base image is kept by its tag (debootstrap takes a while); the others
are rebuilt on every call, which Docker's layer cache makes cheap when nothing changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import REPO_ROOT
from harness.stack.docker import docker_engine_answers
from tools.lock import LOCK

BASE_IMAGE = "inference-loadbench-base:bookworm"
LOCAL_REDIS_IMAGE = "inference-loadbench-redis:bookworm"
# The name compose/docker-compose.yml uses: the official image, which this one stands in for.
REDIS_IMAGE = "redis:7-bookworm"
# Each image: (its Dockerfile, its tag, its build arguments). The GPU worker is the model's
# Dockerfile with onnxruntime's CUDA build (the `gpu` extra) instead of the CPU one; the Locust
# image is the swarm backend's workers.
SERVICE_IMAGES = {
    "api": ("services/api/Dockerfile", "inference-loadbench-api", {}),
    "model": (
        "services/model/Dockerfile",
        "inference-loadbench-model",
        {"MODEL_EXTRAS": "model cpu"},
    ),
    "model-gpu": (
        "services/model/Dockerfile",
        "inference-loadbench-model:gpu",
        {"MODEL_EXTRAS": "model gpu"},
    ),
    "locust": ("locust/Dockerfile", "inference-loadbench-locust", {}),
}

DEBIAN_SUITE = "bookworm"  # its python3 is 3.11, the ABI of the pinned torch wheel
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# The Dockerfiles read their optional offline inputs from this folder of the build context.
WHEELHOUSE = REPO_ROOT / ".whl"
WHEELHOUSE_CA_BUNDLE = "ca-certificates.crt"
APT_SOURCES = Path("/etc/apt")
STEP_TIMEOUT_S = 1800

REDIS_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends redis-server \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
"""


class ImageBuildError(RuntimeError):
    """A build step failed; the message names the step and ends with its output's last lines."""


@dataclass
class BuildReport:
    """Seconds each step took, and whether the base image was found already built."""

    seconds: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)


def _run(step: str, command: Sequence[str], log_path: Path, stdin: bytes | None = None) -> None:
    with log_path.open("ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        try:
            completed = subprocess.run(
                command,
                input=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=STEP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ImageBuildError(f"{step} ran past {STEP_TIMEOUT_S}s; see {log_path}") from None
    if completed.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise ImageBuildError(
            f"{step} failed (exit {completed.returncode}); last lines of {log_path}:\n{tail}"
        )


def require_engine() -> None:
    if shutil.which("docker") is None:
        raise ImageBuildError("the docker program is missing (Debian: apt-get install docker.io)")
    if not docker_engine_answers():
        raise ImageBuildError("no Docker engine answers `docker info`; start dockerd first")


def image_exists(tag: str) -> bool:
    inspected = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, check=False
    )
    return inspected.returncode == 0


def pip_settings(name: str) -> list[str]:
    """Values pip itself would use for option `name` (environment, then its config files)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    values = []
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(f".{name}"):
            values.extend(value.strip("'\"").split())
    return values


def locked_version(package: str) -> str:
    """The version requirements.lock pins for `package`."""
    for line in LOCK.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise ImageBuildError(f"{LOCK.name} pins no {package}: run `make lock`")


def local_torch_wheels() -> list[Path]:
    """The CPU build of the locked torch from pip's local find-links folders (PyPI's Linux
    torch is the CUDA build): at most one, the first found."""
    pattern = f"torch-{locked_version('torch')}+cpu-cp311-cp311-*.whl"
    for link in pip_settings("find-links"):
        folder = Path(link.removeprefix("file://"))
        if folder.is_dir():
            found = sorted(folder.glob(pattern))
            if found:
                return found[:1]
    return []


def pip_ca_bundle() -> Path | None:
    """The CA bundle pip trusts here (pip's `cert`), for pip inside the builds."""
    for cert in pip_settings("cert"):
        if Path(cert).is_file():
            return Path(cert)
    return None


def debian_mirror(apt_dir: Path = APT_SOURCES, suite: str = DEBIAN_SUITE) -> str:
    """The first configured apt URI serving `suite` itself (not -updates or -security)."""
    source_files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in source_files:
        if not path.is_file() or path.suffix not in {".list", ".sources"}:
            continue
        text = path.read_text()
        if path.suffix == ".list":
            for line in text.splitlines():
                # `deb [options] URI suite components...`
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
            continue
        for stanza in text.split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if ":" in line and not line.startswith(("#", " "))
            )
            suites = fields.get("Suites", "").split()
            if suite in suites and "deb" in fields.get("Types", "").split():
                return fields["URIs"].split()[0]
    raise ImageBuildError(f"no apt source for Debian {suite} under {apt_dir}; pass mirror=")


def build_base_image(
    log_path: Path, tag: str = BASE_IMAGE, mirror: str | None = None, rebuild: bool = False
) -> bool:
    """debootstrap a minimal Debian with Python and `docker import` it; False when kept by tag."""
    if not rebuild and image_exists(tag):
        return False
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is missing: apt-get install debootstrap (as root)")
    mirror = mirror or debian_mirror()
    with tempfile.TemporaryDirectory(prefix="loadbench-rootfs-") as workdir:
        root = Path(workdir) / "root"
        _run(
            "debootstrap",
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(root),
                mirror,
            ],
            log_path,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        with log_path.open("ab") as log:
            archive = subprocess.Popen(
                ["tar", "--numeric-owner", "-C", str(root), "-c", "."],
                stdout=subprocess.PIPE,
                stderr=log,
            )
            try:
                imported = subprocess.run(
                    [
                        "docker",
                        "import",
                        "--change",
                        "ENV LANG=C.UTF-8",
                        "--change",
                        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "--change",
                        'CMD ["python3"]',
                        "-",
                        tag,
                    ],
                    stdin=archive.stdout,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=STEP_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ImageBuildError(f"docker import ran past {STEP_TIMEOUT_S}s") from None
            finally:
                # Closing the pipe ends tar, if the import stopped reading early.
                archive.stdout.close()
                archive_status = archive.wait()
    if archive_status != 0 or imported.returncode != 0:
        raise ImageBuildError(f"docker import of the debootstrap tree failed; see {log_path}")
    return True


def build_redis_image(log_path: Path, base_image: str = BASE_IMAGE) -> None:
    """Debian's redis-server on the base, tagged LOCAL_REDIS_IMAGE and REDIS_IMAGE."""
    _run(
        "redis image build",
        [
            "docker",
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "-t",
            LOCAL_REDIS_IMAGE,
            "-",
        ],
        log_path,
        stdin=REDIS_DOCKERFILE.encode(),
    )
    _run("docker tag", ["docker", "tag", LOCAL_REDIS_IMAGE, REDIS_IMAGE], log_path)


def stage_wheelhouse(wheels: Sequence[Path], ca_bundle: Path | None) -> None:
    """Copy the wheels and the CA bundle into the build context's wheelhouse, once each."""
    WHEELHOUSE.mkdir(exist_ok=True)
    copies = [(wheel, WHEELHOUSE / wheel.name) for wheel in wheels]
    if ca_bundle is not None:
        copies.append((ca_bundle, WHEELHOUSE / WHEELHOUSE_CA_BUNDLE))
    for source, target in copies:
        if not source.is_file():
            raise ImageBuildError(f"{source} is not a file")
        if target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another filesystem, or one without hard links
            shutil.copyfile(source, target)


def build_service_image(
    service: str,
    log_path: Path,
    base_image: str = BASE_IMAGE,
    build_args: Mapping[str, str] | None = None,
) -> None:
    """`docker build` the image `service` names (SERVICE_IMAGES) from the repository root."""
    if service not in SERVICE_IMAGES:
        raise ImageBuildError(f"unknown image {service!r}; known: {', '.join(SERVICE_IMAGES)}")
    path, tag, image_args = SERVICE_IMAGES[service]
    arguments = {"BASE_IMAGE": base_image, **image_args, **(build_args or {})}
    dockerfile = REPO_ROOT / path
    command = ["docker", "build", "--network", "host", "-f", str(dockerfile)]
    for name, value in arguments.items():
        command += ["--build-arg", f"{name}={value}"]
    command += ["-t", tag, str(REPO_ROOT)]
    _run(f"{service} image build", command, log_path)


def build_command(rebuild_base: bool) -> str:
    """`inv images`: every image, then one line with each step's seconds; raises on failure."""
    log_path = REPO_ROOT / ".cache" / "images.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report = build_offline_images(log_path, rebuild_base=rebuild_base)
    steps = ", ".join(f"{step} {seconds:.0f}s" for step, seconds in report.seconds.items())
    return f"images built ({steps}); log: {log_path}"


def build_offline_images(log_path: Path, rebuild_base: bool = False) -> BuildReport:
    """Base, Redis, api, model and GPU model images, built with no registry; the seconds each
    step took.

    pip inside the builds gets this machine's CPU torch wheel and CA bundle, where pip has them.
    """
    require_engine()
    report = BuildReport()
    started = time.monotonic()
    if not build_base_image(log_path, rebuild=rebuild_base):
        report.reused.append("base")
    report.seconds["base"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    build_redis_image(log_path)
    report.seconds["redis"] = round(time.monotonic() - started, 1)
    torch_wheels = local_torch_wheels()
    stage_wheelhouse(torch_wheels, pip_ca_bundle())
    # With the wheel at hand, no torch index is asked (it may be out of reach).
    model_build_args = {"TORCH_INDEX_URL": ""} if torch_wheels else {}
    for service, build_args in (
        ("api", {}),
        ("model", model_build_args),
        ("model-gpu", model_build_args),
        ("locust", {}),
    ):
        started = time.monotonic()
        build_service_image(service, log_path, build_args=build_args)
        report.seconds[service] = round(time.monotonic() - started, 1)
    return report
