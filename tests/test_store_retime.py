"""A flight whose start was never sent moves to a later departure; one sent never changes."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from dispatch.store import Conflict, Store
from dispatch.store.views import CommandView
from tests.test_store_flights import accepted_request, flight


async def test_an_unsent_start_is_retimed_with_the_flight_plan_and_audited(seeded_store: Store) -> None:
    store = seeded_store
    rid = await accepted_request(store)
    await store.flights.record(flight("M-1", rid), actor="planner")
    go = (
        await store.flights.record_command(
            cmd_id="M-1.go",
            drone_id="D01",
            kind="Start",
            payload={"take_off_at": "old"},
            mission_id="M-1",
        )
    ).command
    plan = {"depart": "2026-12-01T00:05:00+00:00", "waypoints": []}
    view = await store.flights.retime_start(
        "M-1", go.cmd_id, plan=plan, payload={"take_off_at": "new"}, actor="dispatcher"
    )
    assert view.payload == {"take_off_at": "new"}
    assert (await store.flights.get("M-1")).plan == plan
    (entry,) = [e for e in await store.history("flight", "M-1") if e.action == "retimed"]
    assert entry.payload["depart"] == plan["depart"] and entry.payload["cmd_id"] == "M-1.go"
    await store.flights.mark_command_sent(go.cmd_id)
    with pytest.raises(Conflict, match="was sent"):
        await store.flights.retime_start("M-1", go.cmd_id, plan={}, payload={}, actor="dispatcher")
    assert (await store.flights.get("M-1")).plan == plan
    assert (await store.verify_audit()).ok


async def test_a_refused_start_is_replaced_by_a_new_one_with_the_new_plan(seeded_store: Store) -> None:
    store = seeded_store
    rid = await accepted_request(store)
    await store.flights.record(flight("M-1", rid), actor="planner")
    go = (
        await store.flights.record_command(
            cmd_id="M-1.go", drone_id="D01", kind="Start", payload={"take_off_at": "old"}, mission_id="M-1"
        )
    ).command
    plan = {"depart": "2026-12-01T00:07:00+00:00", "waypoints": []}

    def replace(cmd_id: str = "M-1.go1") -> Awaitable[CommandView]:
        return store.flights.replace_start(
            "M-1", go.cmd_id, cmd_id=cmd_id, plan=plan, payload={"take_off_at": "new"}, actor="dispatcher"
        )

    await store.flights.mark_command_sent(go.cmd_id)
    with pytest.raises(Conflict, match="not refused"):
        await replace()  # sent, not answered: the drone may take off with it
    await store.flights.mark_command_acked(go.cmd_id, "nack", "take_off_window_passed: late")
    new = await replace()
    assert (new.cmd_id, new.kind, new.payload, new.sent_at) == (
        "M-1.go1",
        "Start",
        {"take_off_at": "new"},
        None,
    )
    assert (await store.flights.get("M-1")).plan == plan
    again = await replace()  # a repeat after a restart finds it
    assert again.cmd_id == new.cmd_id
    (entry,) = [e for e in await store.history("flight", "M-1") if e.action == "retimed"]
    assert entry.payload["refused_cmd_id"] == "M-1.go" and entry.payload["cmd_id"] == "M-1.go1"
    assert [c.cmd_id for c in (await store.flights.get("M-1")).commands] == ["M-1.go", "M-1.go1"]
    assert (await store.verify_audit()).ok
