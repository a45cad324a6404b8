"""The Litestar application (:func:`create_app`) and an in-process server for it (:class:`AppServer`).

The app runs on an already started store and dispatcher, in the same event loop::

    ctx = ApiContext(store=store, dispatcher=dispatcher)          # clock: the dispatcher's
    async with AppServer(create_app(ctx), "127.0.0.1", 8000) as server:
        print(f"serving on {server.url}")
        await stop.wait()

Routes: ``/api/v1/...`` (API key), ``/health`` and ``/metrics`` (no key), ``/schema`` (OpenAPI:
``/schema/openapi.json``, ``/schema/swagger``...), ``/dashboard`` (static files, when present)
and ``/`` redirecting to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect

from dispatch.api import (
    health,
    metrics,
    routes_admin,
    routes_directory,
    routes_fleet,
    routes_intents,
    routes_requests,
    routes_weather,
    routes_zones,
)
from dispatch.api import stream as stream_routes
from dispatch.api.auth import ApiKeyMiddleware
from dispatch.api.bodies import JsonRequest
from dispatch.api.context import API_PREFIX, ApiContext
from dispatch.api.edge import at_the_edge
from dispatch.api.errors import EXCEPTION_HANDLERS
from dispatch.api.schemas import BODY_STRUCTS
from dispatch.api.static_files import dashboard_router, docs_assets_router, docs_render_plugins

log = logging.getLogger(__name__)

CLOSING = "closing"  # app state: called when the server stops, before it waits for open responses


def create_app(ctx: ApiContext, *, debug: bool = False) -> Litestar:
    """The HTTP API over ``ctx`` (a store and a started dispatcher).

    The app's lifespan starts and stops ``ctx.feed`` (the live stream and flown tracks); the
    store and the dispatcher belong to the caller, who starts them before and stops them after.
    """
    api = Router(
        path=API_PREFIX,
        route_handlers=[
            *routes_requests.ROUTES,
            *routes_zones.ROUTES,
            *routes_fleet.ROUTES,
            *routes_intents.ROUTES,
            *routes_directory.ROUTES,
            *routes_admin.ROUTES,
            *routes_weather.ROUTES,
            *stream_routes.ROUTES,
        ],
        middleware=[DefineMiddleware(ApiKeyMiddleware)],
        request_class=JsonRequest,  # bodies: JSON only, nesting bounded before decoding
        security=[{"BearerKey": []}],
        tags=["api"],
    )
    handlers: list[Any] = [api, *health.ROUTES, *metrics.ROUTES, docs_assets_router()]
    dashboard = ctx.dashboard_dir if ctx.dashboard_dir is not None and ctx.dashboard_dir.is_dir() else None
    if dashboard is not None:
        handlers.append(dashboard_router(dashboard))

    @get("/", include_in_schema=False)
    async def root() -> Redirect:
        """To the dashboard (or the API schema when there is none)."""
        return Redirect("/dashboard/" if dashboard is not None else "/schema")

    handlers.append(root)
    app = Litestar(
        route_handlers=handlers,
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"ctx": ctx, CLOSING: ctx.feed.close_listeners}),
        on_startup=[ctx.feed.start],
        on_shutdown=[ctx.feed.stop],
        openapi_config=OpenAPIConfig(
            title="dronedispatch",
            version="1.0.0",
            description="Drone document delivery: requests, quotes, zones, fleet, live stream.",
            components=Components(
                security_schemes={
                    "BearerKey": SecurityScheme(type="http", scheme="bearer", description="an API key")
                }
            ),
            render_plugins=docs_render_plugins(),
        ),
        debug=debug,
        # The embedding program configures logging (serve: basicConfig; the demo: its terminal).
        # Litestar's default would re-configure the root logger with a queue-listener thread that
        # outlives the streams it was given (seen as "I/O operation on closed file" in tests).
        logging_config=None,
    )
    exact_body_schemas(app)
    app.asgi_handler = at_the_edge(app.asgi_handler)  # outermost: the access log sees every answer
    return app


def exact_body_schemas(app: Litestar) -> None:
    """Document the request bodies with msgspec's own JSON Schema of them.

    Litestar's generated schema drops the constraints inside unions (a pad id's minimum length,
    ``[lon, lat]`` having two items) and does not say that unknown fields are refused; msgspec's
    schema is exactly what is validated, so clients and the schema fuzzer see the real contract.
    """
    components = app.openapi_schema.components
    if components is None or components.schemas is None:
        return
    _, definitions = msgspec.json.schema_components(BODY_STRUCTS, ref_template="#/components/schemas/{name}")
    for name, schema in definitions.items():
        components.schemas[name] = schema  # plain JSON Schema is rendered as is


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the program that embeds it owns SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave SIGTERM and SIGINT to the program (uvicorn would take them over)."""
        yield

    async def startup(self, sockets: list[Any] | None = None) -> None:
        """uvicorn's start-up, then tell :class:`AppServer` it listens."""
        await super().startup(sockets)
        if self.started:
            self.up.set()


class AppServer:
    """Serve an ASGI app with uvicorn in the running event loop (``async with`` or start/stop).

    ``port=0`` picks a free port; :attr:`port` and :attr:`url` tell which once started.
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "warning"
    ) -> None:
        self.host = host
        self.port = port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,  # uvicorn's records go to the program's handlers (escaped, see dispatch.logs)
            access_log=False,  # dispatch.api.edge writes one line per call instead
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start serving; returns once the app's startup ran and the socket listens."""
        self._task = asyncio.create_task(self._serve(), name="http-server")
        up = asyncio.create_task(self._server.up.wait())
        try:
            await asyncio.wait({self._task, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
        if not self._server.up.is_set():
            self._task.result()  # raises what stopped it
            raise RuntimeError(f"the HTTP server did not start on {self.host}:{self.port}")
        sockets = [s for srv in getattr(self._server, "servers", []) for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn exits when it cannot bind or the app's startup fails
            raise RuntimeError(
                f"the HTTP server on {self.host}:{self.port} stopped (exit {exc.code})"
            ) from None

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (streams get 2 s), run the app's shutdown."""
        if self._task is None:
            return
        state = getattr(self._server.config.app, "state", None)
        closing = state.get(CLOSING) if state is not None else None
        if callable(closing):
            closing()  # end the open streams, so the server does not wait for them
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def __aenter__(self) -> AppServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve_app(app: Any, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve ``app`` until cancelled (then shut down cleanly); set ``ready`` once it listens."""
    server = AppServer(app, host, port)
    await server.start()
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.shield(server.stop())
