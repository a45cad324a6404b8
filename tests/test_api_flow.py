"""The API over the whole running system: a request filed over HTTP is flown and delivered; the
streams carry its state changes and the fleet's telemetry; the detail has the flown track and the
proof of delivery; the fleet and flights views show the drones at work."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
from pyproj import Geod

from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from tests.api_fixtures import Api, error_code, flying_api, parse_prometheus, sse_messages
from tests.dispatcher_fixtures import blocking_zone, parse_zone

GEOD = Geod(ellps="WGS84")


async def collect(response: httpx.Response, out: list[tuple[str, dict[str, Any]]], until: Any) -> None:
    """Append every message of a stream to ``out`` until ``until(kind, data)`` is true."""
    async for kind, data in sse_messages(response):
        out.append((kind, data))
        if until(kind, data):
            return


def body(api: Api, src: str = "service-centre", dst: str = "zhangde-road") -> dict[str, Any]:
    """A request ready now on the simulated clock, due in 90 simulated minutes."""
    assert api.system is not None
    now = api.system.clock.now()
    return {
        "pickup": src,
        "dropoff": dst,
        "weight_kg": 0.3,
        "ready_at": now.isoformat(),
        "deadline": (now + timedelta(minutes=90)).isoformat(),
    }


async def test_a_request_filed_over_http_is_delivered_and_streamed(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with flying_api(store, broker, prefix, solver_pool) as api:
        async with (
            api.client("operator") as op,
            api.client("office") as office,
            op.stream("GET", "/api/v1/stream") as everything,
        ):
            assert everything.status_code == 200
            assert everything.headers["content-type"].startswith("text/event-stream")
            started = time.monotonic()
            r = await office.post("/api/v1/requests", json=body(api))
            assert r.status_code == 201, r.text
            rid = r.json()["id"]
            seen: list[tuple[str, dict[str, Any]]] = []
            mine: list[tuple[str, dict[str, Any]]] = []

            def delivered(kind: str, data: dict[str, Any]) -> bool:
                return kind == "request" and data.get("id") == rid and data.get("state") == "delivered"

            async with office.stream("GET", f"/api/v1/requests/{rid}/stream") as own:
                assert own.status_code == 200
                async with asyncio.timeout(120):
                    await asyncio.gather(collect(everything, seen, delivered), collect(own, mine, delivered))
            elapsed = time.monotonic() - started

        # The office's stream: the state when it connected, then each change, in order, ending delivered.
        assert all(kind == "request" and data["id"] == rid for kind, data in mine)
        assert mine[0][1]["current"] is True
        states = [data["state"] for _, data in mine]
        path = ["submitted", "accepted", "planned", "dispatched", "picked_up", "delivered"]
        assert states == path[path.index(states[0]) :], states
        # The operators' stream: every request change, fleet events and throttled telemetry.
        changes = [d["state"] for k, d in seen if k == "request" and d.get("id") == rid and "state" in d]
        assert changes == path, changes
        events = {d.get("event") for k, d in seen if k == "event"}
        assert {"took_off", "picked_up", "delivered", "flight_planned"} <= events, events
        telemetry = Counter(d["drone_id"] for k, d in seen if k == "telemetry")
        assert telemetry, "no telemetry on the stream"
        assert max(telemetry.values()) <= 2 * elapsed + 2, (telemetry, elapsed)
        assert all(kind in ("request", "event", "telemetry") for kind, _ in seen)
        assert not any("recipient_code" in d or "pickup_code" in d for _, d in seen)

        async with api.client("office") as office, api.client("operator") as op:
            detail = (await office.get(f"/api/v1/requests/{rid}")).json()
            req = detail["request"]
            assert req["state"] == "delivered"
            assert [e["state"] for e in detail["timeline"] if e["state"]] == changes
            pod = detail["proof_of_delivery"]
            assert pod["recipient_code_ok"] is True and pod["refused_attempts"] == 0
            assert pod["drone_id"] and pod["mission_id"] == detail["missions"][-1]
            # The track: positions reported while the document was on board, ending at the drop-off.
            track = detail["track"]
            assert len(track) >= 2
            assert all(
                datetime.fromisoformat(a["at"]) <= datetime.fromisoformat(b["at"])
                for a, b in itertools.pairwise(track)
            )
            # The last sample is no farther from the drop-off than the drone flies in the time left
            # before it (a loaded machine makes the simulator skip samples: at 150x a 0.2 s stall
            # is 30 s of flight, all of the descent and the service).
            last, dropoff = track[-1], (req["dropoff"]["lon"], req["dropoff"]["lat"])
            left_s = (datetime.fromisoformat(pod["at"]) - datetime.fromisoformat(last["at"])).total_seconds()
            assert api.system is not None
            speed = api.system.dispatcher.picture.model(pod["drone_id"]).cruise_speed_mps
            off_m = GEOD.inv(last["lon"], last["lat"], *dropoff)[2]
            assert left_s >= 0 and off_m <= speed * left_s + 30.0, (off_m, left_s, last)
            assert abs(pod["lon"] - req["dropoff"]["lon"]) < 0.002
            # Too late to cancel.
            r = await office.post(f"/api/v1/requests/{rid}/cancel")
            assert r.status_code == 409 and error_code(r) == "too_late"

            flights = (await op.get("/api/v1/flights")).json()
            flight = next(f for f in flights if f["mission_id"] == pod["mission_id"])
            assert flight["request_ids"] == [rid] and flight["legs"]
            assert [leg["action"] for leg in flight["legs"] if leg["request_id"] == rid] == [
                "pickup",
                "dropoff",
            ]
            # The ETA, in the list as in the detail, is the flight's planned drop-off time.
            dropoff = next(
                leg for leg in flight["legs"] if leg["request_id"] == rid and leg["action"] == "dropoff"
            )
            listed = next(r for r in (await office.get("/api/v1/requests")).json()["items"] if r["id"] == rid)
            for shown in (listed, req):
                assert shown["eta_kind"] == "planned", shown
                assert datetime.fromisoformat(shown["eta"]) == datetime.fromisoformat(dropoff["eta"])
            fleet = (await op.get("/api/v1/fleet")).json()
            assert {d["id"] for d in fleet} == {d.id for d in api.system.fleet.drones}  # type: ignore[union-attr]
            online = [d for d in fleet if d["online"]]
            assert online and all(d["position"] is not None and d["battery_pct"] is not None for d in online)
            ports = (await op.get("/api/v1/ports")).json()
            assert sum(len(p["drones"]) for p in ports) == len(fleet)
            metrics = parse_prometheus((await op.get("/metrics")).text)
            assert metrics["dronedispatch_deliveries_total"] == 1
            assert metrics["dronedispatch_telemetry_messages_total"] > 0
            assert metrics["dronedispatch_telemetry_messages_per_second"] > 0  # the drones still report
            assert metrics["dronedispatch_plan_rounds_total"] >= 1


async def test_a_request_on_a_flight_is_cancelled_before_its_pickup(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with flying_api(store, broker, prefix, solver_pool) as api, api.client("office") as office:
        system = api.system
        assert system is not None
        # Picked up 4.7 km from the nearest port: a few wall seconds on a flight before the pickup.
        rid = (await office.post("/api/v1/requests", json=body(api, "anyang-east", "service-centre"))).json()[
            "id"
        ]
        async with office.stream("GET", f"/api/v1/requests/{rid}/stream") as own, asyncio.timeout(60):
            async for _, data in sse_messages(own):
                if data["state"] not in ("submitted", "accepted"):
                    break
        # A quote meanwhile counts the busy drone from the end of its mission.
        busy = {m.drone_id: m for m in api.dispatcher.missions.values()}
        assert busy
        assert api.dispatcher.fleet is not None
        states = {s.drone_id: s for s in api.dispatcher.picture.planning_states(api.dispatcher.fleet)}
        for drone_id, m in busy.items():
            assert states[drone_id].port == m.spec.end_port
            assert states[drone_id].at > api.dispatcher.clock.now()
        q = await office.post("/api/v1/quotes", json=body(api, "service-centre", "longan-district"))
        assert q.status_code == 200 and q.json()["feasible"] is True
        (mission_id,) = [m.mission_id for m in api.dispatcher.missions.values() if rid in m.spec.request_ids]
        r = await office.post(f"/api/v1/requests/{rid}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "cancelled"

        # The drone was re-routed without the pickup and lands back at a port, the flight completes.
        async def flight_done() -> bool:
            return (await store.flights.get(mission_id)).state == "completed"

        await api.dispatcher.wait_until(flight_done, timeout_s=60)
        assert not [e for e in system.sim.events if getattr(e, "request_id", None) == rid]
        assert not system.sim.breaches
        assert (await store.requests.get(rid)).state == "cancelled"
        notes = [e.action for e in await store.history("request", rid)]
        assert "cancel_requested" in notes and "cancel_failed" not in notes
        # Cancelling again answers the same.
        again = await office.post(f"/api/v1/requests/{rid}/cancel")
        assert again.status_code == 200 and again.json()["state"] == "cancelled"
        assert (await store.verify_audit()).ok


async def test_a_zone_posted_mid_flight_reroutes_the_flight(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with flying_api(store, broker, prefix, solver_pool) as api:
        system = api.system
        assert system is not None
        async with api.client("office") as office, api.client("operator") as op:
            rid = (
                await office.post("/api/v1/requests", json=body(api, "yindu-district", "zhangde-road"))
            ).json()
            assert "id" in rid, rid
            picked = await system.sim.wait_for(
                lambda e: isinstance(e, PickedUp) and e.request_id == rid["id"], timeout_s=30
            )
            assert picked.mission_id is not None
            feature = blocking_zone(system, picked.mission_id, "pop-up")
            system.watch_zone(parse_zone(feature))
            r = await op.post("/api/v1/zones", json=feature)
            assert r.status_code == 201, r.text
            assert r.json()["rerouted"] == [picked.mission_id]

            async def delivered() -> bool:
                return (await store.requests.get(rid["id"])).state == "delivered"

            await system.dispatcher.wait_until(delivered, timeout_s=60)
        assert not system.sim.breaches
        history = [e.action for e in await store.history("flight", picked.mission_id)]
        assert "rerouted" in history
