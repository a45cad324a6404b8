"""Controlled zones: the zones file reads them, planning may route through them, and which of them a
trip enters (with its band, margin and time window), or whether it climbs above the ceiling."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from airspace.frame import LocalFrame
from airspace.paths import Airspace
from airspace.zones import ZoneFormatError, parse_zones, zones_to_geojson
from dispatch.service.approvals import CEILING, denied_groups, mission_legs
from dispatch.service.missions import MissionSpec, StopSpec
from routing.controlled import FlownLeg, as_no_fly, controlled_airspace, split_zones
from routing.requests import Request

T0 = datetime.fromisoformat("2026-12-05T08:00:00+00:00")
LON, LAT = 114.40, 36.10
FRAME = LocalFrame.for_points([(LON, LAT)])


def at(x_m: float, y_m: float) -> tuple[float, float]:
    """The lon/lat ``x_m`` east and ``y_m`` north of the centre."""
    lon, lat = FRAME.to_lonlat(x_m, y_m)
    return float(lon), float(lat)


def circle(zone_id: str, x_m: float, y_m: float, radius_m: float, **props: Any) -> dict[str, Any]:
    lon, lat = at(x_m, y_m)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"id": zone_id, "kind": "controlled", "radius_m": radius_m, **props},
    }


def zones(*features: dict[str, Any]) -> list[Any]:
    return parse_zones({"type": "FeatureCollection", "features": list(features)}, "test")


def leg(points: list[tuple[float, float]], alt: float = 120.0, minutes: float = 10.0) -> FlownLeg:
    wps = [(*at(x, y), 0.0 if k in (0, len(points) - 1) else alt) for k, (x, y) in enumerate(points)]
    # climb over the first point and descend over the last, as the planner's waypoints do
    full = [wps[0], (wps[0][0], wps[0][1], alt), *wps[1:-1], (wps[-1][0], wps[-1][1], alt), wps[-1]]
    return FlownLeg(full, T0, T0 + timedelta(minutes=minutes))


EAST = [(-2000.0, 0.0), (2000.0, 0.0)]  # a leg straight through the centre


def test_the_zones_file_reads_and_writes_the_controlled_kind() -> None:
    (z,) = zones(circle("ctl", 0, 0, 200, reason="airport control zone"))
    assert (z.kind, z.reason) == ("controlled", "airport control zone")
    assert zones_to_geojson([z])["features"][0]["properties"]["kind"] == "controlled"
    with pytest.raises(ZoneFormatError, match="supported kinds: no_fly, controlled"):
        zones(circle("bad", 0, 0, 200) | {"properties": {"id": "bad", "kind": "restricted", "radius_m": 9}})


def test_approval_mode_routes_through_controlled_zones_and_off_avoids_them() -> None:
    ctl, nfz = zones(circle("ctl", 0, 0, 300), circle("nfz", 0, 1500, 200, kind="no_fly"))
    avoided, through = split_zones([ctl, nfz], route_through=True)
    assert ([z.id for z in avoided], [z.id for z in through]) == (["nfz"], ["ctl"])
    avoided, through = split_zones([ctl, nfz], route_through=False)
    assert ([z.id for z in avoided], through) == (["ctl", "nfz"], [])
    a, b = at(*EAST[0]), at(*EAST[1])
    straight = 4000.0
    on = Airspace(split_zones([ctl, nfz], route_through=True)[0]).shortest_path(a, b, altitude_m=120, at=T0)
    off = Airspace(split_zones([ctl, nfz], route_through=False)[0]).shortest_path(a, b, altitude_m=120, at=T0)
    assert on.length_m == pytest.approx(straight, abs=0.5)  # through the controlled zone
    assert off.length_m > straight + 50  # around it, like a no-fly zone
    (denied,) = as_no_fly([ctl])
    assert denied.kind == "no_fly" and denied.id == "ctl"


def test_a_leg_through_a_controlled_zone_enters_it() -> None:
    ctl = zones(circle("ctl", 0, 0, 300), circle("far", 0, 3000, 300))
    got = controlled_airspace([leg(EAST)], ctl)
    assert got.zone_ids == ("ctl",) and got.needs_approval and got.above_ceiling_m is None


@pytest.mark.parametrize(
    ("offset_m", "entered"),
    [(300 + 24.0, True), (300 + 26.0, False)],  # inside the 25 m margin, then just outside it
)
def test_passing_within_the_margin_enters_the_zone(offset_m: float, entered: bool) -> None:
    ctl = zones(circle("ctl", 0, offset_m, 300, margin_m=25))
    assert controlled_airspace([leg(EAST)], ctl).needs_approval is entered


def test_the_band_and_the_climb_columns_count() -> None:
    low = circle("low", 0, 0, 300, ceiling_m=60)  # below the cruise: crossed above it
    high = circle("high", 0, 0, 300, floor_m=200)  # above the cruise
    assert not controlled_airspace([leg(EAST)], zones(low, high)).needs_approval
    # a pad in the low zone: the drone climbs through it
    from_inside = leg([(0.0, 0.0), (2000.0, 0.0)])
    assert controlled_airspace([from_inside], zones(low)).zone_ids == ("low",)
    assert not controlled_airspace([from_inside], zones(high)).needs_approval


def test_only_zones_in_force_during_the_flight_count() -> None:
    later = (T0 + timedelta(hours=1)).isoformat()
    before = (T0 - timedelta(hours=1)).isoformat()
    f = circle("ctl", 0, 0, 300, valid_from=later)
    assert not controlled_airspace([leg(EAST)], zones(f)).needs_approval
    assert controlled_airspace([leg(EAST, minutes=90)], zones(f)).needs_approval
    gone = circle("ctl", 0, 0, 300, valid_from=before, valid_to=T0.isoformat())
    assert not controlled_airspace([leg(EAST)], zones(gone)).needs_approval


def test_a_flight_above_the_ceiling_needs_approval_without_any_zone() -> None:
    got = controlled_airspace([leg(EAST, alt=150.0)], [], ceiling_m=120.0)
    assert (got.zone_ids, got.above_ceiling_m, got.needs_approval) == ((), 150.0, True)
    assert not controlled_airspace([leg(EAST, alt=120.0)], [], ceiling_m=120.0).needs_approval


def test_a_route_planned_around_a_denied_zone_does_not_enter_it() -> None:
    (ctl,) = zones(circle("ctl", 0, 0, 300))
    a, b = at(*EAST[0]), at(*EAST[1])
    around = Airspace(as_no_fly([ctl])).shortest_path(a, b, altitude_m=120, at=T0)
    assert around.length_m > 4000.0 + 10
    wps = [(p[0], p[1], 120.0) for p in around.waypoints]
    assert not controlled_airspace([FlownLeg(wps, T0, T0 + timedelta(minutes=5))], [ctl]).needs_approval


def test_a_mission_is_checked_leg_by_leg_at_its_stops() -> None:
    # port -> pickup -> drop-off -> port at cruise altitude (as planned legs are), the pickup pad
    # inside a zone below the cruise: only the climb from the pickup enters it
    wps = tuple((*at(x, y), 120.0) for x, y in [(-2000, 0), (0, 0), (2000, 0), (2000, 2000)])
    stops = (StopSpec(1, "pickup", "R1"), StopSpec(2, "handover", "R1"))
    spec = MissionSpec("M-1", "D1", wps, stops, "P1", T0, T0 + timedelta(minutes=20))
    legs = mission_legs(spec)
    assert [len(leg.waypoints) for leg in legs] == [2, 2, 2]
    assert all((leg.depart, leg.arrive) == (spec.depart, spec.arrive) for leg in legs)
    low = zones(circle("low", 0, 0, 100, ceiling_m=60))
    assert controlled_airspace(legs, low).zone_ids == ("low",)
    # the same zone off the pads, under the cruise: not entered
    aside = zones(circle("low", 1000, 0, 100, ceiling_m=60))
    assert not controlled_airspace(legs, aside).needs_approval


def req(rid: str) -> Request:
    return Request(rid, at(0, 0), at(100, 0), 0.5, "normal", T0, T0 + timedelta(hours=1))


def test_denied_requests_are_planned_apart_around_what_was_denied_to_them() -> None:
    a, b, c = zones(circle("a", 0, 0, 100), circle("b", 500, 0, 100), circle("c", 900, 0, 100))
    denied = {
        "R1": {"a": "authority_denied: exercise"},
        "R2": {"a": "authority_denied: exercise"},
        "R3": {"a": "authority_denied: busy", "b": "authority_denied: closed"},
        "R4": {"gone": "authority_denied: old"},
        "R5": {CEILING: "authority_denied: too high"},
    }
    rs = [req(f"R{i}") for i in range(1, 7)]
    groups, free, lifted = denied_groups(rs, denied, [a, b, c], avoided=set())
    by_members = {tuple(r.id for r in g.requests): g for g in groups}
    assert set(by_members) == {("R1", "R2"), ("R3",), ("R5",)}
    assert [(z.id, z.kind) for z in by_members["R1", "R2"].no_fly] == [("a", "no_fly")]
    assert [z.id for z in by_members[("R3",)].no_fly] == ["a", "b"]
    assert by_members[("R3",)].reasons == {"R3": "authority_denied: closed"}  # the latest denial
    assert by_members[("R5",)].ceiling and not by_members["R1", "R2"].ceiling
    assert [r.id for r in free] == ["R6", "R4"] and lifted == ["R4"]  # R4's zone is no longer in force
    # zones already avoided (approval mode off) are not added twice
    groups, free, _ = denied_groups([req("R1")], denied, [a], avoided={"a"})
    assert groups == [] and [r.id for r in free] == ["R1"]
