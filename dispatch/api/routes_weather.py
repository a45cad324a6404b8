"""``/api/v1/weather`` (staff): the weather the dispatcher flies by, and grounding the area."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from dispatch.api.auth import STAFF_ONLY, principal_of
from dispatch.api.errors import ApiError, error_responses
from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import GroundingIn, WeatherOut
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.grounding import set_grounding


def weather_out(dispatcher: Dispatcher) -> WeatherOut:
    """The dispatcher's weather state as a response body."""
    gate = dispatcher.weather
    s = gate.status()
    return WeatherOut(s.source, gate.unknown, s.read_at, s.covers_until, s.problem, s.warning, s.grounded)


@get(
    "/weather",
    guards=[STAFF_ONLY],
    summary="The weather the dispatcher flies by",
    responses=error_responses(),
)
async def weather(state: State) -> WeatherOut:
    """The forecast source, when it was last read and how far it reaches, why the weather is
    unknown (if it is), and whether an operator has grounded the area."""
    return weather_out(ctx_of(state).dispatcher)


@post(
    "/weather/grounding",
    guards=[STAFF_ONLY],
    status_code=200,
    summary="Ground the area, or lift the grounding",
    responses=error_responses(e422="no reason given to ground the area"),
)
async def grounding(request: Request[Any, Any, Any], state: State, data: JSONBody[GroundingIn]) -> WeatherOut:
    """``{"grounded": true, "reason": "typhoon"}``: no drone takes off in the area (flights in the
    air go on), and every request waiting says so; ``{"grounded": false}`` lifts it. Audited
    (``area`` entries ``grounded`` / ``lifted``) and kept across restarts."""
    ctx = ctx_of(state)
    if data.grounded and not data.reason.strip():
        raise ApiError(422, "reason_required", "say why the area is grounded (reason)")
    reason = data.reason.strip() if data.grounded else None
    await set_grounding(ctx.store, ctx.dispatcher.weather, reason, actor=principal_of(request).actor)
    ctx.dispatcher.wake()
    return weather_out(ctx.dispatcher)


ROUTES = [weather, grounding]
