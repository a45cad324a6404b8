"""The dispatcher's reaction to a nonconforming flight, end to end (real broker and simulator).

Drone A flies late after a lost-link hold (as in tests/test_dispatcher_conformance.py), a few
hundred metres down the route that drone B, from the same port, flies after it. The column around
A meets B's intent. B still on the ground: its take-off waits; B at its pickup already: it holds
there. A stays outside its intent longer than ``conformance_return_after_s`` and is sent home;
B then goes on, clear of A's return, and delivers (with ``return_late``: A is only late). Left to
the default, A only late is re-timed instead: its route flown on from where it is meets B's, so A
holds and goes on once clear, and B is not held. The simulator's separation monitor sees no loss.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch.harness import System, request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from tests.dispatcher_fixtures import states
from tests.fleet_helpers import wait_until

LOSS_S = 150.0  # link loss; the drone holds after 15 s of it, so it ends up ~2 minutes late
RETURN_AFTER_S = 30.0
B_READY_S = 300.0  # B is ready (and departs) this long after A's pickup: still on the ground then


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_nonconforming_drone_holds_the_take_off_it_meets_and_is_returned(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim = system.dispatcher, system.sim
        # B is committed at once, long before its departure: its intent is fixed before A strays.
        d.planning.commit_window_s = 2 * B_READY_S
        # Late on the way out, A is back inside its intent for a while where its return leg's
        # volumes come by (~60 s after it flies on): it is sent home before that.
        d.nonconformance.return_after_s = RETURN_AFTER_S
        d.nonconformance.return_late = True  # A is only late (a lost-link hold): sent home all the same
        for agent in sim.agents.values():
            agent.lost_link_after_s = 15.0
        ra = (await d.submit(request("service-centre", "zhangde-road"))).id
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == ra, timeout_s=60)
        a = picked.drone_id
        later = system.clock.now() + timedelta(seconds=B_READY_S)
        rb = (await d.submit(request("service-centre", "zhangde-road", now=later))).id

        def mission_of(rid: str) -> str | None:
            m = d.picture.carrying(rid)
            return m.mission_id if m is not None else None

        async def b_committed() -> bool:
            mid = mission_of(rb)
            return mid is not None and d.missions[mid].drone_id != a

        await d.wait_until(b_committed, timeout_s=60)
        mb = mission_of(rb)
        assert mb is not None
        b = d.missions[mb].drone_id
        (ma,) = [m.mission_id for m in d.missions.values() if m.drone_id == a]
        await wait_until(lambda: sim.drone(a).state == "en_route", timeout_s=30, what="A on its way")
        sim.inject_link_loss(a, LOSS_S)

        async def b_held() -> bool:
            return mb in d.nonconformance.held

        await d.wait_until(b_held, timeout_s=60)
        assert d.nonconformance.held[mb].kind == "ground"
        assert sim.drone(b).state in ("idle", "ready"), "B still on the ground"

        async def delivered() -> bool:
            return (await states(store, [rb]))[rb] == "delivered" and not await store.flights.list_active()

        await d.wait_until(delivered, timeout_s=120)
        # A was sent home after the timeout, its episode closed; B held for A, then went on.
        a_history = await store.history("flight", ma)
        a_actions = [e.action if e.action != "transition" else e.payload["to"] for e in a_history]
        assert "nonconforming" in a_actions and "returned_nonconforming" in a_actions, a_actions
        assert a_actions.index("nonconforming") < a_actions.index("returned_nonconforming")
        returned = a_history[a_actions.index("returned_nonconforming")].payload
        assert returned["outside_s"] >= returned["return_after_s"] == RETURN_AFTER_S, returned
        assert a_actions[-1] == "aborted", a_actions
        assert d.nonconformance.returned == 1 and a not in d.conformance.episodes
        b_history = await store.history("flight", mb)
        b_actions = [e.action if e.action != "transition" else e.payload["to"] for e in b_history]
        held = b_history[b_actions.index("held_for_nonconforming")].payload
        assert held == {"nonconforming_drone": a, "nonconforming_mission": ma, "kind": "ground"}, held
        # Its start went out only once released (``flying``: the drone took the start); moved to
        # a later slot (``retimed``) if its own met A's return home (the same port, one spot).
        steps = ("held_for_nonconforming", "resumed_after_nonconforming", "flying")
        order = [b_actions.index(x) for x in steps]
        assert order == sorted(order), b_actions
        assert b_actions[-1] == "completed", b_actions
        assert not d.nonconformance.held
        assert sim.separation_losses == []


AIR_READY_S = 140.0  # B is ready this long after A's pickup: at its own pickup when A strays


async def a_strays_with_b_due_after_it(system: System) -> tuple[str, str, str, str]:
    """A picks up a document; B's, on A's route, is ready :data:`AIR_READY_S` later; A on its
    way loses its link for :data:`LOSS_S` (so it ends up about two minutes late). A's drone and
    mission, A's and B's request ids."""
    d, sim = system.dispatcher, system.sim
    d.planning.commit_window_s = 600.0
    for agent in sim.agents.values():
        agent.lost_link_after_s = 15.0
    ra = (await d.submit(request("service-centre", "zhangde-road"))).id
    picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == ra, timeout_s=60)
    a = picked.drone_id
    later = system.clock.now() + timedelta(seconds=AIR_READY_S)
    rb = (await d.submit(request("service-centre", "zhangde-road", now=later))).id
    await wait_until(lambda: sim.drone(a).state == "en_route", timeout_s=30, what="A on its way")
    sim.inject_link_loss(a, LOSS_S)
    (ma,) = [m.mission_id for m in d.missions.values() if m.drone_id == a]
    return a, ma, ra, rb


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_nonconforming_drone_holds_a_flight_in_the_air_until_it_is_sent_home(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim = system.dispatcher, system.sim
        d.nonconformance.return_after_s = RETURN_AFTER_S
        d.nonconformance.return_late = True  # A is only late (a lost-link hold): sent home all the same
        a, ma, _ra, rb = await a_strays_with_b_due_after_it(system)

        async def b_held() -> bool:
            m = d.picture.carrying(rb)
            return m is not None and m.mission_id in d.nonconformance.held

        await d.wait_until(b_held, timeout_s=90)
        mb = d.picture.carrying(rb)
        assert mb is not None and d.nonconformance.held[mb.mission_id].kind == "air"
        b = mb.drone_id
        assert sim.drone(b).state == "holding"

        async def done() -> bool:
            return (await states(store, [rb]))[rb] == "delivered" and not await store.flights.list_active()

        await d.wait_until(done, timeout_s=120)
        a_actions = [e.action for e in await store.history("flight", ma)]
        assert "returned_nonconforming" in a_actions, a_actions
        b_history = await store.history("flight", mb.mission_id)
        b_actions = [e.action if e.action != "transition" else e.payload["to"] for e in b_history]
        held = b_history[b_actions.index("held_for_nonconforming")].payload
        assert held["kind"] == "air" and held["nonconforming_drone"] == a, held
        resumed = b_history[b_actions.index("resumed_after_nonconforming")].payload
        # Resumed on a fresh intent for the rest of its route, after hovering on (``hold_more_s``)
        # until that intent is clear of A's return; no conflict of it left to audit.
        assert resumed["kind"] == "air" and resumed["held_s"] > 0 and "hold_more_s" in resumed, resumed
        assert "intent_conflict" not in b_actions, b_actions
        assert b_actions[-1] == "completed", b_actions
        flight = await store.flights.get(mb.mission_id)
        kinds = [c.kind for c in flight.commands if c.result == "ack"]
        assert kinds[-2:] == ["Hold", "Resume"] or kinds[-3:-1] == ["Hold", "Resume"], kinds
        assert sim.separation_losses == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_late_drone_whose_route_meets_another_flight_holds_itself_and_goes_on_after_it(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    # As above, but A, only late, is not sent home: flown on from where it is, its route would
    # meet B's (the same route, B ready 140 s after A's pickup and A two minutes late), so A holds
    # where it is and goes on once its route is clear; B, on time, is not held for it.
    async with running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim = system.dispatcher, system.sim
        a, ma, ra, rb = await a_strays_with_b_due_after_it(system)

        async def done() -> bool:
            finished = await states(store, [ra, rb])
            return set(finished.values()) == {"delivered"} and not await store.flights.list_active()

        await d.wait_until(done, timeout_s=180)
        a_history = await store.history("flight", ma)
        a_actions = [e.action if e.action != "transition" else e.payload["to"] for e in a_history]
        assert "returned_nonconforming" not in a_actions and a_actions[-1] == "completed", a_actions
        first = a_history[a_actions.index("nonconforming")].payload
        assert first["dimension"] == "time" and first["early"] is False, first
        held = a_history[a_actions.index("held_to_retime")].payload
        assert held["drone_id"] == a and held["cmd_id"].startswith(f"{ma}.h"), held
        # Resumed on an intent for the rest of its route, clear of B's: no conflict left to audit.
        assert "intent_conflict" not in a_actions, a_actions
        flight = await store.flights.get(ma)
        kinds = [c.kind for c in flight.commands if c.result == "ack"]
        assert kinds[kinds.index("Hold") + 1] == "Resume", kinds
        (mb,) = [f.mission_id for f in await store.flights.carrying(rb)]
        b_actions = [e.action for e in await store.history("flight", mb)]
        assert "held_for_nonconforming" not in b_actions and "gave_way" not in b_actions, b_actions
        assert d.nonconformance.holds == 0 and d.nonconformance.retimed >= 1
        assert sim.separation_losses == []
