"""A planning problem turned into indexed sites, drone starts and per-model networks.

This is the common ground of the pre-check, the mapping onto the engine and the schedule; it
checks the problem's internal consistency (known drones, on-board requests) first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airspace.terrain import TerrainError
from fleet.description import Drone, DroneModel
from routing.matrices import Network, SiteIndex, add_terrain, build_networks
from routing.problem import PlanningProblem
from routing.requests import Request
from routing.terrain_legs import fleet_terrain_zones, zones_in_band
from routing.wind_energy import arc_factors, forecast_winds

# The conservative zone horizon runs this long after the last deadline (the final flights home).
HORIZON_TAIL = timedelta(hours=1)


class ProblemError(ValueError):
    """A planning problem is inconsistent (unknown drone, unknown on-board request, ...)."""


@dataclass(frozen=True, slots=True)
class DroneStart:
    """Where and when a drone starts, with what battery and documents on board."""

    drone: Drone
    model: DroneModel
    site: int
    port: str | None  # the port it stands at; None: in flight at ``site``
    available_s: float  # seconds after the planning instant
    energy_wh: float  # battery now
    onboard: tuple[str, ...]
    until_s: float | None = None  # back at ``port`` by then (seconds after the planning instant)


@dataclass(slots=True)
class Prepared:
    """Indexed view of a problem shared by the planner's stages."""

    problem: PlanningProblem
    t0: datetime
    horizon_end: datetime
    horizon_s: float
    sites: SiteIndex
    port_site: dict[str, int]
    pickup_site: dict[str, int]
    dropoff_site: dict[str, int]
    starts: list[DroneStart]
    networks: dict[str, Network]
    requests: dict[str, Request]
    # Per pad site: service starts (s after t0) that would meet an intent in force (routing.pad_busy).
    busy: dict[int, list[tuple[float, float]]] = field(default_factory=dict)

    def seconds(self, t: datetime) -> float:
        """Seconds from the planning instant."""
        return (t - self.t0).total_seconds()

    def time(self, s: float) -> datetime:
        """The instant ``s`` seconds after the planning instant."""
        return self.t0 + timedelta(seconds=s)

    def nearest_port(self, model: str, site: int) -> tuple[str, float]:
        """The port with the shortest safe path from ``site`` (id, metres; inf if none reachable)."""
        net = self.networks[model]
        best = ("", float("inf"))
        for pid, ps in self.port_site.items():
            length = float(net.length_m[site, ps])
            if length < best[1]:
                best = (pid, length)
        return best


def prepare(problem: PlanningProblem) -> Prepared:
    """Index the problem's sites, resolve drone starts and build the per-model networks."""
    fleet = problem.fleet
    requests = {r.id: r for r in problem.requests}
    if len(requests) != len(problem.requests):
        raise ProblemError("duplicate request ids in the problem")
    drones = {d.id: d for d in fleet.drones}
    if problem.at.utcoffset() is None:
        raise ProblemError(f"the planning instant must be timezone-aware, got {problem.at.isoformat()}")
    onboard_owner: dict[str, str] = {}
    for state in problem.drone_states:
        if state.drone_id not in drones:
            raise ProblemError(f"drone state for unknown drone {state.drone_id!r}")
        battery = fleet.model_of(drones[state.drone_id]).battery_wh
        if not 0 <= state.energy_wh <= battery:
            raise ProblemError(
                f"drone {state.drone_id!r}: energy_wh {state.energy_wh} outside [0, battery_wh={battery}]"
            )
        if state.at.utcoffset() is None:
            raise ProblemError(f"drone {state.drone_id!r}: state time must be timezone-aware")
        if len(set(state.onboard)) != len(state.onboard):
            raise ProblemError(f"drone {state.drone_id!r} lists a document on board twice")
        if state.port is not None and state.port not in {p.id for p in fleet.ports}:
            raise ProblemError(f"drone {state.drone_id!r} stands at unknown port {state.port!r}")
        if state.until is not None and (state.port is None or state.onboard):
            raise ProblemError(f"drone {state.drone_id!r}: a window (until) needs a port, nothing aboard")
        if state.until is not None and (state.until.utcoffset() is None or state.until < state.at):
            raise ProblemError(f"drone {state.drone_id!r}: until must be timezone-aware and not before at")
        if state.onboard and state.port is not None:
            raise ProblemError(f"drone {state.drone_id!r} stands at a port with documents on board")
        for rid in state.onboard:
            if rid not in requests:
                raise ProblemError(f"drone {state.drone_id!r} carries unknown request {rid!r}")
            if rid in onboard_owner:
                raise ProblemError(f"request {rid!r} is on board two drones")
            onboard_owner[rid] = state.drone_id

    sites = SiteIndex()
    port_site = {p.id: sites.add((p.lon, p.lat)) for p in fleet.ports}
    pickup_site = {r.id: sites.add(r.pickup) for r in problem.requests}
    dropoff_site = {r.id: sites.add(r.dropoff) for r in problem.requests}
    pad_sites = set(port_site.values()) | set(pickup_site.values()) | set(dropoff_site.values())

    t0 = problem.at
    starts: list[DroneStart] = []
    for drone in fleet.drones:
        model = fleet.model_of(drone)
        known = problem.state_of(drone.id)
        if known is None:
            energy = model.battery_wh if drone.energy_wh is None else drone.energy_wh
            starts.append(DroneStart(drone, model, port_site[drone.port], drone.port, 0.0, energy, ()))
            continue
        site = port_site[known.port] if known.port is not None else sites.add((known.lon, known.lat))
        available = max(0.0, (known.at - t0).total_seconds())
        until = None if known.until is None else (known.until - t0).total_seconds()
        starts.append(
            DroneStart(drone, model, site, known.port, available, known.energy_wh, known.onboard, until)
        )

    latest = max([r.deadline for r in problem.requests] + [t0])
    latest = max([latest] + [t0 + timedelta(seconds=s.available_s) for s in starts])
    horizon_end = latest + HORIZON_TAIL
    used_models = {fleet.model_of(d).name: fleet.model_of(d) for d in fleet.drones}
    zones = problem.zones
    if problem.terrain is not None:
        zones = zones_in_band(zones, problem.terrain) + fleet_terrain_zones(
            problem.terrain, used_models.values()
        )
    networks = build_networks(
        zones, used_models.values(), sites, pad_sites, set(port_site.values()), t0, horizon_end
    )
    if problem.terrain is not None:
        try:
            for net in networks.values():
                add_terrain(net, problem.terrain, sites.points)
        except TerrainError as exc:
            raise ProblemError(f"terrain: {exc}") from exc
    if problem.wind is not None:  # the worst wind of the horizon on every arc
        for net in networks.values():
            winds = forecast_winds(problem.wind, net.model, t0, horizon_end)
            net.wind = arc_factors(len(sites), net.length_m, net.path, winds, net.model.cruise_speed_mps)
    prep = Prepared(
        problem=problem,
        t0=t0,
        horizon_end=horizon_end,
        horizon_s=(horizon_end - t0).total_seconds(),
        sites=sites,
        port_site=port_site,
        pickup_site=pickup_site,
        dropoff_site=dropoff_site,
        starts=starts,
        networks=networks,
        requests=requests,
    )
    for start in starts:
        if start.port is None and math.isinf(prep.nearest_port(start.model.name, start.site)[1]):
            raise ProblemError(
                f"drone {start.drone.id!r} in flight at {sites.points[start.site]} cannot reach any port "
                "(inside or enclosed by a zone at its cruise altitude): route it out before planning"
            )
    return prep
