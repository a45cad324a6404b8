"""``PLAN.geojson``: a :class:`Plan` written as GeoJSON, and read back (to validate a written plan).

A ``FeatureCollection`` with one ``LineString`` feature per leg, coordinates ``[lon, lat, alt_m]``,
properties ``drone_id``, ``trip`` (1-based per drone), ``seq`` (1-based within the trip),
``from_kind``/``to_kind`` (``port`` | ``pickup`` | ``dropoff`` | ``start``: the drone's position
in flight when re-planning), ``from_id``/``to_id`` (port id, request id, or drone id for
``start``), ``depart``/``arrive`` (ISO 8601 UTC), ``distance_m``, ``energy_wh``, ``payload_kg``;
and a top-level member (below).

Over terrain (a plan made with a terrain model) a leg's coordinates are its flown profile,
``[lon, lat, altitude above mean sea level]``, and its properties add ``altitude_reference``
(``"AMSL"``), ``cruise_altitude_m`` (the cruise layer, a true height), ``path`` (the horizontal
waypoints ``[[lon, lat], ...]`` of the safe path) and ``min_true_height_m`` /
``max_true_height_m`` (the least and most height above the ground along the leg). Without terrain
the coordinates are the path at the cruise altitude and none of these appear. The top-level
member::

    "plan": {"at": ISO, "served": [ids], "unserved": [{"id", "reason", "detail"}],
             "distance_m": total, "energy_wh": total,
             "etas": {id: {"drone_id", "pickup_at" (null if on board already), "delivered_at"}},
             "late": [ids], "solver": "engine"}

Deconflicted plans also hold one ``Polygon`` feature per volume of each trip's operational
intent (the outline in lon/lat, ready for any map tool), with properties ``drone_id``, ``trip``,
``volume`` (0-based within the intent), ``state`` (F3548: ``Accepted``), ``altitude_lower_m`` /
``altitude_upper_m``, ``time_start`` / ``time_end`` (ISO 8601 UTC), ``radius_m`` and ``segment``
(the two lon/lat ends of the buffered segment; equal for a column over a pad or port), and
``resource`` (``port:ID`` for a take-off or landing column, else null).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely

from airspace.frame import LocalFrame
from routing.intents import OperationalIntent, Volume
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
INTENT_PROPERTIES: tuple[str, ...] = (
    "drone_id",
    "trip",
    "volume",
    "state",
    "altitude_lower_m",
    "altitude_upper_m",
    "time_start",
    "time_end",
    "radius_m",
    "segment",
    "resource",
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
        terrain: dict[str, Any] = {}
        if leg.profile:
            lo, hi = leg.true_height_m or (math.nan, math.nan)
            terrain = {
                "altitude_reference": "AMSL",
                "cruise_altitude_m": leg.waypoints[0][2],
                "path": [[w[0], w[1]] for w in leg.waypoints],
                "min_true_height_m": lo,
                "max_true_height_m": hi,
            }
        coords = leg.profile or leg.waypoints
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(w) for w in coords]},
                "properties": terrain
                | {
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
    features += intent_features(plan.intents)
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


def intent_features(intents: Iterable[OperationalIntent]) -> list[dict[str, Any]]:
    """One GeoJSON ``Polygon`` feature per volume of each intent (the properties in the module
    docstring); the API's listing of the active intents draws them the same way."""
    out = []
    for intent in intents:
        frame = LocalFrame.centred_on(*intent.frame_centre)
        for k, v in enumerate(intent.volumes):
            ring = frame.points_to_lonlat(shapely.get_coordinates(v.outline().exterior))
            ends = frame.points_to_lonlat(np.asarray([(v.ax, v.ay), (v.bx, v.by)]))
            out.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
                    "properties": {
                        "drone_id": intent.drone_id,
                        "trip": intent.trip,
                        "volume": k,
                        "state": intent.state,
                        "altitude_lower_m": v.lo_m,
                        "altitude_upper_m": v.hi_m,
                        "time_start": _utc(datetime.fromtimestamp(v.t0, UTC)),
                        "time_end": _utc(datetime.fromtimestamp(v.t1, UTC)),
                        "radius_m": v.radius_m,
                        "segment": [list(p) for p in ends],
                        "resource": v.resource,
                    },
                }
            )
    return out


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

    def volume(self, props: dict[str, Any], where: str, frame: LocalFrame) -> tuple[str, int, int, Volume]:
        unknown = sorted(set(props) - set(INTENT_PROPERTIES))
        missing = [f for f in INTENT_PROPERTIES if f not in props]
        if unknown or missing:
            raise self.fail(where, f"intent volume: unknown properties {unknown}, missing {missing}")
        seg = props["segment"]
        if (
            not isinstance(seg, list)
            or len(seg) != 2
            or not all(
                isinstance(p, list)
                and len(p) == 2
                and all(
                    not isinstance(x, bool) and isinstance(x, int | float) and math.isfinite(x) for x in p
                )
                for p in seg
            )
        ):
            raise self.fail(where, f"field 'segment' must be [[lon, lat], [lon, lat]], got {seg!r}")
        resource = props["resource"]
        if resource is not None and not isinstance(resource, str):
            raise self.fail(where, "field 'resource' must be a string or null")
        if props["state"] != "Accepted":
            raise self.fail(where, f"field 'state' must be 'Accepted', got {props['state']!r}")
        (ax, ay), (bx, by) = frame.points_to_xy([tuple(seg[0]), tuple(seg[1])]).tolist()
        volume = Volume(
            ax,
            ay,
            bx,
            by,
            self.number(props, where, "radius_m"),
            self.number(props, where, "altitude_lower_m"),
            self.number(props, where, "altitude_upper_m"),
            self.time(props["time_start"], where, "time_start").timestamp(),
            self.time(props["time_end"], where, "time_end").timestamp(),
            resource,
        )
        k = props["volume"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise self.fail(where, f"field 'volume' must be an integer >= 0, got {k!r}")
        return self.string(props, where, "drone_id"), self.count(props, where, "trip"), k, volume

    def over_terrain(
        self, props: dict[str, Any], where: str
    ) -> tuple[tuple[tuple[float, float, float], ...], tuple[float, float]]:
        """A terrain leg's horizontal waypoints at its cruise layer, and its true-height range."""
        if props["altitude_reference"] != "AMSL":
            raise self.fail(where, f"altitude_reference must be 'AMSL', got {props['altitude_reference']!r}")
        cruise = self.number(props, where, "cruise_altitude_m")
        path = props.get("path")
        if not isinstance(path, list) or len(path) < 2:
            raise self.fail(where, "path must list at least two [lon, lat] positions")
        out = []
        for k, p in enumerate(path):
            if (
                not isinstance(p, list)
                or len(p) != 2
                or any(
                    isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) for x in p
                )
            ):
                raise self.fail(where, f"path[{k}] must be [lon, lat], got {p!r}")
            out.append((float(p[0]), float(p[1]), cruise))
        lo = self.number(props, where, "min_true_height_m")
        hi = self.number(props, where, "max_true_height_m")
        return tuple(out), (lo, hi)

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
        waypoints = tuple(points)
        profile: tuple[tuple[float, float, float], ...] = ()
        true_height: tuple[float, float] | None = None
        if "altitude_reference" in props:
            waypoints, true_height = self.over_terrain(props, where)
            profile = tuple(points)
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
            waypoints=waypoints,
            profile=profile,
            true_height_m=true_height,
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
        frame: LocalFrame | None = None
        volumes: dict[tuple[str, int], dict[int, Volume]] = {}
        for i, feature in enumerate(features):
            where = f"features[{i}]"
            props = feature.get("properties") if isinstance(feature, dict) else None
            if isinstance(props, dict) and "volume" in props:
                if frame is None:
                    frame = LocalFrame.for_points(
                        [tuple(p[:2]) for f in features if isinstance(f, dict) for p in _first_ring(f)]
                        or [(0.0, 0.0)]
                    )
                did, trip_no, k, vol = self.volume(props, where, frame)
                slot_v = volumes.setdefault((did, trip_no), {})
                if k in slot_v:
                    raise self.fail(where, f"drone {did!r} trip {trip_no} has two intent volumes {k}")
                slot_v[k] = vol
                continue
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
        intents = tuple(
            OperationalIntent(did, t, (frame.lon0, frame.lat0), tuple(vs[k] for k in sorted(vs)))
            for (did, t), vs in sorted(volumes.items())
            if frame is not None
        )
        return Plan(
            at=self.time(meta.get("at"), "plan", "at"),
            drones=tuple(drones),
            served=tuple(served),
            unserved=tuple(unserved),
            etas=etas,
            late=tuple(late),
            solver=solver if isinstance(solver, str) else "",
            intents=intents,
        )


def _first_ring(feature: dict[str, Any]) -> list[Any]:
    """The positions of a feature's first ring or line (to centre the intents' frame), if well formed."""
    geom = feature.get("geometry")
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if (
        isinstance(coords, list)
        and coords
        and isinstance(coords[0], list)
        and coords[0]
        and isinstance(coords[0][0], list)
    ):
        coords = coords[0]
    if not isinstance(coords, list):
        return []
    return [
        c
        for c in coords
        if isinstance(c, list)
        and len(c) >= 2
        and all(not isinstance(x, bool) and isinstance(x, int | float) and math.isfinite(x) for x in c[:2])
    ][:1]


def plan_from_geojson(data: Any, source: str = "PLAN.geojson") -> Plan:
    """Rebuild a :class:`Plan` from a decoded ``PLAN.geojson`` (raises :class:`PlanFormatError`)."""
    return _Reader(source).plan(data)
