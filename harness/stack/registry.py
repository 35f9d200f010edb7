"""The stack backends by name. `auto` is not a backend: it picks compose or local here (a swarm
is only ever used when named)."""

from harness.stack.base import Stack
from harness.stack.compose import ComposeStack
from harness.stack.docker import docker_engine_answers
from harness.stack.local import LocalStack
from harness.stack.swarm import SwarmStack

BACKENDS: dict[str, type[Stack]] = {
    ComposeStack.backend: ComposeStack,
    LocalStack.backend: LocalStack,
    SwarmStack.backend: SwarmStack,
}
AUTO = "auto"


class UnknownBackend(ValueError):
    """A backend name that is not registered; the message names the allowed ones."""

    def __init__(self, name: str) -> None:
        allowed = ", ".join([AUTO, *BACKENDS])
        super().__init__(f"{name!r} is not a backend; allowed: {allowed}")


def backend_class(name: str) -> type[Stack]:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UnknownBackend(name) from None


def resolve_backend(requested: str) -> str:
    """The backend to use: `auto` becomes compose when a Docker engine answers, else local."""
    if requested != AUTO:
        backend_class(requested)
        return requested
    chosen = ComposeStack.backend if docker_engine_answers() else LocalStack.backend
    reason = "a Docker engine answers" if chosen == "compose" else "no Docker engine answers"
    print(f"backend auto -> {chosen} ({reason})", flush=True)
    return chosen
