"""Locust, imported ahead of its run and waiting for its command line.

The harness starts the next run's Locust as soon as a run's Locust has stopped
(harness/run/locust.py), so that the 0.7 s Python takes to import Locust overlap the harness's own
work between runs (writing the record, the index, the next probe's choice, the warm-up) instead
of coming before the next run's first request. One JSON line on stdin, `{"arguments": [...],
"log": path}`, then starts it exactly as `python -m locust ARGUMENTS` would, its output into the
log; the end of stdin without one (the harness is done, or gone) ends it.
"""

import json
import os
import sys

# As `python -m` would have it: the working directory first on the path, not this folder.
sys.path[0] = os.getcwd()

try:
    import locust.main  # noqa: E402  what it is started ahead for (gevent's patching with it)
except Exception as error:  # told in the run's log, as `python -m locust` would tell it
    unimportable: Exception | None = error
else:
    unimportable = None


def main() -> None:
    line = sys.stdin.readline()
    if not line:
        return
    order = json.loads(line)
    with open(os.devnull, "rb") as nothing:
        os.dup2(nothing.fileno(), 0)  # as the harness gave a Locust it started itself
    with open(order["log"], "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    if unimportable is not None:
        raise unimportable
    sys.argv = ["locust", *order["arguments"]]
    locust.main.main()


if __name__ == "__main__":
    main()
