"""Broker URLs, client ids and logging in to a broker that requires credentials."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, check_client_id, client_id_from
from fleet.description import load_fleet
from fleet.link import FleetLink
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import upload
from tests.mqtt_fixtures import Mosquitto


def test_broker_urls() -> None:
    assert BrokerAddress.parse("127.0.0.1") == BrokerAddress("127.0.0.1", 1883)
    assert BrokerAddress.parse("tcp://broker:1884") == BrokerAddress("broker", 1884)
    secure = BrokerAddress.parse("mqtts://dispatch:s%40cret@broker.example")
    assert (secure.port, secure.tls, secure.username, secure.password) == (8883, True, "dispatch", "s@cret")
    assert "s@cret" not in repr(secure) and "cret" not in secure.url
    for bad, message in [
        ("http://x", "scheme"),
        ("mqtt://u:secret@h/x", "path"),
        ("mqtt://h:99999", "out of range"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            BrokerAddress.parse(bad)
        assert "secret" not in str(info.value)


def test_client_ids() -> None:
    assert client_id_from("sim", "test-1/dd/v1", "D01") == "sim-test-1.dd.v1-D01"
    for bad in ["", "a/b", "x" * 129, "dispatcher 1"]:
        with pytest.raises(ValueError):
            check_client_id(bad)


async def test_link_and_drones_log_in(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, users={"dispatch": "d-pass", "drone": "x-pass"})
    broker.start()
    try:
        clock = ScaledClock(100)
        address = broker.address
        fleet = load_fleet(EXAMPLES / "fleet.json")
        intruder = FleetLink(replace(address, username="dispatch", password="wrong"), clock=clock, attempts=1)
        with pytest.raises(TimeoutError):
            await intruder.start()
            await intruder.wait_connected(timeout_s=1.5)
        await intruder.stop()
        link = FleetLink(replace(address, username="dispatch", password="d-pass"), clock=clock)
        drones = replace(address, username="drone", password="x-pass")
        async with link, SimulatedFleet(fleet, drones, clock=clock, drone_ids=["D01"]) as sim:
            assert (await link.send(upload(clock))).accepted
            assert sim.drone("D01").state == "ready"
    finally:
        broker.stop()
