"""A drone on a mission the dispatcher does not have is stopped: on the ground it drops it, in the
air it hovers and is brought home on its own intent (end to end: real broker, simulator, store).

The trial that found it: under load, the 30-request end-to-end test saw a drone take off on a
mission the dispatcher had given up; the event gate refused its events while it flew on with no
intent anyone kept clear of, and it lost separation with two others. Here a mission is sent to a
drone past the dispatcher."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch.harness import System, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import Landed, Start, TookOff, UploadMission
from tests.fleet_helpers import wait_until

OUT_M = 2500.0  # how far east of its port the mission takes the drone


def give_mission(system: System, drone_id: str, mission_id: str, *, start: bool) -> None:
    """Upload (and with ``start``, start) a mission out of the drone's port and back, on a path
    clear of every zone, past the dispatcher (as a controller that is not this one would)."""
    d = system.dispatcher
    home = next(x.port for x in system.fleet.drones if x.id == drone_id)
    port = next(p for p in system.fleet.ports if p.id == home)
    x, y = d.airspace.frame.to_xy(port.lon, port.lat)
    far = d.airspace.frame.to_lonlat(x + OUT_M, y)
    alt = d.picture.model(drone_id).cruise_altitude_m
    now = system.clock.now()
    out = d.airspace.shortest_path((port.lon, port.lat), far, altitude_m=alt, at=now)
    route = [*out.waypoints, *reversed(out.waypoints[:-1])]
    expires = now + timedelta(hours=2)
    up = UploadMission(
        drone_id=drone_id,
        cmd_id=f"{mission_id}.up",
        expires_at=expires,
        mission_id=mission_id,
        waypoints=[[lon, lat, alt] for lon, lat in route],  # type: ignore[misc]
        stops=[],
        lost_link="hold",
    )
    # Applied by the drone at once (no sample can show it ``ready`` between the two when started).
    drone = system.sim.drone(drone_id)
    assert drone.apply(up, now) == (True, None)
    if start:
        go = Start(drone_id=drone_id, cmd_id=f"{mission_id}.go", expires_at=expires, mission_id=mission_id)
        assert drone.apply(go, now) == (True, None)


def notes(entries: list, action: str) -> list[dict]:  # type: ignore[type-arg]
    return [e.payload for e in entries if e.action == action]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_drone_in_the_air_on_an_unknown_mission_hovers_and_comes_home(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, drones=2, pool=solver_pool, speed=20.0) as system:
        d, sim = system.dispatcher, system.sim
        drone = "D01"
        give_mission(system, drone, "M-elsewhere", start=True)
        await sim.wait_for(lambda e: isinstance(e, TookOff) and e.mission_id == "M-elsewhere", timeout_s=30)
        landed = await sim.wait_for(lambda e: isinstance(e, Landed) and e.drone_id == drone, timeout_s=90)

        # It never finished that mission: it dropped it in the air and landed from a return.
        assert landed.mission_id is None and landed.port_id is not None, landed
        assert d.unknown_missions.found == 1
        entries = await store.history("drone", drone)
        (found,) = notes(entries, "unknown_mission")
        assert found["mission_id"] == "M-elsewhere" and found["state"] in ("en_route", "servicing")
        kinds = {c.kind: c for c in await store.flights.commands_of_drone(drone)}
        assert kinds["AbortMission"].result == "ack"
        assert kinds["ReturnToPort"].result == "ack"
        assert not sim.separation_losses and not sim.breaches

        async def back_in_service() -> bool:
            view = d.drones[drone]
            return view.usable and not view.returning and view.port == landed.port_id

        await d.wait_until(back_in_service, timeout_s=30)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_drone_on_the_ground_with_an_unknown_mission_drops_it_and_stays(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, drones=2, pool=solver_pool, speed=20.0) as system:
        d, sim = system.dispatcher, system.sim
        drone = "D02"
        give_mission(system, drone, "M-uploaded-elsewhere", start=False)
        await wait_until(
            lambda: sim.drone(drone).state == "idle" and sim.drone(drone).mission is None,
            timeout_s=30,
            what="the drone to drop the mission",
        )
        entries = await store.history("drone", drone)
        (found,) = notes(entries, "unknown_mission")
        assert found["mission_id"] == "M-uploaded-elsewhere" and found["state"] == "ready"
        kinds = [c.kind for c in await store.flights.commands_of_drone(drone)]
        assert kinds == ["AbortMission"]  # nothing more on the ground: no return, no hold
        assert not any(isinstance(e, TookOff) and e.drone_id == drone for e in sim.events)
        assert d.drones[drone].usable
