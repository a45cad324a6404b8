"""The simulator flies over terrain: drones stand on the DEM's ground, fly altitudes above sea level,
the terrain monitor reports cruising out of the band and the airspace monitor uses true heights.

The DEM is synthetic (built here): a plain at 100 m and a north-south ridge 70 m high at
x = 1.5 km, as in ``tests/test_planner_terrain.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, Terrain, leg_profile
from airspace.zones import parse_zones
from dispatch.terrain_file import write_terrain
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import Fleet, parse_fleet
from fleet.link import FleetLink
from fleet.messages import (
    AbortMission,
    AltitudeFrame,
    Delivered,
    HandoverStop,
    Landed,
    PickedUp,
    PickupStop,
    Reroute,
    ReturnToPort,
    Start,
    Telemetry,
    TerrainViolation,
    TookOff,
    UploadMission,
)
from simulator.cli import main
from simulator.drone import SimDrone
from simulator.fleet_sim import SimulatedFleet
from tests.terrain_fixtures import grid_terrain

LON0, LAT0, PIX = 114.30, 36.10, 0.0004
FRAME = LocalFrame(LON0, LAT0)
PLAIN_M = 100.0
RIDGE_M = 70.0


def _ground(x: np.ndarray) -> np.ndarray:
    return PLAIN_M + RIDGE_M * np.exp(-(((x - 1500.0) / 150.0) ** 2))


def _terrain() -> Terrain:
    return grid_terrain(FRAME, lambda x, _y: _ground(x), (-1500.0, -1500.0), (4500.0, 2500.0), PIX)


AREA = AreaTerrain(_terrain())  # clearance 30 m, ceiling 120 m


def _ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = FRAME.to_lonlat(x, y)
    return round(float(lon), 7), round(float(lat), 7)


PORTS = {"A": (0.0, 0.0), "B": (3000.0, 0.0), "C": (0.0, 800.0), "D": (3000.0, 800.0)}
HOME = {"D1": "A", "D2": "C"}

FLEET_DOC = {
    "models": {
        "s": {
            "cruise_speed_mps": 15,
            "cruise_altitude_m": 60,
            "max_payload_kg": 2,
            "battery_wh": 400,
            "reserve_fraction": 0.2,
            "wh_per_km": 14,
            "wh_per_km_per_kg": 3,
            "service_s": 60,
            "turnaround_s": 300,
        }
    },
    "ports": [
        {
            "id": pid,
            "lon": _ll(*xy)[0],
            "lat": _ll(*xy)[1],
            "drones": [{"id": d, "model": "s"} for d, home in HOME.items() if home == pid],
        }
        for pid, xy in PORTS.items()
    ],
}


@pytest.fixture
def fleet() -> Fleet:
    return parse_fleet(FLEET_DOC)


def make(
    fleet: Fleet, broker: BrokerAddress, prefix: str, terrain: AreaTerrain | None, **kw: object
) -> tuple[FleetLink, SimulatedFleet]:
    clock = ScaledClock(100)
    link = FleetLink(broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock)
    sim = SimulatedFleet(
        fleet,
        broker,
        clock=clock,
        prefix=prefix,
        frame=FRAME,
        session_expiry_s=120,
        terrain=terrain,
        **kw,  # type: ignore[arg-type]
    )
    return link, sim


def mission(
    clock: ScaledClock,
    drone: str,
    waypoints: Sequence[tuple[float, float, float]],
    frame: AltitudeFrame = "amsl",
    mission_id: str = "M1",
) -> UploadMission:
    return UploadMission(
        drone_id=drone,
        cmd_id=f"up-{drone}-{mission_id}",
        expires_at=clock.now() + timedelta(hours=1),
        mission_id=mission_id,
        waypoints=list(waypoints),
        altitude_frame=frame,
        lost_link="hold",
    )


def go(clock: ScaledClock, drone: str, mission_id: str = "M1") -> Start:
    return Start(
        drone_id=drone,
        cmd_id=f"go-{drone}-{mission_id}",
        expires_at=clock.now() + timedelta(hours=1),
        mission_id=mission_id,
    )


def level(points: Sequence[tuple[float, float]], alt: float) -> list[tuple[float, float, float]]:
    return [(*_ll(x, y), alt) for x, y in points]


def _record(link: FleetLink, into: list[Telemetry]) -> None:
    link.add_telemetry_listener(lambda sample, _at, _shared: into.append(sample))


async def test_a_profile_over_the_ridge_is_flown_above_sea_level_without_violation(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    link, sim = make(fleet, broker, prefix, AREA, drone_ids=["D1"])
    a, b = _ll(*PORTS["A"]), _ll(*PORTS["B"])
    profile = leg_profile(AREA.terrain, [a, b], FRAME, cruise_m=60, grade=0.2)
    assert profile.clears and profile.alt_m.max() > PLAIN_M + RIDGE_M + 30  # it climbs over the ridge
    drone = sim.drone("D1")
    assert drone.alt == pytest.approx(PLAIN_M, abs=0.01)  # standing on its pad's ground
    samples: list[Telemetry] = []
    _record(link, samples)
    async with link, sim:
        clock = link.clock
        assert isinstance(clock, ScaledClock)
        ack = await link.send(mission(clock, "D1", profile.waypoints))
        assert ack.accepted, ack.reason
        assert (await link.send(go(clock, "D1"))).accepted
        took_off = await sim.wait_event("D1", TookOff, timeout_s=10)
        landed = await sim.wait_event("D1", Landed, timeout_s=30)
        await link.telemetry_after("D1", clock.now())
    assert took_off.altitude_frame == "amsl" and took_off.alt_m == pytest.approx(PLAIN_M, abs=0.01)
    assert landed.port_id == "B" and landed.alt_m == pytest.approx(PLAIN_M, abs=0.01)
    assert sim.terrain_violations == [] and sim.breaches == []
    assert samples and {s.altitude_frame for s in samples} == {"amsl"}
    top = max(samples, key=lambda s: s.alt_m)
    assert top.alt_m > PLAIN_M + RIDGE_M + 30  # over the ridge with the clearance, above sea level
    assert drone.energy_used_wh > fleet.models["s"].leg_energy_wh(3000, 0)  # the climbs cost energy


async def test_a_constant_altitude_into_the_ridge_and_one_far_above_are_reported(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    link, sim = make(fleet, broker, prefix, AREA)
    into = level([PORTS["A"], (1500.0, 0.0), PORTS["B"]], 150.0)  # the crest is at 170 m
    above = level([PORTS["C"], (1500.0, 800.0), PORTS["D"]], 400.0)  # 300 m over the plain
    heard: dict[str, TerrainViolation] = {}
    async with link, sim:
        clock = link.clock
        assert isinstance(clock, ScaledClock)
        with link.subscribe() as updates:
            for drone, path in (("D1", into), ("D2", above)):
                assert (await link.send(mission(clock, drone, path))).accepted
                assert (await link.send(go(clock, drone))).accepted

            async def hear_both() -> None:
                async for u in updates:  # over MQTT, as the dispatcher hears them
                    if isinstance(u, TerrainViolation):
                        heard[u.drone_id] = u
                        if len(heard) == 2:
                            return

            await asyncio.wait_for(hear_both(), 30)
        for drone in ("D1", "D2"):
            await sim.wait_event(drone, Landed, timeout_s=30)
    by_drone = {v.drone_id: v for v in sim.terrain_violations}
    assert len(sim.terrain_violations) == 2 and set(by_drone) == {"D1", "D2"}  # once per excursion
    hill, high = by_drone["D1"], by_drone["D2"]
    assert hill.kind == "terrain_clearance" and hill.limit_m == 30.0
    # Reported where the excursion begins: on the ridge's western slope, just below the clearance.
    x, _ = FRAME.to_xy(hill.lon, hill.lat)
    assert 1200.0 < float(x) < 1500.0 and 0.0 < hill.true_height_m < 30.0
    assert hill.alt_m == pytest.approx(150.0, abs=0.01) and hill.altitude_frame == "amsl"
    assert high.kind == "ceiling" and high.limit_m == 120.0 and high.true_height_m > 120.0
    assert heard["D1"].kind == "terrain_clearance" and heard["D2"].kind == "ceiling"


async def test_an_amsl_mission_or_return_without_terrain_is_rejected(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    link, sim = make(fleet, broker, prefix, None, drone_ids=["D1"])
    async with link, sim:
        clock = link.clock
        assert isinstance(clock, ScaledClock)
        path = level([PORTS["A"], PORTS["B"]], 160.0)
        ack = await link.send(mission(clock, "D1", path))
        assert not ack.accepted
        assert ack.reason == "altitude frame amsl needs a terrain model (simulate --terrain)"
        home = ReturnToPort(
            drone_id="D1",
            cmd_id="rtp",
            expires_at=clock.now() + timedelta(hours=1),
            port_id="B",
            waypoints=path,
            altitude_frame="amsl",
        )
        ack = await link.send(home)
        assert not ack.accepted and "needs a terrain model" in (ack.reason or "")
        ack = await link.send(mission(clock, "D1", level([PORTS["A"], PORTS["B"]], 60.0), "relative", "M2"))
        assert ack.accepted, ack.reason  # relative: as without terrain
        sample = await link.telemetry_after("D1", clock.now())
    assert sample.altitude_frame == "relative" and sample.alt_m == 0.0
    assert sim.drone("D1").state == "ready"


def _box(zone_id: str, x0: float, x1: float, y0: float, y1: float, floor: float, ceiling: float) -> dict:
    ring = [list(_ll(x, y)) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"id": zone_id, "kind": "no_fly", "floor_m": floor, "ceiling_m": ceiling},
    }


async def test_the_airspace_monitor_compares_zones_with_the_true_height(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    # A relative mission at 60 m from the pad flies at 160 m above sea level over the plain. Zone
    # "low" (0-100 m true height) is breached: its ceiling is below the drone's altitude above sea
    # level but above its true height. Zone "high" (120-300 m) is not: the drone's altitude lies in
    # its band, its true height below it.
    zones = parse_zones(
        {
            "type": "FeatureCollection",
            "features": [
                _box("low", 400, 600, 700, 900, 0, 100),
                _box("high", 400, 600, 700, 900, 120, 300),
            ],
        }
    )
    link, sim = make(fleet, broker, prefix, AREA, drone_ids=["D2"], zones=zones)
    samples: list[Telemetry] = []
    _record(link, samples)
    async with link, sim:
        clock = link.clock
        assert isinstance(clock, ScaledClock)
        path = level([PORTS["C"], (1000.0, 800.0)], 60.0)  # relative: above the pad's ground
        ack = await link.send(mission(clock, "D2", path, "relative"))
        assert ack.accepted, ack.reason
        assert (await link.send(go(clock, "D2"))).accepted
        await sim.wait_event("D2", Landed, timeout_s=30)
    assert [b.zone_id for b in sim.breaches] == ["low"]
    assert sim.breaches[0].altitude_frame == "amsl"
    assert max(s.alt_m for s in samples) == pytest.approx(PLAIN_M + 60.0, abs=0.01)
    assert sim.terrain_violations == []


def test_simulate_takes_a_terrain_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet_path = tmp_path / "fleet.json"
    fleet_path.write_text(json.dumps(FLEET_DOC), encoding="utf-8")
    write_terrain(tmp_path / "hills.tif", AREA.terrain)
    argv = ["--broker", "embedded", "--fleet", str(fleet_path)]
    argv += ["--terrain", str(tmp_path / "hills.tif"), "--speed", "600", "--duration", "30"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 drones on mqtt://127.0.0.1:" in out
    assert "0 terrain violation(s) (30 m clearance, 120 m ceiling)" in out


def test_simulate_with_a_bad_terrain_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet_path = tmp_path / "fleet.json"
    fleet_path.write_text(json.dumps(FLEET_DOC), encoding="utf-8")
    argv = ["--broker", "embedded", "--fleet", str(fleet_path), "--terrain", str(tmp_path / "nope.tif")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "dronedispatch simulate: --terrain: terrain model" in err and "nope.tif: no such file" in err
    # The DEM a fleet file names is not flown without --terrain (the dispatcher's run and serve
    # need their own): the drones fly over flat ground.
    fleet_path.write_text(json.dumps({**FLEET_DOC, "terrain": "gone.tif"}), encoding="utf-8")
    assert (
        main(["--broker", "embedded", "--fleet", str(fleet_path), "--speed", "600", "--duration", "5"]) == 0
    )
    assert "ceiling" not in capsys.readouterr().out


# --- the drone alone, without a network ---------------------------------------------------------

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=1)


def alone(fleet: Fleet, terrain: AreaTerrain | None = AREA) -> SimDrone:
    d = next(x for x in fleet.drones if x.id == "D1")
    sim = SimDrone.at_home(
        d, fleet.model_of(d), fleet.port(d.port), FRAME, ports=fleet.ports, terrain=terrain
    )
    sim.advance_to(T0)
    return sim


def upload_cmd(
    waypoints: list[tuple[float, float, float]], frame: AltitudeFrame, mission_id: str = "M1", **kw: object
) -> UploadMission:
    return UploadMission(
        drone_id="D1",
        cmd_id=f"up-{mission_id}",
        expires_at=EXPIRES,
        mission_id=mission_id,
        waypoints=waypoints,
        altitude_frame=frame,
        lost_link="hold",
        **kw,  # type: ignore[arg-type]
    )


def test_relative_waypoints_are_raised_by_the_pad_ground_and_reroutes_keep_the_mission_frame(
    fleet: Fleet,
) -> None:
    sim = alone(fleet)
    assert sim.apply(upload_cmd(level([(0, 0), (1000, 0)], 60.0), "relative"), T0) == (True, None)
    assert sim.mission is not None
    assert [round(w[2], 6) for w in sim.mission.route] == [PLAIN_M + 60.0] * 2
    reroute = Reroute(
        drone_id="D1", cmd_id="rr1", expires_at=EXPIRES, mission_id="M1", from_index=1,
        waypoints=level([(1000, 200)], 50.0), stops=[],
    )  # fmt: skip
    assert sim.apply(reroute, T0) == (True, None)
    assert sim.mission.route[1][2] == pytest.approx(PLAIN_M + 50.0)
    assert sim.apply(AbortMission(drone_id="D1", cmd_id="ab", expires_at=EXPIRES, mission_id="M1"), T0)[0]
    assert sim.apply(upload_cmd(level([(0, 0), (1000, 0)], 250.0), "amsl", "M2"), T0) == (True, None)
    reroute = msgspec.structs.replace(
        reroute, cmd_id="rr2", mission_id="M2", waypoints=level([(1000, 200)], 260.0)
    )
    assert sim.apply(reroute, T0) == (True, None)
    assert [w[2] for w in sim.mission.route] == [250.0, 260.0]  # as given


def test_a_pad_stop_on_the_ridge_goes_down_to_its_ground_and_the_climbs_are_paid(fleet: Fleet) -> None:
    sim = alone(fleet)
    crest = (1500.0, 0.0)
    path = [(*_ll(0, 0), 160.0), (*_ll(*crest), 240.0), (*_ll(3000, 0), 160.0)]
    stops = [PickupStop(at=1, request_id="R1", pickup_code="1", payload_kg=0.5)]
    assert sim.apply(upload_cmd(path, "amsl", stops=stops), T0) == (True, None)
    assert sim.apply(Start(drone_id="D1", cmd_id="go", expires_at=EXPIRES, mission_id="M1"), T0)[0]
    events: list[object] = []
    lowest_at_pad = math.inf
    t = T0
    while sim.state != "idle" and t < T0 + timedelta(minutes=30):
        t += timedelta(seconds=1)
        sim.advance_to(t)
        events += sim.drain_events()
        if sim.state == "servicing":
            lowest_at_pad = min(lowest_at_pad, sim.alt)
    ground = sim.ground_at(*crest)
    assert ground == pytest.approx(PLAIN_M + RIDGE_M, abs=1.0)
    assert lowest_at_pad == pytest.approx(ground, abs=0.01)  # down to the pad's ground, not to 0
    (picked,) = [e for e in events if isinstance(e, PickedUp)]
    assert picked.alt_m == pytest.approx(ground, abs=0.01) and picked.altitude_frame == "amsl"
    (landed,) = [e for e in events if isinstance(e, Landed)]
    assert landed.port_id == "B" and sim.alt == pytest.approx(PLAIN_M)
    # The climb from the first waypoint to the crest's 240 m is paid (not the climb-out), as planned.
    model = fleet.models["s"]
    flat = model.leg_energy_wh(1500, 0) + model.leg_energy_wh(1500, 0.5)
    assert sim.energy_used_wh == pytest.approx(flat + model.climb_energy_wh(80.0), rel=1e-6)


def test_climbs_count_in_whether_a_mission_can_be_flown(fleet: Fleet) -> None:
    # Up and down 1.9 km, ten times, over the pad: 570 Wh of climbs, more than the battery holds.
    yoyo = [(*_ll(0, 0), alt) for alt in [100.0, 2000.0] * 10]
    assert sim_ok(alone(fleet, None), yoyo, "relative")  # over flat ground the planner counts no climbs
    problem = sim_ok(alone(fleet), yoyo, "amsl")
    assert problem is not True and problem.startswith("mission needs")


def sim_ok(sim: SimDrone, waypoints: list[tuple[float, float, float]], frame: AltitudeFrame) -> bool | str:
    accepted, reason = sim.apply(upload_cmd(waypoints, frame), T0)
    return True if accepted else str(reason)


# --- the terrain frame: true heights the drone follows over the ground --------------------------


async def test_a_terrain_frame_mission_follows_the_ground_from_stop_to_stop(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    link, sim = make(fleet, broker, prefix, AREA, drone_ids=["D1"])
    crest = (1500.0, 0.0)
    path = level([PORTS["A"], (700.0, 0.0), crest, PORTS["B"]], 60.0)  # true heights
    stops = [
        PickupStop(at=2, request_id="R1", pickup_code="1", payload_kg=0.5),
        HandoverStop(at=3, request_id="R1", recipient_code="2"),
    ]
    samples: list[Telemetry] = []
    _record(link, samples)
    async with link, sim:
        clock = link.clock
        assert isinstance(clock, ScaledClock)
        cmd = msgspec.structs.replace(mission(clock, "D1", path, "terrain"), stops=stops)
        ack = await link.send(cmd)
        assert ack.accepted, ack.reason
        m = sim.drone("D1").mission
        assert m is not None and len(m.plan) == 4 and len(m.route) > 4  # the ground followed
        assert [m.route[m.vertex[s.at]] for s in stops] == [m.route[s.at] for s in m.stops]
        assert (await link.send(go(clock, "D1"))).accepted
        picked = await sim.wait_event("D1", PickedUp, timeout_s=30)
        delivered = await sim.wait_event("D1", Delivered, timeout_s=30)
        landed = await sim.wait_event("D1", Landed, timeout_s=30)
    assert picked.code_ok and picked.alt_m == pytest.approx(float(_ground(np.array(crest[0]))), abs=1.0)
    assert delivered.code_ok and landed.port_id == "B" and landed.alt_m == pytest.approx(PLAIN_M, abs=0.01)
    assert sim.terrain_violations == [] and sim.breaches == []
    assert {s.altitude_frame for s in samples} == {"amsl"}
    assert max(s.alt_m for s in samples) > PLAIN_M + RIDGE_M + 30  # climbed over the ridge, above sea level


def test_a_terrain_frame_reroute_keeps_the_mission_s_waypoint_indices(fleet: Fleet) -> None:
    sim = alone(fleet)
    path = level([PORTS["A"], (700.0, 0.0), (2200.0, 0.0), PORTS["B"]], 60.0)
    stops = [
        PickupStop(at=1, request_id="R1", pickup_code="1", payload_kg=0.5),
        HandoverStop(at=3, request_id="R1", recipient_code="2"),
    ]
    assert sim.apply(upload_cmd(path, "terrain", stops=stops), T0) == (True, None)
    assert sim.apply(Start(drone_id="D1", cmd_id="go", expires_at=EXPIRES, mission_id="M1"), T0)[0]
    t = T0
    while not (sim.state == "en_route" and sim.mission is not None and sim.mission.done_stops == 1):
        t += timedelta(seconds=1)
        sim.advance_to(t)
    m = sim.mission
    # From waypoint 2 on: a detour north, the hand-over at B (index 4 of the new list).
    detour = level([(1500.0, 600.0), PORTS["B"]], 80.0)
    reroute = Reroute(
        drone_id="D1", cmd_id="rr", expires_at=EXPIRES, mission_id="M1", from_index=2, waypoints=detour,
        stops=[HandoverStop(at=3, request_id="R1", recipient_code="2")],
    )  # fmt: skip
    assert sim.apply(reroute, t) == (True, None)
    assert len(m.plan) == 4 and len(m.vertex) == 4 and m.plan[2] == detour[0]
    x, y, alt = m.route[m.vertex[2]]
    assert (x, y) == pytest.approx(FRAME.to_xy(*detour[0][:2]), abs=0.01)
    assert alt - sim.ground_at(x, y) == pytest.approx(80.0, abs=4.0)  # its true height, within the margin
    assert [s.at for s in m.stops] == [m.vertex[1], m.vertex[3]]
    events: list[object] = []
    while sim.state != "idle" and t < T0 + timedelta(minutes=30):
        t += timedelta(seconds=1)
        sim.advance_to(t)
        events += sim.drain_events()
    assert [type(e).__name__ for e in events if isinstance(e, Delivered | Landed)] == ["Delivered", "Landed"]


def test_a_terrain_frame_without_a_terrain_model_is_refused(fleet: Fleet) -> None:
    sim = alone(fleet, None)
    assert sim.apply(upload_cmd(level([PORTS["A"], PORTS["B"]], 60.0), "terrain"), T0) == (
        False,
        "altitude frame terrain needs a terrain model (simulate --terrain)",
    )
