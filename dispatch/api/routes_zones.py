"""``/api/v1/zones``: the airspace zones as GeoJSON, in and out (operators and admins).

Bodies are the airspace format (see ``airspace.zones``): a Feature or a FeatureCollection whose
properties are ``id``, ``kind``, ``floor_m``, ``ceiling_m``, ``margin_m``, ``valid_from``,
``valid_to`` (``valid_until`` is accepted as another name for it), ``reason``, ``radius_m``. A
top-level ``datum`` member (``WGS-84``, the default, ``CGCS2000``, ``GCJ-02`` or ``BD-09``) says
what the coordinates are in: they are converted to WGS-84 before anything else, and what is
stored and answered is WGS-84.
Every zone added or changed goes through ``Dispatcher.add_zone``, which re-routes the flights
whose rest of path enters it. Responses add a ``meta`` member to each feature (active, author,
times); it is ignored when a feature is sent back.

Only what the airspace format reads is stored (a feature's ``type``, ``geometry`` with its
``type`` and ``coordinates``, and ``properties``), and at the edge (:func:`check_fields`, 422):
``properties.id`` is a record id (:data:`~dispatch.api.schemas.RecordId`: every stored zone can
be replaced and lifted by its URL), ``reason`` is bounded text, and ``valid_from`` / ``valid_to``
lie within :data:`ZONE_HORIZON` of the area's clock.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Request, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from airspace.datum import is_wgs84
from airspace.zones import Zone, parse_zones, wgs84_feature
from dispatch.api.auth import STAFF_ONLY, principal_of
from dispatch.api.context import ApiContext
from dispatch.api.datum import body_datum
from dispatch.api.errors import ApiError, error_responses
from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import MAX_ID, MAX_REASON, TEXT_PATTERN, ZoneChange, ZoneCollection
from dispatch.service.intake import time_problem
from dispatch.service.operations import deactivate_zone
from dispatch.store import NotFound, ZoneView
from fleet.topics import valid_id

AREA_MARGIN_DEG = 0.5  # about 50 km around the pads and ports
ZONE_HORIZON = timedelta(days=366)
"""How far from the area's clock a zone's ``valid_from`` / ``valid_to`` (and the ``at`` of a
listing) may lie, either way: a zone for longer than that has no ``valid_to``."""
_TEXT = re.compile(TEXT_PATTERN)
_ERRORS = error_responses(
    e404="no such zone", e422="invalid GeoJSON: code invalid_geojson with the parser's message"
)


def zone_feature(view: ZoneView) -> dict[str, Any]:
    """A stored zone as a GeoJSON Feature in the airspace format, with a ``meta`` member."""
    props: dict[str, Any] = dict(view.feature.get("properties") or {})
    feature: dict[str, Any] = {"type": "Feature", "geometry": view.feature.get("geometry")}
    feature["properties"] = props
    if view.valid_from is not None:
        props["valid_from"] = view.valid_from.isoformat()
    if view.valid_until is not None:
        props["valid_to"] = view.valid_until.isoformat()
    feature["meta"] = {
        "active": view.active,
        "created_by": view.created_by,
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
    }
    return feature


def _features(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and body.get("type") == "Feature":
        return [body]
    if (
        isinstance(body, dict)
        and body.get("type") == "FeatureCollection"
        and isinstance(body.get("features"), list)
    ):
        for i, feature in enumerate(body["features"]):
            if isinstance(feature, dict) and "datum" in feature:
                raise ApiError(
                    422,
                    "invalid_geojson",
                    f"features[{i}]: 'datum' is a member of the FeatureCollection, not of a feature",
                    {"field": f"features[{i}].datum"},
                )
        return list(body["features"])
    raise ApiError(422, "invalid_geojson", "the body must be a GeoJSON Feature or FeatureCollection")


def _normalise(feature: Any) -> dict[str, Any]:
    """Keep what the airspace format reads (type, geometry, properties); valid_until -> valid_to."""
    if not isinstance(feature, dict):
        return feature  # the parser names the problem
    props = feature.get("properties")
    if isinstance(props, dict) and "valid_until" in props:
        props = dict(props)
        until = props.pop("valid_until")
        props.setdefault("valid_to", until)
    geometry = feature.get("geometry")
    if isinstance(geometry, dict):  # nothing unread is stored (a geometry's other members)
        geometry = {"type": geometry.get("type"), "coordinates": geometry.get("coordinates")}
    return {"type": feature.get("type"), "geometry": geometry, "properties": props}


def _window(feature: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    props = feature["properties"]
    start, end = props.get("valid_from"), props.get("valid_to")
    return (datetime.fromisoformat(start) if start else None, datetime.fromisoformat(end) if end else None)


def parse_body(body: Any) -> tuple[list[dict[str, Any]], list[Zone]]:
    """Validate zones with the airspace parser (422 ``invalid_geojson`` with its message).

    The body's ``datum`` member (of the Feature or the FeatureCollection) says what its coordinates
    are in (422 ``unknown_datum`` for another value); the features returned, the ones to store,
    carry the zones' WGS-84 footprints.
    """
    features = [_normalise(f) for f in _features(body)]
    if not features:
        raise ApiError(422, "invalid_geojson", "the FeatureCollection has no features")
    datum = body_datum(body.get("datum"))
    doc = {"type": "FeatureCollection", "features": features}
    zones = parse_zones(doc, source="request body", datum=datum)
    if not is_wgs84(datum):
        features = [wgs84_feature(f, z) for f, z in zip(features, zones, strict=True)]
    return features, zones


def check_time(field: str, value: datetime, now: datetime) -> None:
    """422 ``time_out_of_range`` for a zone time farther than :data:`ZONE_HORIZON` from ``now``."""
    problem = time_problem(field, value, now, ZONE_HORIZON, ZONE_HORIZON)
    if problem is not None:
        raise ApiError(422, problem.code, problem.message, problem.details)


def check_fields(zones: list[Zone], now: datetime) -> None:
    """422 for a zone the airspace parser took but the API does not store: an id that is not a
    record id (``invalid_format``), a reason over :data:`~dispatch.api.schemas.MAX_REASON`
    characters (``too_long``) or with control characters (``invalid_format``), a validity time out
    of range (``time_out_of_range``). ``details.field`` names the property."""
    for i, zone in enumerate(zones):
        where = f"features[{i}].properties"
        if not valid_id(zone.id):
            raise ApiError(
                422,
                "invalid_format",
                f"{where}.id {zone.id[: MAX_ID + 1]!r} is not an id: 1-{MAX_ID} letters, digits, "
                "'_', '.', '-', starting with a letter or digit",
                {"field": f"{where}.id"},
            )
        if len(zone.reason) > MAX_REASON:
            raise ApiError(
                422,
                "too_long",
                f"{where}.reason has {len(zone.reason)} characters, more than {MAX_REASON}",
                {"field": f"{where}.reason", "max_length": MAX_REASON},
            )
        if not _TEXT.match(zone.reason):
            raise ApiError(
                422,
                "invalid_format",
                f"{where}.reason holds a control character (only tab and line breaks are text)",
                {"field": f"{where}.reason"},
            )
        for name, value in (("valid_from", zone.valid_from), ("valid_to", zone.valid_to)):
            if value is not None:
                check_time(f"{where}.{name}", value, now)


async def check_in_area(ctx: ApiContext, zones: list[Zone]) -> None:
    """422 ``zone_out_of_area`` for a zone wholly away from the service area (its pads and ports,
    widened by :data:`AREA_MARGIN_DEG`): the airspace's metric frame is centred on the zones, so
    one far away would distort every distance the dispatcher computes."""
    points = [(p.lon, p.lat) for p in (await ctx.store.directory.pads()).values()]
    if ctx.dispatcher.fleet is not None:
        points += [(p.lon, p.lat) for p in ctx.dispatcher.fleet.ports]
    if not points:
        return
    west = min(x for x, _ in points) - AREA_MARGIN_DEG
    east = max(x for x, _ in points) + AREA_MARGIN_DEG
    south = min(y for _, y in points) - AREA_MARGIN_DEG
    north = max(y for _, y in points) + AREA_MARGIN_DEG
    for zone in zones:
        x0, y0, x1, y1 = zone.shape.bounds
        if x1 < west or x0 > east or y1 < south or y0 > north:
            raise ApiError(
                422,
                "zone_out_of_area",
                f"zone {zone.id} lies outside the service area"
                f" (lon {west:.3f}..{east:.3f}, lat {south:.3f}..{north:.3f})",
                {"zone_id": zone.id, "area": [west, south, east, north]},
            )


async def _store(request: Request[Any, Any, Any], state: State, features: list[dict[str, Any]]) -> ZoneChange:
    ctx, who = ctx_of(state), principal_of(request)
    rerouted: set[str] = set()
    for feature in features:
        start, end = _window(feature)
        rerouted |= set(
            await ctx.dispatcher.add_zone(feature, actor=who.actor, valid_from=start, valid_until=end)
        )
    ctx.feed.nudge()
    stored = [zone_feature(await ctx.store.zones.get(f["properties"]["id"])) for f in features]
    return ZoneChange("FeatureCollection", stored, sorted(rerouted))


@get("/zones", guards=[STAFF_ONLY], summary="Zones as GeoJSON", responses=_ERRORS)
async def list_zones(
    state: State,
    include_inactive: Annotated[bool, QueryParameter(name="include_inactive", required=False)] = False,
    at: Annotated[
        datetime | None,
        QueryParameter(
            name="at", required=False, description="only zones valid at this time (ISO 8601 with offset)"
        ),
    ] = None,
) -> ZoneCollection:
    """Every active zone (or every zone with ``include_inactive``), as a FeatureCollection."""
    if at is not None and at.utcoffset() is None:
        raise ApiError(422, "invalid_time", "at needs a zone offset (e.g. Z or +08:00)")
    if at is not None:
        check_time("at", at, ctx_of(state).now_clock.now())
    views = await ctx_of(state).store.zones.list(active_only=not include_inactive, at=at)
    return ZoneCollection("FeatureCollection", [zone_feature(v) for v in views])


@post(
    "/zones",
    guards=[STAFF_ONLY],
    status_code=201,
    summary="Add zones (Feature or FeatureCollection)",
    responses=_ERRORS,
)
async def add_zones(
    request: Request[Any, Any, Any], state: State, data: JSONBody[dict[str, Any]]
) -> ZoneChange:
    """Add (or replace) zones; flights whose rest of path enters one are re-routed (``rerouted``)."""
    features, zones = parse_body(data)
    check_fields(zones, ctx_of(state).now_clock.now())
    await check_in_area(ctx_of(state), zones)
    return await _store(request, state, features)


@put("/zones/{zone_id:str}", guards=[STAFF_ONLY], summary="Replace a zone", responses=_ERRORS)
async def update_zone(
    request: Request[Any, Any, Any], state: State, zone_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> ZoneChange:
    """Replace an existing zone (a deactivated one becomes active again); 404 for an unknown id."""
    features, zones = parse_body(data)
    if len(features) != 1:
        raise ApiError(422, "invalid_geojson", "PUT takes exactly one Feature")
    props = features[0]["properties"]
    if props.get("id") != zone_id:
        raise ApiError(422, "zone_id_mismatch", f"properties.id {props.get('id')!r} is not {zone_id!r}")
    await ctx_of(state).store.zones.get(zone_id)  # 404 if unknown: PUT changes, POST creates
    check_fields(zones, ctx_of(state).now_clock.now())
    await check_in_area(ctx_of(state), zones)
    return await _store(request, state, features)


@delete(
    "/zones/{zone_id:str}",
    guards=[STAFF_ONLY],
    status_code=200,
    summary="Deactivate a zone",
    responses=_ERRORS,
)
async def remove_zone(
    request: Request[Any, Any, Any], state: State, zone_id: FromPath[str]
) -> ZoneCollection:
    """Deactivate a zone (kept for the record, flights may use the airspace again)."""
    ctx, who = ctx_of(state), principal_of(request)
    try:
        view = await deactivate_zone(
            ctx.dispatcher, zone_id, actor=who.actor, reason=f"deleted by {who.actor}"
        )
    except NotFound:
        raise ApiError(404, "not_found", f"no zone {zone_id!r}", {"zone_id": zone_id}) from None
    ctx.feed.nudge()
    return ZoneCollection("FeatureCollection", [zone_feature(view)])


ROUTES = [list_zones, add_zones, update_zone, remove_zone]
