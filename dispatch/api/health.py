"""``/health`` (no key): 200 when the database answers, the broker is connected and the dispatcher runs.

Otherwise 503, naming what is down. A weather source that cannot be read, or an area grounded by
an operator, is named in ``detail.weather`` without making the service unavailable.
"""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import HealthOut
from dispatch.service.dispatcher import Dispatcher


def dispatcher_running(d: Dispatcher) -> bool:
    """Started (fleet loaded) and none of its loops has ended."""
    return d.running


@get(
    "/health",
    summary="Health",
    tags=["operations"],
    responses={503: ResponseSpec(HealthOut, description="something is down (named in detail)")},
)
async def health(state: State) -> Response[HealthOut]:
    """Database reachable, broker connected, dispatcher running: 200, else 503 with what is down."""
    ctx = ctx_of(state)
    detail: dict[str, str] = {}
    try:
        async with asyncio.timeout(3.0), ctx.store.db.read() as session:
            await session.execute(text("SELECT 1"))
        database = True
    except Exception as exc:
        database, detail["database"] = False, type(exc).__name__
    broker = ctx.dispatcher.link.connected
    if not broker:
        detail["broker"] = f"not connected to {ctx.dispatcher.link.address.url}"
    running = dispatcher_running(ctx.dispatcher)
    if not running:
        detail["dispatcher"] = "not running"
    weather = ctx.dispatcher.weather.status()
    if weather.grounded is not None:
        detail["weather"] = f"area grounded: {weather.grounded}"
    elif weather.problem is not None or weather.warning is not None:
        # A warning, not an outage: unknown weather holds take-offs (or not) by the area's policy.
        detail["weather"] = weather.problem or weather.warning or ""
    ok = database and broker and running
    body = HealthOut("ok" if ok else "unavailable", database, broker, running, detail)
    return Response(body, status_code=200 if ok else 503)


ROUTES = [health]
