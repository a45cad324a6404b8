"""The fleet picture: the one place that answers "what does the fleet look like now".

It holds the fleet description, the dispatcher's view of each drone (:class:`DroneView`), the
missions in progress (:class:`ActiveMission`), the zones in force and the airspace built from them,
and reads the link's registry for each drone's latest telemetry. From these it derives, in one
definition each, which drones planning counts on (:meth:`FleetPicture.usable_fleet`), the fleet
intake and quotes judge against (:meth:`FleetPicture.planning_fleet`), and when, where and with
how much battery each drone is next free (:meth:`FleetPicture.planning_states`): the planning
round, intake, quotes and ``/fleet`` all ask it, so they never count a drone differently.

It does no I/O and imports nothing of the dispatcher: the collaborators around it (commander,
events, steering, planning, recovery) change it, front ends only read it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import msgspec

from airspace.paths import Airspace
from airspace.terrain import AreaTerrain
from airspace.zones import Zone
from dispatch.service.drone_service import FAULT_STATES, GROUND_STATES, serviceable
from dispatch.service.state import ActiveMission, DroneView
from fleet.clock import Clock
from fleet.description import Drone, DroneModel, Fleet
from fleet.messages import Telemetry
from fleet.registry import FleetRegistry
from routing.controlled import split_zones
from routing.intents import OperationalIntent
from routing.problem import DroneState
from routing.terrain_legs import fleet_terrain_zones, zones_in_band


class FleetPicture:
    """Drones, their latest state, missions, zones in force and the airspace (in memory)."""

    def __init__(self, registry: FleetRegistry, clock: Clock) -> None:
        self.registry = registry
        self.clock = clock
        self.fleet: Fleet | None = None
        self.drones: dict[str, DroneView] = {}
        self.missions: dict[str, ActiveMission] = {}
        # The zones the path finder avoids (every ``no_fly`` zone, and the ``controlled`` ones
        # unless approval mode routes through them: routing.controlled.split_zones).
        self.zones: list[Zone] = []
        self.controlled: list[Zone] = []  # flown through with the authority's approval
        self.all_zones: list[Zone] = []  # every zone in force, whatever its kind
        self.route_through_controlled = False
        self.zone_stamp: dict[str, datetime] = {}  # zone id -> its stored version (updated_at)
        self.airspace: Airspace = Airspace([])
        # A drone's own intent while it flies without a mission (returning home, holding).
        self.own_intents: dict[str, OperationalIntent] = {}
        # Around a nonconforming drone's last position (dispatch.service.conformance), by drone.
        self.contingent_intents: dict[str, OperationalIntent] = {}
        # The area's terrain (``--terrain``): cruise altitudes are true heights over it, drones fly
        # missions in the ``terrain`` altitude frame. None: flat ground at the pads' height.
        self.terrain: AreaTerrain | None = None
        self._terrain_zones: tuple[Zone, ...] = ()
        self._drone_by_id: dict[str, Drone] = {}

    # --- the fleet and the drones ----------------------------------------------------------------

    def load_fleet(self, fleet: Fleet) -> None:
        """Take the fleet description; every drone starts at its home port, free now."""
        self.fleet = fleet
        # By id: a scan of the fleet per lookup made every tick O(missions x drones).
        self._drone_by_id = {d.id: d for d in fleet.drones}
        now = self.clock.now()
        for d in fleet.drones:
            self.drones[d.id] = DroneView(d.id, d.port, now)

    def true_height(self, tele: Telemetry) -> Telemetry:
        """The sample with its altitude as a true height (above the ground below) when it is
        above sea level and the area has a terrain model; intents are drawn in true heights."""
        if tele.altitude_frame != "amsl" or self.terrain is None:
            return tele
        ground = self.terrain.terrain.height_at(tele.lon, tele.lat)
        return msgspec.structs.replace(tele, alt_m=tele.alt_m - ground, altitude_frame="terrain")

    def model(self, drone_id: str) -> DroneModel:
        """The drone's model."""
        assert self.fleet is not None
        return self.fleet.model_of(self._drone_by_id[drone_id])

    def energy(self, drone_id: str) -> float:
        """The drone's battery (Wh): its last telemetry, else the fleet description, else full."""
        assert self.fleet is not None
        return energy_wh(self.fleet, self._drone_by_id[drone_id], self.registry)

    def planning_energy(self, drone_id: str, now: datetime) -> float:
        """The battery (Wh) a plan counts for an idle drone: full while its battery swap is under
        way, else :meth:`energy`. The planning round, its commit check and quotes all use this."""
        view = self.drones[drone_id]
        return self.model(drone_id).battery_wh if view.available_at > now else self.energy(drone_id)

    def telemetry(self, drone_id: str) -> Telemetry | None:
        """The drone's last telemetry, if any."""
        status = self.registry.get(drone_id)
        return None if status is None else status.telemetry

    def servicing(self, drone_id: str) -> bool:
        """Whether the drone's latest sample says it services a pad (it cannot hold there)."""
        tele = self.telemetry(drone_id)
        return tele is not None and tele.state == "servicing"

    def holding(self, drone_id: str) -> bool:
        """Whether the drone's last telemetry says it hovers in place."""
        tele = self.telemetry(drone_id)
        return tele is not None and tele.state == "holding"

    def carried_kg(self, drone_id: str) -> float:
        """What the drone's last telemetry says it carries (kg; 0 without one)."""
        tele = self.telemetry(drone_id)
        return tele.payload_kg if tele is not None else 0.0

    def spare_wh(self, drone_id: str) -> float:
        """The drone's battery above its model's reserve (Wh; :meth:`energy`)."""
        model = self.model(drone_id)
        return self.energy(drone_id) - model.battery_wh * model.reserve_fraction

    def position(self, drone_id: str) -> tuple[float, float] | None:
        """(lon, lat) of the drone's last telemetry, if any."""
        status = self.registry.get(drone_id)
        if status is None or status.telemetry is None:
            return None
        return (status.telemetry.lon, status.telemetry.lat)

    def usable_fleet(self) -> Fleet | None:
        """The drones planning counts on (see :func:`usable_fleet`); None if none is."""
        assert self.fleet is not None
        return usable_fleet(self.fleet, self.drones, self.registry, self.clock.now())

    def planning_fleet(self) -> Fleet:
        """The fleet intake and quotes judge against: the usable drones, all drones if none is."""
        assert self.fleet is not None, "the dispatcher is not started"
        return self.usable_fleet() or self.fleet

    def planning_states(self, fleet: Fleet) -> list[DroneState]:
        """When and where each drone of ``fleet`` is next free, as a planning round counts it: a
        drone on a mission at the end of it (plus its battery swap) at the mission's last port; an
        idle one at the port it stands at once its swap is over, with :meth:`planning_energy`."""
        now = self.clock.now()
        out = []
        for d in fleet.drones:
            view = self.drones.get(d.id)
            if view is None:
                continue
            model = fleet.model_of(d)
            m = self.missions.get(view.mission) if view.mission else None
            if m is not None:
                end = max(m.eta_end or now, now) + timedelta(seconds=model.turnaround_s)
                out.append(DroneState(d.id, 0.0, 0.0, end, model.battery_wh, port=m.spec.end_port))
                continue
            energy = self.planning_energy(d.id, now)
            port = view.port or d.port
            out.append(DroneState(d.id, 0.0, 0.0, max(now, view.available_at), energy, port=port))
        return out

    # --- missions --------------------------------------------------------------------------------

    def add_mission(self, m: ActiveMission) -> None:
        """A mission recorded in the store becomes its drone's current one."""
        self.missions[m.mission_id] = m
        self.drones[m.drone_id].mission = m.mission_id
        self.own_intents.pop(m.drone_id, None)

    def active_intents(self) -> list[OperationalIntent]:
        """The operational intents in force (planning must keep clear of them): the missions in
        progress, the drones returning or holding without one, and the contingent intents around
        nonconforming drones (each until it ends)."""
        return [intent for _, intent in self.intents_in_force()]

    def intents_in_force(self) -> list[tuple[str | None, OperationalIntent]]:
        """:meth:`active_intents`, each with the id of the mission its drone flies (None: a drone
        returning or holding without one)."""
        now = self.clock.now().timestamp()
        for kept in (self.own_intents, self.contingent_intents):
            for drone_id in [d for d, i in kept.items() if i.end < now]:
                del kept[drone_id]
        out: list[tuple[str | None, OperationalIntent]] = [
            (m.mission_id, m.spec.intent) for m in self.missions.values() if m.spec.intent is not None
        ]
        for kept in (self.own_intents, self.contingent_intents):
            out += [(self._mission_id(d), i) for d, i in kept.items()]
        return out

    def _mission_id(self, drone_id: str) -> str | None:
        view = self.drones.get(drone_id)
        return view.mission if view is not None else None

    def set_own_intent(self, drone_id: str, intent: OperationalIntent) -> None:
        """The drone flies (or hovers) inside ``intent`` without a mission."""
        self.own_intents[drone_id] = intent

    def forget(self, m: ActiveMission) -> None:
        """The mission is over (completed or aborted): its drone has none."""
        self.missions.pop(m.mission_id, None)
        view = self.drones.get(m.drone_id)
        if view is not None and view.mission == m.mission_id:
            view.mission = None

    def mission_of(self, drone_id: str, mission_id: str | None) -> ActiveMission | None:
        """The live mission ``mission_id`` if ``drone_id`` flies it."""
        m = self.missions.get(mission_id) if mission_id else None
        return m if m is not None and m.drone_id == drone_id else None

    def carrying(self, request_id: str) -> ActiveMission | None:
        """The live mission with a stop for the request (not one it was taken off)."""
        return next(
            (
                m
                for m in self.missions.values()
                if request_id not in m.cancelled
                and not m.aborting
                and any(s.request_id == request_id for s in m.stops)
            ),
            None,
        )

    # --- zones -----------------------------------------------------------------------------------

    def zones_changed(self, stamps: dict[str, datetime]) -> list[str]:
        """The ids of ``stamps`` (zone id -> stored version) new or changed since the last
        :meth:`set_zones`."""
        return [z for z, t in stamps.items() if self.zone_stamp.get(z) != t]

    def set_zones(self, zones: list[Zone], stamps: dict[str, datetime]) -> None:
        """Take the zones in force (with their stored versions); the airspace is rebuilt only when
        one is new, changed or gone."""
        changed = self.zones_changed(stamps)
        removed = set(self.zone_stamp) - set(stamps)
        self.all_zones, self.zone_stamp = zones, stamps
        self.zones, self.controlled = split_zones(zones, route_through=self.route_through_controlled)
        if changed or removed or not self.airspace.zones:
            self.airspace = Airspace(self._flown_zones())

    def use_terrain(self, area: AreaTerrain | None) -> None:
        """Fly over ``area``'s terrain from now on (None: flat ground). The airspace that
        re-routes and returns are found in then avoids the terrain the fleet cannot clear and
        every zone whose band meets the true-height band (:mod:`routing.terrain_legs`)."""
        self.terrain = area
        models = self.fleet.models.values() if self.fleet is not None else ()
        self._terrain_zones = fleet_terrain_zones(area, models) if area is not None else ()
        self.airspace = Airspace(self._flown_zones())

    def _flown_zones(self) -> list[Zone]:
        if self.terrain is None:
            return list(self.zones)
        return [*zones_in_band(self.zones, self.terrain), *self._terrain_zones]

    def route_controlled(self, through: bool) -> None:
        """Whether planning may route through controlled zones (approval mode on) or avoids them
        like no-fly zones (off); the zones in force are split again."""
        if through == self.route_through_controlled:
            return
        self.route_through_controlled = through
        self.zones, self.controlled = split_zones(self.all_zones, route_through=through)
        self.airspace = Airspace(self._flown_zones())


def usable_fleet(
    fleet: Fleet, drones: dict[str, DroneView], registry: FleetRegistry, now: datetime
) -> Fleet | None:
    """The drones planning and intake count on: serviceable, online, not reporting a fault state
    (an operator may put back a drone that still does: it waits for it to clear), and on the ground
    unless on one of our missions (one in the air with none is not where its view says: it is
    being stopped, :mod:`dispatch.service.unknown_missions`). None if none is."""
    ids = {
        d
        for d, v in drones.items()
        if serviceable(v)
        and registry.is_online(d, now)
        and (state := _reported_state(registry, d)) not in FAULT_STATES
        and (v.mission is not None or state in (None, *GROUND_STATES))
    }
    chosen = tuple(d for d in fleet.drones if d.id in ids)
    return dataclasses.replace(fleet, drones=chosen) if chosen else None


def _reported_state(registry: FleetRegistry, drone_id: str) -> str | None:
    status = registry.get(drone_id)
    return status.telemetry.state if status is not None and status.telemetry is not None else None


def energy_wh(fleet: Fleet, drone: Drone, registry: FleetRegistry) -> float:
    """The drone's battery (Wh): its last telemetry, else the fleet description, else full."""
    status = registry.get(drone.id)
    if status is not None and status.telemetry is not None:
        return float(status.telemetry.energy_wh)
    return drone.energy_wh if drone.energy_wh is not None else fleet.model_of(drone).battery_wh
