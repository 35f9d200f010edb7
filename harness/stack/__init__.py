"""The stack under test: one interface (base), backends registered by name (registry: local,
compose), and its life from up to down (lifecycle)."""

from harness.stack.base import ReplicaExit, Stack, StackError
from harness.stack.lifecycle import bring_down, bring_up, load_stack, restore, wait_ready
from harness.stack.registry import BACKENDS, UnknownBackend, resolve_backend

__all__ = [
    "BACKENDS",
    "ReplicaExit",
    "Stack",
    "StackError",
    "UnknownBackend",
    "bring_down",
    "bring_up",
    "load_stack",
    "resolve_backend",
    "restore",
    "wait_ready",
]
