"""Constructed scenarios: each reason code where it belongs, priorities, multi-trip, temporary zones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.planner_fixtures import (
    T0,
    at_m,
    fleet,
    problem,
    reasons,
    request,
    solved,
    square,
)


def test_each_precheck_reason_is_given_where_it_belongs() -> None:
    zones = [
        square("block", 2000, 0, 200),
        square("courtyard", -2000, 0, 400, hole=150),
    ]
    reqs = [
        request("ok", at_m(500, 500), at_m(1000, -500)),
        request("in-zone", at_m(2000, 50), at_m(500, 0)),
        request("enclosed", at_m(500, 0), at_m(-2000, 0)),
        request("heavy", at_m(500, 0), at_m(0, 800), weight=3.0),
        request("far", at_m(500, 0), at_m(0, 12_000)),
        request("hurry", at_m(0, 3000), at_m(0, 6000), deadline=4),
    ]
    result = solved(problem(zones, fleet(drones=2), reqs))
    assert "ok" in result.served
    assert reasons(result) == {
        "in-zone": "pickup_in_zone",
        "enclosed": "unreachable",
        "heavy": "overweight",
        "far": "out_of_range",
        "hurry": "deadline_infeasible",
    }
    detail = {u.request_id: u.detail for u in result.unserved}
    assert "block" in detail["in-zone"]


def test_urgent_is_kept_over_normal_when_only_one_fits() -> None:
    # Opposite directions, same tight window: one drone can fly only one of them.
    reqs = [
        request("normal", at_m(0, 100), at_m(0, 4000), deadline=8),
        request("urgent", at_m(0, -100), at_m(0, -4000), priority="urgent", deadline=8),
    ]
    result = solved(problem([], fleet(drones=1), reqs))
    assert result.served == ("urgent",)
    assert reasons(result) == {"normal": "no_capacity"}


def test_a_second_trip_when_the_battery_forces_it() -> None:
    # Each delivery alone takes most of a 240 Wh usable battery: two trips with a swap between.
    reqs = [
        request("east", at_m(0, 0), at_m(7000, 0)),
        request("west", at_m(0, 0), at_m(-7000, 0)),
    ]
    result = solved(problem([], fleet(drones=1), reqs), seconds=2)
    assert set(result.served) == {"east", "west"}
    (drone,) = result.drones
    assert len(drone.trips) == 2
    gap = drone.trips[1].legs[0].depart - drone.trips[0].legs[-1].arrive
    assert gap >= timedelta(seconds=300)


def test_a_temporary_zone_over_a_pad_restricts_its_window() -> None:
    festival = square(
        "festival",
        0,
        3000,
        300,
        valid_from=(T0 + timedelta(minutes=30)).isoformat(),
        valid_to=(T0 + timedelta(hours=4)).isoformat(),
    )
    reqs = [
        request("before", at_m(0, 100), at_m(0, 3000), deadline=120),
        request("during", at_m(0, 100), at_m(0, 3000), ready=40, deadline=120),
    ]
    result = solved(problem([festival], fleet(drones=2), reqs))
    assert "before" in result.served
    assert result.etas["before"].delivered_at < T0 + timedelta(minutes=30)
    assert reasons(result) == {"during": "dropoff_in_zone"}


def test_a_pad_inside_a_margin_band_is_usable_and_validated() -> None:
    # The drop-off is 10 m outside a zone whose margin is 40 m: usable (airspace rule), and the
    # validator accepts its leg coming as close as the pad itself, not closer.
    zone = square("band", 0, 2000, 200, margin_m=40)
    reqs = [request("close", at_m(0, 0), at_m(0, 1790), deadline=60)]
    result = solved(problem([zone], fleet(drones=1), reqs))
    assert result.served == ("close",)


def test_a_port_under_a_temporary_zone_is_closed_and_the_plan_stays_valid() -> None:
    doc = fleet(drones=1)
    lon, lat = at_m(4000, 0)
    doc["ports"].append({"id": "Q", "lon": lon, "lat": lat, "drones": [{"id": "E0", "model": "m"}]})
    closure = square(
        "closure",
        4000,
        0,
        150,
        valid_from=(T0 + timedelta(minutes=20)).isoformat(),
        valid_to=(T0 + timedelta(minutes=50)).isoformat(),
    )
    reqs = [request("a", at_m(3000, 500), at_m(3500, 1500), ready=15, deadline=60)]
    result = solved(problem([closure], doc, reqs))
    assert result.served == ("a",)
    assert all(leg.to_id != "Q" and leg.from_id != "Q" for _, _, _, leg in result.legs())


def test_pickup_and_dropoff_under_two_different_temporary_zones() -> None:
    def zone(zid: str, y: float) -> dict[str, Any]:
        return square(
            zid,
            0,
            y,
            250,
            valid_from=(T0 + timedelta(minutes=40)).isoformat(),
            valid_to=(T0 + timedelta(hours=3)).isoformat(),
        )

    reqs = [request("both", at_m(0, 1500), at_m(0, 4000), deadline=90)]
    result = solved(problem([zone("fair", 1500), zone("market", 4000)], fleet(drones=1), reqs))
    assert result.served == ("both",)
    assert result.etas["both"].delivered_at < T0 + timedelta(minutes=40)


def test_every_port_closed_is_reported_as_unreachable_naming_the_zone() -> None:
    reqs = [request("a", at_m(1000, 0), at_m(2000, 0))]
    result = solved(problem([square("hangar-fire", 0, 0, 100)], fleet(drones=1), reqs))
    (u,) = result.unserved
    assert u.reason == "unreachable"
    assert "every port is closed by a zone: P (zone hangar-fire)" in u.detail
