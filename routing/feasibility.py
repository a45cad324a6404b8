"""Reason codes for unserved requests, and the per-request check run before solving.

Every request the plan does not serve carries exactly one of these codes, decided in this order
(the first that applies wins):

- ``pickup_in_zone`` / ``dropoff_in_zone``: the pad lies in a zone that blocks the descent column
  (any altitude from the ground to cruise) during the whole window in which the request could be
  served, for every drone model;
- ``overweight``: heavier than any model can carry;
- ``unreachable``: no safe path links a port, the pickup, the drop-off and a port (enclosed by zones);
- ``out_of_range``: no model could fly port -> pickup -> drop-off -> nearest port on a full battery;
- ``deadline_infeasible``: no drone, flying it alone from where and when it is available (after
  a battery swap if its battery is too low for the trip), arrives at the drop-off by the deadline;
- ``no_capacity``: feasible alone, but not with the fleet and time available now (retry later);
  also used when the repair step drops a request whose planned trip the validator refused;
- ``deconfliction``: planned, but its trip found no cruise layer and no ground delay that keeps
  it clear of the other trips' and flights' operational intents within its deadline
  (:mod:`routing.deconflict`; retry later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from routing.matrices import Network
from routing.prepared import Prepared
from routing.requests import Request


class Reason(StrEnum):
    """Why a request is not served."""

    PICKUP_IN_ZONE = "pickup_in_zone"
    DROPOFF_IN_ZONE = "dropoff_in_zone"
    UNREACHABLE = "unreachable"
    OVERWEIGHT = "overweight"
    OUT_OF_RANGE = "out_of_range"
    DEADLINE_INFEASIBLE = "deadline_infeasible"
    NO_CAPACITY = "no_capacity"
    DECONFLICTION = "deconfliction"


REASON_CODES: tuple[str, ...] = tuple(r.value for r in Reason)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A request that some drone can serve alone: who may fly it and its node time windows.

    Windows are in seconds from the planning instant: the pickup window bounds the start of the
    pickup service, the drop-off window the arrival at the drop-off.
    """

    request_id: str
    vehicles: tuple[int, ...]  # indices into ``Prepared.starts``
    pickup_window: tuple[float, float]
    dropoff_window: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of the pre-check of one request: a candidate, or a reason not to try."""

    request_id: str
    candidate: Candidate | None
    reason: Reason | None = None
    detail: str = ""


def _alone_trip_wh(
    net: Network,
    start: int,
    pickup: int,
    dropoff: int,
    weight: float,
    home: float,
    home_climb_wh: float,
    home_wind: float = 1.0,
) -> float:
    model = net.model
    return (
        model.leg_energy_wh(float(net.length_m[start, pickup]), 0.0) * net.wind_factor(start, pickup)
        + model.leg_energy_wh(float(net.length_m[pickup, dropoff]), weight) * net.wind_factor(pickup, dropoff)
        + model.leg_energy_wh(home, 0.0) * home_wind
        + net.climb_wh(start, pickup)
        + net.climb_wh(pickup, dropoff)
        + home_climb_wh
    )


def _windows(
    prep: Prepared, net: Network, req: Request
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The pickup and drop-off windows of ``req`` for one model (None: the pad is never usable)."""
    ready, deadline = max(0.0, prep.seconds(req.ready_at)), prep.seconds(req.deadline)
    pick = (ready, deadline)
    pad = net.pads.get(prep.pickup_site[req.id])
    if pad is not None:
        found = pad.window_for(ready, deadline)
        if found is None:
            return None, None
        pick = found
    drop: tuple[float, float] | None = (pick[0], deadline)
    pad = net.pads.get(prep.dropoff_site[req.id])
    if pad is not None:
        drop = pad.window_for(pick[0], deadline)
    return pick, drop


def _fmt(prep: Prepared, s: float) -> str:
    return prep.time(s).isoformat(timespec="seconds")


def _arrival_alone(
    prep: Prepared, v: int, req: Request, pick: tuple[float, float], drop: tuple[float, float]
) -> float | None:
    """A lower bound on drone ``v``'s drop-off arrival flying ``req`` (None: it cannot make it).

    It must never exclude a drone that could serve the request in some plan, since the result
    restricts the engine: if the battery now is too low for the trip, the drone swaps somewhere
    first, and by the triangle inequality nothing beats a swap where it stands followed by a
    direct flight (whether the trip fits a full battery from some port was checked per model).
    """
    start = prep.starts[v]
    net = prep.networks[start.model.name]
    model = start.model
    pu, do = prep.pickup_site[req.id], prep.dropoff_site[req.id]
    port, home = prep.nearest_port(model.name, do)
    home_climb = net.climb_wh(do, prep.port_site[port]) if port else 0.0
    home_wind = net.wind_factor(do, prep.port_site[port]) if port else 1.0
    t = start.available_s
    budget = start.energy_wh - model.battery_wh * model.reserve_fraction
    if _alone_trip_wh(net, start.site, pu, do, req.weight_kg, home, home_climb, home_wind) > budget + 1e-9:
        t += model.turnaround_s
    service_start = max(t + net.flight_s(start.site, pu), pick[0])
    if service_start > pick[1]:
        return None
    arrival = max(service_start + model.service_s + net.flight_s(pu, do), drop[0])
    return arrival if arrival <= drop[1] else None


def precheck(prep: Prepared, req: Request) -> Verdict:
    """Decide whether ``req`` can be served by some drone alone, or why not (see module docs)."""
    models = {s.model.name: s.model for s in prep.starts}
    pu, do = prep.pickup_site[req.id], prep.dropoff_site[req.id]
    windows = {m: _windows(prep, prep.networks[m], req) for m in models}
    usable = [m for m in models if windows[m][0] is not None]
    if not usable:
        zones = sorted({z for m in models for z in prep.networks[m].pads[pu].zone_ids})
        return Verdict(req.id, None, Reason.PICKUP_IN_ZONE, f"pickup pad in zone {', '.join(zones)}")
    usable = [m for m in usable if windows[m][1] is not None]
    if not usable:
        zones = sorted({z for m in models for z in prep.networks[m].pads[do].zone_ids})
        return Verdict(req.id, None, Reason.DROPOFF_IN_ZONE, f"drop-off pad in zone {', '.join(zones)}")
    heaviest = max(models[m].max_payload_kg for m in models)
    usable = [m for m in usable if models[m].max_payload_kg + 1e-9 >= req.weight_kg]
    if not usable:
        return Verdict(
            req.id,
            None,
            Reason.OVERWEIGHT,
            f"{req.weight_kg} kg > largest payload {heaviest} kg of any model",
        )
    ports = list(prep.port_site.values())
    reachable: list[str] = []
    in_range: list[str] = []
    best_wh: dict[str, float] = {}
    for m in usable:
        net = prep.networks[m]
        port, home = prep.nearest_port(m, do)
        home_climb = net.climb_wh(do, prep.port_site[port]) if port else 0.0
        home_wind = net.wind_factor(do, prep.port_site[port]) if port else 1.0
        out = min(float(net.length_m[p, pu]) for p in ports)
        if math.isinf(out) or math.isinf(home) or math.isinf(float(net.length_m[pu, do])):
            continue
        reachable.append(m)
        best_wh[m] = min(
            _alone_trip_wh(net, p, pu, do, req.weight_kg, home, home_climb, home_wind) for p in ports
        )
        if best_wh[m] <= models[m].usable_wh + 1e-9:
            in_range.append(m)
    if not reachable:
        closed = sorted(
            f"{pid} (zone {', '.join(pad.zone_ids)})"
            for pid, site in prep.port_site.items()
            if (pad := prep.networks[usable[0]].blocked(site)) is not None
        )
        detail = "no safe path links a port, the pickup and the drop-off"
        if len(closed) == len(prep.port_site):
            detail = f"every port is closed by a zone: {'; '.join(closed)}"
        elif closed:
            detail += f" (closed ports: {'; '.join(closed)})"
        return Verdict(req.id, None, Reason.UNREACHABLE, detail)
    if not in_range:
        m = min(best_wh, key=lambda k: best_wh[k] - models[k].usable_wh)
        return Verdict(
            req.id,
            None,
            Reason.OUT_OF_RANGE,
            f"needs {best_wh[m]:.0f} Wh alone on {m}, usable {models[m].usable_wh:.0f} Wh",
        )
    # One window per node: the intersection over the models kept (a model that would empty it is left out).
    pick, drop = windows[in_range[0]]
    assert pick is not None and drop is not None
    kept = []
    for m in in_range:
        p2, d2 = windows[m]
        assert p2 is not None and d2 is not None
        p3 = (max(pick[0], p2[0]), min(pick[1], p2[1]))
        d3 = (max(drop[0], d2[0]), min(drop[1], d2[1]))
        if p3[0] <= p3[1] and d3[0] <= d3[1]:
            pick, drop = p3, d3
            kept.append(m)
    vehicles = tuple(
        v
        for v, s in enumerate(prep.starts)
        if s.model.name in kept and _arrival_alone(prep, v, req, pick, drop) is not None
    )
    if vehicles:
        # Tighten the windows by the direct hop (the fastest model: still valid for every drone).
        hop = min(models[m].service_s + prep.networks[m].flight_s(pu, do) for m in kept)
        pick = (pick[0], min(pick[1], drop[1] - hop))
        drop = (max(drop[0], pick[0] + hop), drop[1])
    if not vehicles or pick[0] > pick[1] or drop[0] > drop[1]:
        return Verdict(
            req.id,
            None,
            Reason.DEADLINE_INFEASIBLE,
            f"no drone alone reaches the drop-off by {_fmt(prep, drop[1])}",
        )
    return Verdict(req.id, Candidate(req.id, vehicles, pick, drop))
