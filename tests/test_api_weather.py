"""``/api/v1/weather``: operators see the weather the dispatcher flies by, and ground the area (a
typhoon) and lift it, audited and kept across a restart; an office may do neither. While grounded,
a filed request is accepted but waits on the ground, saying why."""

from __future__ import annotations

from dispatch.harness import request
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from tests.api_fixtures import error_code, flying_api

TYPHOON = "typhoon In-fa: signal 8"


async def test_an_operator_grounds_the_area_and_lifts_it(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with (
        flying_api(store, broker, prefix, solver_pool) as api,
        api.client("operator") as op,
        api.client("office") as office,
    ):
        r = await op.get("/api/v1/weather")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "source": None,
            "unknown_policy": "hold",
            "read_at": None,
            "covers_until": None,
            "problem": None,
            "warning": None,
            "grounded": None,
        }
        url = "/api/v1/weather/grounding"
        r = await office.post(url, json={"grounded": True, "reason": TYPHOON})
        assert r.status_code == 403 and error_code(r) == "forbidden_role"
        r = await op.post(url, json={"grounded": True})
        assert r.status_code == 422 and error_code(r) == "reason_required"
        r = await op.post(url, json={"grounded": True, "reason": TYPHOON, "until": "Monday"})
        assert r.status_code == 400 and error_code(r) == "invalid_request", r.text
        assert api.dispatcher.weather.grounded is None  # nothing changed so far

        r = await op.post(url, json={"grounded": True, "reason": TYPHOON})
        assert r.status_code == 200 and r.json()["grounded"] == TYPHOON, r.text
        assert (await api.client().get("/health")).json()["detail"]["weather"] == f"area grounded: {TYPHOON}"
        why = f"weather_hold: area grounded by an operator ({TYPHOON})"
        r = await office.post(
            "/api/v1/quotes",
            json={"pickup": "service-centre", "dropoff": "intermediate-court", "weight_kg": 0.3},
        )
        assert r.status_code == 200 and r.json()["feasible"] is True, r.text
        assert r.json()["hold"] == why  # the quote says it would wait, and why
        filed = await api.dispatcher.submit(request("service-centre", "intermediate-court"))

        async def held() -> bool:
            return (await api.store.requests.get(filed.id)).state_reason == why

        await api.dispatcher.wait_until(held, timeout_s=30)
        metrics = (await api.client().get("/metrics")).text
        assert "dronedispatch_area_grounded 1" in metrics
        assert "dronedispatch_weather_holds_total 0" not in metrics
        assert (await api.store.requests.get(filed.id)).state == "accepted"
        assert not api.dispatcher.missions

        # A dispatcher started on the same store (a restart) finds the area grounded.
        again = Dispatcher(api.store, api.dispatcher.link, api.dispatcher.clock, pool=solver_pool)
        async with again:
            assert again.weather.grounded == TYPHOON

        r = await op.post(url, json={"grounded": False})
        assert r.status_code == 200 and r.json()["grounded"] is None, r.text
        r = await office.post(
            "/api/v1/quotes",
            json={"pickup": "service-centre", "dropoff": "intermediate-court", "weight_kg": 0.3},
        )
        assert r.status_code == 200 and r.json()["hold"] is None, r.text
        entries = await api.store.history("area", "grounding")
        assert [e.action for e in entries] == ["grounded", "lifted"]
        assert entries[0].payload["reason"] == TYPHOON and entries[0].actor.startswith("operator")

        async def planned() -> bool:
            return (await api.store.requests.get(filed.id)).state != "accepted"

        await api.dispatcher.wait_until(planned, timeout_s=30)
        assert (await api.store.verify_audit()).ok
