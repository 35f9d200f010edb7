"""A second swarm node on this machine, for the two-node tests: a network namespace of the test's
own, joined to the host by a veth pair on a /24 nothing here uses, with a second dockerd inside
it; the swarm of both engines; and each of them undone.

Why each step is as it is:
- dockerd is started in the namespace with `nsenter --net`, not `ip netns exec`, which also
  remounts /sys: dockerd then finds no devices cgroup and stops.
- Its data root, exec root, pid file and socket are its own; its containerd is its own too (the
  dockerd starts one under its exec root).
- The /24 is taken from 198.18.0.0/15, the range set aside for benchmarking networks (RFC 2544),
  and not one Docker's own address pools give out (10.0.0.0/8 for overlays, 172.17+ bridges).
- Images reach it without a registry: `docker save | docker -H <its socket> load`.
- Stopped while in a swarm (as the lost-node test stops it), dockerd leaves the network
  namespaces of its sandboxes, its own among them, bind-mounted under its exec root: they keep
  the test's namespace alive after `ip netns del` until they are unmounted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.docker.engine import DOCKERD_OPTION_SETS, EngineUnavailable
from tests.docker.sweeps import docker

BENCHMARK_RANGE = ipaddress.ip_network("198.18.0.0/15")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 10.0
JOIN_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 600.0


def run(*command: str, timeout: float = COMMAND_TIMEOUT_S) -> str:
    """A command's output; AssertionError with its error output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr}")
    return done.stdout


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 of the benchmarking range that no address or route of this machine touches."""
    taken = [
        ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False)
        for link in json.loads(run("ip", "-j", "-4", "addr"))
        for info in link.get("addr_info", [])
    ]
    taken += [
        ipaddress.ip_network(route["dst"], strict=False)
        for route in json.loads(run("ip", "-j", "-4", "route"))
        if route["dst"] != "default"
    ]
    for subnet in BENCHMARK_RANGE.subnets(new_prefix=24):
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise AssertionError(f"every /24 of {BENCHMARK_RANGE} is in use here")


@dataclass(frozen=True)
class Namespace:
    """A network namespace and the veth pair joining it to the host, on `subnet`: .1 on the
    host's end, .2 on the namespace's."""

    name: str
    subnet: ipaddress.IPv4Network

    @property
    def host_address(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def node_address(self) -> str:
        return str(self.subnet.network_address + 2)

    @property
    def host_end(self) -> str:
        return f"{self.name[:12]}h"  # interface names have at most 15 characters

    @property
    def path(self) -> str:
        return f"/var/run/netns/{self.name}"

    def exists(self) -> bool:
        return self.name in run("ip", "netns", "list").split()

    def create(self) -> None:
        node_end = f"{self.name[:12]}n"
        prefix = self.subnet.prefixlen
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", self.host_end, "type", "veth", "peer", "name", node_end)
        run("ip", "link", "set", node_end, "netns", self.name)
        run("ip", "addr", "add", f"{self.host_address}/{prefix}", "dev", self.host_end)
        run("ip", "link", "set", self.host_end, "up")
        run("ip", "-n", self.name, "addr", "add", f"{self.node_address}/{prefix}", "dev", node_end)
        run("ip", "-n", self.name, "link", "set", node_end, "up")
        run("ip", "-n", self.name, "link", "set", "lo", "up")

    def host_end_exists(self) -> bool:
        return self.host_end in [link["ifname"] for link in json.loads(run("ip", "-j", "link"))]

    def delete(self) -> None:
        """The namespace, and with it both ends of the veth pair (once nothing holds the
        namespace: the kernel frees it in the background)."""
        if self.exists():
            run("ip", "netns", "del", self.name)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while self.host_end_exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.host_end_exists():  # the namespace never got its end, or something holds it
            run("ip", "link", "del", self.host_end)


class SecondEngine:
    """dockerd inside the namespace, with roots of its own under `root`."""

    def __init__(self, namespace: Namespace, root: Path) -> None:
        self.namespace = namespace
        self.root = root
        self.socket = root / "docker.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def answers(self) -> bool:
        try:
            done = subprocess.run(
                ["docker", "-H", self.docker_host, "info", "--format", "{{.ID}}"],
                capture_output=True,
                timeout=20,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def start(self) -> None:
        """dockerd in the namespace, once it answers. A fresh node each time, its images
        kept: the swarm and network state a node kept when it was stopped without leaving (as
        the lost-node test stops it), its exec root and its stopped containers are removed."""
        for state in (self.root / "data" / "swarm", self.root / "data" / "network", self.exec_root):
            shutil.rmtree(state, ignore_errors=True)
        log_path = self.root / "dockerd.log"
        for options in DOCKERD_OPTION_SETS:
            with log_path.open("ab") as log:
                # nsenter execs dockerd: the pid is dockerd's own.
                self.process = subprocess.Popen(
                    [
                        "nsenter",
                        f"--net={self.namespace.path}",
                        "dockerd",
                        *options,
                        "--data-root",
                        str(self.root / "data"),
                        "--exec-root",
                        str(self.exec_root),
                        "--pidfile",
                        str(self.root / "dockerd.pid"),
                        "-H",
                        self.docker_host,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline and self.process.poll() is None:
                if self.answers():
                    docker("container", "prune", "--force", host=self.docker_host)
                    return
                time.sleep(1)
            self.stop()
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
        raise EngineUnavailable(f"the second dockerd did not start; {log_path} ends:\n{tail}")

    def stop(self) -> None:
        """SIGTERM to dockerd by its pid, which stops its containers and its containerd; where
        it lingers, SIGKILL to it and to what it started (containerd, the shims: they run in
        sessions of their own). Safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            for pid in self.processes():
                os.kill(pid, signal.SIGKILL)

    def processes(self) -> list[int]:
        """Every process still running that belongs to this engine: dockerd, its containerd,
        the shims of its containers (each names the engine's roots on its command line)."""
        listing = run("ps", "-eo", "pid=,args=")
        return [
            int(line.split(maxsplit=1)[0])
            for line in listing.splitlines()
            if str(self.root) in line and line.split(maxsplit=1)[0].isdigit()
        ]

    def mounts(self) -> list[str]:
        """What is still mounted under the engine's roots."""
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        points = [line.split()[4] for line in mounts]
        return [point for point in points if point.startswith(f"{self.root}/")]

    def release_mounts(self) -> None:
        """Unmount what dockerd left mounted (deepest first): its sandboxes' namespaces."""
        for point in sorted(self.mounts(), key=len, reverse=True):
            run("umount", point)


def load_images(images: list[str], docker_host: str) -> None:
    """`docker save | docker -H <docker_host> load`: the images, with no registry."""
    missing = [
        image
        for image in images
        if subprocess.run(
            ["docker", "-H", docker_host, "image", "inspect", image],
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        ).returncode
        != 0
    ]
    if not missing:
        return
    save = subprocess.Popen(["docker", "save", *missing], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(
            ["docker", "-H", docker_host, "load"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT_S,
            check=False,
        )
    finally:
        save.stdout.close()
        saved = save.wait(timeout=LOAD_TIMEOUT_S)
    if saved != 0 or load.returncode != 0:
        raise AssertionError(f"docker save | docker load of {missing} failed: {load.stderr}")


def node_id(docker_host: str | None = None) -> str:
    return docker("info", "--format", "{{.Swarm.NodeID}}", host=docker_host).strip()


def make_swarm(namespace: Namespace, second: SecondEngine) -> None:
    """A swarm of this machine's engine (manager, advertised on the host's end of the veth)
    and the second engine (worker, on the namespace's end); returns once both are Ready."""
    docker("swarm", "init", "--advertise-addr", namespace.host_address)
    token = docker("swarm", "join-token", "-q", "worker").strip()
    docker(
        "swarm",
        "join",
        "--advertise-addr",
        namespace.node_address,
        "--token",
        token,
        f"{namespace.host_address}:2377",
        host=second.docker_host,
    )
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = docker("node", "ls", "--format", "{{.Status}}").split()
        if statuses == ["Ready", "Ready"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"the two nodes are not both Ready after {JOIN_TIMEOUT_S}s: {statuses}")


def leave_swarm(second: SecondEngine) -> None:
    """Both engines out of the swarm: the second first, where it still answers."""
    if second.answers():
        docker("swarm", "leave", "--force", host=second.docker_host, check=False)
    docker("swarm", "leave", "--force", check=False)


def network_names() -> set[str]:
    return set(docker("network", "ls", "--format", "{{.Name}}").split())


def remove_networks_since(before: set[str]) -> None:
    """The local networks the swarm made here and left (docker_gwbridge outlives the swarm)."""
    for name in sorted(network_names() - before):
        docker("network", "rm", name, check=False)


@dataclass(frozen=True)
class TwoNodes:
    namespace: Namespace
    second: SecondEngine


@contextmanager
def two_node_swarm(root: Path) -> Iterator[TwoNodes]:
    """This machine's engine and a second one in a namespace, as a swarm of two Ready nodes;
    afterwards, whatever happened in between (a failure, Ctrl-C), both out of the swarm, the
    second engine stopped and its mounts released, the namespace and its veth pair gone, and
    the networks the swarm made here removed. `root` holds the second engine's files."""
    namespace = Namespace(f"loadbench-{os.getpid()}", free_subnet())
    second = SecondEngine(namespace, root)
    with ExitStack() as undo:  # each step undone in reverse order, even when one fails
        undo.callback(remove_networks_since, network_names())
        undo.callback(namespace.delete)
        namespace.create()
        undo.callback(second.release_mounts)
        undo.callback(second.stop)
        second.start()
        undo.callback(leave_swarm, second)
        make_swarm(namespace, second)
        yield TwoNodes(namespace, second)
