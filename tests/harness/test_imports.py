"""Every harness module imports on its own, in a fresh interpreter: no import circle."""

import subprocess
import sys

import pytest

from harness import REPO_ROOT

MODULES = sorted(
    ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (REPO_ROOT / "harness").rglob("*.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports_alone(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
