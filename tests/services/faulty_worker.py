"""A real model worker whose runtime misbehaves while a file exists: the one fault injection of
these tests (no real model can be made to answer the wrong size, or hang, on demand).

    python tests/services/faulty_worker.py wrong-size|hang ARM_FILE

It is `python -m services.model.worker` in every other respect: the real runtime is wrapped,
then the worker's own main() runs. While ARM_FILE exists, `wrong-size` answers one row too few
and `hang` blocks in the forward pass; warm-up runs before the file is made.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from services.model import worker  # noqa: E402

MODE, ARM_FILE = sys.argv[1], Path(sys.argv[2])
HANG_S = 120


class Faulty:
    def __init__(self, real) -> None:
        self.real = real

    def logits(self, batch: np.ndarray) -> np.ndarray:
        if not ARM_FILE.exists():
            return self.real.logits(batch)
        if MODE == "hang":
            time.sleep(HANG_S)
        return self.real.logits(batch)[:-1]


def faulty_runtime(classifier, settings):
    return Faulty(real_runtime(classifier, settings))


real_runtime = worker.create_runtime
worker.create_runtime = faulty_runtime

if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(worker.main())
