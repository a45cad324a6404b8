"""Operators take drones out of service and put them back over the API (issue 14, defect 6).

``POST /api/v1/fleet/{drone_id}/service`` (operator and admin keys): the planner never gives a drone
out of service new work, the state is stored (a restarted dispatcher keeps it) and audited, and a
drone an operator took out never returns on its own, even idle and healthy at a port. (A drone
the dispatcher wrote off returning on its own: ``test_dispatcher_silence_battery``.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.harness import sample_fleet
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.drone_service import port_at, port_now, return_to_service, serviceable
from dispatch.service.solver_pool import SolverPool
from dispatch.service.state import DroneView
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import Landed
from tests.api_fixtures import Api, error_code, flying_api

REASON = "propeller chipped on landing"
METRE_LAT = 1 / 111_195  # degrees of latitude in a metre


def test_port_at_names_the_port_a_drone_stands_at_not_its_home() -> None:
    fleet = sample_fleet()
    for port in fleet.ports:
        assert port_at(fleet.ports, port.lon, port.lat + 20 * METRE_LAT) == port.id
        assert port_at(fleet.ports, port.lon, port.lat + 60 * METRE_LAT) is None


def test_one_rule_for_the_drones_given_new_work() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    ok, written_off, taken_out, returning = (DroneView(f"D{i}", "P", now) for i in range(4))
    written_off.usable = False
    taken_out.out_of_service = REASON
    returning.returning = True
    assert [serviceable(v) for v in (ok, written_off, taken_out, returning)] == [True, False, False, False]


async def test_an_operator_takes_a_drone_out_of_service_and_back_audited_and_kept_on_restart(
    api: Api, solver_pool: SolverPool
) -> None:
    async with api.client("operator") as op, api.client("office") as office:
        url = "/api/v1/fleet/D01/service"
        r = await office.post(url, json={"in_service": False, "reason": REASON})
        assert r.status_code == 403 and error_code(r) == "forbidden_role"
        r = await op.post(url, json={"in_service": False})
        assert r.status_code == 422 and error_code(r) == "reason_required"
        r = await op.post(url, json={"in_service": False, "reason": "x", "until": "tomorrow"})
        assert r.status_code == 400 and error_code(r) == "invalid_request", r.text
        r = await op.post(url, json={"in_service": False, "reason": "x" * 501})
        assert r.status_code == 422 and error_code(r) == "too_long", r.text  # the edge's string limits
        r = await op.post("/api/v1/fleet/D99/service", json={"in_service": False, "reason": REASON})
        assert r.status_code == 404, r.text
        assert "D01" not in await api.store.directory.out_of_service()  # nothing stored so far

        r = await op.post(url, json={"in_service": False, "reason": REASON})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["id"] == "D01" and out["in_service"] is False and out["usable"] is False
        assert REASON in out["why_unusable"]
        (listed,) = [d for d in (await op.get("/api/v1/fleet")).json() if d["id"] == "D01"]
        assert listed["in_service"] is False
        assert not serviceable(api.dispatcher.drones["D01"])

        # A dispatcher started on the same store (a restart) keeps it out of service.
        again = Dispatcher(api.store, api.dispatcher.link, api.dispatcher.clock, pool=solver_pool)
        async with again:
            assert again.drones["D01"].out_of_service == REASON
            assert again.drones["D02"].out_of_service is None

        r = await op.post(url, json={"in_service": True})
        assert r.status_code == 200 and r.json()["in_service"] is True, r.text
        assert "D01" not in await api.store.directory.out_of_service()
        entries = [e for e in await api.store.history("drone", "D01")]
        assert [e.action for e in entries] == ["out_of_service", "in_service"]
        assert entries[0].payload["reason"] == REASON and entries[0].actor != "dispatcher"
        assert (await api.store.verify_audit()).ok


async def test_the_planner_never_uses_a_drone_out_of_service_and_it_never_returns_on_its_own(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with flying_api(store, broker, prefix, solver_pool) as api, api.client("operator") as op:
        system, d = api.system, api.dispatcher
        assert system is not None and d.fleet is not None
        keep = "D02"
        out = [x.id for x in d.fleet.drones if x.id != keep]
        for drone_id in out:
            body = {"in_service": False, "reason": REASON}
            r = await op.post(f"/api/v1/fleet/{drone_id}/service", json=body)
            assert r.status_code == 200, r.text
        now = system.clock.now()
        async with api.client("office") as office:
            r = await office.post(
                "/api/v1/requests",
                json={
                    "pickup": "service-centre",
                    "dropoff": "zhangde-road",
                    "weight_kg": 0.3,
                    "ready_at": now.isoformat(),
                    "deadline": (now + timedelta(minutes=90)).isoformat(),
                },
            )
            assert r.status_code == 201, r.text
            rid = r.json()["id"]

        async def delivered() -> bool:
            return (await store.requests.get(rid)).state == "delivered"

        await d.wait_until(delivered, timeout_s=90)
        assert [f.drone_id for f in await store.flights.carrying(rid)] == [keep]
        # Idle, healthy and at their ports: those an operator took out stay out.
        assert await return_to_service(d) == []
        assert all(d.drones[x].out_of_service == REASON and d.drones[x].usable for x in out)
        snapshot = {x["id"]: x for x in (await op.get("/api/v1/fleet")).json()}
        assert all(snapshot[x]["in_service"] is False and snapshot[x]["usable"] is False for x in out)
        assert snapshot[keep]["in_service"] is True
        # Back at a port, the fleet names the port it stands at (where it landed).
        landed = await system.sim.wait_for(lambda e: isinstance(e, Landed) and e.drone_id == keep, 60)
        assert landed.port_id is not None

        async def at_port() -> bool:
            return port_now(d, keep) == landed.port_id

        await d.wait_until(at_port, timeout_s=30)
        (mine,) = [x for x in (await op.get("/api/v1/fleet")).json() if x["id"] == keep]
        assert mine["port"] == landed.port_id and mine["state"] == "idle"

        # A motor fault on the ground: written off, it does not return on its own (it reports
        # `fault`, not `idle`); put back by an operator, no work is planned on it while it does.
        system.sim.inject_motor_fault(keep)

        async def written_off() -> bool:
            status = d.link.registry.get(keep)
            reported = status.telemetry.state if status is not None and status.telemetry else None
            return not d.drones[keep].usable and reported == "fault"

        await d.wait_until(written_off, timeout_s=30)
        assert await return_to_service(d) == []
        r = await op.post(f"/api/v1/fleet/{keep}/service", json={"in_service": True})
        assert r.status_code == 200 and r.json()["in_service"] is True, r.text
        assert serviceable(d.drones[keep]) and d.picture.usable_fleet() is None
        assert not system.sim.breaches
