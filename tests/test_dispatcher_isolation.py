"""No single request, zone or step stops the dispatcher's loops (issue 14, defect 1).

Fast tests of the isolation rules (:mod:`dispatch.service.isolation`) on the real intake check
(with a bug only one request meets, injected at the ``assess`` seam) and the real zone parser;
then the whole dispatcher on the real broker and databases: requests no front end should have let
in (a ``ready_at`` or deadline in year 9999, a drop-off in Paris) and a zone the airspace cannot
read, written straight into the store, are rejected or skipped with a reason in the audit log,
while the tick goes on: a drone that goes silent is still written off and a good request filed
after them is still planned and delivered.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatch.harness import SIM_START, pads, request, running_system, sample_fleet, zone_features
from dispatch.service.intake import Assessment, ServiceArea, assess_many
from dispatch.service.isolation import (
    INTERNAL_ERROR,
    assess_isolated,
    find_unplannable,
    parse_stored_zones,
    routable,
    run_steps,
)
from dispatch.service.solver_pool import SolverPool
from dispatch.store import NewRequest, Place, RequestView, Store, ZoneView
from fleet.connection import BrokerAddress
from routing.requests import Request
from tests.dispatcher_fixtures import parse_zone, states
from tests.test_dispatcher_silence_battery import FAR_PICKUPS, delivered_by_another, take_off_for

FAR_AWAY = Place(2.35, 48.85)  # Paris: more than 100 km from the centre of the Anyang area
YEAR_9999 = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
# A zone stored far away: the airspace's frame, centred on the zones, would leave Anyang out.
PARIS_ZONE = {
    "type": "Feature",
    "properties": {"id": "paris", "kind": "no_fly", "radius_m": 100},
    "geometry": {"type": "Point", "coordinates": [FAR_AWAY.lon, FAR_AWAY.lat]},
}


def view(
    request_id: str,
    *,
    dropoff: Place | None = None,
    ready_at: datetime | None = SIM_START,
    deadline: datetime | None = None,
) -> RequestView:
    """A stored request from the service centre to Beiguan (or ``dropoff``)."""
    p = pads()
    return RequestView(
        id=request_id,
        office_id="service-centre",
        pickup=p["service-centre"],
        dropoff=dropoff or p["beiguan-district"],
        weight_kg=0.3,
        priority="normal",
        ready_at=ready_at,
        deadline=deadline,
        description="",
        state="submitted",
        state_reason=None,
        intake=None,
        idempotency_key=None,
        created_at=SIM_START,
        updated_at=SIM_START,
    )


async def real_assess(requests: list[Request]) -> list[Assessment]:
    """The intake check the dispatcher's worker runs, on the sample fleet and zones."""
    zones = [parse_zone(f) for f in zone_features()]
    return await asyncio.to_thread(assess_many, zones, sample_fleet(), requests, SIM_START)


async def buggy_assess(requests: list[Request]) -> list[Assessment]:
    """The real intake check with a bug that only one request (id ``buggy``) meets."""
    if any(r.id == "buggy" for r in requests):
        raise RuntimeError("a bug met by one request")
    return await real_assess(requests)


async def test_one_request_that_cannot_be_decided_is_rejected_and_the_others_are_decided() -> None:
    views = [view("good-1"), view("buggy"), view("good-2")]
    intakes = await assess_isolated(buggy_assess, views, SIM_START)
    assert [i.accepted for i in intakes] == [True, False, True]
    bad = intakes[1]
    assert bad.reason == INTERNAL_ERROR and bad.details["exception"] == "RuntimeError"
    assert "a bug met by one request" in bad.details["detail"]
    assert intakes[0].details["eta_kind"] == "best_single_drone"
    # Alone, it is rejected the same way; a batch without it is decided as one.
    (alone,) = await assess_isolated(buggy_assess, [view("buggy")], SIM_START)
    assert alone.reason == INTERNAL_ERROR


async def test_a_dead_worker_is_not_blamed_on_the_requests() -> None:
    async def dead(requests: list[Request]) -> list[Assessment]:
        raise BrokenProcessPool("the intake worker died")

    with pytest.raises(BrokenProcessPool):
        await assess_isolated(dead, [view("a"), view("b")], SIM_START)


async def test_the_planner_finds_the_requests_it_cannot_handle() -> None:
    requests, broken = routable([view("good"), view("buggy"), view("other")], SIM_START)
    assert [r.id for r in requests] == ["good", "buggy", "other"] and not broken
    assert list(await find_unplannable(buggy_assess, requests)) == ["buggy"]


def zone_view(feature: dict, zone_id: str) -> ZoneView:  # type: ignore[type-arg]
    """A stored zone."""
    return ZoneView(zone_id, feature, None, None, "test", True, SIM_START, SIM_START)


def test_a_zone_the_airspace_cannot_read_is_skipped_not_the_zone_set() -> None:
    good = [zone_view(f, f["properties"]["id"]) for f in zone_features()]
    broken = {
        "type": "Feature",
        "properties": {"id": "no-radius", "kind": "no_fly"},
        "geometry": {"type": "Point", "coordinates": [114.39, 36.10]},
    }
    paris = zone_view(PARIS_ZONE, "paris")
    area = ServiceArea.of(sample_fleet())
    zones, skipped = parse_stored_zones([good[0], zone_view(broken, "no-radius"), *good[1:], paris], area)
    assert [z.id for z in zones] == [v.id for v in good]
    assert sorted(skipped) == ["no-radius", "paris"] and "radius" in skipped["no-radius"]
    assert "outside the service area" in skipped["paris"]


def test_a_zone_reaching_into_the_area_from_beyond_its_edge_is_enforced() -> None:
    """Only a zone wholly away from the service area is skipped; one that reaches into it, by its
    outline or by a circle's radius, is kept however far it extends beyond (50 km about here)."""
    area = ServiceArea.of(sample_fleet())
    lon, lat = area.lon, area.lat  # 0.1 degree of longitude is about 8.8 km at this latitude

    def zone(zone_id: str, geometry: dict[str, Any], **props: Any) -> ZoneView:
        return zone_view(
            {
                "type": "Feature",
                "properties": {"id": zone_id, "kind": "no_fly", **props},
                "geometry": geometry,
            },
            zone_id,
        )

    straddling = zone(
        "straddling",
        {
            "type": "Polygon",
            "coordinates": [
                [
                    [lon + 0.45, lat - 0.05],
                    [lon + 0.8, lat - 0.05],
                    [lon + 0.8, lat + 0.05],
                    [lon + 0.45, lat + 0.05],
                    [lon + 0.45, lat - 0.05],
                ]
            ],
        },
    )
    wide_circle = zone("wide-circle", {"type": "Point", "coordinates": [lon + 0.62, lat]}, radius_m=10_000)
    far_circle = zone("far-circle", {"type": "Point", "coordinates": [lon + 0.8, lat]}, radius_m=10_000)
    zones, skipped = parse_stored_zones([straddling, wide_circle, far_circle], area)
    assert [z.id for z in zones] == ["straddling", "wide-circle"]
    assert list(skipped) == ["far-circle"]


async def test_a_tick_step_that_fails_skips_no_other_step() -> None:
    ran: list[str] = []
    errors: Counter[str] = Counter()

    async def ok(name: str) -> None:
        ran.append(name)

    async def boom() -> None:
        raise OverflowError("date value out of range")

    failed = await run_steps(
        "tick", [("intake", boom), ("zones", lambda: ok("zones")), ("silence", lambda: ok("silence"))], errors
    )
    assert failed == ["intake"] and ran == ["zones", "silence"]
    assert errors == Counter({"tick.intake": 1})


async def file_poisoned(store: Store, now: datetime) -> list[str]:
    """Requests a buggy front end (or an old database) let in, filed straight into the store."""
    p = pads()
    bad = [
        NewRequest("service-centre", p["service-centre"], p["beiguan-district"], 0.3, ready_at=YEAR_9999),
        NewRequest(
            "service-centre",
            p["service-centre"],
            p["beiguan-district"],
            0.3,
            ready_at=now,
            deadline=YEAR_9999,
        ),
        NewRequest("service-centre", p["service-centre"], FAR_AWAY, 0.3, ready_at=now),
    ]
    return [(await store.requests.create(n, actor="buggy-front-end")).request.id for n in bad]


async def test_poisoned_requests_and_zones_stop_no_tick(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, speed=60.0, pool=solver_pool) as system:
        d, sim = system.dispatcher, system.sim
        poisoned = await file_poisoned(store, system.clock.now())
        broken_zone = {
            "type": "Feature",
            "properties": {"id": "no-radius", "kind": "no_fly"},
            "geometry": {"type": "Point", "coordinates": [114.39, 36.10]},
        }
        await store.zones.upsert(broken_zone, actor="old-version")
        await store.zones.upsert(PARIS_ZONE, actor="old-version")

        async def decided() -> bool:
            return all(s != "submitted" for s in (await states(store, poisoned)).values())

        await d.wait_until(decided, timeout_s=60)
        for rid in poisoned:
            # Refused by intake's own checks of times and places, or else as an internal error.
            last = (await store.requests.timeline(rid)).entries[-1].payload
            assert last["to"] == "rejected", last
            assert last["details"]["reason"] in (INTERNAL_ERROR, "time_out_of_range", "outside_service_area")

        # The zone set stayed loaded without the broken zone, which is audited once.
        async def skipped() -> bool:
            notes = [[e.action for e in await store.history("zone", z)] for z in ("no-radius", "paris")]
            return all("zone_skipped" in n for n in notes)

        await d.wait_until(skipped, timeout_s=30)
        assert {z.id for z in d.zones} == {f["properties"]["id"] for f in zone_features()}

        # A good request filed after them flies; its drone goes silent and is still written off
        # by the tick, and the request is delivered by another drone.
        good = await d.submit(request(FAR_PICKUPS[0], "service-centre", now=system.clock.now()))
        assert good.state == "accepted", good
        quiet, _ = await take_off_for(system, good.id)
        sim.inject_link_loss(quiet, 480.0)
        await delivered_by_another(d, store, good.id, not_by=quiet)
        assert [e.action for e in await store.history("zone", "no-radius")].count("zone_skipped") == 1
        assert not [k for k in d.stats.errors if k.startswith("tick")], d.stats.errors
        assert (await store.verify_audit()).ok
