"""Shared by the index tests: the real runs of tests/index/fixtures/."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

FIXTURES_DIR = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_matrix() -> dict[str, Any]:
    return json.loads((FIXTURES_DIR / "matrix.json").read_text())


@pytest.fixture
def reports_copy(tmp_path: Path) -> Path:
    """The real runs of tests/index/fixtures/reports, copied so a test can change or add runs."""
    copy = tmp_path / "reports"
    shutil.copytree(FIXTURES_DIR / "reports", copy)
    return copy
