"""``PLAN.geojson``: a :class:`Plan` written as GeoJSON, and read back (to validate a written plan).

A ``FeatureCollection`` with one ``LineString`` feature per leg, coordinates ``[lon, lat, alt_m]``,
properties ``drone_id``, ``trip`` (1-based per drone), ``seq`` (1-based within the trip),
``from_kind``/``to_kind`` (``port`` | ``pickup`` | ``dropoff`` | ``start``: the drone's position
in flight when re-planning), ``from_id``/``to_id`` (port id, request id, or drone id for
``start``), ``depart``/``arrive`` (ISO 8601 UTC), ``distance_m``, ``energy_wh``, ``payload_kg``;
and a top-level member::

    "plan": {"at": ISO, "served": [ids], "unserved": [{"id", "reason", "detail"}],
             "distance_m": total, "energy_wh": total,
             "etas": {id: {"drone_id", "pickup_at" (null if on board already), "delivered_at"}},
             "late": [ids], "solver": "engine"}
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from routing.problem import STOP_KINDS, DronePlan, Eta, Leg, Plan, Trip, Unserved
from routing.requests import RequestFormatError, parse_time

LEG_PROPERTIES: tuple[str, ...] = (
    "drone_id",
    "trip",
    "seq",
    "from_kind",
    "from_id",
    "to_kind",
    "to_id",
    "depart",
    "arrive",
    "distance_m",
    "energy_wh",
    "payload_kg",
)


class PlanFormatError(ValueError):
    """A PLAN.geojson document is invalid. The message names the source, the record and the field."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source = source
        self.where = where
        self.problem = problem
        super().__init__(f"{source}: {where}: {problem}")


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def plan_to_geojson(plan: Plan) -> dict[str, Any]:
    """The ``PLAN.geojson`` document of a plan."""
    features = []
    for drone_id, trip, seq, leg in plan.legs():
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(w) for w in leg.waypoints]},
                "properties": {
                    "drone_id": drone_id,
                    "trip": trip,
                    "seq": seq,
                    "from_kind": leg.from_kind,
                    "from_id": leg.from_id,
                    "to_kind": leg.to_kind,
                    "to_id": leg.to_id,
                    "depart": _utc(leg.depart),
                    "arrive": _utc(leg.arrive),
                    "distance_m": leg.distance_m,
                    "energy_wh": leg.energy_wh,
                    "payload_kg": leg.payload_kg,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "plan": {
            "at": _utc(plan.at),
            "served": list(plan.served),
            "unserved": [{"id": u.request_id, "reason": u.reason, "detail": u.detail} for u in plan.unserved],
            "distance_m": plan.distance_m,
            "energy_wh": plan.energy_wh,
            "etas": {
                rid: {
                    "drone_id": e.drone_id,
                    "pickup_at": None if e.pickup_at is None else _utc(e.pickup_at),
                    "delivered_at": _utc(e.delivered_at),
                }
                for rid, e in plan.etas.items()
            },
            "late": list(plan.late),
            "solver": plan.solver,
        },
    }


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> PlanFormatError:
        return PlanFormatError(self.source, where, problem)

    def time(self, value: Any, where: str, field: str) -> datetime:
        try:
            return parse_time(value, self.source, where, field)
        except RequestFormatError as exc:
            raise self.fail(where, exc.problem) from None

    def string(self, rec: dict[str, Any], where: str, field: str) -> str:
        value = rec.get(field)
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"field {field!r} must be a non-empty string, got {value!r}")
        return value

    def number(self, rec: dict[str, Any], where: str, field: str) -> float:
        value = rec.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(where, f"field {field!r} must be a finite number, got {value!r}")
        return float(value)

    def count(self, rec: dict[str, Any], where: str, field: str) -> int:
        value = rec.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(where, f"field {field!r} must be an integer >= 1, got {value!r}")
        return value

    def leg(self, feature: Any, where: str) -> tuple[str, int, int, Leg]:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise self.fail(where, 'must be a GeoJSON Feature ("type": "Feature")')
        geom = feature.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") != "LineString":
            raise self.fail(where, "geometry must be a LineString")
        coords = geom.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            raise self.fail(where, "geometry.coordinates must hold at least two positions")
        points = []
        for k, c in enumerate(coords):
            if (
                not isinstance(c, list)
                or len(c) != 3
                or any(
                    isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) for x in c
                )
            ):
                raise self.fail(where, f"geometry.coordinates[{k}] must be [lon, lat, alt_m], got {c!r}")
            points.append((float(c[0]), float(c[1]), float(c[2])))
        props = feature.get("properties")
        if not isinstance(props, dict):
            raise self.fail(where, "properties must be an object")
        missing = [f for f in LEG_PROPERTIES if f not in props]
        if missing:
            raise self.fail(where, f"missing propert{'ies' if len(missing) > 1 else 'y'} {missing}")
        for f in ("from_kind", "to_kind"):
            if props[f] not in STOP_KINDS:
                raise self.fail(where, f"field {f!r} must be one of {STOP_KINDS}, got {props[f]!r}")
        leg = Leg(
            from_kind=props["from_kind"],
            from_id=self.string(props, where, "from_id"),
            to_kind=props["to_kind"],
            to_id=self.string(props, where, "to_id"),
            depart=self.time(props["depart"], where, "depart"),
            arrive=self.time(props["arrive"], where, "arrive"),
            distance_m=self.number(props, where, "distance_m"),
            energy_wh=self.number(props, where, "energy_wh"),
            payload_kg=self.number(props, where, "payload_kg"),
            waypoints=tuple(points),
        )
        drone_id = self.string(props, where, "drone_id")
        return drone_id, self.count(props, where, "trip"), self.count(props, where, "seq"), leg

    def plan(self, data: Any) -> Plan:
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise self.fail("$", "must be a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list):
            raise self.fail("$", "'features' must be a list")
        meta = data.get("plan")
        if not isinstance(meta, dict):
            raise self.fail("plan", "the top-level member 'plan' is missing or not an object")
        legs: dict[str, dict[int, dict[int, Leg]]] = {}
        for i, feature in enumerate(features):
            where = f"features[{i}]"
            drone_id, trip, seq, leg = self.leg(feature, where)
            slot = legs.setdefault(drone_id, {}).setdefault(trip, {})
            if seq in slot:
                raise self.fail(where, f"drone {drone_id!r} trip {trip} has two legs with seq {seq}")
            slot[seq] = leg
        drones = []
        for drone_id, trips in legs.items():
            if sorted(trips) != list(range(1, len(trips) + 1)):
                raise self.fail(
                    "features", f"drone {drone_id!r}: trips must be numbered 1..n, got {sorted(trips)}"
                )
            out = []
            for t in sorted(trips):
                seqs = trips[t]
                if sorted(seqs) != list(range(1, len(seqs) + 1)):
                    raise self.fail(
                        "features", f"drone {drone_id!r} trip {t}: seq must be 1..n, got {sorted(seqs)}"
                    )
                out.append(Trip(tuple(seqs[s] for s in sorted(seqs))))
            drones.append(DronePlan(drone_id, tuple(out)))
        served = meta.get("served")
        if not isinstance(served, list) or not all(isinstance(s, str) for s in served):
            raise self.fail("plan.served", "must be a list of request ids")
        raw_unserved = meta.get("unserved")
        if not isinstance(raw_unserved, list):
            raise self.fail("plan.unserved", "must be a list of {id, reason, detail}")
        unserved = []
        for k, u in enumerate(raw_unserved):
            where = f"plan.unserved[{k}]"
            if not isinstance(u, dict):
                raise self.fail(where, "must be an object {id, reason, detail}")
            detail = u.get("detail", "")
            if not isinstance(detail, str):
                raise self.fail(where, "field 'detail' must be a string")
            unserved.append(Unserved(self.string(u, where, "id"), self.string(u, where, "reason"), detail))
        raw_etas = meta.get("etas", {})
        if not isinstance(raw_etas, dict):
            raise self.fail("plan.etas", "must be an object keyed by request id")
        etas = {}
        for rid, e in raw_etas.items():
            where = f"plan.etas.{rid}"
            if not isinstance(e, dict):
                raise self.fail(where, "must be an object {drone_id, pickup_at, delivered_at}")
            pickup = e.get("pickup_at")
            etas[rid] = Eta(
                rid,
                self.string(e, where, "drone_id"),
                None if pickup is None else self.time(pickup, where, "pickup_at"),
                self.time(e.get("delivered_at"), where, "delivered_at"),
            )
        late = meta.get("late", [])
        if not isinstance(late, list) or not all(isinstance(s, str) for s in late):
            raise self.fail("plan.late", "must be a list of request ids")
        solver = meta.get("solver", "")
        return Plan(
            at=self.time(meta.get("at"), "plan", "at"),
            drones=tuple(drones),
            served=tuple(served),
            unserved=tuple(unserved),
            etas=etas,
            late=tuple(late),
            solver=solver if isinstance(solver, str) else "",
        )


def plan_from_geojson(data: Any, source: str = "PLAN.geojson") -> Plan:
    """Rebuild a :class:`Plan` from a decoded ``PLAN.geojson`` (raises :class:`PlanFormatError`)."""
    return _Reader(source).plan(data)
