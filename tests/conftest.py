"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "anyang"
BENCH_DATA = REPO / "bench" / "data"  # public instances shipped with the repo


@pytest.fixture
def anyang_dir() -> Path:
    """The sample scenario in examples/anyang."""
    return EXAMPLES
