"""Turn a drone's ordered stops into timed trips of legs (the planner's side of a :class:`Plan`).

Times are the earliest the stops allow: a drone leaves as soon as it is ready, lands, waits on
the pad if it is early for a pickup, serves, and goes on. Exception: a pad covered by a temporary
zone earlier in its window is reached no earlier than its window opens (the drone waits at the
previous stop instead, so it never lands inside the zone). A port stop in the middle ends a trip
(battery swap: ``turnaround_s``); after the last stop the drone flies to the nearest port (a
drone in a window between planned trips: back to the port it stands at).
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.feasibility import Candidate
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, RELOAD_NODE, NodeInfo
from routing.pad_busy import after_busy
from routing.prepared import Prepared
from routing.problem import DROPOFF, PICKUP, PORT, START, DronePlan, Eta, Leg, Trip
from routing.wind_energy import forecast_winds, leg_energy_wh


@dataclass(slots=True)
class Realised:
    """A drone's timed trips with the ETAs of what it serves."""

    plan: DronePlan | None
    etas: list[Eta]
    late: list[str]


def realise(prep: Prepared, v: int, stops: list[NodeInfo], candidates: dict[str, Candidate]) -> Realised:
    """Timed trips for drone ``v`` visiting ``stops`` (pickups, drop-offs, mid-route ports) in order."""
    start = prep.starts[v]
    model = start.model
    net = prep.networks[model.name]
    alt = model.cruise_altitude_m
    onboard: dict[str, float] = {rid: prep.requests[rid].weight_kg for rid in start.onboard}
    site = start.site
    here = (PORT, start.port) if start.port is not None else (START, start.drone.id)
    ready = start.available_s
    trips: list[Trip] = []
    legs: list[Leg] = []
    etas: list[Eta] = []
    late: list[str] = []
    pickup_at: dict[str, float] = {}

    full = list(stops)
    if full or start.port is None:
        last = full[-1].site if full else site
        port = start.port if start.until_s is not None else None  # a window ends where it began
        if port is None:
            port, _ = prep.nearest_port(model.name, last)
        full.append(NodeInfo(RELOAD_NODE, prep.port_site[port], port))

    for stop in full:
        kind = {RELOAD_NODE: PORT, PICKUP_NODE: PICKUP, DROPOFF_NODE: DROPOFF}[stop.kind]
        if kind == PORT and not legs and site == stop.site:
            ready += model.turnaround_s  # a swap where it stands: no flight
            continue
        length = float(net.length_m[site, stop.site])
        flight = length / model.cruise_speed_mps
        depart = ready
        cand = candidates.get(stop.ref) if kind != PORT else None
        if cand is not None:
            opens = cand.pickup_window[0] if kind == PICKUP else cand.dropoff_window[0]
            if stop.site in net.pads:
                depart = max(depart, opens - flight)
            busy = prep.busy.get(stop.site)
            if busy:  # a pad held meanwhile: leave later, as the solver planned
                depart = max(depart, after_busy(busy, max(depart + flight, opens)) - flight)
        arrive = depart + flight
        payload = sum(onboard.values())
        lonlat = [prep.sites.points[site]] * 2 if stop.site == site else net.path(site, stop.site)
        energy = model.leg_energy_wh(length, payload)
        if prep.problem.wind is not None:  # in the forecast wind of the leg's own hours
            winds = forecast_winds(prep.problem.wind, model, prep.time(depart), prep.time(arrive))
            energy = leg_energy_wh(model, length, payload, lonlat, winds)
        profile: tuple[tuple[float, float, float], ...] = ()
        true_height: tuple[float, float] | None = None
        if net.heights is not None:  # over terrain: the flown profile and its climbs
            heights = net.heights.leg(site, stop.site)
            profile, true_height = heights.waypoints, (heights.min_true_m, heights.max_true_m)
            energy += model.climb_energy_wh(heights.climb_m)
        legs.append(
            Leg(
                from_kind=here[0],
                from_id=here[1],
                to_kind=kind,
                to_id=stop.ref,
                depart=prep.time(depart),
                arrive=prep.time(arrive),
                distance_m=length,
                energy_wh=energy,
                payload_kg=payload,
                waypoints=tuple((lon, lat, alt) for lon, lat in lonlat),
                profile=profile,
                true_height_m=true_height,
            )
        )
        if kind == PORT:
            trips.append(Trip(tuple(legs)))
            legs = []
            ready = arrive + model.turnaround_s
        elif kind == PICKUP:
            assert cand is not None
            service_start = max(arrive, cand.pickup_window[0])
            onboard[stop.ref] = prep.requests[stop.ref].weight_kg
            pickup_at[stop.ref] = service_start
            ready = service_start + model.service_s
        else:
            service_start = arrive if cand is None else max(arrive, cand.dropoff_window[0])
            onboard.pop(stop.ref, None)
            picked = pickup_at.get(stop.ref)
            etas.append(
                Eta(
                    stop.ref, start.drone.id, None if picked is None else prep.time(picked), prep.time(arrive)
                )
            )
            if stop.ref in start.onboard and prep.time(arrive) > prep.requests[stop.ref].deadline:
                late.append(stop.ref)
            ready = service_start + model.service_s
        site, here = stop.site, (kind, stop.ref)
    if legs:
        trips.append(Trip(tuple(legs)))
    plan = DronePlan(start.drone.id, tuple(trips)) if trips else None
    return Realised(plan, etas, late)
