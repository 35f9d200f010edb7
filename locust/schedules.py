"""When each request of an open-loop run is due: plain Python, no Locust, so the harness's tests
can compute the same schedule the load generator sends (locust/openloop.py).

`constant`: every 1/R seconds. `poisson`: the Poisson process of rate R over the run, drawn as
N = R·T arrival times uniform on [0, T) (a Poisson process conditioned on its count), so the
achieved rate is the one asked while the arrivals keep their burstiness. Every draw is seeded,
so a run's schedule is the same each time it runs.
"""

import random

SEED = 20261125


def schedule(rate: float, arrival: str, duration_s: float) -> list[float]:
    """Every arrival time of the run (seconds from its start), in order."""
    count = round(rate * duration_s)
    if arrival == "constant":
        return [index / rate for index in range(count)]
    draw = random.Random(SEED)
    return sorted(draw.uniform(0.0, duration_s) for _ in range(count))
