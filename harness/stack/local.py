"""The local backend: the services of services/Procfile as processes on this machine.

Each process runs in its own process group (so Ctrl-C in the terminal reaches the harness only,
and stopping a group takes its children with it), logs to STACK_DIR/logs/<name>.log, and the
scaled service's line runs N times with distinct WORKER_IDs.
"""

import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from harness.gpu import Check
from harness.matrix import StackSettings
from harness.stack.base import ReplicaExit, Stack, StackError, Unusable, log_tail
from harness.stack.docker import CUDA_PROVIDER, PROVIDERS_PROBE
from harness.stack.interpolate import UnsetVariable, interpolate
from harness.telemetry.members import Member

STOP_GRACE_S = 10.0
STOP_POLL_S = 0.02


def parse_procfile(path: Path) -> list[tuple[str, str]]:
    """`name: command` lines, in order; blank lines and # comments skipped."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, command = line.partition(":")
        if not colon or not name.strip() or not command.strip():
            raise StackError(f"{path}:{number}: expected `name: command`, got {line!r}")
        entries.append((name.strip(), command.strip()))
    return entries


def substitute(command: str, env: dict[str, str]) -> list[str]:
    """The command's arguments with ${VAR} and ${VAR:-default} replaced from env."""
    try:
        # Split first, so a value with spaces stays one argument.
        return [interpolate(argument, env) for argument in shlex.split(command)]
    except UnsetVariable as unset:
        raise StackError(
            f"Procfile command {command!r} uses ${{{unset.name}}}, which is not set"
        ) from None


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot): tells our pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass
class LocalProcess:
    name: str  # the service, numbered when it is the scaled one: model-1, model-2
    args: list[str]
    env: dict[str, str]
    log: Path
    pid: int | None = None
    ticks: int | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def launch(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                env={**os.environ, **self.env},
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        self.ticks = start_ticks(self.pid)

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and start_ticks(self.pid) == self.ticks

    def exit_code(self) -> int | None:
        """Known for our own children only, not for processes an earlier `inv up` started."""
        return self.popen.poll() if self.popen is not None else None

    def owns_pid(self) -> bool:
        """Whether `pid` still names the process we launched (state files outlive reboots)."""
        if self.pid is None:
            return False
        return self.popen is not None or start_ticks(self.pid) == self.ticks

    def group_alive(self) -> bool:
        if self.popen is not None:
            self.popen.poll()
        elif not self.owns_pid():
            return False
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def signal_group(self, signum: int) -> None:
        if not self.owns_pid():
            return
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM to the group, SIGKILL after `grace_s`; the exit code when it is our child."""
        stop_together([self], grace_s)
        return self.popen.wait() if self.popen is not None else None

    def as_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": self.args,
            "env": self.env,
            "log": str(self.log),
            "pid": self.pid,
            "ticks": self.ticks,
        }


def stop_together(processes: list[LocalProcess], grace_s: float) -> None:
    """SIGTERM to every one's group at once, SIGKILL to those still alive after `grace_s`;
    returns once all have exited (our children reaped)."""
    for process in processes:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(process.group_alive() for process in processes):
        time.sleep(STOP_POLL_S)
    for process in processes:
        if process.group_alive():
            process.signal_group(signal.SIGKILL)
        if process.popen is not None:
            process.popen.wait()


class LocalStack(Stack):
    backend = "local"

    def __init__(
        self,
        target: str,
        models: int,
        env: dict[str, str],
        processes: list[LocalProcess],
        scale_service: str | None,
    ) -> None:
        super().__init__(target, models, env)
        self.processes = processes
        self.scale_service = scale_service  # None: the stack scales itself from ${REPLICAS}

    @property
    def starts_server(self) -> bool:
        return bool(self.processes)

    @classmethod
    def create(
        cls,
        settings: StackSettings,
        target: str,
        models: int,
        env: dict[str, str],
        state_dir: Path,
    ) -> "LocalStack":
        cls.preflight(settings, target)
        procfile = settings.procfile
        bin_dir = str(Path(sys.executable).parent)
        # Only what differs from the harness's environment: it is saved in the state file.
        process_env = {
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
            **env,
            "REDIS_URL": f"redis://127.0.0.1:{env['REDIS_PORT']}/0",
        }
        scaled = settings.scale_service
        entries = parse_procfile(procfile)
        processes = []
        for name, command in entries:
            copies = models if name == scaled else 1
            for index in range(1, copies + 1):
                label = f"{name}-{index}" if name == scaled else name
                own_env = {**process_env, "WORKER_ID": label} if name == scaled else process_env
                processes.append(
                    LocalProcess(
                        name=label,
                        args=substitute(command, {**os.environ, **own_env}),
                        env=own_env,
                        log=state_dir / "logs" / f"{label}.log",
                    )
                )
        return cls(target, models, env, processes, scaled)

    @classmethod
    def preflight(cls, settings: StackSettings, target: str) -> None:
        if not settings.procfile.is_file():
            raise Unusable(f"stack.procfile: {settings.procfile} does not exist")
        entries = parse_procfile(settings.procfile)
        scaled = settings.scale_service
        if scaled is not None and scaled not in {name for name, _ in entries}:
            raise Unusable(f"stack.scale_service: {settings.procfile} has no `{scaled}:` line")

    @classmethod
    def serves_reference_model(cls, settings: StackSettings, target: str) -> bool:
        return any("services.model" in command for _, command in parse_procfile(settings.procfile))

    @classmethod
    def gpu_checks(cls, reference_model: bool) -> list[Check]:
        """The reference model's processes run this virtualenv's onnxruntime: it needs the
        CUDA provider. Processes of your own bring their own runtime."""
        if not reference_model:
            return []
        if importlib.util.find_spec("onnxruntime") is None:
            return [Check("onnxruntime", False, "not installed in this virtualenv: `make setup`")]
        probe = subprocess.run(
            [sys.executable, "-c", PROVIDERS_PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if CUDA_PROVIDER in probe.stdout:
            return [Check("onnxruntime CUDA provider", True, "in this virtualenv")]
        return [
            Check(
                "onnxruntime CUDA provider",
                False,
                "this virtualenv's onnxruntime has no CUDA provider: install onnxruntime-gpu at"
                " the lock's version (docs/gpu.md) or use the compose backend",
            )
        ]

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "LocalStack":
        processes = [
            LocalProcess(
                name=entry["name"],
                args=entry["args"],
                env=entry["env"],
                log=Path(entry["log"]),
                pid=entry["pid"],
                ticks=entry["ticks"],
            )
            for entry in state["processes"]
        ]
        return cls(
            state["target"], state["models"], state["env"], processes, state["scale_service"]
        )

    def start(self) -> None:
        for process in self.processes:
            process.log.unlink(missing_ok=True)
            process.launch()

    def exited(self) -> list[ReplicaExit]:
        gone = []
        for process in self.processes:
            if process.pid is None or process.running():
                continue
            code = process.exit_code()
            reason = f"was killed by signal {-code}" if code is not None and code < 0 else "exited"
            gone.append(
                ReplicaExit(process.name, code, reason, log_tail(process.log), process.name)
            )
        return gone

    def restore(self) -> None:
        for process in self.processes:
            if process.pid is not None and not process.running():
                process.signal_group(signal.SIGKILL)
                process.launch()

    def replicas_running(self) -> int | None:
        if self.scale_service is None:
            return None
        return sum(
            process.running()
            for process in self.processes
            if _service_and_replica(process.name, self.scale_service)[1]
        )

    def members(self) -> list[Member]:
        return [
            Member(*_service_and_replica(process.name, self.scale_service), pid=process.pid)
            for process in self.processes
            if process.pid is not None and process.running()
        ]

    def logs(self) -> str:
        return "\n".join(
            f"--- {process.name} ({process.log}) ---\n{log_tail(process.log)}"
            for process in self.processes
        )

    def stop(self) -> None:
        # Service by service, the Procfile's last first (the workers, the API, then Redis), each
        # service's replicas together: a worker that outlived Redis lost its connection, logged
        # errors about a queue that vanished, and slept a second before it exited.
        services: dict[str, list[LocalProcess]] = {}
        for process in self.processes:
            service, _ = _service_and_replica(process.name, self.scale_service)
            services.setdefault(service, []).append(process)
        for processes in reversed(services.values()):
            stop_together(processes, STOP_GRACE_S)

    def backend_state(self) -> dict[str, Any]:
        return {
            "processes": [process.as_state() for process in self.processes],
            "scale_service": self.scale_service,
        }


def _service_and_replica(name: str, scale_service: str | None) -> tuple[str, str]:
    """`model-2` of the scaled service `model` is replica "2" of it; `api` is the api."""
    prefix = f"{scale_service}-"
    if scale_service is not None and name.startswith(prefix) and name[len(prefix) :].isdigit():
        return scale_service, name[len(prefix) :]
    return name, ""
