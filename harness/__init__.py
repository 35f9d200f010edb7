"""The sweep harness: matrix.json in, one Locust report per run out, under reports/."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
