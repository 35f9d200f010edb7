"""A command's stack sessions, one per scale: the one loop that sweep, capacity and tune share.

At each scale the stack comes up on the first run asked of it (a scale with nothing to do never
starts it), after the model's in-process ceiling is measured with nothing else on the cores; a
run that lost a replica is followed by the stack's restoration; the index follows every run;
and the stack comes down at the end of the scale, on success, error and Ctrl-C alike. Where the
backend can rescale (swarm) and the matrix has a scale after this one, the stack stays up for it
(the next command, or the next nox session, rescales it); the matrix's last scale takes down
whatever an earlier one left up.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.ceiling import Ceiling, measure_ceiling
from harness.matrix import Matrix, RunPoint
from harness.pages.index import refresh_index
from harness.record import RunRecord
from harness.run import Enough, execute_run
from harness.stack import Stack, bring_down, bring_up, restore
from harness.stack.lifecycle import kept_stack, model_env
from harness.stack_setup import StackSetup

T = TypeVar("T")


@dataclass(frozen=True)
class Command:
    """What every measuring command settles before it starts: the matrix, the target and the
    backend it runs on, where it writes, and where the stack's state lives."""

    matrix: Matrix
    target: str
    backend: str
    reports: Path
    state_dir: Path

    @property
    def setup(self) -> StackSetup:
        """What its runs will record they ran on and with."""
        return StackSetup(self.backend, dict(self.matrix.stack.env))


@dataclass
class ScaleSession:
    """The stack at one scale, brought up on the first run asked of it."""

    command: Command
    models: int
    keep_up: bool  # a later scale of the matrix may rescale this stack rather than redeploy it
    stack: Stack | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    ceiling: Ceiling | None = None
    served: bool = False  # the stack, as it is, served a run: it is warm

    @property
    def matrix(self) -> Matrix:
        return self.command.matrix

    def up(self) -> Stack:
        """The stack at this scale, up and ready (brought up now if it is not yet)."""
        if self.stack is None:
            if self.matrix.ceiling:  # before the stack: nothing else then runs on the cores
                self.ceiling = measure_ceiling(model_env(self.matrix.stack, self.command.target))
            self.stack, self.ready = bring_up(
                self.matrix.stack,
                self.command.target,
                self.models,
                self.command.backend,
                self.command.state_dir,
            )
        return self.stack

    def run(
        self,
        point: RunPoint,
        repeat: int = 1,
        enough: Enough | None = None,
        floor: bool = False,
        keep_warm: bool = False,
    ) -> RunRecord:
        """One run at this scale; the stack restored first if it lost a replica. With
        `keep_warm`, a stack that served the run before (no replica restored since) is only
        drained, not warmed up again."""
        stack = self.up()
        if stack.exited():
            self.ready = restore(stack, self.matrix.stack, self.command.state_dir)
            self.served = False
        record = execute_run(
            self.matrix,
            point,
            stack,
            self.command.reports,
            self.ready,
            self.ceiling,
            repeat,
            enough,
            floor,
            warm=keep_warm and self.served,
        )
        self.served = record.status == "ok"
        refresh_index(self.command.reports, self.matrix)
        return record


@contextmanager
def scale_session(command: Command, models: int, keep_up: bool) -> Iterator[ScaleSession]:
    session = ScaleSession(command, models, keep_up)
    finished = False
    try:
        yield session
        finished = True
    finally:
        if session.stack is not None:
            bring_down(session.stack, command.state_dir, keep=keep_up and finished)


def at_each_scale(
    command: Command,
    scales: list[int],
    work: Callable[[ScaleSession], T],
    keep_up: bool = True,
) -> list[T]:
    """`work` at each scale in turn, each in its stack session; the matrix's last scale also
    takes down a stack an earlier scale kept up, even when it ran nothing itself. Without
    `keep_up`, no stack is left up for a later scale."""
    results = []
    for models in scales:
        kept = keep_up and models != command.matrix.models_list[-1]
        with scale_session(command, models, kept) as session:
            results.append(work(session))
    if scales and scales[-1] == command.matrix.models_list[-1]:
        kept = kept_stack(command.state_dir)
        if kept is not None:
            bring_down(kept, command.state_dir)
    return results
