"""What the instrument weighed on a run: where the machine's CPU went during the measured window
(the stack, Locust, the harness, the Docker engine, no process the record names), and the
sentences that say when the instrument took enough to change what it measured. Pure functions
over runs."""

from dataclasses import dataclass

from harness.analysis.formatting import format_percent_whole, plural
from harness.record.names import ENGINE, HARNESS, LOCUST, LOCUST_WORKER, NOT_THE_STACK
from harness.record.parts import ResourceUse
from harness.results import Run

# A share of the machine's cores beyond which the instrument is said to weigh on the figures.
HEAVY = 0.10


@dataclass(frozen=True)
class CpuAccount:
    """Mean CPU over the measured window, % of one core, by who used it."""

    stack: float
    locust: float
    harness: float
    engine: float | None  # None: no container ran here
    unaccounted: float  # the machine's CPU that no member used
    machine: float
    cores: int

    @property
    def capacity(self) -> float:
        return 100.0 * max(self.cores, 1)

    @property
    def instrument_share(self) -> float:
        """The harness's and Locust's CPU, as a share of the machine's cores."""
        return (self.harness + self.locust) / self.capacity

    @property
    def unaccounted_share(self) -> float:
        return self.unaccounted / self.capacity

    def rows(self) -> list[tuple[str, float]]:
        """(who, mean % of one core), for a page; the idle cores last."""
        named = [
            ("the stack", self.stack),
            ("Locust", self.locust),
            ("the harness", self.harness),
            *([("the Docker engine", self.engine)] if self.engine is not None else []),
            ("no process named (unaccounted)", self.unaccounted),
        ]
        return [*named, ("idle", max(0.0, self.capacity - self.machine))]


def cpu_account(resources: ResourceUse | None) -> CpuAccount | None:
    """Where the machine's CPU went; None before records counted the harness (schema 5), or
    where members ran on other nodes."""
    if resources is None or resources.unaccounted_cpu_mean is None:
        return None

    def used(*services: str) -> float:
        return sum(member.cpu_mean for member in resources.members if member.service in services)

    engine = resources.of(ENGINE)
    return CpuAccount(
        stack=sum(
            member.cpu_mean for member in resources.members if member.service not in NOT_THE_STACK
        ),
        locust=used(LOCUST, LOCUST_WORKER),
        harness=used(HARNESS),
        engine=used(ENGINE) if engine else None,
        unaccounted=resources.unaccounted_cpu_mean,
        machine=resources.machine_cpu_mean,
        cores=resources.cores,
    )


def instrument_sentences(runs: list[Run]) -> list[str]:
    """Runs whose instrument (the harness and Locust) took more than HEAVY of the machine, and
    runs where more than HEAVY of it went to no process the record names."""
    accounts = [
        (run, account)
        for run in runs
        if run.measured and (account := cpu_account(run.record.resources)) is not None
    ]
    sentences = []
    heavy = [(run, account) for run, account in accounts if account.instrument_share > HEAVY]
    if heavy:
        run, worst = max(heavy, key=lambda pair: pair[1].instrument_share)
        sentences.append(
            f"In {len(heavy)} of {plural(len(accounts), 'run')} the harness and Locust"
            f" together took more than {format_percent_whole(HEAVY)} of the machine (up to"
            f" {format_percent_whole(worst.instrument_share)}, {run.stem}): the instrument"
            " competed with the stack for the cores, so those figures understate it."
        )
    lost = [(run, account) for run, account in accounts if account.unaccounted_share > HEAVY]
    if lost:
        run, worst = max(lost, key=lambda pair: pair[1].unaccounted_share)
        sentences.append(
            f"In {len(lost)} of {plural(len(accounts), 'run')} more than"
            f" {format_percent_whole(HEAVY)} of the machine's CPU went to no process the record"
            f" names (up to {format_percent_whole(worst.unaccounted_share)}, {run.stem}):"
            " something beside the stack and the instrument was busy (the kernel's network"
            " path, programs started and gone between samples, another load on the machine)."
        )
    return sentences
