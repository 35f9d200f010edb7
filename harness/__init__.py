"""The sweep harness: matrix.json in, one Locust report per run out, under reports/."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent


def locust_module(name: str) -> ModuleType:
    """A plain module of locust/ that the harness shares with the load generator (payloads,
    schedules: no Locust in them), loaded by its path: the folder `locust/` would shadow the
    Locust package if it were imported as a package of ours."""
    qualified = f"loadbench_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            qualified, REPO_ROOT / "locust" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
    return sys.modules[qualified]
