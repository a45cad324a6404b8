"""``/api/v1/fleet`` (live drones) and ``/api/v1/flights`` (active and recent flights), for staff."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from dispatch.api.auth import STAFF_ONLY, principal_of
from dispatch.api.errors import ApiError, error_responses
from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import DroneOut, FlightOut, LegOut, Position, ServiceIn
from dispatch.service.drone_service import set_in_service
from dispatch.service.operations import DroneSnapshot, fleet_snapshot
from dispatch.store.views import FlightView

ERRORS = error_responses()


@get("/fleet", guards=[STAFF_ONLY], summary="Drones with their live state", responses=ERRORS)
async def fleet(state: State) -> list[DroneOut]:
    """Every drone: position, battery, state, mission, the path still ahead, usable or why not, and
    the port it stands at now (None while it flies or stands elsewhere)."""
    return [drone_out(d) for d in fleet_snapshot(ctx_of(state).dispatcher)]


def drone_out(d: DroneSnapshot) -> DroneOut:
    """A drone's snapshot as a response body."""
    position = Position(d.lon, d.lat, d.alt_m or 0.0) if d.lon is not None and d.lat is not None else None
    return DroneOut(
        id=d.id,
        model=d.model,
        home_port=d.home_port,
        port=d.port,
        online=d.online,
        usable=d.usable,
        why_unusable=d.why_unusable,
        in_service=d.in_service,
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


@post(
    "/fleet/{drone_id:str}/service",
    guards=[STAFF_ONLY],
    status_code=200,
    summary="Take a drone out of service or put it back",
    responses=error_responses(e404="no such drone", e422="no reason given to take it out of service"),
)
async def drone_service(
    request: Request[Any, Any, Any], state: State, drone_id: FromPath[str], data: JSONBody[ServiceIn]
) -> DroneOut:
    """``{"in_service": false, "reason": "..."}`` takes the drone out of service: the planner gives it
    no new work (a mission it flies goes on) and it never returns on its own, across restarts.
    ``{"in_service": true}`` puts it back (and clears a write-off of the dispatcher's, e.g. after a
    fault). Audited (``drone`` entries ``out_of_service`` / ``in_service``); answers the drone."""
    ctx, who = ctx_of(state), principal_of(request)
    if not data.in_service and not data.reason.strip():
        raise ApiError(422, "reason_required", "say why the drone is taken out of service (reason)")
    await set_in_service(
        ctx.dispatcher, drone_id, in_service=data.in_service, reason=data.reason, actor=who.actor
    )
    snapshot = next((d for d in fleet_snapshot(ctx.dispatcher) if d.id == drone_id), None)
    if snapshot is None:
        raise ApiError(404, "not_found", f"drone {drone_id!r} is not in the dispatcher's fleet")
    return drone_out(snapshot)


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
    views = await store.flights.list_active() if active else await store.flights.recent(limit)
    return [flight_out(f) for f in views[:limit]]


ROUTES = [fleet, drone_service, flights]
