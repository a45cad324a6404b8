"""The re-route geometry (pure): a replacement path keeps the mission's stops in order, also when
the mission comes back to a place it already visited."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from airspace.frame import LocalFrame
from airspace.paths import Airspace, AirspaceError
from airspace.zones import load_zones
from dispatch.harness import pads
from dispatch.service.missions import StopSpec, Waypoint, protocol_stops
from dispatch.service.reroute import crosses, next_waypoint, paths_home, replacement, rest_of_route
from dispatch.store.views import RequestCodes
from fleet.description import load_fleet
from fleet.messages import Hold, ReachedStop, Reroute, Start, UploadMission
from simulator.drone import SimDrone
from tests.conftest import EXAMPLES
from tests.dispatcher_fixtures import parse_zone

AT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
ALT = 120.0
PORT = (114.3900, 36.1000)
A = (114.4100, 36.1000)  # 1.8 km east of the port
B = (114.4100, 36.1150)  # 1.7 km north of A


def disc(lonlat: tuple[float, float], radius_m: float = 120.0) -> Airspace:
    feature = {
        "type": "Feature",
        "properties": {"id": "pop-up", "kind": "no_fly", "radius_m": radius_m},
        "geometry": {"type": "Point", "coordinates": list(lonlat)},
    }
    return Airspace([parse_zone(feature)])


def test_place_visited_twice_keeps_stop_order() -> None:
    # port -> A (pick up r1 and r2) -> B (hand r1 over, pick up r3) -> A (hand r3 over) -> B (hand r2
    # over) -> port; the new zone sits on the first leg, between the port and A.
    waypoints: list[Waypoint] = [(*PORT, ALT), (*A, ALT), (*B, ALT), (*A, ALT), (*B, ALT), (*PORT, ALT)]
    stops = [
        StopSpec(1, "pickup", "r1", 0.3),
        StopSpec(1, "pickup", "r2", 0.3),
        StopSpec(2, "handover", "r1"),
        StopSpec(2, "pickup", "r3", 0.2),
        StopSpec(3, "handover", "r3"),
        StopSpec(4, "handover", "r2"),
    ]
    middle = ((PORT[0] + A[0]) / 2, PORT[1])
    airspace = disc(middle)
    frame = airspace.frame
    assert frame is not None
    px, py = frame.to_xy(*PORT)
    position = tuple(float(v) for v in frame.to_lonlat(px + 300.0, py))  # on the first leg
    first = next_waypoint(airspace, position, waypoints, 1)
    assert first == 1
    assert crosses(airspace, ["pop-up"], position, waypoints, first, AT, AT) == ["pop-up"]

    rep = replacement(airspace, position, waypoints, stops, first, AT, speed_mps=15.0, service_s=30.0)

    assert [(s.action, s.request_id) for s in rep.stops] == [(s.action, s.request_id) for s in stops]
    assert [s.at for s in rep.stops] == sorted(s.at for s in rep.stops)
    full = waypoints[: rep.from_index] + list(rep.waypoints)
    places = {s.request_id + s.action: full[s.at][:2] for s in rep.stops}
    assert places == {
        "r1pickup": A,
        "r2pickup": A,
        "r1handover": B,
        "r3pickup": B,
        "r3handover": A,
        "r2handover": B,
    }
    assert full[-1][:2] == PORT
    assert not crosses(airspace, ["pop-up"], position, full, rep.from_index, AT, AT)
    # The detour keeps the margin: no point of the new path comes near the disc's centre.
    cx, cy = frame.to_xy(*middle)
    assert min(math.dist((cx, cy), frame.to_xy(w[0], w[1])) for w in rep.waypoints) > 120.0
    # And the drone accepts it as a command (stops in waypoint order, inside the waypoints).
    codes = {r: RequestCodes(r, "123456", "654321") for r in ("r1", "r2", "r3")}
    Reroute(
        drone_id="D01",
        cmd_id="M.r1",
        expires_at=AT,
        mission_id="M",
        from_index=rep.from_index,
        waypoints=list(rep.waypoints),
        stops=protocol_stops(rep.stops, codes),
    )


def test_the_rest_of_a_route_over_a_pad_not_yet_reached_keeps_that_pads_stops() -> None:
    # port -> A (pick up r1 and r2) -> B (hand both over) -> port; the drone is over A, arriving:
    # it has reached no stop yet, so both pickups at A are still ahead of it.
    waypoints: list[Waypoint] = [(*PORT, ALT), (*A, ALT), (*B, ALT), (*PORT, ALT)]
    stops = [
        StopSpec(1, "pickup", "r1", 0.3),
        StopSpec(1, "pickup", "r2", 0.3),
        StopSpec(2, "handover", "r1"),
        StopSpec(2, "handover", "r2"),
    ]
    airspace = disc((114.3000, 36.0000))  # far away: only the frame matters
    rest = rest_of_route(airspace, A, waypoints, stops, reached_at=0)
    assert rest.from_index == 1
    assert [(s.at, s.request_id) for s in rest.stops] == [(1, "r1"), (1, "r2"), (2, "r1"), (2, "r2")]
    # Once it has reached A (its stops there done, it leaves), the rest starts with B.
    rest = rest_of_route(airspace, A, waypoints, stops, reached_at=1)
    assert rest.from_index == 2
    assert [(s.at, s.request_id) for s in rest.stops] == [(2, "r1"), (2, "r2")]
    # On the way to A, A and its stops are ahead as they always were.
    frame = airspace.frame
    assert frame is not None
    px, py = frame.to_xy(*PORT)
    on_leg = tuple(float(v) for v in frame.to_lonlat(px + 300.0, py))
    rest = rest_of_route(airspace, on_leg, waypoints, stops, reached_at=0)
    assert rest.from_index == 1 and len(rest.stops) == 4


def sample_drone(frame: LocalFrame) -> SimDrone:
    """A simulated courier-s at the sample's first port."""
    fleet = load_fleet(EXAMPLES / "fleet.json")
    drone = fleet.drones[0]
    home = next(p for p in fleet.ports if p.id == drone.port)
    return SimDrone.at_home(drone, fleet.model_of(drone), home, frame, ports=fleet.ports)


def test_a_held_drone_accepts_the_replacement_wherever_it_holds() -> None:
    """Hold the real simulated drone every 10 s along a mission that picks up twice and delivers
    twice (back at a place it visited), build the replacement as the dispatcher does from where
    it holds, and send it: the drone accepts every one (stops in order, documents on board)."""
    fleet = load_fleet(EXAMPLES / "fleet.json")
    home = next(p for p in fleet.ports if p.id == fleet.drones[0].port)
    pad = {k: (v.lon, v.lat) for k, v in pads().items()}
    port = (home.lon, home.lat)
    route = [
        port,
        pad["intermediate-court"],
        pad["market-bureau"],
        pad["jiefang-road"],
        pad["intermediate-court"],
        port,
    ]
    waypoints: list[Waypoint] = [(lon, lat, ALT) for lon, lat in route]
    stops = [
        StopSpec(1, "pickup", "r1", 0.3),
        StopSpec(2, "pickup", "r2", 0.3),
        StopSpec(3, "handover", "r1"),
        StopSpec(4, "handover", "r2"),
    ]
    airspace = disc((114.43, 36.15))  # far away: the replacement is the same route, re-indexed
    codes = {r: RequestCodes(r, "123456", "654321") for r in ("r1", "r2")}
    refused = []
    for hold_at_s in range(10, 900, 10):
        sim = sample_drone(airspace.frame)  # type: ignore[arg-type]
        t = AT
        up = UploadMission(
            drone_id=sim.id,
            cmd_id="up",
            expires_at=AT + timedelta(hours=2),
            mission_id="M",
            waypoints=[list(w) for w in waypoints],
            stops=protocol_stops(stops, codes),
            lost_link="hold",
        )  # type: ignore[arg-type]
        assert sim.apply(up, t) == (True, None)
        assert sim.apply(Start(drone_id=sim.id, cmd_id="go", expires_at=up.expires_at, mission_id="M"), t)[0]
        reached = 0
        for _ in range(hold_at_s):
            sim.step(1.0, t)
            t += timedelta(seconds=1)
        for e in sim.drain_events():
            if isinstance(e, ReachedStop):
                reached = max(reached, stops[e.stop_index].at)
        if sim.state not in ("en_route", "servicing"):
            break  # landed: the mission is over
        assert sim.apply(Hold(drone_id=sim.id, cmd_id="h", expires_at=up.expires_at), t)[0]
        pos = sim.lonlat()
        first = next_waypoint(airspace, pos, waypoints, max(1, reached))
        answers = []
        for from_index in (first, first + 1):
            rep = replacement(airspace, pos, waypoints, stops, from_index, t, speed_mps=15.0, service_s=60.0)
            cmd = Reroute(
                drone_id=sim.id,
                cmd_id=f"r{from_index}",
                expires_at=up.expires_at,
                mission_id="M",
                from_index=from_index,
                waypoints=list(rep.waypoints),
                stops=protocol_stops(rep.stops, codes),
            )
            answers.append(sim.apply(cmd, t))
            if answers[-1][0]:
                break
        if not answers[-1][0]:
            refused.append((hold_at_s, sim.state, sim.held_state, sim.next_wp, first, answers))
    assert not refused, refused


def test_a_drone_above_a_low_zone_finds_its_way_home() -> None:
    """Held at cruise above the tower crane (a zone from the ground to 80 m), a drone is not inside
    it: the nearest port is found (the whole airspace, which also checks landing spots, refuses)."""
    fleet = load_fleet(EXAMPLES / "fleet.json")
    airspace = Airspace(load_zones(EXAMPLES / "zones.geojson"))
    crane = next(z for z in airspace.zones if z.id == "tower-crane")
    assert crane.ceiling_m is not None and crane.ceiling_m < ALT
    above = (crane.shape.centroid.x, crane.shape.centroid.y)
    ports = [(p.id, p.lon, p.lat) for p in fleet.ports]
    with pytest.raises(AirspaceError, match="inside zone 'tower-crane'"):
        airspace.shortest_path(above, ports[0][1:], altitude_m=ALT, at=AT, until=AT + timedelta(hours=1))
    options = paths_home(airspace, above, ports, altitude_m=ALT, at=AT, until=AT + timedelta(hours=1))
    assert options
    port_id, path = options[0]
    lengths = {}
    for pid, lon, lat in ports:
        cruise_only = Airspace([z for z in airspace.zones if z.blocks_altitude(ALT)], frame=airspace.frame)
        lengths[pid] = cruise_only.shortest_path(above, (lon, lat), altitude_m=ALT, at=AT).length_m
    assert port_id == min(lengths, key=lengths.__getitem__)
    assert path.waypoints[-1] == pytest.approx(next(p[1:] for p in ports if p[0] == port_id))
