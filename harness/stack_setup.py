"""A stack setup: what a run's stack ran on and with, besides its target, namely the backend
(local, compose, swarm) and the stack's settings (the matrix's `stack.env`). Runs are comparable
only on one target and one stack setup: a compose stack is not the local one, and a stack with
other settings is another stack. GPU against CPU sets two targets of one stack setup side by side.

The analysis, the page, the capacity search and the tune all read this one notion; a run's
record holds it (its backend and its matrix), and the capacity and tune files record it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN_BACKEND = "an unknown backend"


@dataclass(frozen=True)
class StackSetup:
    """What two runs of one target must share for their figures to be set side by side."""

    # None: unknown, from a record or a file written before it was recorded; an unknown setup
    # is one of its own, never taken for a known one.
    backend: str | None = None
    stack_env: dict[str, str] | None = None

    @classmethod
    def recorded(cls, backend: str | None, matrix: Mapping[str, Any] | None) -> "StackSetup":
        """A run's setup from its record: its backend and the matrix it ran with."""
        stack = (matrix or {}).get("stack") or {}
        env = stack.get("env")
        return cls(backend, None if env is None else {str(k): str(v) for k, v in env.items()})

    def _key(self) -> tuple:
        # A dict neither hashes nor orders; its items, sorted, say the same. Unknowns sort last.
        env = None if self.stack_env is None else tuple(sorted(self.stack_env.items()))
        return (self.backend is None, self.backend or "", env is None, env or ())

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: "StackSetup") -> bool:
        return self._key() < other._key()

    @property
    def settings(self) -> str:
        """The stack's settings as a person reads them: MAX_BATCH=8, RUNTIME=onnxruntime."""
        if self.stack_env is None:
            return "stack settings not recorded"
        if not self.stack_env:
            return "no stack settings"
        return ", ".join(f"{name}={value}" for name, value in sorted(self.stack_env.items()))


def setup_names(setups: Iterable[StackSetup]) -> dict[StackSetup, str]:
    """How a page tells these setups apart: the backend ("compose"), and where one backend ran
    with other settings too, the settings that differ ("compose (MAX_BATCH=8)")."""
    distinct = sorted(set(setups))
    names = {}
    for setup in distinct:
        name = setup.backend or UNKNOWN_BACKEND
        siblings = [other for other in distinct if other.backend == setup.backend]
        if len(siblings) > 1:
            name += f" ({_settings_apart(setup, siblings)})"
        names[setup] = name
    return names


def _settings_apart(setup: StackSetup, siblings: list[StackSetup]) -> str:
    """The settings in which `setup` differs from the other setups of its backend."""
    if setup.stack_env is None:
        return "stack settings not recorded"
    known = [other.stack_env for other in siblings if other.stack_env is not None]
    differing = sorted(
        {name for env in known for name in env if len({other.get(name) for other in known}) > 1}
    )
    if not differing:  # it differs only from settings not recorded
        return setup.settings
    env = setup.stack_env
    return ", ".join(
        f"{name}={env[name]}" if name in env else f"{name} unset" for name in differing
    )
