"""``/api/v1/requests`` (file, list, read, cancel) and ``/api/v1/quotes`` (what-if, files nothing)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from dispatch.api.auth import ANY_ROLE, principal_of
from dispatch.api.context import API_PREFIX, ApiContext, Principal
from dispatch.api.datum import body_datum, lonlat_to_wgs84
from dispatch.api.errors import ApiError, error_responses
from dispatch.api.schemas import (
    LonLat,
    PlaceIn,
    PlaceOut,
    ProofOfDelivery,
    QuoteIn,
    QuoteOut,
    RequestDetail,
    RequestIn,
    RequestOut,
    RequestPage,
    TimelineEntry,
    TrackPoint,
)
from dispatch.service.intake import ServiceArea, deadline_in_force, edge_problem, routing_request
from dispatch.service.operations import CancelPending, cancel_request, quote, quote_hold
from dispatch.store import Conflict, NewRequest, NotFound, Place, RequestView
from dispatch.store.requests import PAD_TOLERANCE_DEG
from dispatch.store.views import AuditEntry

MAX_PAGE = 500


def ctx_of(state: State) -> ApiContext:
    """The API context stored on the app."""
    ctx: ApiContext = state.ctx
    return ctx


def place_out(p: Place) -> PlaceOut:
    """A stored place as a response body."""
    return PlaceOut(p.lon, p.lat, p.pad_id)


def request_out(view: RequestView, *, eta: datetime | None = None, codes: Any = None) -> RequestOut:
    """A stored request as a response body (codes only when given: the filing office's view).

    ``deadline`` is the deadline in force: the one filed, or the default after the request was
    ready (its ``ready_at``, or when it was filed); the store keeps what was filed.
    """
    eta_kind = "planned" if eta is not None else None
    if eta is None and view.intake and view.intake.get("accepted"):
        text = (view.intake.get("details") or {}).get("eta")
        if isinstance(text, str):
            eta, eta_kind = datetime.fromisoformat(text), "best_single_drone"
    return RequestOut(
        id=view.id,
        office_id=view.office_id,
        state=view.state,
        reason=view.state_reason,
        pickup=place_out(view.pickup),
        dropoff=place_out(view.dropoff),
        weight_kg=view.weight_kg,
        priority=view.priority,
        ready_at=view.ready_at,
        deadline=deadline_in_force(view.ready_at or view.created_at, view.deadline),
        description=view.description,
        eta=eta,
        eta_kind=eta_kind,
        idempotency_key=view.idempotency_key,
        created_at=view.created_at,
        updated_at=view.updated_at,
        pickup_code=codes.pickup_code if codes is not None else None,
        recipient_code=codes.recipient_code if codes is not None else None,
    )


async def _place(ctx: ApiContext, name: str, value: PlaceIn, datum: str) -> Place:
    """A body's place in WGS-84: a pad by its id, or coordinates converted from ``datum``."""
    if isinstance(value, str):
        try:
            return await ctx.store.directory.pad(value)
        except NotFound:
            raise ApiError(
                422,
                "unknown_pad",
                f"{name}: no pad {value!r} in the directory",
                {"field": name, "pad_id": value},
            ) from None
    lon, lat = (value.lon, value.lat) if isinstance(value, LonLat) else (value[0], value[1])
    for axis, v, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if not math.isfinite(v) or not -bound <= v <= bound:
            raise ApiError(
                422,
                "invalid_coordinates",
                f"{name}.{axis} {v} is not a coordinate in [-{bound:g}, {bound:g}]",
                {"field": f"{name}.{axis}", "value": v if math.isfinite(v) else str(v)},
            )
    lon, lat = lonlat_to_wgs84(datum, lon, lat, name)
    for pad in (await ctx.store.directory.pads()).values():
        # Coordinates that are a pad's are that pad (the custody record then names it).
        if abs(pad.lon - lon) <= PAD_TOLERANCE_DEG and abs(pad.lat - lat) <= PAD_TOLERANCE_DEG:
            return pad
    return Place(float(lon), float(lat))


def _check_weight(weight: float) -> None:
    if not math.isfinite(weight) or weight <= 0:
        raise ApiError(
            422,
            "invalid_weight",
            f"weight_kg must be a finite number > 0, got {weight}",
            {"field": "weight_kg"},
        )


def _check_times(ready_at: datetime | None, deadline: datetime | None) -> None:
    if ready_at is not None and deadline is not None and deadline <= ready_at:
        raise ApiError(
            422,
            "invalid_times",
            "deadline must be after ready_at",
            {"ready_at": ready_at.isoformat(), "deadline": deadline.isoformat()},
        )


def _check_edge(ctx: ApiContext, pickup: Place, dropoff: Place, data: RequestIn | QuoteIn) -> None:
    """422 with the intake's own edge check (:func:`dispatch.service.intake.edge_problem`): a
    place outside the service area, a time out of range. Nothing is filed or quoted."""
    fleet = ctx.dispatcher.fleet
    assert fleet is not None, "the dispatcher is not started"
    now = ctx.now_clock.now()
    probe = routing_request(
        "new",
        pickup,
        dropoff,
        float(data.weight_kg),
        data.priority,
        data.ready_at,
        data.deadline,
        ready_default=now,
    )
    problem = edge_problem(ServiceArea.of(fleet), probe, now)
    if problem is not None:
        raise ApiError(422, problem.code, problem.message, problem.details)


def visible(who: Principal, view: RequestView) -> bool:
    """Whether the caller may see this request (offices see only their own)."""
    return who.is_staff or view.office_id == who.office_id


async def get_visible(ctx: ApiContext, who: Principal, request_id: str) -> RequestView:
    """The request, or 404 when it does not exist or belongs to another office."""
    try:
        view = await ctx.store.requests.get(request_id)
    except NotFound:
        view = None
    if view is None or not visible(who, view):
        raise ApiError(404, "not_found", f"no request {request_id!r}", {"request_id": request_id})
    return view


_ERRORS = error_responses(e404="no such request (or another office's)")


@post(
    "/requests",
    guards=[ANY_ROLE],
    status_code=201,
    summary="File a request",
    responses={
        200: ResponseSpec(RequestOut, description="an idempotent retry: the request filed first"),
        **_ERRORS,
    },
)
async def file_request(
    request: Request[Any, Any, Any],
    state: State,
    data: JSONBody[RequestIn],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name="Idempotency-Key",
            min_length=1,
            max_length=200,
            required=False,
            description="a retry with the same key and body files nothing and returns the first request",
        ),
    ] = None,
) -> Response[RequestOut]:
    """File a request for the caller's office (staff name the ``office_id``).

    201 with the request decided at intake (``accepted`` with an ETA); 200 for a retry with the same
    ``Idempotency-Key``; 422 with the intake's reason code (``overweight``, ``pickup_in_zone``...)
    when it cannot be served (the refusal is recorded: the request id is in ``details``).
    """
    ctx, who = ctx_of(state), principal_of(request)
    if who.role == "office":
        if data.office_id is not None and data.office_id != who.office_id:
            raise ApiError(
                422,
                "office_mismatch",
                "an office key files requests for its own office only",
                {"office_id": data.office_id},
            )
        office_id = who.office_id
    else:
        if data.office_id is None:
            raise ApiError(
                422, "office_required", "operator and admin keys must name the office_id to file for"
            )
        office_id = data.office_id
    assert office_id is not None
    _check_weight(data.weight_kg)
    _check_times(data.ready_at, data.deadline)
    datum = body_datum(data.datum)
    pickup = await _place(ctx, "pickup", data.pickup, datum)
    dropoff = await _place(ctx, "dropoff", data.dropoff, datum)
    _check_edge(ctx, pickup, dropoff, data)
    new = NewRequest(
        office_id=office_id,
        pickup=pickup,
        dropoff=dropoff,
        weight_kg=float(data.weight_kg),
        priority=data.priority,
        ready_at=data.ready_at,
        deadline=data.deadline,
        description=data.description,
        idempotency_key=idempotency_key,
    )
    created = True
    try:
        with ctx.dispatcher.filing():
            if idempotency_key is not None:
                # File first to learn whether this is a retry; submit() then finds it by its key.
                created = (await ctx.store.requests.create(new, actor=who.actor)).created
            view = await ctx.dispatcher.submit(new, actor=who.actor)
    except Conflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc), {"idempotency_key": idempotency_key}) from None
    ctx.feed.nudge()
    if view.state == "rejected":
        reason = (view.intake or {}).get("reason") or view.state_reason or "rejected"
        detail = ((view.intake or {}).get("details") or {}).get("detail", "")
        raise ApiError(
            422,
            str(reason),
            f"the request cannot be served: {reason}" + (f" ({detail})" if detail else ""),
            {"request_id": view.id, "state": view.state, "detail": detail},
        )
    codes = await ctx.store.requests.codes_for_office(view.id, office_id) if who.role == "office" else None
    return Response(
        request_out(view, codes=codes),
        status_code=201 if created else 200,
        headers={"Location": f"{API_PREFIX}/requests/{view.id}"},
    )


@get("/requests", guards=[ANY_ROLE], summary="List requests", responses=_ERRORS)
async def list_requests(
    request: Request[Any, Any, Any],
    state: State,
    states: Annotated[
        list[str] | None,
        QueryParameter(name="state", required=False, description="keep these states (repeat the parameter)"),
    ] = None,
    office_id: Annotated[str | None, QueryParameter(name="office_id", required=False, max_length=64)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, QueryParameter(ge=0, le=10_000_000)] = 0,
) -> RequestPage:
    """Requests oldest first; an office sees only its own (``office_id`` is for staff)."""
    ctx, who = ctx_of(state), principal_of(request)
    office = who.office_id if who.role == "office" else office_id
    if who.role == "office" and office_id not in (None, who.office_id):
        return RequestPage([], limit, offset, None)
    page, more = await ctx.store.requests.page(office_id=office, states=states, limit=limit, offset=offset)
    etas = await ctx.store.flights.dropoff_etas([v.id for v in page])
    return RequestPage(
        [request_out(v, eta=etas.get(v.id)) for v in page], limit, offset, offset + limit if more else None
    )


def _timeline(entries: tuple[AuditEntry, ...]) -> list[TimelineEntry]:
    out = []
    for e in entries:
        state = (
            e.payload.get("to")
            if e.action == "transition"
            else ("submitted" if e.action == "submitted" else None)
        )
        out.append(TimelineEntry(e.seq, e.at, e.action, e.actor, state, dict(e.payload)))
    return out


def _moment(details: dict[str, Any]) -> datetime | None:
    text = details.get("at")
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _proof(entries: tuple[AuditEntry, ...]) -> ProofOfDelivery | None:
    refused = sum(1 for e in entries if e.action == "recipient_code_refused")
    for e in entries:
        if e.action == "transition" and e.payload.get("to") == "delivered":
            d = e.payload.get("details") or {}
            return ProofOfDelivery(
                at=_moment(d) or e.at,
                lon=d.get("lon"),
                lat=d.get("lat"),
                drone_id=d.get("drone_id"),
                mission_id=d.get("mission_id"),
                recipient_code_ok=bool(d.get("code_ok", True)),
                refused_attempts=refused,
            )
    return None


def _carried_window(entries: tuple[AuditEntry, ...]) -> tuple[datetime | None, datetime | None]:
    start = end = None
    for e in entries:
        if e.action != "transition":
            continue
        d = e.payload.get("details") or {}
        if e.payload.get("to") == "picked_up":
            start = _moment(d) or e.at
        elif e.payload.get("to") in ("delivered", "failed") and start is not None:
            end = _moment(d) or e.at
    return start, end


@get("/requests/{request_id:str}", guards=[ANY_ROLE], summary="One request", responses=_ERRORS)
async def read_request(
    request: Request[Any, Any, Any], state: State, request_id: FromPath[str]
) -> RequestDetail:
    """Status, ETA, timeline, flown track, proof of delivery (the codes: the filing office only)."""
    ctx, who = ctx_of(state), principal_of(request)
    view = await get_visible(ctx, who, request_id)
    timeline = await ctx.store.requests.timeline(request_id)
    flights = await ctx.store.flights.carrying(request_id)
    etas = await ctx.store.flights.dropoff_etas([request_id])
    codes = None
    if who.role == "office":
        codes = await ctx.store.requests.codes_for_office(request_id, view.office_id)
    start, end = _carried_window(timeline.entries)
    track: list[TrackPoint] = []
    if start is not None:
        for f in flights:
            for at, lon, lat, alt in ctx.feed.track(f.mission_id):
                if at >= start and (end is None or at <= end):
                    track.append(TrackPoint(at, lon, lat, alt))
    return RequestDetail(
        request=request_out(timeline.request, eta=etas.get(request_id), codes=codes),
        timeline=_timeline(timeline.entries),
        missions=[f.mission_id for f in flights],
        track=track,
        track_source="telemetry received by this server process since it started (in memory)",
        proof_of_delivery=_proof(timeline.entries),
    )


@post(
    "/requests/{request_id:str}/cancel",
    guards=[ANY_ROLE],
    status_code=200,
    summary="Cancel a request",
    responses={
        **_ERRORS,
        202: ResponseSpec(
            RequestOut, description="its drone is being re-routed without it; cancelled when it confirms"
        ),
    },
)
async def cancel(
    request: Request[Any, Any, Any], state: State, request_id: FromPath[str]
) -> Response[RequestOut]:
    """Cancel a request whose document is not picked up yet. On a drone's mission, the drone is
    re-routed without it first: 200 once it confirmed, 202 (state unchanged) while it has not
    within 30 s (the request becomes ``cancelled`` when it does). 409 ``too_late`` (picked up or
    final) or ``not_steered`` (the drone took no route without it)."""
    ctx, who = ctx_of(state), principal_of(request)
    await get_visible(ctx, who, request_id)
    try:
        view = await cancel_request(
            ctx.dispatcher, request_id, actor=who.actor, reason=f"cancelled by {who.actor}"
        )
    except CancelPending as pending:
        ctx.feed.nudge()
        return Response(request_out(pending.view), status_code=202)
    ctx.feed.nudge()
    return Response(request_out(view), status_code=200)


@post(
    "/quotes",
    guards=[ANY_ROLE],
    status_code=200,
    summary="What-if: feasibility and ETA",
    responses=_ERRORS,
    request_body_examples=[
        Example(
            summary="service centre to Zhangde Road",
            value={"pickup": "service-centre", "dropoff": [114.416, 36.1115], "weight_kg": 0.4},
        )
    ],
)
async def make_quote(state: State, data: JSONBody[QuoteIn]) -> QuoteOut:
    """What intake would answer now (feasible with an ETA, or the reason); files nothing. A
    feasible flight the weather would keep on the ground now says so in ``hold``."""
    ctx = ctx_of(state)
    _check_weight(data.weight_kg)
    _check_times(data.ready_at, data.deadline)
    datum = body_datum(data.datum)
    pickup = await _place(ctx, "pickup", data.pickup, datum)
    dropoff = await _place(ctx, "dropoff", data.dropoff, datum)
    _check_edge(ctx, pickup, dropoff, data)
    verdict = await quote(
        ctx.dispatcher,
        pickup,
        dropoff,
        float(data.weight_kg),
        priority=data.priority,
        ready_at=data.ready_at,
        deadline=data.deadline,
    )
    return QuoteOut(
        feasible=verdict.accepted,
        reason=verdict.reason,
        detail=verdict.detail,
        eta=verdict.eta,
        eta_kind="best_single_drone" if verdict.eta is not None else None,
        drone_id=verdict.drone_id,
        hold=quote_hold(ctx.dispatcher, verdict, pickup, dropoff),
    )


ROUTES = [file_request, list_requests, read_request, cancel, make_quote]
