"""Real processes for the integration tests: redis-server, the API under uvicorn, model workers,
started one by one from services/Procfile with the harness's own process class (each in its
own process group, so stopping it also stops anything it started)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import redis

from harness.stack.local import LocalProcess, parse_procfile, substitute
from harness.stack.network import free_port
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
PROCFILE = REPO / "services" / "Procfile"
VENV_BIN = Path(sys.executable).parent
CLIENT_KEEPALIVE_S = 1.0  # under uvicorn's keep-alive of 5 s: see LocalStack.http


def procfile_command(name: str, env: dict[str, str]) -> list[str]:
    """The Procfile's line for `name`, substituted the way the harness's local backend does."""
    return substitute(dict(parse_procfile(PROCFILE))[name], env)


def process_env(redis_port: int, api_port: int, extra: dict[str, str]) -> dict[str, str]:
    """The environment the stack's processes get: this virtualenv first on PATH, as the harness
    gives it, so `python` and `redis-server` in the Procfile are the ones installed here."""
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "REDIS_PORT": str(redis_port),
        "API_PORT": str(api_port),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        **extra,
    }


class Process(LocalProcess):
    """The harness's process, with what the tests do to single processes: signal, read."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        super().__init__(name=name, args=argv, env=env, log=log_path)
        self.log.unlink(missing_ok=True)
        self.launch()

    def send(self, signum: int) -> None:
        os.killpg(self.popen.pid, signum)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class LocalStack:
    """One redis-server, one API, any number of workers, on free ports of 127.0.0.1."""

    def __init__(self, log_dir: Path, model_cache_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.redis_port = free_port()
        self.api_port = free_port()
        self.env = process_env(
            self.redis_port, self.api_port, {"MODEL_CACHE_DIR": str(model_cache_dir), **env}
        )
        self.redis_url = self.env["REDIS_URL"]
        self.processes: list[Process] = []
        self.redis = redis.Redis.from_url(self.redis_url)
        # Idle connections are dropped well before uvicorn closes them (its keep-alive, 5 s, is
        # httpx's default expiry too): a request sent on one as the server closes it is lost in
        # transit, never read, and the tests under load saw it as a stack that lost a request.
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}",
            timeout=60,
            limits=httpx.Limits(keepalive_expiry=CLIENT_KEEPALIVE_S),
        )
        try:
            self.redis_process = self.start_process(
                "redis", procfile_command("redis", self.env), {}
            )
            wait_until(self._redis_answers, 10, "redis-server")
            self.api = self.start_process("api", procfile_command("api", self.env), {})
            wait_until(self._api_answers, 30, "the API")
        except BaseException:  # a stack that failed to start leaves no process behind
            self.close()
            raise

    def restart_redis(self) -> None:
        """A new, empty redis-server on the same port: what a restart without persistence is."""
        self.redis_process.stop()
        self.redis_process = self.start_process("redis", procfile_command("redis", self.env), {})
        wait_until(self._redis_answers, 10, "redis-server")

    def start_process(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        process = Process(name, argv, {**self.env, **env}, self.log_dir / f"{name}.log")
        self.processes.append(process)
        return process

    def _redis_answers(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.ConnectionError:
            return False

    def _api_answers(self) -> bool:
        assert self.api.running(), self.api.log_text()
        try:
            return self.http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def start_worker(self, worker_id: str, env: dict[str, str] | None = None) -> Process:
        own_env = {**self.env, "WORKER_ID": worker_id, **(env or {})}
        return self.start_process(
            f"worker-{worker_id}", procfile_command("model", own_env), own_env
        )

    def stop_workers(self) -> None:
        """Every worker stopped and its heartbeat expired: the next test starts with none."""
        for process in [one for one in self.processes if one.name.startswith("worker-")]:
            process.signal_group(signal.SIGCONT)  # a frozen worker cannot act on SIGTERM
            process.stop()
            self.processes.remove(process)
        wait_until(lambda: self.live_workers() == 0, 30, "no live worker")

    def live_workers(self) -> int:
        return self.http.get("/ready").json()["workers"]

    def wait_for_workers(self, count: int, timeout_s: float = 90) -> None:
        wait_until(lambda: self.live_workers() >= count, timeout_s, f"{count} live workers")

    def close(self) -> None:
        self.http.close()
        for process in reversed(self.processes):
            process.stop()
        self.redis.close()
