"""``/api/v1/offices``, ``/api/v1/pads``, ``/api/v1/ports``, ``/api/v1/area``.

Offices, pads and the area (its time zone) are read by every role, ports by staff; admins write
offices and pads.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from dispatch.api.auth import ADMIN_ONLY, ANY_ROLE, STAFF_ONLY, principal_of
from dispatch.api.datum import body_datum, lonlat_to_wgs84
from dispatch.api.errors import ApiError
from dispatch.api.routes_fleet import ERRORS
from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import AreaOut, OfficeIn, OfficeOut, PadIn, PadOut, PortOut
from dispatch.service.intake import ServiceArea, place_problem


@get("/offices", guards=[ANY_ROLE], summary="Offices", responses=ERRORS)
async def offices(state: State) -> list[OfficeOut]:
    """Every office and the pad it sends from."""
    return [
        OfficeOut(o.id, o.name, o.pad_id, o.active) for o in await ctx_of(state).store.directory.offices()
    ]


@post("/offices", guards=[ADMIN_ONLY], status_code=201, summary="Add or change an office", responses=ERRORS)
async def add_office(request: Request[Any, Any, Any], state: State, data: JSONBody[OfficeIn]) -> OfficeOut:
    """Create an office sending from an existing pad (or rename it, or move it to another pad)."""
    store = ctx_of(state).store
    await store.directory.add_office(data.id, data.name, data.pad_id, actor=principal_of(request).actor)
    o = await store.directory.office(data.id)
    return OfficeOut(o.id, o.name, o.pad_id, o.active)


@get("/pads", guards=[ANY_ROLE], summary="Pads", responses=ERRORS)
async def pads(state: State) -> list[PadOut]:
    """Every pad (requests may name a pad by its id instead of coordinates)."""
    store = ctx_of(state).store
    names = await store.directory.pad_names()
    return [
        PadOut(pid, names.get(pid, pid), p.lon, p.lat) for pid, p in (await store.directory.pads()).items()
    ]


@post("/pads", guards=[ADMIN_ONLY], status_code=201, summary="Add or move a pad", responses=ERRORS)
async def add_pad(request: Request[Any, Any, Any], state: State, data: JSONBody[PadIn]) -> PadOut:
    """Create a pad (no office is created for it; add one with POST /offices), its ``lon``/``lat``
    converted to WGS-84 from the body's ``datum``; 422
    ``outside_service_area`` for one no drone of the area could serve."""
    ctx = ctx_of(state)
    assert ctx.dispatcher.fleet is not None, "the dispatcher is not started"
    lon, lat = lonlat_to_wgs84(body_datum(data.datum), data.lon, data.lat, "pad")
    outside = place_problem(ServiceArea.of(ctx.dispatcher.fleet), "pad", lon, lat)
    if outside is not None:
        raise ApiError(422, outside.code, outside.message, outside.details)
    store = ctx.store
    await store.directory.add_pad(data.id, data.name, lon, lat, actor=principal_of(request).actor)
    p = await store.directory.pad(data.id)
    return PadOut(data.id, data.name, p.lon, p.lat)


@get("/ports", guards=[STAFF_ONLY], summary="Drone ports", responses=ERRORS)
async def ports(state: State) -> list[PortOut]:
    """Every port and the drones based there (the fleet the dispatcher runs)."""
    fleet = ctx_of(state).dispatcher.fleet
    if fleet is None:
        return []
    return [PortOut(p.id, p.lon, p.lat, [d.id for d in fleet.drones if d.port == p.id]) for p in fleet.ports]


@get("/area", guards=[ANY_ROLE], summary="The service area's time zone", responses=ERRORS)
async def area(state: State) -> AreaOut:
    """The area's IANA time zone (times are shown in it, labelled), the service clock's time there
    and the dashboard map's style URL (``None``: a plain background)."""
    ctx = ctx_of(state)
    return AreaOut(ctx.timezone, ctx.now_clock.now().astimezone(ZoneInfo(ctx.timezone)), ctx.map_style)


ROUTES = [offices, add_office, pads, add_pad, ports, area]
