"""API keys, roles, the rate limit, the error format, /health and /metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from dispatch.api import RateLimit
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from tests.api_fixtures import OFFICE_A, Api, error_code, idle_api, parse_prometheus

REQUEST = {"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3}

# (method, path, body) of every route group that needs more than an office key
STAFF_ROUTES = [
    ("GET", "/api/v1/fleet", None),
    ("GET", "/api/v1/flights", None),
    ("GET", "/api/v1/zones", None),
    ("POST", "/api/v1/zones", {"type": "FeatureCollection", "features": []}),
    ("PUT", "/api/v1/zones/x", {"type": "Feature"}),
    ("DELETE", "/api/v1/zones/x", None),
    ("GET", "/api/v1/ports", None),
    ("GET", "/api/v1/stream", None),
    ("GET", "/api/v1/audit/verify", None),
]
ADMIN_ROUTES = [
    ("GET", "/api/v1/keys", None),
    ("POST", "/api/v1/keys", {"role": "operator"}),
    ("DELETE", "/api/v1/keys/x", None),
    ("POST", "/api/v1/offices", {"id": "x", "name": "X", "pad_id": "service-centre"}),
    ("POST", "/api/v1/pads", {"id": "x", "name": "X", "lon": 114.34, "lat": 36.11}),
]


async def test_requests_without_a_valid_key_are_401(api: Api) -> None:
    revoked = await api.store.api_keys.create("operator", actor="test")
    await api.store.api_keys.revoke(revoked.id, actor="test")
    cases = {
        None: "missing_key",
        "Token abc": "malformed_key",
        "Bearer": "malformed_key",
        "Bearer a b": "malformed_key",
        f"Basic {api.keys['operator']}": "malformed_key",
        "Bearer dd_000000000000_not-a-real-secret": "invalid_key",
        f"Bearer {revoked.token}": "invalid_key",
    }
    async with api.client() as c:
        for header, code in cases.items():
            headers = {"Authorization": header} if header is not None else {}
            for method, path, body in [
                ("GET", "/api/v1/requests", None),
                ("POST", "/api/v1/requests", REQUEST),
                ("GET", "/api/v1/fleet", None),
            ]:
                r = await c.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (header, path, r.text)
                assert error_code(r) == code, (header, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
        # A bad body does not get past the missing key: authentication comes first.
        r = await c.post("/api/v1/requests", content=b"{not json")
        assert r.status_code == 401 and error_code(r) == "missing_key"


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES + ADMIN_ROUTES)
async def test_office_keys_are_refused_staff_and_admin_routes(
    api: Api, method: str, path: str, body: object
) -> None:
    async with api.client("office") as c:
        r = await c.request(method, path, json=body)
    assert r.status_code == 403, r.text
    assert error_code(r) == "forbidden_role"
    assert r.json()["error"]["details"]["role"] == "office"


async def test_operator_keys_are_refused_admin_routes_and_admins_do_what_operators_do(api: Api) -> None:
    async with api.client("operator") as c:
        for method, path, body in ADMIN_ROUTES:
            r = await c.request(method, path, json=body)
            assert r.status_code == 403 and error_code(r) == "forbidden_role", (path, r.text)
    async with api.client("admin") as c:
        for path in (
            "/api/v1/fleet",
            "/api/v1/flights",
            "/api/v1/zones",
            "/api/v1/ports",
            "/api/v1/audit/verify",
            "/api/v1/keys",
            "/api/v1/offices",
            "/api/v1/pads",
        ):
            r = await c.get(path)
            assert r.status_code == 200, (path, r.text)
        assert (await c.get("/api/v1/audit/verify")).json()["ok"] is True


async def test_an_office_sees_its_own_requests_only_and_only_it_sees_the_codes(api: Api) -> None:
    async with api.client("office") as a, api.client("office_b") as b, api.client("operator") as op:
        filed = await a.post("/api/v1/requests", json=REQUEST)
        assert filed.status_code == 201, filed.text
        rid = filed.json()["id"]
        assert re.fullmatch(r"\d{6}", filed.json()["recipient_code"])
        # Another office: a 404 (not 403), for reading, cancelling and streaming alike.
        for method, path in [
            ("GET", f"/api/v1/requests/{rid}"),
            ("POST", f"/api/v1/requests/{rid}/cancel"),
            ("GET", f"/api/v1/requests/{rid}/stream"),
        ]:
            r = await b.request(method, path)
            assert r.status_code == 404 and error_code(r) == "not_found", (path, r.text)
        assert (await b.get("/api/v1/requests")).json()["items"] == []
        assert (await b.get("/api/v1/requests", params={"office_id": OFFICE_A})).json()["items"] == []
        mine = await a.get(f"/api/v1/requests/{rid}")
        assert mine.json()["request"]["recipient_code"] == filed.json()["recipient_code"]
        staff = await op.get(f"/api/v1/requests/{rid}")
        assert staff.status_code == 200
        assert staff.json()["request"]["recipient_code"] is None
        assert staff.json()["request"]["pickup_code"] is None
        listed = await op.get("/api/v1/requests")
        assert [i["id"] for i in listed.json()["items"]] == [rid]
        assert all(i["recipient_code"] is None for i in listed.json()["items"])
        # Offices read pads and offices (to file by pad id).
        assert (await a.get("/api/v1/pads")).status_code == 200
        assert (await a.get("/api/v1/offices")).status_code == 200


async def test_unknown_ids_are_404_with_the_error_format(api: Api) -> None:
    async with api.client("admin") as c:
        for method, path in [
            ("GET", "/api/v1/requests/req_nope"),
            ("POST", "/api/v1/requests/req_nope/cancel"),
            ("DELETE", "/api/v1/zones/nope"),
            ("DELETE", "/api/v1/keys/nope"),
            ("GET", "/api/v1/nothing-here"),
        ]:
            r = await c.request(method, path)
            assert r.status_code == 404, (path, r.text)
            assert error_code(r) == "not_found"


async def test_admins_create_and_revoke_keys_and_the_revoked_key_stops_at_once(api: Api) -> None:
    async with api.client("admin") as admin:
        r = await admin.post("/api/v1/keys", json={"role": "office", "office_id": OFFICE_A, "label": "clerk"})
        assert r.status_code == 201, r.text
        new = r.json()
        assert (await admin.post("/api/v1/keys", json={"role": "office"})).status_code == 422
        async with api.client() as c:
            auth = {"Authorization": f"Bearer {new['token']}"}
            assert (await c.get("/api/v1/requests", headers=auth)).status_code == 200
            r = await admin.delete(f"/api/v1/keys/{new['id']}")
            assert r.status_code == 200 and r.json()["revoked"] is True
            r = await c.get("/api/v1/requests", headers=auth)
            assert r.status_code == 401 and error_code(r) == "invalid_key"
        listed = (await admin.get("/api/v1/keys")).json()
        assert all("token" not in k for k in listed)


async def test_rate_limit_answers_429_with_retry_after(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with (
        idle_api(store, broker, prefix, solver_pool, rate=RateLimit(0.1, 3)) as api,
        api.client("operator") as c,
        api.client("admin") as other,
    ):
        codes = [(await c.get("/api/v1/offices")).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = await c.get("/api/v1/offices")
        assert r.status_code == 429
        assert error_code(r) == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        # The bucket is per key: another key is not limited.
        assert (await other.get("/api/v1/offices")).status_code == 200


async def test_admins_add_pads_and_offices_that_can_then_file(api: Api) -> None:
    async with api.client("admin") as admin:
        r = await admin.post(
            "/api/v1/pads", json={"id": "new-pad", "name": "New Pad", "lon": 114.398, "lat": 36.105}
        )
        assert r.status_code == 201, r.text
        assert r.json() == {"id": "new-pad", "name": "New Pad", "lon": 114.398, "lat": 36.105}
        r = await admin.post(
            "/api/v1/offices", json={"id": "new-office", "name": "New Office", "pad_id": "new-pad"}
        )
        assert r.status_code == 201 and r.json()["pad_id"] == "new-pad"
        r = await admin.post("/api/v1/offices", json={"id": "x", "name": "X", "pad_id": "no-pad"})
        assert r.status_code == 404 and error_code(r) == "not_found"
        r = await admin.post("/api/v1/pads", json={"id": "bad id!", "name": "X", "lon": 0, "lat": 0})
        assert r.status_code == 422 and error_code(r) == "invalid_format"  # a well-formed value of a bad form
        assert r.json()["error"]["details"]["field"] == "id"
        token = (await admin.post("/api/v1/keys", json={"role": "office", "office_id": "new-office"})).json()[
            "token"
        ]
    async with api.client(Authorization=f"Bearer {token}") as office:
        pads = {p["id"]: p["name"] for p in (await office.get("/api/v1/pads")).json()}
        assert pads["new-pad"] == "New Pad" and pads["service-centre"] == "service-centre"
        r = await office.post(
            "/api/v1/requests", json={"pickup": "new-pad", "dropoff": "zhangde-road", "weight_kg": 1}
        )
        assert r.status_code == 201 and r.json()["office_id"] == "new-office", r.text


async def test_the_dashboard_is_served_and_the_root_redirects_to_it(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>dashboard</title>", encoding="utf-8")
    async with idle_api(store, broker, prefix, solver_pool, dashboard=tmp_path) as api, api.client() as c:
        r = await c.get("/", follow_redirects=False)
        assert r.status_code in (301, 302, 307, 308) and r.headers["location"] == "/dashboard/"
        r = await c.get("/dashboard/")
        assert r.status_code == 200 and "<title>dashboard</title>" in r.text
        schema = (await c.get("/schema/openapi.json")).json()
        assert "/dashboard" not in str(list(schema["paths"]))


async def test_health_and_metrics_need_no_key(api: Api) -> None:
    async with api.client() as c:
        r = await c.get("/health")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "status": "ok",
            "database": True,
            "broker": True,
            "dispatcher": True,
            "detail": {},
        }
        async with api.client("office") as office:
            assert (await office.post("/api/v1/requests", json=REQUEST)).status_code == 201
            assert (
                await office.post("/api/v1/requests", json={**REQUEST, "weight_kg": 50})
            ).status_code == 422
        r = await c.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse_prometheus(r.text)
        assert samples['dronedispatch_requests{state="accepted"}'] == 1
        assert samples['dronedispatch_requests{state="rejected"}'] == 1
        for name in (
            "deliveries_total",
            "telemetry_messages_total",
            "telemetry_messages_per_second",
            "plan_rounds_total",
            "reroutes_total",
            "cancel_steers_total",
            "separation_losses_total",
            "weather_holds_total",
            "weather_returns_total",
            "area_grounded",
            "events_refused_total",
            'plan_seconds_bucket{le="+Inf"}',
            "plan_seconds_count",
            "plan_seconds_max",
            'event_loop_lag_seconds_bucket{le="+Inf"}',
            "event_loop_lag_seconds_max",
            "link_connected",
        ):
            assert f"dronedispatch_{name}" in samples, name
        assert samples["dronedispatch_link_connected"] == 1
        assert (
            samples['dronedispatch_plan_seconds_bucket{le="+Inf"}']
            == samples["dronedispatch_plan_seconds_count"]
        )
        lag = {
            k: v for k, v in samples.items() if k.startswith("dronedispatch_event_loop_lag_seconds_bucket")
        }
        assert list(lag.values()) == sorted(lag.values())  # cumulative buckets
        assert (
            lag['dronedispatch_event_loop_lag_seconds_bucket{le="+Inf"}']
            == samples["dronedispatch_event_loop_lag_seconds_count"]
        )


async def test_health_is_503_when_the_broker_link_is_down(api: Api) -> None:
    await api.dispatcher.link.stop()
    async with api.client() as c:
        r = await c.get("/health")
    assert r.status_code == 503
    assert r.json()["broker"] is False and r.json()["status"] == "unavailable"


async def test_stopping_the_server_ends_open_streams(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    assert api.server is not None
    async with api.client("operator") as c, c.stream("GET", "/api/v1/stream") as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert await anext(lines) == ": connected"
        stopping = asyncio.create_task(api.server.stop())
        async with asyncio.timeout(10):
            rest = [line async for line in lines]  # ends: the server closed the stream
            await stopping
    assert all(line == "" or line.startswith(("event:", "data:", ":")) for line in rest)
    # The streams ended before the server stopped waiting for them: nothing was cut off.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
