"""``/api/v1/fleet`` (live drones) and ``/api/v1/flights`` (active and recent flights), for staff."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import QueryParameter

from dispatch.api.auth import STAFF_ONLY
from dispatch.api.errors import error_responses
from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import DroneOut, FlightOut, LegOut, Position
from dispatch.service.operations import fleet_snapshot, recent_flights
from dispatch.store.views import FlightView

ERRORS = error_responses()


@get("/fleet", guards=[STAFF_ONLY], summary="Drones with their live state", responses=ERRORS)
async def fleet(state: State) -> list[DroneOut]:
    """Every drone: position, battery, state, mission, the path still ahead, usable or why not."""
    out = []
    for d in fleet_snapshot(ctx_of(state).dispatcher):
        position = Position(d.lon, d.lat, d.alt_m or 0.0) if d.lon is not None and d.lat is not None else None
        out.append(
            DroneOut(
                id=d.id,
                model=d.model,
                home_port=d.home_port,
                port=d.port,
                online=d.online,
                usable=d.usable,
                why_unusable=d.why_unusable,
                returning=d.returning,
                state=d.state,
                mission_id=d.mission_id,
                onboard=list(d.onboard),
                position=position,
                battery_pct=d.battery_pct,
                ground_speed_mps=d.ground_speed_mps,
                heading_deg=d.heading_deg,
                telemetry_at=d.telemetry_at,
                planned_path=[list(p) for p in d.planned_path],
            )
        )
    return out


def flight_out(f: FlightView) -> FlightOut:
    """A stored flight as a response body (commands and codes left out)."""
    return FlightOut(
        mission_id=f.mission_id,
        drone_id=f.drone_id,
        state=f.state,
        request_ids=list(f.request_ids),
        legs=[
            LegOut(
                leg.seq,
                leg.action,
                leg.request_id,
                leg.stop_id,
                [list(map(float, w)) for w in leg.waypoints],
                leg.distance_m,
                leg.eta,
            )
            for leg in f.legs
        ],
        created_at=f.created_at,
        updated_at=f.updated_at,
    )


@get("/flights", guards=[STAFF_ONLY], summary="Active and recent flights with their legs", responses=ERRORS)
async def flights(
    state: State,
    limit: Annotated[
        int, QueryParameter(ge=1, le=500, description="at most this many, newest change first")
    ] = 50,
    active: Annotated[
        bool, QueryParameter(required=False, description="only flights not yet finished")
    ] = False,
) -> list[FlightOut]:
    """Flights by last change, newest first (``active=true``: only those not completed or aborted)."""
    store = ctx_of(state).store
    views = await store.flights.list_active() if active else await recent_flights(store, limit)
    return [flight_out(f) for f in views[:limit]]


ROUTES = [fleet, flights]
