"""No-fly zones: the zones GeoJSON format, its validation and its export.

A zones file is an RFC 7946 ``FeatureCollection`` in lon/lat order. Each feature is one zone:

- geometry: ``Polygon`` (holes allowed), ``MultiPolygon``, or a circle written as a ``Point``
  with the property ``radius_m``;
- properties: ``id`` (non-empty string, required, unique), ``kind`` (``"no_fly"``, the default, or
  ``"controlled"``: airspace that may be entered with the authority's approval),
  ``floor_m`` (default 0) and ``ceiling_m`` (default: none, unlimited): the zone blocks only the
  altitudes in [floor, ceiling]; ``margin_m`` (horizontal clearance a path keeps, default
  ``default_margin_m``, 25 m); ``valid_from`` / ``valid_to`` (ISO 8601 with a zone offset; absent:
  always); ``reason`` (text); ``radius_m`` (circles only).

The collection may declare the datum of its coordinates in a top-level ``datum`` member
(``"WGS-84"``, the default as in RFC 7946, ``"CGCS2000"``, ``"GCJ-02"`` or ``"BD-09"``); the zones
are converted to WGS-84 as they are read (:mod:`airspace.datum`), so every :class:`Zone` is in
WGS-84 whatever the file's datum.

Bad input raises :class:`ZoneFormatError` naming the source, the feature and the problem; nothing
is loaded. :func:`load_zones` is the only function here that touches a file.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, overload

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from airspace.datum import (
    SPACING_M,
    DatumError,
    check_datum,
    circle_to_wgs84,
    dense_positions,
    geometry_to_wgs84,
    is_wgs84,
)

NO_FLY = "no_fly"
# Airspace that may be entered with the authority's approval: the path finder and the planner avoid
# every zone they are given, so whoever plans decides whether to give them these
# (routing.controlled.split_zones; docs/reference/zones.md).
CONTROLLED = "controlled"
ZONE_KINDS: tuple[str, ...] = (NO_FLY, CONTROLLED)
DEFAULT_MARGIN_M: float = 25.0
ZONE_PROPERTIES: frozenset[str] = frozenset(
    {"id", "kind", "floor_m", "ceiling_m", "margin_m", "valid_from", "valid_to", "reason", "radius_m"}
)
# Limits checked before any geometry is built, so hostile input fails fast with a clear message
# instead of stalling the path finder (a 20,000-vertex star takes ~15 s to route around).
MAX_ZONES: int = 10_000  # per document
MAX_ZONE_VERTICES: int = 5_000  # per zone, every ring of every part
MAX_TOTAL_VERTICES: int = 100_000  # per document
MAX_RADIUS_M: float = 50_000.0  # the service area is 100 km around its centre
MAX_MARGIN_M: float = 5_000.0
MAX_DENSE_POSITIONS: int = 2_000_000  # per document read in another datum: 50,000 km of outline
MAX_ZONE_SPAN_DEG: float = 5.0  # a zone's lon/lat extent; also catches rings across the antimeridian


class ZoneFormatError(ValueError):
    """A zones document is invalid. ``str()`` names the source, the feature and the problem."""

    def __init__(self, source: str, feature: str, problem: str, *, index: int | None = None) -> None:
        self.source = source
        self.feature = feature  # the zone id when known, else "features[i]" (or "$" for the document)
        self.problem = problem
        self.index = index
        where = feature
        if index is not None and feature != f"features[{index}]":
            where = f"features[{index}] (id {_show(feature)})"
        super().__init__(f"{source}: {where}: {problem}")


@dataclass(frozen=True)
class Zone:
    """One zone (``no_fly`` or ``controlled``): a footprint in lon/lat, an altitude band, a margin and a
    validity window."""

    id: str
    kind: str
    shape: BaseGeometry  # Polygon / MultiPolygon in lon/lat; for a circle: its centre Point
    radius_m: float | None  # circles only
    floor_m: float = 0.0
    ceiling_m: float | None = None  # None: unlimited
    margin_m: float = DEFAULT_MARGIN_M
    valid_from: datetime | None = None  # tz-aware; None: since always
    valid_to: datetime | None = None  # tz-aware, exclusive; None: forever
    reason: str = ""

    @property
    def is_circle(self) -> bool:
        """True for a circle (a centre Point with ``radius_m``)."""
        return self.radius_m is not None

    def active_at(self, at: datetime) -> bool:
        """Whether the zone is in force at ``at``: ``valid_from <= at < valid_to``."""
        _require_aware(at, "at")
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_to is None or at < self.valid_to

    def active_during(self, start: datetime, end: datetime) -> bool:
        """Whether the zone is in force at any instant of the closed interval [start, end]."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end < start:
            raise ValueError(f"interval end {end.isoformat()} is before its start {start.isoformat()}")
        if self.valid_from is not None and end < self.valid_from:
            return False
        return self.valid_to is None or start < self.valid_to

    def blocks_altitude(self, altitude_m: float) -> bool:
        """Whether the zone's band contains the altitude: ``floor_m <= altitude_m <= ceiling_m``."""
        if altitude_m < self.floor_m:
            return False
        return self.ceiling_m is None or altitude_m <= self.ceiling_m


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxstring, _SHOW.maxother = 3, 6, 6, 80, 80


def _show(value: Any) -> str:
    """``repr`` for error messages, bounded: hostile input can be huge or nested 100,000 deep."""
    return _SHOW.repr(value)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


class _FeatureParser:
    """Validates one feature; every error names the source and the feature."""

    def __init__(self, source: str, index: int, default_margin_m: float, vertex_budget: int) -> None:
        self.source = source
        self.index = index
        self.label = f"features[{index}]"
        self.default_margin_m = default_margin_m
        self.vertices = 0  # positions read so far in this zone
        self.vertex_budget = min(MAX_ZONE_VERTICES, vertex_budget)  # what the document has left

    def fail(self, problem: str) -> ZoneFormatError:
        return ZoneFormatError(self.source, self.label, problem, index=self.index)

    def parse(self, feature: Any) -> Zone:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise self.fail('must be a GeoJSON object with "type": "Feature"')
        if "datum" in feature:
            raise self.fail("'datum' is a member of the FeatureCollection, not of a feature")
        props = feature.get("properties")
        if not isinstance(props, dict):
            raise self.fail("'properties' must be an object with at least an 'id'")
        zone_id = props.get("id")
        if not isinstance(zone_id, str) or not zone_id.strip():
            raise self.fail("property 'id' must be a non-empty string")
        self.label = zone_id
        unknown = sorted(set(props) - ZONE_PROPERTIES)
        if unknown:
            raise self.fail(
                f"unknown propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(sorted(ZONE_PROPERTIES))}"
            )
        kind = props.get("kind", NO_FLY)
        if kind not in ZONE_KINDS:
            raise self.fail(f"property 'kind' is {_show(kind)}; supported kinds: {', '.join(ZONE_KINDS)}")
        shape, radius = self.geometry(feature.get("geometry"), props)
        floor = self.number(props, "floor_m", 0.0)
        if floor < 0:
            raise self.fail(f"property 'floor_m' must be >= 0, got {floor!r}")
        ceiling = self.number(props, "ceiling_m", None)
        if ceiling is not None and ceiling < floor:
            raise self.fail(f"property 'ceiling_m' ({ceiling!r}) is below 'floor_m' ({floor!r})")
        margin = self.number(props, "margin_m", self.default_margin_m)
        if margin < 0:
            raise self.fail(f"property 'margin_m' must be >= 0, got {margin!r}")
        if margin > MAX_MARGIN_M:
            raise self.fail(f"property 'margin_m' {margin:g} is above the {MAX_MARGIN_M:g} m limit")
        valid_from = self.time(props, "valid_from")
        valid_to = self.time(props, "valid_to")
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            raise self.fail(
                f"'valid_to' ({valid_to.isoformat()}) is not after 'valid_from' ({valid_from.isoformat()})"
            )
        reason = props.get("reason", "")
        if not isinstance(reason, str):
            raise self.fail(f"property 'reason' must be a string, got {_show(reason)}")
        return Zone(
            id=zone_id,
            kind=kind,
            shape=shape,
            radius_m=radius,
            floor_m=floor,
            ceiling_m=ceiling,
            margin_m=margin,
            valid_from=valid_from,
            valid_to=valid_to,
            reason=reason,
        )

    @overload
    def number(self, props: dict[str, Any], name: str, default: float) -> float: ...
    @overload
    def number(self, props: dict[str, Any], name: str, default: None) -> float | None: ...
    def number(self, props: dict[str, Any], name: str, default: float | None) -> float | None:
        """The property as a finite float; ``default`` when absent (or null where the default is None)."""
        if name not in props or (props[name] is None and default is None):
            return default
        value = props[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"property {name!r} must be a finite number, got {_show(value)}")
        return float(value)

    def time(self, props: dict[str, Any], name: str) -> datetime | None:
        value = props.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"property {name!r} must be an ISO 8601 string, got {_show(value)}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(f"property {name!r} is not an ISO 8601 date-time: {_show(value)}") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise self.fail(f"property {name!r} has no zone offset (add 'Z' or '+08:00'): {_show(value)}")
        return parsed

    def position(self, value: Any, where: str) -> tuple[float, float]:
        if not isinstance(value, list | tuple) or len(value) not in (2, 3):
            raise self.fail(f"{where} must be a position [lon, lat], got {_show(value)}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise self.fail(f"{where} has a non-finite or non-numeric coordinate: {_show(value)}")
        lon, lat = float(value[0]), float(value[1])
        if not -180.0 <= lon <= 180.0:
            raise self.fail(f"{where}: longitude {lon} out of range [-180, 180]")
        if not -90.0 <= lat <= 90.0:
            raise self.fail(f"{where}: latitude {lat} out of range [-90, 90]")
        return lon, lat

    def ring(self, value: Any, where: str) -> list[tuple[float, float]]:
        if not isinstance(value, list):
            raise self.fail(f"{where} must be a list of positions")
        self.vertices += len(value)
        if self.vertices > self.vertex_budget:
            if self.vertex_budget < MAX_ZONE_VERTICES:
                raise self.fail(f"the document has more than {MAX_TOTAL_VERTICES} positions in all")
            raise self.fail(
                f"too many positions: more than {MAX_ZONE_VERTICES} in one zone (simplify the outline)"
            )
        points = [self.position(p, f"{where}[{k}]") for k, p in enumerate(value)]
        if len(points) < 4:
            raise self.fail(f"{where} is too short: a ring needs at least 4 positions, got {len(points)}")
        if points[0] != points[-1]:
            raise self.fail(f"{where} is not closed: first position {points[0]} != last {points[-1]}")
        if len(set(points)) < 3:
            raise self.fail(f"{where} is degenerate: fewer than 3 distinct positions")
        return points

    def polygon(self, value: Any, where: str) -> Polygon:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{where} must be a non-empty list of rings")
        rings = [self.ring(r, f"{where}[{k}]") for k, r in enumerate(value)]
        return Polygon(rings[0], rings[1:])

    def geometry(self, geom: Any, props: dict[str, Any]) -> tuple[BaseGeometry, float | None]:
        if not isinstance(geom, dict):
            raise self.fail("'geometry' must be a GeoJSON geometry object")
        gtype = geom.get("type")
        coords = geom.get("coordinates")
        if gtype == "Point":
            centre = Point(self.position(coords, "geometry.coordinates"))
            radius = props.get("radius_m")
            if (
                isinstance(radius, bool)
                or not isinstance(radius, int | float)
                or not math.isfinite(radius)
                or radius <= 0
            ):
                raise self.fail(f"a circle (Point) needs a positive finite 'radius_m', got {_show(radius)}")
            if radius > MAX_RADIUS_M:
                raise self.fail(f"'radius_m' {radius:g} is above the {MAX_RADIUS_M:g} m limit")
            return centre, float(radius)
        if "radius_m" in props:
            raise self.fail(f"'radius_m' applies only to a circle (Point geometry), not to a {gtype}")
        if gtype == "Polygon":
            shape: BaseGeometry = self.polygon(coords, "geometry.coordinates")
        elif gtype == "MultiPolygon":
            if not isinstance(coords, list) or not coords:
                raise self.fail("geometry.coordinates of a MultiPolygon must be a non-empty list of polygons")
            parts = [self.polygon(p, f"geometry.coordinates[{k}]") for k, p in enumerate(coords)]
            shape = MultiPolygon(parts)
        else:
            raise self.fail(
                f"unsupported geometry type {_show(gtype)}: "
                "use Polygon, MultiPolygon or a Point with 'radius_m'"
            )
        minx, miny, maxx, maxy = shape.bounds
        if maxx - minx > 180.0:
            raise self.fail(
                f"spans {maxx - minx:.1f} degrees of longitude: a zone across the antimeridian is not "
                "supported (edges run the short way in lon/lat, so this would circle the globe)"
            )
        if max(maxx - minx, maxy - miny) > MAX_ZONE_SPAN_DEG:
            raise self.fail(
                f"spans {maxx - minx:.2f} x {maxy - miny:.2f} degrees: more than the "
                f"{MAX_ZONE_SPAN_DEG:g}-degree limit of one zone"
            )
        if not shape.is_valid:
            raise self.fail(f"invalid {gtype} (not repaired): {shapely.is_valid_reason(shape)}")
        return shape, None


def count_positions(coordinates: Any, limit: int = MAX_ZONE_VERTICES) -> int:
    """The positions in a GeoJSON ``coordinates`` value, counted without building anything.

    Raises :class:`ValueError` as soon as there are more than ``limit`` or the lists nest deeper
    than a MultiPolygon's: a cheap guard for code that stores or copies a feature before (or
    without) parsing it. Values that are not lists are not counted (parsing reports them).
    """
    count = 0
    stack: list[tuple[Any, int]] = [(coordinates, 0)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, list):
            continue
        if value and not isinstance(value[0], list):
            count += 1  # a position [lon, lat(, alt)]
            if count > limit:
                raise ValueError(f"more than {limit} positions in one zone")
            continue
        if depth >= 3:  # MultiPolygon: parts > rings > positions > numbers
            raise ValueError("coordinates nest deeper than a MultiPolygon's")
        stack.extend((item, depth + 1) for item in value)
    return count


def parse_zones(
    data: Any,
    source: str = "zones.geojson",
    default_margin_m: float = DEFAULT_MARGIN_M,
    datum: str | None = None,
) -> list[Zone]:
    """Validate a decoded zones GeoJSON document and return its zones in WGS-84, in file order.

    The coordinates are in the document's ``datum`` member, else in ``datum`` (a caller's
    ``--datum``), else WGS-84; a document that declares another datum than a given ``datum`` is
    refused. Raises :class:`ZoneFormatError` at the first problem (naming the feature by id or
    index); no partial result is returned.
    """
    if isinstance(default_margin_m, bool) or not math.isfinite(default_margin_m) or default_margin_m < 0:
        raise ValueError(f"default_margin_m must be a finite number >= 0, got {default_margin_m!r}")
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ZoneFormatError(source, "$", "must be a GeoJSON FeatureCollection")
    datum = _document_datum(data, source, datum)
    features = data.get("features")
    if not isinstance(features, list):
        raise ZoneFormatError(source, "$", "'features' must be a list")
    if len(features) > MAX_ZONES:
        raise ZoneFormatError(source, "$", f"{len(features)} features: at most {MAX_ZONES} per document")
    zones: list[Zone] = []
    seen: dict[str, int] = {}
    vertices = 0
    for i, feature in enumerate(features):
        parser = _FeatureParser(source, i, default_margin_m, MAX_TOTAL_VERTICES - vertices)
        zone = parser.parse(feature)
        vertices += parser.vertices
        if zone.id in seen:
            raise ZoneFormatError(
                source,
                zone.id,
                f"duplicate zone id {_show(zone.id)} (first used by features[{seen[zone.id]}])",
                index=i,
            )
        seen[zone.id] = i
        zones.append(zone)
    if not is_wgs84(datum):
        dense = sum(dense_positions(z.shape) for z in zones if z.radius_m is None)
        if dense > MAX_DENSE_POSITIONS:
            raise ZoneFormatError(
                source,
                "$",
                f"the outlines are too long to convert from {datum} ({dense} positions at one every "
                f"{SPACING_M:g} m, more than {MAX_DENSE_POSITIONS}): split the document",
            )
        zones = [_zone_to_wgs84(zone, datum, source, i) for i, zone in enumerate(zones)]
    return zones


def _document_datum(data: dict[str, Any], source: str, given: str | None) -> str:
    """The datum of a zones document: its ``datum`` member, else ``given``, else WGS-84."""
    try:
        if given is not None:
            check_datum(given)
        declared = check_datum(data["datum"]) if "datum" in data else None
    except DatumError as exc:
        raise ZoneFormatError(source, "$", str(exc)) from None
    if declared is not None and given is not None and declared != given:
        raise ZoneFormatError(
            source, "$", f"the document declares datum {declared!r}, but {given!r} was given for it"
        )
    return declared or given or "WGS-84"


def _zone_to_wgs84(zone: Zone, datum: str, source: str, index: int) -> Zone:
    """The zone with its footprint converted from ``datum`` to WGS-84 (:mod:`airspace.datum`)."""
    try:
        if zone.radius_m is not None:
            centre, radius = circle_to_wgs84(datum, zone.shape.x, zone.shape.y, zone.radius_m)
            return replace(zone, shape=Point(centre), radius_m=radius)
        shape = geometry_to_wgs84(datum, zone.shape)
    except DatumError as exc:
        raise ZoneFormatError(source, zone.id, str(exc), index=index) from None
    positions = int(shapely.get_num_coordinates(shape))
    if positions > MAX_ZONE_VERTICES:
        raise ZoneFormatError(
            source,
            zone.id,
            f"converted from {datum}, its outline needs {positions} positions (the offset bends long "
            f"edges), more than {MAX_ZONE_VERTICES}: split the zone",
            index=index,
        )
    if not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        raise ZoneFormatError(source, zone.id, f"invalid once converted from {datum}: {reason}", index=index)
    return replace(zone, shape=shape)


def load_zones(
    path: str | Path, default_margin_m: float = DEFAULT_MARGIN_M, datum: str | None = None
) -> list[Zone]:
    """Read and validate a zones GeoJSON file, in WGS-84 (errors name the file, the feature and the
    problem; ``datum`` as in :func:`parse_zones`)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ZoneFormatError(str(p), "$", f"cannot read file: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZoneFormatError(str(p), "$", f"invalid JSON: {exc}") from exc
    except RecursionError:
        raise ZoneFormatError(str(p), "$", "invalid JSON: nested too deeply") from None
    return parse_zones(data, source=str(p), default_margin_m=default_margin_m, datum=datum)


def zone_to_feature(zone: Zone) -> dict[str, Any]:
    """The GeoJSON Feature of one zone (the format :func:`parse_zones` reads)."""
    props: dict[str, Any] = {"id": zone.id, "kind": zone.kind}
    if zone.radius_m is not None:
        props["radius_m"] = zone.radius_m
    props["floor_m"] = zone.floor_m
    if zone.ceiling_m is not None:
        props["ceiling_m"] = zone.ceiling_m
    props["margin_m"] = zone.margin_m
    if zone.valid_from is not None:
        props["valid_from"] = zone.valid_from.isoformat()
    if zone.valid_to is not None:
        props["valid_to"] = zone.valid_to.isoformat()
    if zone.reason:
        props["reason"] = zone.reason
    geometry = json.loads(json.dumps(mapping(zone.shape)))  # tuples -> lists, plain JSON
    return {"type": "Feature", "geometry": geometry, "properties": props}


def wgs84_feature(feature: dict[str, Any], zone: Zone) -> dict[str, Any]:
    """``feature`` (one :func:`parse_zones` read as ``zone``) with the zone's WGS-84 footprint: the
    geometry, and ``radius_m`` for a circle. What to store of a zone read in another datum; the
    other members and properties are kept as they were."""
    props = dict(feature.get("properties") or {})
    if zone.radius_m is not None:
        props["radius_m"] = zone.radius_m
    geometry = json.loads(json.dumps(mapping(zone.shape)))
    return {**feature, "geometry": geometry, "properties": props}


def zones_to_geojson(zones: Iterable[Zone]) -> dict[str, Any]:
    """Export zones as the same GeoJSON FeatureCollection :func:`parse_zones` reads."""
    return {"type": "FeatureCollection", "features": [zone_to_feature(z) for z in zones]}
