"""The drone planning problem and its result, as pure frozen dataclasses.

A :class:`PlanningProblem` holds everything the planner needs: the zones, the fleet description
(``fleet.description.Fleet``), the requests, the planning instant and, when re-planning, the state
of the drones (in flight, partial battery, documents on board) and the previous plan (warm start).

A :class:`Plan` lists, per drone, its trips; a trip is a chain of legs from a port (or, for the
first trip of a drone in flight, from its current position: kind ``start``) through pickups and
drop-offs to a port. Every request is either served (with its planned pickup and delivery times)
or unserved with a reason code (see :mod:`routing.feasibility`).

Timing conventions (the validator checks exactly these):
- a leg is flown at the model's cruise speed and at one of its cruise layers (``DroneModel.layers``,
  chosen by deconfliction): ``arrive = depart + distance / speed``; its waypoints are lon/lat/alt
  at that altitude, the first above the origin pad, the last above the destination pad (climb and
  descent are vertical, inside ``service_s``);
- at a pickup or drop-off the drone lands, may wait, spends ``service_s`` and leaves: the next leg
  departs at or after ``arrive + service_s``, and for a pickup at or after ``ready_at + service_s``;
  the planned pickup time is the start of that service (``depart - service_s``);
- the delivery time is the arrival at the drop-off; it must not be after the deadline;
- between two trips the drone stays at the port for at least ``turnaround_s`` (battery swap);
- battery: every trip after the first starts with a full battery; the first starts with the
  drone's current energy, unless it stands at a port and departs at least ``turnaround_s`` after
  it is available, in which case its battery is swapped first (the dispatcher swaps whenever a
  drone waits that long at a port). A trip may use its energy down to the reserve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from airspace.terrain import AreaTerrain
from airspace.weather import Forecast
from airspace.zones import Zone
from fleet.description import Fleet
from routing.requests import Request

if TYPE_CHECKING:  # routing.intents builds on this module's trips
    from routing.intents import OperationalIntent

# Kinds of leg end points.
PORT = "port"
PICKUP = "pickup"
DROPOFF = "dropoff"
START = "start"  # the current position of a drone in flight (first leg of a re-plan only)
STOP_KINDS: tuple[str, ...] = (PORT, PICKUP, DROPOFF, START)


@dataclass(frozen=True, slots=True)
class DroneState:
    """Where a drone is when the plan starts (re-planning); drones not listed sit at their port.

    ``port`` is the port it stands at, or ``None`` when it is in flight at cruise altitude at
    ``lon``/``lat``. ``onboard`` lists request ids already picked up: the plan must deliver them
    with this drone, on its first trip. ``until``: the drone must be back at ``port`` (where it
    stands) by then, ready there for a trip already planned (an idle window between two trips
    planned before: :mod:`routing.drone_windows`); None: free from ``at`` on.
    """

    drone_id: str
    lon: float
    lat: float
    at: datetime  # when the drone is available at this position
    energy_wh: float  # energy left in the battery now
    port: str | None = None
    onboard: tuple[str, ...] = ()
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Leg:
    """One flight between two stops, at cruise altitude."""

    from_kind: str
    from_id: str
    to_kind: str
    to_id: str
    depart: datetime
    arrive: datetime
    distance_m: float
    energy_wh: float
    payload_kg: float  # weight on board during the leg
    waypoints: tuple[tuple[float, float, float], ...]  # lon, lat, cruise altitude (true height, m)
    # Over terrain (PlanningProblem.terrain): the flown profile as lon, lat, altitude above mean
    # sea level, and the least and most true height along it; empty / None over flat ground.
    profile: tuple[tuple[float, float, float], ...] = ()
    true_height_m: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Trip:
    """Legs flown on one battery: from a port (or the in-flight start) to a port."""

    legs: tuple[Leg, ...]

    @property
    def distance_m(self) -> float:
        """Length of the trip."""
        return sum(leg.distance_m for leg in self.legs)

    @property
    def energy_wh(self) -> float:
        """Energy of the trip."""
        return sum(leg.energy_wh for leg in self.legs)


@dataclass(frozen=True, slots=True)
class DronePlan:
    """The trips of one drone, in order."""

    drone_id: str
    trips: tuple[Trip, ...]


@dataclass(frozen=True, slots=True)
class Unserved:
    """A request the plan does not serve, with its reason code and a human-readable detail."""

    request_id: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Eta:
    """Planned pickup and delivery of a served request (``pickup_at`` None: already on board)."""

    request_id: str
    drone_id: str
    pickup_at: datetime | None
    delivered_at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """The result of planning: per-drone trips, served requests with ETAs, unserved with reasons."""

    at: datetime
    drones: tuple[DronePlan, ...]
    served: tuple[str, ...]
    unserved: tuple[Unserved, ...]
    etas: dict[str, Eta] = field(default_factory=dict)
    late: tuple[str, ...] = ()  # on-board documents whose deadline was already out of reach
    solver: str = ""  # which engine produced the routes, for the record
    intents: tuple[OperationalIntent, ...] = ()  # one per trip once deconflicted (routing.deconflict)

    @property
    def distance_m(self) -> float:
        """Total flown distance."""
        return sum(t.distance_m for d in self.drones for t in d.trips)

    @property
    def energy_wh(self) -> float:
        """Total energy."""
        return sum(t.energy_wh for d in self.drones for t in d.trips)

    def drone(self, drone_id: str) -> DronePlan | None:
        """The plan of one drone, if it flies."""
        return next((d for d in self.drones if d.drone_id == drone_id), None)

    def legs(self) -> list[tuple[str, int, int, Leg]]:
        """Every leg as (drone_id, trip number from 1, seq from 1 within the trip, leg)."""
        return [
            (d.drone_id, ti, si, leg)
            for d in self.drones
            for ti, trip in enumerate(d.trips, 1)
            for si, leg in enumerate(trip.legs, 1)
        ]


@dataclass(frozen=True, slots=True)
class PlanningProblem:
    """Everything the planner needs, as pure data.

    ``at`` is the planning instant: nothing departs earlier. Drones without a ``DroneState`` stand
    at their home port from ``at`` with the battery of the fleet description (full unless
    ``energy_wh`` is given). ``previous_plan`` seeds the solver (warm start). ``terrain``, the
    area's terrain model with its true-height band, makes cruise altitudes true heights over it
    (:mod:`routing.terrain_legs`); None: flat ground at the pads' height.
    ``wind``, the forecast, puts the wind into every leg's energy (:mod:`routing.wind_energy`);
    None: calm air.
    """

    zones: tuple[Zone, ...]
    fleet: Fleet
    requests: tuple[Request, ...]
    at: datetime
    drone_states: tuple[DroneState, ...] = ()
    previous_plan: Plan | None = None
    terrain: AreaTerrain | None = None
    wind: Forecast | None = None

    def request(self, request_id: str) -> Request:
        """The request with this id (KeyError if unknown)."""
        for r in self.requests:
            if r.id == request_id:
                return r
        raise KeyError(request_id)

    def state_of(self, drone_id: str) -> DroneState | None:
        """The re-planning state of a drone, if given."""
        return next((s for s in self.drone_states if s.drone_id == drone_id), None)
