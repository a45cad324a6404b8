"""Hostile input at the HTTP API's edge (SQLite and PostgreSQL): times out of range, places outside
the service area, deep nesting, bodies that are not JSON, zone ids that could not be lifted,
strings over their limits or holding control characters. Every one is a 4xx naming the field,
nothing is filed or stored, and the store and intake refuse the same values on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from dispatch.api.bodies import MAX_JSON_DEPTH, json_depth
from dispatch.api.routes_zones import ZONE_HORIZON
from dispatch.api.schemas import MAX_DESCRIPTION, MAX_NAME, MAX_REASON
from dispatch.harness import pads
from dispatch.service.intake import (
    DEFAULT_DEADLINE,
    REQUEST_HORIZON,
    SERVICE_RADIUS_M,
    ServiceArea,
)
from dispatch.service.operations import delivery_counts
from dispatch.store import InvalidInput, NewRequest, Place
from dispatch.store.models import RequestRow
from tests.api_fixtures import OFFICE_A, Api, error_code

BY_PADS = {"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3}
PARIS = [2.35, 48.85]
JSON = {"Content-Type": "application/json"}
PAD = {"id": "p1", "name": "P", "lon": 114.39, "lat": 36.11}
OFFICE = {"id": "o1", "name": "O", "pad_id": "service-centre"}


def circle(zone_id: str, **props: Any) -> dict[str, Any]:
    """A small disc zone in the sample area."""
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [114.41, 36.13]},
        "properties": {"id": zone_id, "radius_m": 50, **props},
    }


async def count_requests(api: Api) -> int:
    return len(await api.store.requests.list(limit=10_000))


async def test_times_out_of_range_are_422_naming_the_field_and_nothing_is_filed(api: Api) -> None:
    now = api.ctx.now_clock.now()
    too_far = (now + REQUEST_HORIZON + timedelta(minutes=5)).isoformat()
    cases = [
        ({"ready_at": "9999-12-31T23:59:59+00:00"}, "ready_at"),
        ({"deadline": "9999-12-31T23:59:59-14:00"}, "deadline"),
        ({"ready_at": "0001-01-01T00:00:00+14:00"}, "ready_at"),  # no UTC time at all
        ({"deadline": "0001-01-01T00:00:00+00:00"}, "deadline"),
        ({"ready_at": too_far}, "ready_at"),
        (
            {"deadline": (now + REQUEST_HORIZON + DEFAULT_DEADLINE + timedelta(minutes=1)).isoformat()},
            "deadline",
        ),
        ({"deadline": (now - REQUEST_HORIZON - timedelta(minutes=5)).isoformat()}, "deadline"),
    ]
    before = await count_requests(api)
    async with api.client("office") as c:
        for extra, field in cases:
            for path in ("/api/v1/requests", "/api/v1/quotes"):
                r = await c.post(path, json={**BY_PADS, **extra})
                assert r.status_code == 422, (path, extra, r.text)
                assert error_code(r) == "time_out_of_range", r.text
                assert r.json()["error"]["details"]["field"] == field
                assert field in r.json()["error"]["message"]
        assert await count_requests(api) == before
        # Inside the horizon: ready in almost three days, due by default six hours later.
        ready = now + REQUEST_HORIZON - timedelta(minutes=5)
        r = await c.post("/api/v1/requests", json={**BY_PADS, "ready_at": ready.isoformat()})
        assert r.status_code == 201, r.text
        assert datetime.fromisoformat(r.json()["deadline"]) == ready + DEFAULT_DEADLINE
        r = await c.post("/api/v1/quotes", json={**BY_PADS, "ready_at": ready.isoformat()})
        assert r.status_code == 200 and r.json()["feasible"] is True, r.text
        # A past deadline within it is what it was: refused at intake as infeasible.
        past = (now - timedelta(hours=1)).isoformat()
        r = await c.post("/api/v1/requests", json={**BY_PADS, "deadline": past})
        assert r.status_code == 422 and error_code(r) == "deadline_infeasible", r.text


async def test_places_outside_the_service_area_are_422(api: Api) -> None:
    assert api.dispatcher.fleet is not None
    area = ServiceArea.of(api.dispatcher.fleet)
    edge = api.dispatcher.fleet.ports[0]
    before = await count_requests(api)
    async with api.client("office") as c:
        for body, field in [
            ({**BY_PADS, "dropoff": PARIS}, "dropoff"),
            ({**BY_PADS, "pickup": {"lon": 127.9, "lat": 36.10}}, "pickup"),  # some 85 km east
        ]:
            for path in ("/api/v1/requests", "/api/v1/quotes"):
                r = await c.post(path, json=body)
                assert r.status_code == 422, (path, body, r.text)
                assert error_code(r) == "outside_service_area", r.text
                details = r.json()["error"]["details"]
                assert details["field"] == field and details["radius_m"] == SERVICE_RADIUS_M
        assert await count_requests(api) == before
        # Within the area but out of every drone's range: the intake's own reason, as before.
        near_edge = [edge.lon + 0.5, edge.lat]  # some 44 km east of a port
        assert area.contains(*near_edge)
        r = await c.post("/api/v1/quotes", json={**BY_PADS, "dropoff": near_edge})
        assert r.status_code == 200 and r.json()["reason"] == "out_of_range", r.text
    async with api.client("admin") as c:
        louvre = {"id": "louvre", "name": "Louvre", "lon": 2.3376, "lat": 48.8606}
        r = await c.post("/api/v1/pads", json=louvre)
        assert r.status_code == 422 and error_code(r) == "outside_service_area", r.text
    assert "louvre" not in await api.store.directory.pads()


async def test_intake_rejects_what_the_api_refuses_when_it_is_filed_past_the_api(api: Api) -> None:
    """Defence in depth: a request stored by another front end is rejected with the reason."""
    now = api.ctx.now_clock.now()
    service_centre = pads()["service-centre"]
    stored = [
        (
            NewRequest(office_id=OFFICE_A, pickup=service_centre, dropoff=Place(*PARIS), weight_kg=0.3),
            "outside_service_area",
        ),
        (
            NewRequest(
                office_id=OFFICE_A,
                pickup=service_centre,
                dropoff=pads()["zhangde-road"],
                weight_kg=0.3,
                ready_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
            ),
            "time_out_of_range",
        ),
        (
            NewRequest(
                office_id=OFFICE_A,
                pickup=service_centre,
                dropoff=pads()["zhangde-road"],
                weight_kg=0.3,
                ready_at=now,
                deadline=now + timedelta(hours=1),
            ),
            None,
        ),
    ]
    for new, reason in stored:
        view = await api.dispatcher.submit(new, actor="another-front-end")
        assert view.state == ("rejected" if reason else "accepted"), view
        assert view.state_reason == reason
    with pytest.raises(InvalidInput, match="no UTC time"):
        await api.store.requests.create(
            NewRequest(
                office_id=OFFICE_A,
                pickup=service_centre,
                dropoff=service_centre,
                weight_kg=0.3,
                ready_at=datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
            ),
            actor="x",
        )
    assert not await api.store.requests.list(states=["submitted"])


def test_json_depth_counts_brackets_outside_strings() -> None:
    assert json_depth(b"") == 0 and json_depth(b'"x"') == 0 and json_depth(b"3") == 0
    assert json_depth(b"[[1],[2,[3]]]") == 3
    assert json_depth(b'{"a": "[[[[{{{{"}') == 1
    assert json_depth(b'{"a": "\\"[[[", "b": [[1]]}') == 3  # an escaped quote does not end the string
    assert json_depth(b'{"a": "\\\\", "b": [[1]]}') == 3  # an escaped backslash does not escape the quote
    assert json_depth(b'["]", {"x": "}"}]') == 2
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000


async def test_deeply_nested_json_is_400_wherever_it_is(api: Api) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    just_too_deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    feature = (
        b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.41, 36.13]},'
        b' "properties": {"id": "deep", "radius_m": 50, "reason": ' + deep + b"}}"
    )
    async with api.client("admin") as c:
        for path, body in [
            ("/api/v1/requests", deep),
            ("/api/v1/quotes", just_too_deep),
            ("/api/v1/zones", deep),
            ("/api/v1/zones", feature),
            ("/api/v1/pads", deep),
        ]:
            r = await c.post(path, content=body, headers=JSON)
            assert r.status_code == 400, (path, r.text)
            assert error_code(r) == "invalid_request"
            assert r.json()["error"]["details"] == {"max_depth": MAX_JSON_DEPTH}
        r = await c.put("/api/v1/zones/deep", content=feature, headers=JSON)
        assert r.status_code == 400 and error_code(r) == "invalid_request"
        # Brackets inside strings are text, however many.
        r = await c.post("/api/v1/zones", json=circle("brackets", reason="[" * MAX_REASON))
        assert r.status_code == 201, r.text
    assert "deep" not in {z.id for z in await api.store.zones.list(active_only=False)}


async def test_a_body_that_is_not_json_is_415(api: Api) -> None:
    body = b'{"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3}'
    before = await count_requests(api)
    async with api.client("office") as c:
        for media_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            r = await c.post("/api/v1/requests", content=body, headers={"Content-Type": media_type})
            assert r.status_code == 415, (media_type, r.text)
            assert error_code(r) == "unsupported_media_type" and media_type in r.json()["error"]["message"]
        assert await count_requests(api) == before
        for media_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
            r = await c.post("/api/v1/requests", content=body, headers={"Content-Type": media_type})
            assert r.status_code == 201, (media_type, r.text)
        r = await c.post("/api/v1/requests", content=b"x" * 10_000_001, headers=JSON)
        assert r.status_code == 413 and error_code(r) == "too_large"


async def test_every_view_shows_the_deadline_in_force(api: Api) -> None:
    now = api.ctx.now_clock.now()
    ready = now + timedelta(hours=2)
    async with api.client("office") as c:
        plain = (await c.post("/api/v1/requests", json=BY_PADS)).json()
        later = (await c.post("/api/v1/requests", json={**BY_PADS, "ready_at": ready.isoformat()})).json()
        given = (now + timedelta(hours=1)).replace(microsecond=0)
        due = (await c.post("/api/v1/requests", json={**BY_PADS, "deadline": given.isoformat()})).json()
        created = datetime.fromisoformat(plain["created_at"])
        assert datetime.fromisoformat(plain["deadline"]) == created + DEFAULT_DEADLINE
        assert datetime.fromisoformat(later["deadline"]) == ready + DEFAULT_DEADLINE
        assert datetime.fromisoformat(due["deadline"]) == given
        listed = {i["id"]: i["deadline"] for i in (await c.get("/api/v1/requests")).json()["items"]}
        for r in (plain, later, due):
            assert listed[r["id"]] == r["deadline"]
            detail = (await c.get(f"/api/v1/requests/{r['id']}")).json()["request"]
            assert detail["deadline"] == r["deadline"]
    # The store keeps what was filed (no deadline), the answer shows the one in force.
    assert (await api.store.requests.get(plain["id"])).deadline is None


@pytest.mark.parametrize(
    "zone_id",
    [
        "../../x",
        "</script>",
        "a\x00b",
        "a\r\nb",
        "x\n",
        "..",
        ".hidden",
        "-x",
        "a b",
        "x" * 65,
        "zone/1",
        "ü",
    ],
)
async def test_a_zone_id_that_is_not_a_record_id_is_422(api: Api, zone_id: str) -> None:
    async with api.client("operator") as c:
        r = await c.post("/api/v1/zones", json=circle(zone_id))
        assert r.status_code == 422, r.text
        assert error_code(r) == "invalid_format"
        assert r.json()["error"]["details"]["field"] == "features[0].properties.id"
    assert await api.store.zones.list(active_only=False) == await api.store.zones.list()
    with pytest.raises(InvalidInput, match=r"properties\.id"):
        await api.store.zones.upsert(circle(zone_id), actor="test")


async def test_zones_at_the_edge_of_the_id_pattern_are_replaced_and_lifted(api: Api) -> None:
    edge_ids = ["0", "Z", "A" + "._-" * 21, "x..", "a.", "9-_"]
    assert len(edge_ids[2]) == 64
    async with api.client("operator") as c:
        for zone_id in edge_ids:
            r = await c.post("/api/v1/zones", json=circle(zone_id, reason="first"))
            assert r.status_code == 201, (zone_id, r.text)
            r = await c.put(f"/api/v1/zones/{zone_id}", json=circle(zone_id, reason="second"))
            assert r.status_code == 200, (zone_id, r.text)
            assert r.json()["features"][0]["properties"]["reason"] == "second"
            r = await c.delete(f"/api/v1/zones/{zone_id}")
            assert r.status_code == 200, (zone_id, r.text)
            assert r.json()["features"][0]["meta"]["active"] is False
    active = {z.id for z in await api.store.zones.list()}
    assert active.isdisjoint(edge_ids)


async def test_zone_properties_are_bounded(api: Api) -> None:
    now = api.ctx.now_clock.now()
    cases = [
        (circle("long", reason="x" * (MAX_REASON + 1)), "too_long", "reason"),
        (circle("nul", reason="a\x00b"), "invalid_format", "reason"),
        (circle("bell", reason="ding\x07"), "invalid_format", "reason"),
        (circle("far", valid_to="9999-12-31T23:59:59-14:00"), "time_out_of_range", "valid_to"),
        (circle("old", valid_from="0001-01-01T00:00:00+14:00"), "time_out_of_range", "valid_from"),
        (
            circle("later", valid_until=(now + ZONE_HORIZON + timedelta(days=1)).isoformat()),
            "time_out_of_range",
            "valid_to",
        ),
    ]
    async with api.client("operator") as c:
        for feature, code, field in cases:
            r = await c.post("/api/v1/zones", json=feature)
            assert r.status_code == 422, (feature["properties"], r.text)
            assert error_code(r) == code, r.text
            assert r.json()["error"]["details"]["field"] == f"features[0].properties.{field}"
        r = await c.get("/api/v1/zones", params={"at": "9999-12-31T23:59:59-14:00"})
        assert r.status_code == 422 and error_code(r) == "time_out_of_range"
        # Text within the limits is stored as sent; a geometry's other members are not stored.
        ok = circle("ok", reason="closed:\tcrane\r\nuntil further notice " + "x" * 400)
        ok["geometry"]["junk"] = "x" * 100_000
        r = await c.post("/api/v1/zones", json=ok)
        assert r.status_code == 201, r.text
        assert r.json()["features"][0]["properties"]["reason"] == ok["properties"]["reason"]
    stored = await api.store.zones.get("ok")
    assert set(stored.feature["geometry"]) == {"type", "coordinates"}
    refused = {feature["properties"]["id"] for feature, _, _ in cases}
    assert refused.isdisjoint(z.id for z in await api.store.zones.list(active_only=False))


async def test_strings_in_bodies_are_bounded_and_free_of_control_characters(api: Api) -> None:
    """Over its limit: 422 too_long; a control character (PostgreSQL cannot store a NUL): 422
    invalid_format; each names the field, and nothing is stored."""
    before = await count_requests(api)
    async with api.client("office") as c:
        for body, code, field in [
            ({**BY_PADS, "description": "x" * (MAX_DESCRIPTION + 1)}, "too_long", "description"),
            ({**BY_PADS, "description": "a\x00b"}, "invalid_format", "description"),
            ({**BY_PADS, "dropoff": "x" * 65}, "too_long", "dropoff"),
            ({**BY_PADS, "dropoff": "../zhangde-road"}, "invalid_format", "dropoff"),
        ]:
            r = await c.post("/api/v1/requests", json=body)
            assert r.status_code == 422, (body, r.text)
            assert error_code(r) == code and r.json()["error"]["details"]["field"] == field, r.text
        r = await c.post("/api/v1/requests", json={**BY_PADS, "description": "line one\nline\ttwo"})
        assert r.status_code == 201, r.text
    assert await count_requests(api) == before + 1
    async with api.client("admin") as c:
        for path, body, code, field in [
            ("/api/v1/pads", {**PAD, "name": "a\x00b"}, "invalid_format", "name"),
            ("/api/v1/pads", {**PAD, "name": "two\nlines"}, "invalid_format", "name"),
            ("/api/v1/pads", {**PAD, "name": "x" * (MAX_NAME + 1)}, "too_long", "name"),
            ("/api/v1/offices", {**OFFICE, "name": "x\x1b[31m"}, "invalid_format", "name"),
            ("/api/v1/offices", {**OFFICE, "pad_id": "service centre"}, "invalid_format", "pad_id"),
            ("/api/v1/keys", {"role": "operator", "label": "a\x00b"}, "invalid_format", "label"),
            ("/api/v1/keys", {"role": "operator", "label": "x" * (MAX_NAME + 1)}, "too_long", "label"),
        ]:
            r = await c.post(path, json=body)
            assert r.status_code == 422, (path, body, r.text)
            assert error_code(r) == code and r.json()["error"]["details"]["field"] == field, r.text
    assert "p1" not in await api.store.directory.pads()
    assert "o1" not in {o.id for o in await api.store.directory.offices()}


async def test_on_time_deliveries_count_the_default_deadline(api: Api) -> None:
    """A request filed without a deadline and delivered 7 h after it was ready was late."""
    now = api.ctx.now_clock.now()
    p = pads()
    for delivered_after in (timedelta(hours=5), timedelta(hours=7)):
        new = NewRequest(
            office_id=OFFICE_A,
            pickup=p["service-centre"],
            dropoff=p["zhangde-road"],
            weight_kg=0.3,
            ready_at=now,
        )
        rid = (await api.store.requests.create(new, actor="test")).request.id
        async with api.store.db.write() as session:  # the hand-over, as the dispatcher records it
            await session.execute(
                update(RequestRow)
                .where(RequestRow.id == rid)
                .values(state="delivered", updated_at=now + delivered_after)
            )
    assert await delivery_counts(api.store) == (2, 1)
