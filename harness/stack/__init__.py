"""The stack under test: one interface (base), backends registered by name (registry: local,
compose, swarm), and its life from up to down (lifecycle). What differs between backends lives
behind the interface; nothing outside this package names a backend."""

from harness.stack.base import ReplicaExit, Stack, StackError, Unusable
from harness.stack.lifecycle import bring_down, bring_up, load_stack, restore, wait_ready
from harness.stack.registry import BACKENDS, UnknownBackend, backend_class, resolve_backend

__all__ = [
    "BACKENDS",
    "ReplicaExit",
    "Stack",
    "StackError",
    "UnknownBackend",
    "Unusable",
    "backend_class",
    "bring_down",
    "bring_up",
    "load_stack",
    "resolve_backend",
    "restore",
    "wait_ready",
]
