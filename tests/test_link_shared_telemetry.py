"""Scale-out of the telemetry ingest: links in one group share the telemetry through an MQTT 5 shared
subscription (each message reaches exactly one of them); a link outside the group still gets all."""

from __future__ import annotations

import aiomqtt
import pytest

from fleet.clock import RealClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.link import FleetLink
from fleet.messages import Telemetry, encode
from tests.fleet_helpers import wait_until

DRONES = [f"S{i:03d}" for i in range(40)]


def _link(broker: BrokerAddress, prefix: str, name: str, group: str | None) -> FleetLink:
    return FleetLink(
        broker,
        client_id=client_id_from(name, prefix),
        prefix=prefix,
        session_expiry_s=0,
        telemetry_group=group,
        max_telemetry_age_s=600,
    )


async def test_a_group_splits_the_telemetry_and_loses_none(broker: BrokerAddress, prefix: str) -> None:
    a, b = _link(broker, prefix, "a", "ingest"), _link(broker, prefix, "b", "ingest")
    everything = _link(broker, prefix, "all", None)
    clock = RealClock()
    rounds = 5
    async with a, b, everything, aiomqtt.Client(broker.host, broker.port) as drones:
        for link in (a, b, everything):
            await link.wait_connected()
        for _ in range(rounds):
            for drone_id in DRONES:
                t = Telemetry(
                    drone_id=drone_id,
                    ts=clock.now(),
                    lon=114.39,
                    lat=36.10,
                    alt_m=120,
                    ground_speed_mps=15,
                    heading_deg=0,
                    battery_pct=90,
                    energy_wh=300,
                    state="en_route",
                )
                await drones.publish(a.topics.topic(drone_id, "telemetry"), encode(t))
        total = rounds * len(DRONES)
        await wait_until(lambda: everything.stats.telemetry == total, what="ungrouped link got all")
        await wait_until(lambda: a.stats.telemetry + b.stats.telemetry == total, what="the group got all")
        assert a.stats.telemetry > 0 and b.stats.telemetry > 0, "the broker split the group's share"
        # Exactly once across the group: every drone's samples add up, none was delivered twice.
        for drone_id in DRONES:
            got = [link.registry.get(drone_id) for link in (a, b)]
            counts = sum(s.telemetry_count for s in got if s is not None)
            assert counts == rounds, (drone_id, counts)


def test_a_group_name_cannot_escape_its_topic_level() -> None:
    for bad in ("a/b", "+", "#", "", "x" * 65):
        with pytest.raises(ValueError, match="telemetry_group"):
            FleetLink("mqtt://127.0.0.1:1883", telemetry_group=bad)
