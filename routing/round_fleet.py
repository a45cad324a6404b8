"""Rounds whose size follows the work, not the fleet: the drones one planning round counts on.

Every usable drone used to become a vehicle of every round, so the model grew with the fleet while
the work did not (a round with 1,000 drones built a routing model for minutes). Drones standing at
the same port, of the same model, free at the same time with a full battery are interchangeable, so
:func:`round_fleet` groups the idle drones into such **classes** and, for each request, ranks the
classes by when a drone of theirs could reach its pickup (free time + straight flight at cruise
speed, a lower bound). Each request asks its best class for ``drones_per_request`` of a drone (so a
port that is best for many requests offers as many drones as its work needs, rounded up), and each
of its ``k_best`` best classes for at least one drone (so the solver keeps a choice). Drones in
flight, carrying documents or not at a port are always kept; drones no request needs are left out
of the round (they stay free for the next one). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass

from fleet.description import Drone, Port
from routing.problem import PlanningProblem
from routing.requests import Request

K_BEST = 3  # classes offered to each request at least one drone
DRONES_PER_REQUEST = 0.5  # drones a request asks of its best class (drones fly several trips)
FULL = 0.95  # a battery this full counts as full (batteries are swapped at ports)


@dataclass(frozen=True, slots=True)
class _Class:
    model: str
    port: str
    free_min: int  # minutes after the planning instant
    energy: int  # percent, rounded down to 5 %, 100 when full
    until_min: int | None = None  # a window between planned trips: back at ``port`` by then


def round_fleet(
    problem: PlanningProblem, *, k_best: int = K_BEST, drones_per_request: float = DRONES_PER_REQUEST
) -> PlanningProblem:
    """The problem with only the drones this round needs (see the module docstring); unchanged when
    the fleet is no larger than what the requests could ask for."""
    fleet = problem.fleet
    if len(fleet.drones) <= max(k_best, math.ceil(len(problem.requests) * drones_per_request)) + k_best:
        return problem
    states = {s.drone_id: s for s in problem.drone_states}
    if states.keys() - {d.id for d in fleet.drones}:
        return problem  # a state of an unknown drone: the planner refuses it (never dropped here)
    ports = {p.id: p for p in fleet.ports}
    keep: set[str] = set()
    classes: dict[_Class, list[Drone]] = defaultdict(list)
    for d in fleet.drones:
        s = states.get(d.id)
        if s is not None and (s.port is None or s.onboard or s.port not in ports):
            keep.add(d.id)  # in the air or carrying documents: the plan must include it
            continue
        model = fleet.model_of(d)
        energy = d.energy_wh if d.energy_wh is not None else model.battery_wh
        energy = s.energy_wh if s is not None else energy
        share = energy / model.battery_wh
        free = max(0.0, (s.at - problem.at).total_seconds()) if s is not None else 0.0
        port = s.port if s is not None and s.port is not None else d.port
        until = None if s is None or s.until is None else int((s.until - problem.at).total_seconds() // 60)
        key = _Class(d.model, port, int(free // 60), 100 if share >= FULL else int(share * 20) * 5, until)
        classes[key].append(d)
    if not classes:
        return problem
    wanted: dict[_Class, float] = defaultdict(float)
    for r in problem.requests:
        able = [
            c
            for c in classes
            if fleet.models[c.model].max_payload_kg >= r.weight_kg and _fits(problem, c, r, ports)
        ]
        ranked = sorted(able, key=lambda c: _reach_s(problem, c, r.pickup, ports))
        for k, c in enumerate(ranked[:k_best]):
            wanted[c] = max(wanted[c], 1.0) if k else wanted[c] + drones_per_request
    for c, n in wanted.items():
        members = sorted(classes[c], key=lambda d: d.id)
        keep.update(d.id for d in members[: max(1, math.ceil(n - 1e-9))])
    drones = tuple(d for d in fleet.drones if d.id in keep)
    return dataclasses.replace(
        problem,
        fleet=dataclasses.replace(fleet, drones=drones),
        drone_states=tuple(s for s in problem.drone_states if s.drone_id in keep),
    )


def _fits(problem: PlanningProblem, c: _Class, r: Request, ports: dict[str, Port]) -> bool:
    """Whether a drone of class ``c`` might fly ``r`` and be back at its port by the end of its
    window (a lower bound of the time: straight flights at cruise speed; always, without one)."""
    if c.until_min is None:
        return True
    speed = problem.fleet.models[c.model].cruise_speed_mps
    port = ports[c.port]
    ready = (r.ready_at - problem.at).total_seconds()
    flights = _metres(r.pickup, r.dropoff) + _metres(r.dropoff, (port.lon, port.lat))
    return max(_reach_s(problem, c, r.pickup, ports), ready) + flights / speed <= (c.until_min + 1) * 60.0


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The straight distance between two points (an equirectangular bound, metres)."""
    dy = (b[1] - a[1]) * 111_320.0
    dx = (b[0] - a[0]) * 111_320.0 * math.cos(math.radians(a[1]))
    return math.hypot(dx, dy)


def _reach_s(
    problem: PlanningProblem, c: _Class, pickup: tuple[float, float], ports: dict[str, Port]
) -> float:
    """A lower bound of when a drone of class ``c`` reaches ``pickup`` (seconds after the round)."""
    port = ports[c.port]
    speed = problem.fleet.models[c.model].cruise_speed_mps
    return c.free_min * 60.0 + _metres((port.lon, port.lat), pickup) / speed
