"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "anyang"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def anyang_dir() -> Path:
    """The sample scenario in examples/anyang."""
    return EXAMPLES
