"""The idle windows of a plan's drones, as drones of their own for a plan made on top of it.

The second pass (:mod:`routing.second_pass`) plans the requests deconfliction left out on top of
the trips already placed. Started after its last planned trip, a drone cannot use the hour it
stands idle at a port between two of them, although the requests left out often fall just there.
So every such window (from the landing and battery swap after one trip, or from the drone's start,
to the turnaround before its next trip; at least ``MIN_WINDOW_S`` long) becomes a drone of its own
for the pass over the left-out requests: id ``D08~2`` for the second window of ``D08``, standing at
that port, battery swapped, with :attr:`routing.problem.DroneState.until` the window's end, by
which it must be back at that same port (the solver's end time, the deconfliction's slack and a
rule of the validator). Each drone also flies on after its last trip, under its own id.
:func:`folded` puts the plan made for the windows back into their drones: each drone's trips in
order of departure, its intents renumbered. Pure: no I/O, no event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from routing.problem import START, DronePlan, DroneState, Plan, PlanningProblem, Trip

SEPARATOR = "~"  # between a drone's id and its window's number
MIN_WINDOW_S = 600.0  # a shorter window holds no trip to a pad and back worth a vehicle of the solver


@dataclass(frozen=True, slots=True)
class _Placed:
    """A trip of the plans being folded, as its source plan (0 or 1) numbers it."""

    depart: datetime
    source: int
    drone_id: str
    number: int
    trip: Trip


@dataclass(frozen=True, slots=True)
class Windows:
    """A problem whose drones are the windows of a plan's drones (``owner``: window id -> drone)."""

    problem: PlanningProblem
    owner: dict[str, str]


def windows_after(problem: PlanningProblem, result: Plan, *, min_window_s: float = MIN_WINDOW_S) -> Windows:
    """``problem`` with its drones as ``result`` leaves them: every idle window between (or before)
    a drone's planned trips as a drone of its own, and every drone after its last trip (at that
    port, battery swapped) or as the problem had it if it flies none."""
    fleet = problem.fleet
    ports = {p.id: p for p in fleet.ports}
    busy = {d.drone_id: d for d in result.drones if d.trips}
    drones, states, owner = [], [], {}
    for d in fleet.drones:
        model = fleet.model_of(d)
        swap = timedelta(seconds=model.turnaround_s)
        dp = busy.get(d.id)
        if dp is None:
            drones.append(d)
            state = problem.state_of(d.id)
            if state is not None:
                states.append(state)
            continue
        windows: list[DroneState] = []
        first = dp.trips[0].legs[0]
        state = problem.state_of(d.id)
        if first.from_kind != START and (state is None or not state.onboard):
            port = state.port if state is not None and state.port is not None else d.port
            at = problem.at if state is None else max(problem.at, state.at)
            energy = state.energy_wh if state is not None else d.energy_wh
            p = ports[port]
            wh = model.battery_wh if energy is None else energy
            windows.append(DroneState(d.id, p.lon, p.lat, at, wh, port=port, until=first.depart - swap))
        for before, after in zip(dp.trips, dp.trips[1:], strict=False):
            p = ports[before.legs[-1].to_id]
            at = before.legs[-1].arrive + swap
            until = after.legs[0].depart - swap
            windows.append(DroneState(d.id, p.lon, p.lat, at, model.battery_wh, port=p.id, until=until))
        for k, w in enumerate(windows, 1):
            assert w.until is not None
            if (w.until - w.at).total_seconds() >= min_window_s:
                wid = f"{d.id}{SEPARATOR}{k}"
                owner[wid] = d.id
                drones.append(replace(d, id=wid))
                states.append(replace(w, drone_id=wid))
        last = dp.trips[-1].legs[-1]
        p = ports[last.to_id]
        drones.append(d)
        states.append(DroneState(d.id, p.lon, p.lat, last.arrive + swap, model.battery_wh, port=p.id))
    sub = replace(
        problem,
        fleet=replace(fleet, drones=tuple(drones)),
        drone_states=tuple(states),
        previous_plan=None,
    )
    return Windows(sub, owner)


def folded(first: Plan, second: Plan, owner: dict[str, str] | None = None) -> Plan:
    """``first`` with ``second``'s trips, ETAs and intents, each drone's trips in order of departure
    and its intents renumbered with them (``owner``: the drone of each window id in ``second``;
    other ids are drones of their own)."""
    own = owner or {}

    def real(drone_id: str) -> str:
        return own.get(drone_id, drone_id)

    order = [d.drone_id for d in first.drones]
    placed: dict[str, list[_Placed]] = {}
    for src, plan in ((0, first), (1, second)):
        for dp in plan.drones:
            did = real(dp.drone_id)
            if did not in placed and did not in order:
                order.append(did)
            for k, trip in enumerate(dp.trips, 1):
                depart = trip.legs[0].depart if trip.legs else plan.at
                placed.setdefault(did, []).append(_Placed(depart, src, dp.drone_id, k, trip))
    renumber: dict[tuple[int, str, int], int] = {}
    drones = []
    for did in order:
        trips = sorted(placed.get(did, []), key=lambda e: (e.depart, e.source))
        renumber.update({(e.source, e.drone_id, e.number): n for n, e in enumerate(trips, 1)})
        if trips:
            drones.append(DronePlan(did, tuple(e.trip for e in trips)))
    intents = tuple(
        replace(i, drone_id=real(i.drone_id), trip=renumber.get((src, i.drone_id, i.trip), i.trip))
        for src, plan in ((0, first), (1, second))
        for i in plan.intents
    )
    served_now = set(second.served)
    first_unserved = {u.request_id for u in first.unserved}
    etas = {**first.etas, **{r: replace(e, drone_id=real(e.drone_id)) for r, e in second.etas.items()}}
    return replace(
        first,
        drones=tuple(drones),
        served=first.served + second.served,
        unserved=tuple(u for u in first.unserved if u.request_id not in served_now)
        + tuple(u for u in second.unserved if u.request_id not in first_unserved),
        etas=etas,
        intents=intents,
        late=first.late + second.late,
    )
