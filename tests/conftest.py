"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.signing import SECRET_ENV, FleetSecret

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "anyang"
BENCH_DATA = REPO / "bench" / "data"  # public instances shipped with the repo

# The shared fixtures, for every test module (each module's docstring lists its fixtures).
pytest_plugins = [
    "tests.mqtt_fixtures",
    "tests.db_fixtures",
    "tests.dispatcher_fixtures",
    "tests.api_fixtures",
    "tests.browser_fixtures",
]


@pytest.fixture
def anyang_dir() -> Path:
    """The sample scenario in examples/anyang."""
    return EXAMPLES


@pytest.fixture(scope="session", autouse=True)
def fleet_secret_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fleet secret for the session in ``$DRONEDISPATCH_FLEET_SECRET_FILE``: the dispatcher and
    simulator commands a test starts sign and check drone messages with it, as in production
    (in-process simulators that talk to them take it from :func:`tests.mqtt_fixtures.fleet_secret`)."""
    path = tmp_path_factory.mktemp("fleet-secret") / "secret"
    FleetSecret.generate().save(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, str(path))
        yield path
