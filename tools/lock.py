"""`make lock`: requirements.lock, every package the project installs, at one version each.

    .venv/bin/python -m tools.lock

pip's own resolver decides (`pip install --dry-run --report`), with this machine's pip
configuration, so the lock holds what `make setup` and the images really get. Two resolutions
are joined: the virtualenv (`.[dev]`: the harness, the API, the CPU worker, the tests) and the
GPU worker image (`.[model,gpu]`: onnxruntime's CUDA build and its CUDA libraries). A package
both need must resolve to one version, or the lock is refused. Everything installs with
`pip install -c requirements.lock ...`: a constraints file, so each installation takes only
what it asks for, at the locked version. torch is locked without its local label (+cpu): the
CPU build satisfies it here, a CUDA build where a user's index offers one.
"""

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "requirements.lock"
RESOLUTIONS = {"virtualenv": ".[dev]", "GPU worker image": ".[model,gpu]"}
PROJECT = "inference-loadbench"


class LockError(RuntimeError):
    pass


def resolve(target: str) -> dict[str, str]:
    """name -> version of everything pip would install for `target`, from nothing."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                target,
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise LockError(f"pip could not resolve {target}:\n{done.stderr[-2000:]}")
        installs = json.loads(report.read_text())["install"]
    return {
        item["metadata"]["name"].lower(): item["metadata"]["version"].split("+")[0]
        for item in installs
        if item["metadata"]["name"].lower() != PROJECT
    }


def main() -> int:
    locked: dict[str, str] = {}
    for purpose, target in RESOLUTIONS.items():
        for name, version in resolve(target).items():
            if locked.get(name, version) != version:
                raise LockError(f"{name}: {locked[name]} for one part, {version} for the {purpose}")
            locked[name] = version
    header = (
        f"# Every package this project installs, at one version each: made by `make lock`\n"
        f"# (tools/lock.py) on {datetime.now(UTC):%Y-%m-%d}; do not edit by hand. Installed as\n"
        f"# constraints: pip install -c requirements.lock ...\n"
    )
    LOCK.write_text(header + "".join(f"{name}=={locked[name]}\n" for name in sorted(locked)))
    print(f"{LOCK.name}: {len(locked)} packages")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LockError as error:
        sys.exit(f"lock: {error}")
