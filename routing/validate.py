"""The independent plan validator: checks a :class:`Plan` against every rule of the problem.

It shares nothing with the planner's solving path: no OR-Tools, no matrices, no planned lengths.
Leg lengths are recomputed from the waypoints on the WGS84 ellipsoid (``pyproj.Geod``), energies
with the exact payload-dependent formula of ``fleet.description``, and geometry against the true
zone footprints in a local metric frame with shapely.

Zones: a leg keeps at least ``margin_m`` from the footprint of every zone active during its flight
at its altitude, less ``ZONE_TOLERANCE_M``; a leg whose end pad lies inside a zone's margin band
(allowed by ``airspace.paths``) keeps at least that pad's own clearance instead. A pad in use
(from landing to take-off) lies outside the footprint of every zone active meanwhile whose floor is
at or below the cruise altitude (the drone climbs and descends through it).

Separation (:mod:`routing.validate_separation`): every trip inside its operational intent, no
intent in conflict with another (or with the active intents given), no loss of separation flying
the legs exactly, no pad or port over capacity.

Tolerances (documented, small): ``ZONE_TOLERANCE_M`` (0.5 m) on zone clearances (the airspace
approximates circles from outside, so real paths keep the full margin; the tolerance only absorbs
projection differences); times within ``TIME_TOLERANCE_S``; a stated distance agrees with the
recomputed one within ``LENGTH_TOLERANCE_M`` plus ``LENGTH_TOLERANCE_REL`` of it; stated energies
within 1e-4 relative (plus 1e-3 Wh), payloads within 1e-6; waypoints within
``POSITION_TOLERANCE_M`` of their stops.

:func:`validate_plan` returns a list of :class:`Violation` (empty: the plan is valid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import shapely
from pyproj import Geod

from airspace.frame import LocalFrame
from airspace.obstacles import footprint_in_frame
from airspace.zones import Zone
from fleet.description import DroneModel
from routing.feasibility import REASON_CODES
from routing.intents import IntentParams, OperationalIntent
from routing.problem import DROPOFF, PICKUP, PORT, START, Leg, Plan, PlanningProblem
from routing.validate_separation import check_intents, check_separation, check_trajectories
from routing.validate_terrain import check_terrain, profile_climb_m
from routing.wind_energy import forecast_winds, leg_energy_wh
from routing.zone_geometry import clearance_m, column_overlaps

ZONE_TOLERANCE_M = 0.5
TIME_TOLERANCE_S = 1.0
LENGTH_TOLERANCE_M = 0.5
LENGTH_TOLERANCE_REL = 1e-4
POSITION_TOLERANCE_M = 1.0
ALTITUDE_TOLERANCE_M = 0.5

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule. ``kind`` is a stable code; ``detail`` explains it for a human."""

    kind: str
    detail: str
    drone_id: str | None = None
    request_id: str | None = None
    trip: int | None = None  # 1-based
    seq: int | None = None  # 1-based leg within the trip

    def __str__(self) -> str:
        where = " ".join(
            f"{k}={v}"
            for k, v in (
                ("drone", self.drone_id),
                ("trip", self.trip),
                ("seq", self.seq),
                ("request", self.request_id),
            )
            if v is not None
        )
        return f"{self.kind} [{where}]: {self.detail}"


def _close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-6) -> bool:
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


def _geo_length(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    lons, lats = zip(*points, strict=True)
    return float(_GEOD.line_length(lons, lats))


def _geo_distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(_GEOD.inv(a[0], a[1], b[0], b[1])[2])


def _adder(out: list[Violation]) -> Callable[..., None]:
    """``add(kind, detail, **where)``: append a violation to ``out`` (the checks' common sink)."""

    def add(kind: str, detail: str, **where: object) -> None:
        # ``where`` only ever holds Violation's location fields (drone_id, request_id, trip, seq).
        out.append(Violation(kind, detail, **where))  # type: ignore[arg-type]  # see above

    return add


class _Checker:
    def __init__(self, problem: PlanningProblem, plan: Plan) -> None:
        self.problem = problem
        self.plan = plan
        self.out: list[Violation] = []
        self.add = _adder(self.out)
        self.requests = {r.id: r for r in problem.requests}
        self.ports = {p.id: (p.lon, p.lat) for p in problem.fleet.ports}
        self.drones = {d.id: d for d in problem.fleet.drones}
        points = list(self.ports.values())
        points += [p for r in problem.requests for p in (r.pickup, r.dropoff)]
        points += [(wp[0], wp[1]) for _, _, _, leg in plan.legs() for wp in leg.waypoints]
        self.frame = LocalFrame.for_points(points)
        self.footprints = {z.id: footprint_in_frame(z, self.frame) for z in problem.zones}
        # Each footprint's bounds grown by its radius and margin: a geometry whose bounds miss
        # them keeps more than the margin from the zone, so its exact clearance is not needed.
        self.reach = {
            z.id: _grown(self.footprints[z.id].geometry.bounds, self.footprints[z.id].radius_m + z.margin_m)
            for z in problem.zones
        }
        self.onboard_at_start = {rid: s.drone_id for s in problem.drone_states for rid in s.onboard}
        # Zones in force at every time need no test of each leg's times (most of a city's zones).
        self.always = {z.id for z in problem.zones if z.valid_from is None and z.valid_to is None}

    # -- accounting ---------------------------------------------------------------------------
    def accounting(self) -> None:
        served = list(self.plan.served)
        unserved = [u.request_id for u in self.plan.unserved]
        for rid in {r for r in served if served.count(r) > 1} | {
            r for r in unserved if unserved.count(r) > 1
        }:
            self.add("listed_twice", "request listed more than once in served/unserved", request_id=rid)
        for rid in set(served) & set(unserved):
            self.add("served_and_unserved", "request both served and unserved", request_id=rid)
        for rid in (set(served) | set(unserved)) - set(self.requests):
            self.add("unknown_request", "the plan names a request the problem does not have", request_id=rid)
        for rid in set(self.requests) - set(served) - set(unserved):
            self.add("unaccounted", "request neither served nor unserved", request_id=rid)
        for u in self.plan.unserved:
            if u.reason not in REASON_CODES:
                self.add("bad_reason", f"unknown reason code {u.reason!r}", request_id=u.request_id)
        for rid, did in self.onboard_at_start.items():
            if rid not in served:
                self.add(
                    "onboard_not_delivered", f"on board {did} at the start but not served", request_id=rid
                )
        seen_drones: set[str] = set()
        for d in self.plan.drones:
            if d.drone_id not in self.drones:
                self.add(
                    "unknown_drone", "the plan names a drone the fleet does not have", drone_id=d.drone_id
                )
            if d.drone_id in seen_drones:
                self.add("drone_twice", "the drone has two plans", drone_id=d.drone_id)
            seen_drones.add(d.drone_id)
        for rid in self.plan.late:
            if rid not in self.onboard_at_start:
                self.add(
                    "late_not_onboard", "only documents on board at the start may be late", request_id=rid
                )

    # -- helpers ------------------------------------------------------------------------------
    def location(self, kind: str, ref: str, drone_id: str) -> tuple[float, float] | None:
        if kind == PORT:
            return self.ports.get(ref)
        if kind in (PICKUP, DROPOFF):
            req = self.requests.get(ref)
            if req is None:
                return None
            return req.pickup if kind == PICKUP else req.dropoff
        if kind == START:
            state = self.problem.state_of(drone_id)
            return None if state is None or ref != drone_id else (state.lon, state.lat)
        return None

    def zones_for(self, altitude: float, start: datetime, end: datetime, column: bool) -> list[Zone]:
        return [
            z
            for z in self.problem.zones
            if (z.id in self.always or z.active_during(start, max(start, end)))
            and (column_overlaps(z, altitude) if column else z.blocks_altitude(altitude))
        ]

    def en_route_zones(self, altitude: float, start: datetime, end: datetime) -> list[Zone]:
        """Zones a leg must keep out of: those blocking its cruise altitude, or over terrain, where
        the true height moves within the area's band, every zone whose band meets that band."""
        area = self.problem.terrain
        if area is None:
            return self.zones_for(altitude, start, end, column=False)
        return [
            z
            for z in self.problem.zones
            if (z.id in self.always or z.active_during(start, max(start, end)))
            and z.floor_m <= area.ceiling_m
            and (z.ceiling_m is None or z.ceiling_m >= area.clearance_m)
        ]

    def pad_clear(
        self, lonlat: tuple[float, float], altitude: float, start: datetime, end: datetime, **where: object
    ) -> None:
        x, y = self.frame.to_xy(lonlat[0], lonlat[1])
        point = shapely.Point(float(x), float(y))
        here = (float(x), float(y), float(x), float(y))
        for z in self.zones_for(altitude, start, end, column=True):
            if _meet(self.reach[z.id], here) and clearance_m(self.footprints[z.id], point) <= 0.0:
                self.add(
                    "pad_in_zone",
                    f"pad at {lonlat} lies in zone {z.id} while in use "
                    f"{start.isoformat()}..{end.isoformat()}",
                    **where,
                )

    # -- one drone ----------------------------------------------------------------------------
    def drone(self, drone_id: str) -> None:
        plan = self.plan.drone(drone_id)
        drone = self.drones.get(drone_id)
        if plan is None or drone is None:
            return
        model = self.problem.fleet.model_of(drone)
        state = self.problem.state_of(drone_id)
        if state is None:
            start_kind, start_ref, start_at = PORT, drone.port, self.problem.at
            energy0 = model.battery_wh if drone.energy_wh is None else drone.energy_wh
        else:
            start_kind = PORT if state.port is not None else START
            start_ref = state.port if state.port is not None else drone_id
            start_at, energy0 = max(state.at, self.problem.at), state.energy_wh
        onboard: dict[str, float] = {}
        if state is not None:
            onboard = {rid: self.requests[rid].weight_kg for rid in state.onboard if rid in self.requests}
        picked_trip: dict[str, int] = {rid: 0 for rid in onboard}
        prev_kind, prev_ref, prev_time = start_kind, start_ref, start_at
        prev_service = 0.0
        prev_ready: datetime | None = None
        prev_alt = 0.0  # the pad's column reaches the higher of the legs around it
        for ti, trip in enumerate(plan.trips, 1):
            if not trip.legs:
                self.add("empty_trip", "a trip without legs", drone_id=drone_id, trip=ti)
                continue
            first = trip.legs[0]
            if ti > 1 and first.from_kind != PORT:
                self.add(
                    "trip_not_from_port", "a later trip must start at a port", drone_id=drone_id, trip=ti
                )
            if trip.legs[-1].to_kind != PORT:
                self.add("trip_not_to_port", "a trip must end at a port", drone_id=drone_id, trip=ti)
            if ti == 1:
                fresh = start_kind == PORT and first.depart >= start_at + timedelta(
                    seconds=model.turnaround_s
                )
                budget = model.usable_wh if fresh else energy0 - model.battery_wh * model.reserve_fraction
            else:
                budget = model.usable_wh
                gap = (first.depart - prev_time).total_seconds()
                if gap < model.turnaround_s - TIME_TOLERANCE_S:
                    self.add(
                        "turnaround",
                        f"departs {gap:.0f} s after landing, turnaround is {model.turnaround_s:.0f} s",
                        drone_id=drone_id,
                        trip=ti,
                    )
            trip_wh = 0.0
            for si, leg in enumerate(trip.legs, 1):
                where = {"drone_id": drone_id, "trip": ti, "seq": si}
                if (leg.from_kind, leg.from_id) != (prev_kind, prev_ref):
                    self.add(
                        "discontinuous",
                        f"leg starts at {leg.from_kind} {leg.from_id}, drone is at {prev_kind} {prev_ref}",
                        **where,
                    )
                # Dwell at the stop being left: service, ready time, and the pad's column.
                earliest = prev_time + timedelta(seconds=prev_service)
                if prev_ready is not None:
                    earliest = max(earliest, prev_ready + timedelta(seconds=prev_service))
                eta = self.plan.etas.get(prev_ref) if prev_kind == PICKUP else None
                picked_at = eta.pickup_at if eta is not None else None
                if (
                    picked_at is not None
                    and picked_at + timedelta(seconds=prev_service - TIME_TOLERANCE_S) > leg.depart
                ):
                    self.add(
                        "pickup_eta",
                        "planned pickup leaves no service time before departure",
                        request_id=prev_ref,
                        **where,
                    )
                if leg.depart < earliest - timedelta(seconds=TIME_TOLERANCE_S):
                    self.add(
                        "too_early",
                        f"departs {leg.depart.isoformat()} before {earliest.isoformat()}",
                        **where,
                    )
                origin = self.location(leg.from_kind, leg.from_id, drone_id)
                alt = leg.waypoints[0][2] if leg.waypoints else model.cruise_altitude_m
                if origin is not None and leg.from_kind != START:
                    self.pad_clear(
                        origin, max(alt, prev_alt), min(prev_time, leg.depart), leg.depart, **where
                    )
                prev_alt = alt
                trip_wh += self.leg(leg, model, onboard, drone_id, where)
                self.stop(leg, ti, onboard, picked_trip, drone_id, where)
                prev_kind, prev_ref, prev_time = leg.to_kind, leg.to_id, leg.arrive
                prev_service = model.service_s if leg.to_kind in (PICKUP, DROPOFF) else 0.0
                prev_ready = (
                    self.requests[leg.to_id].ready_at
                    if leg.to_kind == PICKUP and leg.to_id in self.requests
                    else None
                )
            if trip_wh > budget + 1e-6:
                self.add(
                    "energy_over_budget",
                    f"trip needs {trip_wh:.2f} Wh, may use {budget:.2f} Wh",
                    drone_id=drone_id,
                    trip=ti,
                )
            if onboard:
                self.add(
                    "undelivered_at_port",
                    f"lands at a port with {sorted(onboard)} on board",
                    drone_id=drone_id,
                    trip=ti,
                )
                onboard.clear()
            end = self.location(PORT, prev_ref, drone_id)
            if end is not None:
                self.pad_clear(end, prev_alt, prev_time, prev_time, drone_id=drone_id, trip=ti)
            prev_alt = 0.0
        if state is not None and state.until is not None and plan.trips:
            last = len(plan.trips)
            if (prev_kind, prev_ref) != (PORT, state.port):
                self.add(
                    "window_end",
                    f"ends at {prev_kind} {prev_ref}, must be back at port {state.port}",
                    drone_id=drone_id,
                    trip=last,
                )
            elif prev_time > state.until + timedelta(seconds=TIME_TOLERANCE_S):
                self.add(
                    "window_end",
                    f"back at {prev_time.isoformat()}, must be by {state.until.isoformat()}",
                    drone_id=drone_id,
                    trip=last,
                )

    def leg(
        self, leg: Leg, model: DroneModel, onboard: dict[str, float], drone_id: str, where: dict[str, object]
    ) -> float:
        pts = [(w[0], w[1]) for w in leg.waypoints]
        if len(pts) < 2:
            self.add("bad_waypoints", "a leg needs at least two waypoints", **where)
            return 0.0
        a = self.location(leg.from_kind, leg.from_id, drone_id)
        b = self.location(leg.to_kind, leg.to_id, drone_id)
        if a is None or b is None:
            self.add(
                "unknown_stop",
                f"unknown stop {leg.from_kind} {leg.from_id} -> {leg.to_kind} {leg.to_id}",
                **where,
            )
        else:
            for end, point, name in ((a, pts[0], "first"), (b, pts[-1], "last")):
                off = _geo_distance(end, point)
                if off > POSITION_TOLERANCE_M:
                    self.add("waypoint_off_stop", f"{name} waypoint is {off:.1f} m from its stop", **where)
        altitude = leg.waypoints[0][2]
        if any(abs(w[2] - altitude) > ALTITUDE_TOLERANCE_M for w in leg.waypoints) or all(
            abs(altitude - layer) > ALTITUDE_TOLERANCE_M for layer in model.layers
        ):
            self.add("altitude", f"waypoints not at one cruise layer {list(model.layers)} m", **where)
        length = _geo_length(pts)
        if abs(length - leg.distance_m) > LENGTH_TOLERANCE_M + LENGTH_TOLERANCE_REL * length:
            self.add(
                "distance_mismatch", f"states {leg.distance_m:.1f} m, waypoints give {length:.1f} m", **where
            )
        flown = (leg.arrive - leg.depart).total_seconds()
        if abs(flown - length / model.cruise_speed_mps) > TIME_TOLERANCE_S:
            self.add(
                "speed",
                f"{length:.0f} m in {flown:.0f} s; at cruise speed {length / model.cruise_speed_mps:.0f} s",
                **where,
            )
        payload = sum(onboard.values())
        if not _close(payload, leg.payload_kg):
            self.add("payload_mismatch", f"states {leg.payload_kg} kg, carries {payload} kg", **where)
        if payload > model.max_payload_kg + 1e-9:
            self.add("over_capacity", f"carries {payload} kg, max {model.max_payload_kg} kg", **where)
        climb = model.climb_energy_wh(profile_climb_m(leg.profile))
        energy = model.leg_energy_wh(length, payload) + climb
        if self.problem.wind is not None:  # the forecast wind of the leg's hours (routing.wind_energy)
            calm = energy
            winds = forecast_winds(self.problem.wind, model, leg.depart, leg.arrive)
            energy = leg_energy_wh(model, length, payload, pts, winds) + climb
            if not _close(energy, leg.energy_wh, rel=1e-4, abs_=1e-3):
                self.add(
                    "energy_wind",
                    f"states {leg.energy_wh:.3f} Wh, in the forecast wind {energy:.3f} Wh "
                    f"(calm air {calm:.3f} Wh)",
                    **where,
                )
        elif not _close(energy, leg.energy_wh, rel=1e-4, abs_=1e-3):
            self.add("energy_mismatch", f"states {leg.energy_wh:.3f} Wh, exact {energy:.3f} Wh", **where)
        xy = self.frame.points_to_xy(pts)
        line = shapely.LineString(xy) if len(set(map(tuple, xy.tolist()))) > 1 else shapely.Point(xy[0])
        ends = [shapely.Point(xy[0]), shapely.Point(xy[-1])]
        bounds = (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))
        for z in self.en_route_zones(altitude, leg.depart, leg.arrive):
            if not _meet(self.reach[z.id], bounds):
                continue
            fp = self.footprints[z.id]
            c = clearance_m(fp, line)
            # A pad inside the margin band may be used; its leg keeps at least the pad's clearance.
            required = min([z.margin_m] + [clearance_m(fp, e) for e in ends])
            if c < required - ZONE_TOLERANCE_M:
                self.add(
                    "leg_in_zone",
                    f"path comes within {c:.1f} m of zone {z.id} (margin {z.margin_m} m) while active",
                    **where,
                )
        return energy

    def stop(
        self,
        leg: Leg,
        trip: int,
        onboard: dict[str, float],
        picked_trip: dict[str, int],
        drone_id: str,
        where: dict[str, object],
    ) -> None:
        rid = leg.to_id
        if leg.to_kind not in (PICKUP, DROPOFF):
            return
        req = self.requests.get(rid)
        if req is None:
            return
        if rid not in self.plan.served:
            self.add(
                "unserved_flown",
                f"the plan flies {leg.to_kind} of a request it does not serve",
                request_id=rid,
                **where,
            )
        eta = self.plan.etas.get(rid)
        if leg.to_kind == PICKUP:
            if rid in picked_trip or rid in self.picked_anywhere:
                self.add("served_twice", "picked up more than once", request_id=rid, **where)
            self.picked_anywhere.add(rid)
            picked_trip[rid] = trip
            onboard[rid] = req.weight_kg
            if (
                eta is not None
                and eta.pickup_at is not None
                and eta.pickup_at < max(req.ready_at, leg.arrive) - timedelta(seconds=TIME_TOLERANCE_S)
            ):
                self.add("pickup_eta", "planned pickup before arrival or ready_at", request_id=rid, **where)
            return
        if rid in self.delivered:
            self.add("served_twice", "delivered more than once", request_id=rid, **where)
        self.delivered.add(rid)
        if rid not in picked_trip:
            self.add(
                "delivery_before_pickup",
                "delivered by a drone that has not picked it up",
                request_id=rid,
                **where,
            )
        elif picked_trip[rid] not in (trip, 0) or (picked_trip[rid] == 0 and trip != 1):
            self.add("split_trip", "picked up and delivered on different trips", request_id=rid, **where)
        onboard.pop(rid, None)
        picked_trip.pop(rid, None)
        if leg.arrive > req.deadline + timedelta(seconds=TIME_TOLERANCE_S) and rid not in self.plan.late:
            self.add(
                "deadline",
                f"arrives {leg.arrive.isoformat()} after {req.deadline.isoformat()}",
                request_id=rid,
                **where,
            )
        if eta is not None and abs((eta.delivered_at - leg.arrive).total_seconds()) > TIME_TOLERANCE_S:
            self.add("delivery_eta", "planned delivery differs from the arrival", request_id=rid, **where)

    def run(self) -> list[Violation]:
        self.picked_anywhere: set[str] = set()
        self.delivered: set[str] = set()
        self.accounting()
        for d in self.plan.drones:
            self.drone(d.drone_id)
        for rid in self.plan.served:
            if rid in self.requests and rid not in self.delivered:
                self.add("served_not_flown", "listed as served but never delivered", request_id=rid)
            elif rid in self.requests and rid not in self.plan.etas:
                self.add("missing_eta", "served without an ETA", request_id=rid)
        return self.out


Bounds = tuple[float, float, float, float]


def _grown(b: Bounds, by: float) -> Bounds:
    return (b[0] - by, b[1] - by, b[2] + by, b[3] + by)


def _meet(a: Bounds, b: Bounds) -> bool:
    """Whether two (x0, y0, x1, y1) boxes share a point."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


Part = Literal["all", "intents", "others"]
"""Which rules :func:`validate_plan` checks."""


def validate_plan(
    problem: PlanningProblem,
    plan: Plan,
    *,
    active_intents: Sequence[OperationalIntent] = (),
    separation: IntentParams | None = IntentParams(),  # noqa: B008 (frozen)
    part: Part = "all",
) -> list[Violation]:
    """Every rule the plan breaks (empty list: the plan is valid). See the module docstring.

    ``separation``: the minima and intent conventions of :mod:`routing.validate_separation`
    (``None``: separation is not checked, for plans made without deconfliction).
    ``active_intents``: intents of flights already flying that no trip may conflict with.
    ``part``: ``"intents"`` checks only the rules on operational intents (one per trip,
    containing it, none in conflict: most of a large plan's check), ``"others"`` every other
    rule (the two together are ``"all"``: a large plan's check split over two processes).
    """
    if part == "intents":
        found: list[Violation] = []
        if separation is not None:
            check_intents(problem, plan, active_intents, separation, _adder(found))
        return found
    checker = _Checker(problem, plan)
    out = checker.run()
    if problem.terrain is not None:
        wind = problem.wind
        flight_wh = None
        if wind is not None:  # the flight's energy in the forecast wind (routing.wind_energy)

            def flight_wh(leg: Leg, model: DroneModel) -> float:
                winds = forecast_winds(wind, model, leg.depart, leg.arrive)
                lonlats = [(w[0], w[1]) for w in leg.waypoints]
                return leg_energy_wh(model, leg.distance_m, leg.payload_kg, lonlats, winds)

        check_terrain(plan, problem.terrain, problem.fleet, checker.add, flight_wh)
    if separation is not None and part == "others":
        check_trajectories(problem, plan, separation, checker.add)
    elif separation is not None:
        check_separation(problem, plan, active_intents, separation, checker.add)
    return out
