"""Operational intents over the API: a flight's (ASTM F3548 volumes) and those in force (GeoJSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from tests.api_fixtures import Api, error_code, flying_api
from tests.test_api_flow import body
from tests.test_store_flights import accepted_request, flight


def when(text: str) -> datetime:
    """An RFC 3339 instant the API wrote (UTC, ``Z``)."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def span(volumes: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    """The earliest start and latest end of F3548 ``Volume4D`` s."""
    return (
        min(when(v["time_start"]["value"]) for v in volumes),
        max(when(v["time_end"]["value"]) for v in volumes),
    )


async def test_a_flights_intent_is_served_and_listed_while_it_flies(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with flying_api(store, broker, prefix, solver_pool) as api:
        assert api.system is not None
        async with api.client("office") as office, api.client("operator") as op:
            # A long flight (4.7 km from the nearest port to the pickup): a few wall seconds at 150x.
            r = await office.post("/api/v1/requests", json=body(api, "anyang-east", "service-centre"))
            assert r.status_code == 201, r.text
            rid = r.json()["id"]

            # Once its start is sent, the flight's intent moves no more (a start is retimed before).
            async def flying() -> bool:
                return any(f.state in ("flying", "completed") for f in await store.flights.carrying(rid))

            await api.dispatcher.wait_until(flying, timeout_s=60)
            (planned,) = await store.flights.carrying(rid)
            mid = planned.mission_id

            # Listed in force, one Polygon per volume, the flight's own volumes named by its mission.
            listing = (await op.get("/api/v1/intents")).json()
            assert listing["type"] == "FeatureCollection"
            mine = [f for f in listing["features"] if f["properties"]["mission_id"] == mid]
            assert mine, listing
            for f in mine:
                props = f["properties"]
                assert f["geometry"]["type"] == "Polygon"
                ring = f["geometry"]["coordinates"][0]
                assert len(ring) >= 4 and ring[0] == ring[-1]
                assert props["drone_id"] == planned.drone_id
                assert when(props["time_start"]) < when(props["time_end"])
                assert props["altitude_lower_m"] < props["altitude_upper_m"]
            assert any((f["properties"]["resource"] or "").startswith("port:") for f in mine)
            # at=: only the volumes whose window holds the instant (here: the middle of the landing).
            last = max(mine, key=lambda f: when(f["properties"]["time_end"]))
            t0, t1 = when(last["properties"]["time_start"]), when(last["properties"]["time_end"])
            at = t0 + (t1 - t0) / 2
            r = await op.get("/api/v1/intents", params={"at": at.isoformat()})
            assert r.status_code == 200, r.text
            then = r.json()["features"]
            named = {(f["properties"]["mission_id"], f["properties"]["volume"]) for f in then}
            assert (mid, last["properties"]["volume"]) in named
            assert len(then) < len(listing["features"])
            for f in then:
                assert when(f["properties"]["time_start"]) <= at <= when(f["properties"]["time_end"])

            # The flight's intent, in the F3548 shape.
            r = await op.get(f"/api/v1/flights/{mid}/intent")
            assert r.status_code == 200, r.text
            intent = r.json()
            assert (intent["mission_id"], intent["drone_id"]) == (mid, planned.drone_id)
            assert intent["state"] in ("Accepted", "Activated", "Ended")
            volumes = intent["volumes"]
            assert len(volumes) == len(mine)
            for v in volumes:
                assert when(v["time_start"]["value"]) < when(v["time_end"]["value"])
                assert v["time_start"]["format"] == "RFC3339"
                v3 = v["volume"]
                assert ("outline_circle" in v3) != ("outline_polygon" in v3), v3
                assert v3["altitude_lower"]["value"] < v3["altitude_upper"]["value"]
                assert v3["altitude_lower"]["units"] == "M"
            start, end = span(volumes)
            assert (when(intent["time_start"]), when(intent["time_end"])) == (start, end)
            depart = datetime.fromisoformat((await store.flights.get(mid)).plan["depart"])
            assert start < depart < end

            # Over, the flight keeps its intent (the stored one), Ended; no longer in force.
            async def completed() -> bool:
                return (await store.flights.get(mid)).state == "completed"

            await api.dispatcher.wait_until(completed, timeout_s=60)
            ended = (await op.get(f"/api/v1/flights/{mid}/intent")).json()
            assert ended["state"] == "Ended" and ended["flight_state"] == "completed"
            assert span(ended["volumes"]) == (start, end)
            listing = (await op.get("/api/v1/intents")).json()
            assert mid not in {f["properties"]["mission_id"] for f in listing["features"]}


async def test_intents_unknown_missing_forbidden_and_bad_times(api: Api) -> None:
    rid = await accepted_request(api.store)
    await api.store.flights.record(flight("M-before", rid), actor="test")  # stored without an intent
    async with api.client("operator") as op, api.client("office") as office:
        r = await op.get("/api/v1/flights/M-nowhere/intent")
        assert r.status_code == 404 and error_code(r) == "not_found"
        r = await op.get("/api/v1/flights/M-before/intent")
        assert r.status_code == 404 and error_code(r) == "no_intent"
        assert "before strategic deconfliction" in r.json()["error"]["message"]
        for path in ("/api/v1/intents", "/api/v1/flights/M-before/intent"):
            r = await office.get(path)
            assert r.status_code == 403 and error_code(r) == "forbidden_role"
        # Nothing flies: nothing in force, whatever the instant.
        now = datetime.now(UTC)
        assert (await op.get("/api/v1/intents")).json() == {"type": "FeatureCollection", "features": []}
        r = await op.get("/api/v1/intents", params={"at": now.isoformat()})
        assert r.status_code == 200 and r.json()["features"] == []
        # A bad instant: no zone offset, too far off (422, as /zones?at= answers), not a time (400).
        r = await op.get("/api/v1/intents", params={"at": "2026-12-01T10:00:00"})
        assert r.status_code == 422 and error_code(r) == "invalid_time", r.text
        r = await op.get("/api/v1/intents", params={"at": (now + timedelta(days=400)).isoformat()})
        assert r.status_code == 422 and error_code(r) == "time_out_of_range", r.text
        r = await op.get("/api/v1/intents", params={"at": "tomorrow"})
        assert r.status_code == 400 and error_code(r) == "invalid_request", r.text
