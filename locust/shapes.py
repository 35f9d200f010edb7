"""A closed-loop run whose users follow a shape (Locust's LoadTestShape): phases that each move
the users linearly to a count over `ramp_s`, then hold it `hold_s` (locust/schedules.py reads the
same phases for an open loop's rate). The harness loads this file for a shaped closed-loop run
and passes the phases as `--loadbench-users-shape JSON`; the test ends with the last phase.
"""

import json
import math

from locust import LoadTestShape, events
from schedules import duration, rate_at

STEP_S = 1.0  # how often the user count is brought to the shape's


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--loadbench-users-shape", default="", include_in_web_ui=False)


class PhasedUsers(LoadTestShape):
    """Users over time, as the run's phases say; spawned or stopped within each second."""

    def tick(self) -> tuple[int, float] | None:
        phases = [
            tuple(phase)
            for phase in json.loads(self.runner.environment.parsed_options.loadbench_users_shape)
        ]
        elapsed = self.get_run_time()
        if elapsed >= duration(phases):
            return None
        users = max(1, math.ceil(rate_at(phases, elapsed)))
        ahead = max(1, math.ceil(rate_at(phases, elapsed + STEP_S)))
        # Reach the next second's count within the second: spawn at the step's size per second.
        return users, max(1.0, abs(ahead - users) / STEP_S, float(users))
