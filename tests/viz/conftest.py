"""Fixtures of the viz tests."""

from pathlib import Path

import pytest
from report_fixtures import make_run


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    """A finished run directory (see report_fixtures.make_run)."""
    return make_run(tmp_path)
