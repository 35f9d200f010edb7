"""A stand-in process with a known appetite: it keeps a share of one core busy and holds a
known amount of memory, so that what telemetry measures of it has a ground truth.

    python -m tests.standin.burner --cpu 0.5 --mib 200
"""

import argparse
import time

PERIOD_S = 0.02


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu", type=float, required=True, help="share of one core, 0 to 1")
    parser.add_argument("--mib", type=int, required=True, help="memory to hold, MiB")
    options = parser.parse_args()
    held = bytearray(options.mib * 2**20)
    for offset in range(0, len(held), 4096):  # touch every page: resident, not just reserved
        held[offset] = 1
    busy_s = PERIOD_S * options.cpu
    while True:
        started, used = time.perf_counter(), time.process_time()
        # Busy for `busy_s` of CPU time, not of wall time: being descheduled does not count.
        while time.process_time() - used < busy_s:
            pass
        time.sleep(max(0.0, PERIOD_S - (time.perf_counter() - started)))


if __name__ == "__main__":
    main()
