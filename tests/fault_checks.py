"""What every fault test of the dispatcher must show at the end: nothing lost, nothing twice.

- every request ends in exactly one final state, reached once (``delivered`` here: the faults these
  tests inject are all survivable);
- no request was handed over twice, and no request went back to ``accepted`` (re-planned) unless
  the test allows it;
- a flight is completed only after the deliveries it made;
- every command the store records as acknowledged was really applied by its drone (the drone
  remembers the answer it gave to each ``cmd_id``), with the same verdict;
- no geofence breach; the audit chain verifies;
- (once the planner deconflicts, issue 13) no loss of separation: :func:`assert_no_separation_loss`.
"""

from __future__ import annotations

from collections import Counter

from dispatch.lifecycle import REQUEST_TERMINAL
from dispatch.store import Store
from simulator.fleet_sim import SimulatedFleet

FINAL = {s.value for s in REQUEST_TERMINAL}


async def transitions(store: Store, request_id: str) -> list[str]:
    """The states a request went through, in order."""
    timeline = await store.requests.timeline(request_id)
    return [e.payload["to"] for e in timeline.entries if e.action == "transition"]


async def _aborts(store: Store, request_id: str) -> list[object]:
    """Why each aborted flight of a request was aborted (for assertion messages)."""
    out: list[object] = []
    for flight in await store.flights.carrying(request_id):
        if flight.state == "aborted":
            history = await store.history("flight", flight.mission_id)
            out.append(
                [
                    (e.action, e.payload)
                    for e in history
                    if "abort" in str(e.payload) or e.action == "transition"
                ][-1:]
            )
    return out


async def assert_delivered_once(
    store: Store, sim: SimulatedFleet, ids: list[str], *, replanned_ok: bool = False
) -> None:
    """The checks of this module's docstring, for requests that must all have been delivered."""
    for rid in ids:
        path = await transitions(store, rid)
        assert path[-1] == "delivered", (rid, path)
        assert Counter(path)["delivered"] == 1 and Counter(path)["picked_up"] == 1, (rid, path)
        assert sum(1 for s in path if s in FINAL) == 1, (rid, path)
        if not replanned_ok:
            why = [await _aborts(store, rid)] if "accepted" in path[1:] else []
            assert path == ["accepted", "planned", "dispatched", "picked_up", "delivered"], (rid, path, why)
    handed = Counter(
        (e.drone_id, e.request_id) for e in sim.events if type(e).__name__ == "Delivered" and e.code_ok
    )
    assert all(n == 1 for n in handed.values()), handed
    assert sorted(r for _, r in handed if r in ids) == sorted(ids)
    for rid in ids:
        entries = (await store.requests.timeline(rid)).entries
        delivered_at = next(
            e.seq for e in entries if e.action == "transition" and e.payload["to"] == "delivered"
        )
        for flight in await store.flights.carrying(rid):
            if flight.state == "completed":
                # A flight completes when its drone lands, after its hand-overs: never earlier (a
                # stale landing event once completed the flight the drone was still flying).
                history = await store.history("flight", flight.mission_id)
                completed = next(e.seq for e in history if e.payload.get("to") == "completed")
                assert completed > delivered_at, (rid, flight.mission_id, "completed before its delivery")
            for cmd in flight.commands:
                if cmd.result is None:
                    continue
                answer = sim.drone(cmd.drone_id)._answers.get(cmd.cmd_id)
                assert answer is not None, (
                    f"{cmd.cmd_id} recorded as {cmd.result} but never reached the drone"
                )
                assert answer[0] == (cmd.result == "ack"), (cmd.cmd_id, cmd.result, answer)
    assert not sim.breaches
    report = await store.verify_audit()
    assert report.ok, report


def assert_no_separation_loss(sim: SimulatedFleet) -> None:
    """The simulator's separation monitor saw no two airborne drones within its minima (the
    losses still going on count too), naming each loss otherwise."""
    losses = sim.separation_losses
    assert not losses, f"{len(losses)} loss(es) of separation:\n" + "\n".join(x.describe() for x in losses)
