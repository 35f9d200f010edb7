"""Shared by the index tests: the real runs of tests/index/fixtures/."""

import shutil
from pathlib import Path

import pytest

from harness.matrix import Matrix, load_matrix

FIXTURES_DIR = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_matrix(monkeypatch: pytest.MonkeyPatch) -> Matrix:
    """The matrix the fixtures were made with, as the harness loads it."""
    monkeypatch.delenv("API_PORT", raising=False)
    return load_matrix(FIXTURES_DIR / "matrix.json")


@pytest.fixture
def reports_copy(tmp_path: Path) -> Path:
    """The real runs of tests/index/fixtures/reports, copied so a test can change or add runs."""
    copy = tmp_path / "reports"
    shutil.copytree(FIXTURES_DIR / "reports", copy)
    return copy
