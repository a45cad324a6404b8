"""``dronedispatch simulate`` end to end (embedded broker) and its input errors."""

from __future__ import annotations

import pytest

from simulator.cli import main
from tests.conftest import EXAMPLES

FLEET = str(EXAMPLES / "fleet.json")
ZONES = str(EXAMPLES / "zones.geojson")


def test_simulate_runs_on_the_embedded_broker(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--broker", "embedded", "--fleet", FLEET, "--zones", ZONES, "--speed", "600", "--duration", "120"]
    argv += ["--gps-noise", "D01:5@10", "--link-loss", "D02:30@20", "--reject-next", "D03"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 drones on mqtt://127.0.0.1:" in out and "0 geofence breach(es)" in out
    assert "0 loss(es) of separation (50 m / 15 m)" in out  # the drones stay parked


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--broker", "embedded", "--fleet", "nope.json"], "cannot read file"),
        (["--broker", "embedded", "--fleet", FLEET, "--speed", "0"], "speed"),
        (["--broker", "embedded", "--fleet", FLEET, "--motor-fault", "D01:3"], "takes no value"),
        (["--broker", "embedded", "--fleet", FLEET, "--drones", "D99"], "unknown drone"),
        (["--broker", "http://x", "--fleet", FLEET], "scheme"),
        (["--broker", "embedded", "--fleet", FLEET, "--start", "2026-12-01T09:00"], "UTC offset"),
        (["--broker", "embedded", "--fleet", FLEET, "--speed", "2", "--clock-speed", "2"], "not both"),
        (["--broker", "embedded", "--fleet", FLEET, "--clock-speed", "2"], "together"),
        (["--broker", "embedded", "--fleet", FLEET, "--separation-h-m", "0"], "horizontal minimum"),
        (["--broker", "embedded", "--fleet", FLEET, "--separation-v-m", "nan"], "vertical minimum"),
    ],
)
def test_bad_input_gets_a_clear_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
