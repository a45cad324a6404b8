"""Filing, listing, idempotent retries, refusals with their reason codes, quotes and cancelling,
through the HTTP API on SQLite and PostgreSQL (a started dispatcher; nothing flies here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dispatch.harness import pads
from tests.api_fixtures import OFFICE_A, Api, error_code

BY_PADS = {"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3, "description": "licence"}


async def count_requests(api: Api) -> int:
    """How many requests the store holds."""
    return len(await api.store.requests.list(limit=10_000))


async def test_a_request_by_pads_or_coordinates_is_filed_and_accepted_with_an_eta(api: Api) -> None:
    p = pads()
    later = datetime.now(UTC) + timedelta(minutes=5)
    by_coordinates = {
        "pickup": [p["service-centre"].lon, p["service-centre"].lat],
        "dropoff": {"lon": p["jiefang-road"].lon, "lat": p["jiefang-road"].lat},
        "weight_kg": 1.2,
        "priority": "urgent",
        "ready_at": later.isoformat(),
        "deadline": (later + timedelta(hours=1)).astimezone(UTC).isoformat(),
    }
    async with api.client("office") as c:
        for body in (BY_PADS, by_coordinates):
            r = await c.post("/api/v1/requests", json=body)
            assert r.status_code == 201, r.text
            got = r.json()
            assert got["id"].startswith("req_")
            assert got["office_id"] == OFFICE_A
            assert got["state"] == "accepted" and got["reason"] is None
            assert got["eta_kind"] == "best_single_drone"
            eta = datetime.fromisoformat(got["eta"])
            assert eta > datetime.fromisoformat(got["created_at"])
            assert (await api.store.requests.get(got["id"])).state == "accepted"
            assert r.headers["location"] == f"/api/v1/requests/{got['id']}"
        first, second = (await c.get("/api/v1/requests")).json()["items"]
        # Coordinates of a pad are that pad.
        assert (
            second["pickup"]["pad_id"] == "service-centre" and second["dropoff"]["pad_id"] == "jiefang-road"
        )
        assert first["pickup"] == {
            "lon": p["service-centre"].lon,
            "lat": p["service-centre"].lat,
            "pad_id": "service-centre",
        }
        assert first["description"] == "licence"
        detail = (await c.get(f"/api/v1/requests/{first['id']}")).json()
        assert [e["state"] for e in detail["timeline"]] == ["submitted", "accepted"]
        assert detail["timeline"][0]["actor"].startswith(f"office:{OFFICE_A}/key:")
        assert detail["proof_of_delivery"] is None and detail["track"] == []


async def test_an_idempotent_retry_returns_the_same_request_and_files_nothing(api: Api) -> None:
    async with api.client("office", **{"Idempotency-Key": "licence-42"}) as c:
        first = await c.post("/api/v1/requests", json=BY_PADS)
        assert first.status_code == 201, first.text
        before = await count_requests(api)
        retries = await asyncio.gather(*(c.post("/api/v1/requests", json=BY_PADS) for _ in range(3)))
        for r in retries:
            assert r.status_code == 200, r.text
            assert r.json()["id"] == first.json()["id"]
            assert r.json()["idempotency_key"] == "licence-42"
        assert await count_requests(api) == before
        changed = await c.post("/api/v1/requests", json={**BY_PADS, "weight_kg": 0.9})
        assert changed.status_code == 409 and error_code(changed) == "idempotency_conflict"
        assert await count_requests(api) == before
    # The key belongs to the office: another office may use the same key for its own request.
    async with api.client("office_b", **{"Idempotency-Key": "licence-42"}) as c:
        r = await c.post("/api/v1/requests", json={**BY_PADS, "pickup": "yindu-district"})
        assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_refusals_are_4xx_with_the_reason_code(api: Api) -> None:
    cases = [
        ({**BY_PADS, "weight_kg": 6.5}, 422, "overweight"),
        ({**BY_PADS, "dropoff": "crane-site"}, 422, "dropoff_in_zone"),
        ({**BY_PADS, "pickup": "crane-site"}, 422, "pickup_in_zone"),
        ({**BY_PADS, "dropoff": [114.39, 91.0]}, 422, "invalid_coordinates"),
        ({**BY_PADS, "pickup": {"lon": 181, "lat": 36.11}}, 422, "invalid_coordinates"),
        ({**BY_PADS, "dropoff": "no-such-pad"}, 422, "unknown_pad"),
        ({**BY_PADS, "weight_kg": 0}, 422, "invalid_weight"),
        ({**BY_PADS, "weight_kg": -1}, 422, "invalid_weight"),
        (
            {**BY_PADS, "ready_at": "2026-12-01T10:00:00+08:00", "deadline": "2026-12-01T09:00:00+08:00"},
            422,
            "invalid_times",
        ),
        ({**BY_PADS, "office_id": "yindu-district"}, 422, "office_mismatch"),
        ({**BY_PADS, "ready_at": "2026-12-01T10:00:00"}, 400, "invalid_request"),  # no zone offset
        ({**BY_PADS, "priority": "asap"}, 400, "invalid_request"),
        ({**BY_PADS, "colour": "red"}, 400, "invalid_request"),
        ({"pickup": "service-centre", "dropoff": "zhangde-road"}, 400, "invalid_request"),
        ({**BY_PADS, "dropoff": [1, 2, 3]}, 400, "invalid_request"),
    ]
    async with api.client("office") as c:
        for body, status, code in cases:
            r = await c.post("/api/v1/requests", json=body)
            assert r.status_code == status, (body, r.text)
            assert error_code(r) == code, (body, r.text)
        r = await c.post(
            "/api/v1/requests", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and error_code(r) == "invalid_request"
    # A refusal at intake is recorded (the office can list it), with the reason.
    rejected = await api.store.requests.list(states=["rejected"])
    assert sorted(v.state_reason or "" for v in rejected) == [
        "dropoff_in_zone",
        "overweight",
        "pickup_in_zone",
    ]


async def test_staff_file_for_a_named_office(api: Api) -> None:
    async with api.client("operator") as c:
        r = await c.post("/api/v1/requests", json=BY_PADS)
        assert r.status_code == 422 and error_code(r) == "office_required"
        r = await c.post("/api/v1/requests", json={**BY_PADS, "office_id": OFFICE_A})
        assert r.status_code == 201 and r.json()["office_id"] == OFFICE_A
        assert r.json()["recipient_code"] is None
        r = await c.post("/api/v1/requests", json={**BY_PADS, "office_id": "no-such-office"})
        assert r.status_code == 422 and error_code(r) == "invalid_input"


async def test_listing_filters_by_state_and_pages(api: Api) -> None:
    async with api.client("office") as c:
        ids = [(await c.post("/api/v1/requests", json=BY_PADS)).json()["id"] for _ in range(5)]
        await c.post("/api/v1/requests", json={**BY_PADS, "weight_kg": 7})
        page1 = (await c.get("/api/v1/requests", params={"state": "accepted", "limit": 2})).json()
        assert [i["id"] for i in page1["items"]] == ids[:2] and page1["next_offset"] == 2
        page3 = (
            await c.get("/api/v1/requests", params={"state": "accepted", "limit": 2, "offset": 4})
        ).json()
        assert [i["id"] for i in page3["items"]] == ids[4:] and page3["next_offset"] is None
        both = (await c.get("/api/v1/requests", params=[("state", "accepted"), ("state", "rejected")])).json()
        assert len(both["items"]) == 6
        rejected = (await c.get("/api/v1/requests", params={"state": "rejected"})).json()["items"]
        assert [i["reason"] for i in rejected] == ["overweight"]
        far = (await c.get("/api/v1/requests", params={"offset": 20_000})).json()
        assert far["items"] == [] and far["next_offset"] is None
        r = await c.get("/api/v1/requests", params={"state": "flying-high"})
        assert r.status_code == 422 and error_code(r) == "invalid_input"
        for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}):
            r = await c.get("/api/v1/requests", params=params)
            assert r.status_code == 400 and error_code(r) == "invalid_request", params


async def test_a_quote_answers_without_filing_anything(api: Api) -> None:
    async with api.client("office") as c:
        before = await count_requests(api)
        r = await c.post(
            "/api/v1/quotes",
            json={"pickup": "service-centre", "dropoff": [114.416, 36.1115], "weight_kg": 0.4},
        )
        assert r.status_code == 200, r.text
        q = r.json()
        assert q["feasible"] is True and q["reason"] is None
        assert q["eta_kind"] == "best_single_drone" and q["drone_id"]
        assert datetime.fromisoformat(q["eta"]) > datetime.now(UTC)
        for body, reason in [
            ({"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 6.5}, "overweight"),
            ({"pickup": "service-centre", "dropoff": "crane-site", "weight_kg": 0.3}, "dropoff_in_zone"),
        ]:
            r = await c.post("/api/v1/quotes", json=body)
            assert r.status_code == 200
            assert r.json()["feasible"] is False and r.json()["reason"] == reason and r.json()["eta"] is None
        r = await c.post(
            "/api/v1/quotes", json={"pickup": [200, 0], "dropoff": "zhangde-road", "weight_kg": 1}
        )
        assert r.status_code == 422 and error_code(r) == "invalid_coordinates"
        assert await count_requests(api) == before


async def test_a_request_not_yet_on_a_flight_can_be_cancelled_once(api: Api) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)  # beyond the commit window: it stays accepted
    body = {**BY_PADS, "ready_at": later.isoformat(), "deadline": (later + timedelta(hours=1)).isoformat()}
    async with api.client("office") as c:
        rid = (await c.post("/api/v1/requests", json=body)).json()["id"]
        r = await c.post(f"/api/v1/requests/{rid}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "cancelled"
        assert r.json()["reason"].startswith(f"cancelled by office:{OFFICE_A}")
        again = await c.post(f"/api/v1/requests/{rid}/cancel")
        assert again.status_code == 200 and again.json()["state"] == "cancelled"
        timeline = (await c.get(f"/api/v1/requests/{rid}")).json()["timeline"]
        assert [e["state"] for e in timeline] == ["submitted", "accepted", "cancelled"]
        rejected = await c.post("/api/v1/requests", json={**BY_PADS, "weight_kg": 9})
        rid = rejected.json()["error"]["details"]["request_id"]
        r = await c.post(f"/api/v1/requests/{rid}/cancel")
        assert r.status_code == 409 and error_code(r) == "too_late"
        assert r.json()["error"]["details"]["state"] == "rejected"


async def test_a_quote_for_a_past_deadline_is_infeasible_not_an_error(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    async with api.client("office") as c:
        r = await c.post(
            "/api/v1/quotes",
            json={"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3, "deadline": past},
        )
        assert r.status_code == 200, r.text
        assert r.json()["feasible"] is False and r.json()["reason"] == "deadline_infeasible"
        r = await c.post(
            "/api/v1/requests",
            json={"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3, "deadline": past},
        )
        assert r.status_code == 422 and error_code(r) == "deadline_infeasible", r.text
