"""A stack's life: brought up at a scale and found ready, restored after losing a replica, and
always brought down. Its state is saved in a state folder, so `inv down` finds what `inv up`
started."""

import json
import time
from pathlib import Path
from typing import Any

import requests

from harness.gpu import CAP_SETTING, cards, replica_cap_mib
from harness.interrupts import uninterrupted
from harness.matrix import StackSettings
from harness.stack.base import Stack, StackError
from harness.stack.network import api_port, free_port, port_in_use
from harness.stack.registry import backend_class

READY_POLL_S = 0.5
READY_TIMEOUT_S = 2.0
STATE_FILE = "state.json"


def model_env(settings: StackSettings, target: str) -> dict[str, str]:
    """What the model workers are configured with: the matrix's settings on the target device."""
    return {"DEVICE": "cuda" if target == "gpu" else "cpu", **settings.env}


def services_env(settings: StackSettings, target: str, models: int) -> dict[str, str]:
    """The services' environment: the matrix's, plus what the scale and target decide (on a
    GPU, each replica's memory cap: harness/gpu.py)."""
    env = model_env(settings, target)
    # The scale, for a stack that scales itself (${REPLICAS} in its Procfile or compose files),
    # and for our API, which reports ready once this many workers are alive.
    env["REPLICAS"] = env["EXPECTED_WORKERS"] = str(models)
    found = cards() if target == "gpu" else []
    if found:
        env[CAP_SETTING] = str(replica_cap_mib(env, found[0], models))
    env["API_PORT"] = str(api_port(settings.host))
    # A free port, so Redis on the host network (local backend, hostnet override) never collides.
    env["REDIS_PORT"] = str(free_port())
    return env


def load_stack(state_dir: Path) -> Stack | None:
    """The stack `inv up` left running, or None."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    return backend_class(state["backend"]).from_state(state)


def save_state(stack: Stack, state_dir: Path, kept: bool = False) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = state_dir / f"{STATE_FILE}.partial"
    partial.write_text(json.dumps({**stack.state(), "kept": kept}, indent=2))
    partial.replace(state_dir / STATE_FILE)


def wait_ready(stack: Stack, settings: StackSettings) -> dict[str, Any]:
    """Poll the readiness URL until the stack is ready; its JSON answer (empty when it is not
    a JSON object). Ready: the answer's `ready_replicas_field` counts every replica live; or,
    without such a field, the URL answers 2xx and the backend runs every replica (and, where it
    has a healthcheck, finds each healthy)."""
    deadline = time.monotonic() + settings.ready_timeout_s
    field = settings.ready_replicas_field
    wanted = f"{field} >= {stack.models}" if field else "a 2xx answer"
    last_answer = "no answer yet"
    while time.monotonic() < deadline:
        exited = stack.exited()
        if exited:
            details = "\n".join(f"{gone.describe()}\n{gone.log}" for gone in exited)
            raise StackError(f"the stack lost a process while starting:\n{details}")
        try:
            answer = requests.get(settings.ready_url, timeout=READY_TIMEOUT_S)
            last_answer = f"HTTP {answer.status_code} {answer.text[:200]}"
            body = _json_object(answer)
            if field is None:
                running = stack.replicas_running()
                if running is not None and running < stack.models:
                    last_answer += f"; {running} of {stack.models} replicas running"
                elif 200 <= answer.status_code < 300:
                    return body
            elif isinstance(body.get(field), int) and body[field] >= stack.models:
                return body
        except requests.RequestException as error:
            last_answer = f"{type(error).__name__}: {error}"
        time.sleep(READY_POLL_S)
    raise StackError(
        f"{settings.ready_url} did not report {wanted} within "
        f"{settings.ready_timeout_s:g}s (ready_timeout_s); last answer: {last_answer}\n"
        f"--- stack logs ---\n{stack.logs()}"
    )


def _json_object(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def bring_up(
    settings: StackSettings, target: str, models: int, backend: str, state_dir: Path
) -> tuple[Stack, dict[str, Any]]:
    """Start the stack at `models` replicas and wait until ready; it comes down on any error.

    A stack the previous scale of the same sweep kept up (`bring_down(keep=True)`) is scaled
    to `models` instead, without a redeploy.
    """
    kept = load_stack(state_dir)
    if kept is not None and _kept_for(kept, state_dir, backend, target):
        if _configured_as(kept, settings, target):
            return _rescaled(kept, settings, models, state_dir)
        print("stack kept from the last scale runs other settings: deployed again", flush=True)
        bring_down(kept, state_dir)
        kept = None
    if kept is not None:
        raise StackError(f"a stack is already up ({state_dir / STATE_FILE}); run `inv down` first")
    env = services_env(settings, target, models)
    stack = backend_class(backend).create(settings, target, models, env, state_dir)
    port = api_port(settings.host)
    if stack.starts_server and port_in_use(port):
        raise StackError(
            f"port {port} of host {settings.host} is already in use: stop what listens there "
            "or change `host` in the matrix"
        )
    print(f"stack up: {backend}, target {target}, {models} replica(s) ...", flush=True)
    started = time.monotonic()
    try:
        save_state(stack, state_dir)
        stack.start()
        save_state(stack, state_dir)
        ready = wait_ready(stack, settings)
    except BaseException:
        bring_down(stack, state_dir)
        raise
    print(f"stack ready in {time.monotonic() - started:.1f}s", flush=True)
    return stack, ready


def restore(stack: Stack, settings: StackSettings, state_dir: Path) -> dict[str, Any]:
    """Bring a stack that lost replicas back to its scale before the next run."""
    print(f"restoring the stack to {stack.models} replica(s) ...", flush=True)
    stack.restore()
    save_state(stack, state_dir)
    return wait_ready(stack, settings)


def bring_down(stack: Stack, state_dir: Path, keep: bool = False) -> None:
    """Take the stack down; or, with `keep` where the backend can rescale, leave it up for the
    sweep's next scale (`inv down` takes it down)."""
    if keep and stack.rescalable:
        save_state(stack, state_dir, kept=True)
        print(f"stack kept up for the next scale ({stack.backend}); `inv down` removes it")
        return
    with uninterrupted():
        stack.stop()
        (state_dir / STATE_FILE).unlink(missing_ok=True)
    print("stack down", flush=True)


def kept_stack(state_dir: Path) -> Stack | None:
    """The stack an earlier scale of the sweep left up for the next, if any (not `inv up`'s)."""
    stack = load_stack(state_dir)
    if stack is None or not json.loads((state_dir / STATE_FILE).read_text()).get("kept"):
        return None
    return stack


def _kept_for(stack: Stack, state_dir: Path, backend: str, target: str) -> bool:
    kept = kept_stack(state_dir)
    return kept is not None and (stack.backend, stack.target) == (backend, target)


def _configured_as(stack: Stack, settings: StackSettings, target: str) -> bool:
    """Whether a stack runs with these settings, on this host's port: a tune's next
    configuration does not. (A stack is kept only for the next scale of the same command or
    sweep, whose settings name the same variables.)"""
    wanted = {**model_env(settings, target), "API_PORT": str(api_port(settings.host))}
    return {name: stack.env.get(name) for name in wanted} == wanted


def _rescaled(
    stack: Stack, settings: StackSettings, models: int, state_dir: Path
) -> tuple[Stack, dict[str, Any]]:
    print(f"stack up: kept from the last scale, {stack.models} -> {models} replica(s)", flush=True)
    try:
        if stack.exited():  # lost at the last scale's last run: restored, or said it cannot be
            stack.restore()
        stack.scale(models)
        save_state(stack, state_dir)
        ready = wait_ready(stack, settings)
    except BaseException:
        bring_down(stack, state_dir)
        raise
    return stack, ready
