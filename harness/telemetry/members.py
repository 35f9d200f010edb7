"""What telemetry samples of a stack: each service's process tree or container. The stack's
backend lists its members (harness/stack/); telemetry knows nothing else of it."""

from dataclasses import dataclass

from harness.record.names import member_label


@dataclass(frozen=True)
class Member:
    """One service's process tree or container: `replica` numbers the copies of the scaled
    service ("1", "2", ...) and is empty for the others. A container on a named swarm node is
    sampled through that node's Docker engine (`docker_host`), since its cgroup may be on
    another host; any other through its cgroup here."""

    service: str
    replica: str
    pid: int | None = None
    container_id: str | None = None
    node: str = ""  # the swarm node it runs on, as the matrix names it; "" where none is named
    docker_host: str | None = None

    @property
    def label(self) -> str:
        return member_label(self.service, self.replica)
