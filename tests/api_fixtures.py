"""Fixtures for the HTTP API tests: the real app served by uvicorn in the test's event loop.

Litestar's ``AsyncTestClient`` runs the app in a thread of its own (a blocking portal), where the
store's connections and the dispatcher (bound to the test's loop) cannot be used, and it buffers a
response until it ends, which a server-sent event stream never does. So the app is served for real
(:class:`dispatch.api.AppServer` on a free port) and spoken to with ``httpx.AsyncClient``.

* ``api``: the app over a seeded store (SQLite and PostgreSQL) and a started dispatcher whose link
  is connected to the real broker, without drones (intake works; nothing flies).
* :func:`flying_api`: the same over ``running_system`` (simulated drones flying at 150x).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch.api import ApiContext, AppServer, RateLimit, create_app
from dispatch.harness import System, running_system, sample_fleet, seed
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings
from dispatch.store import Store
from fleet.clock import RealClock
from fleet.connection import BrokerAddress
from fleet.link import FleetLink

OFFICE_A = "service-centre"
OFFICE_B = "yindu-district"


@dataclass
class Api:
    """A served API and keys of every role."""

    url: str
    store: Store
    dispatcher: Dispatcher
    ctx: ApiContext
    keys: dict[
        str, str
    ]  # "office" (service-centre), "office_b" (yindu-district), "operator", "admin" -> token
    system: System | None = None
    server: AppServer | None = None

    def client(self, who: str | None = None, **headers: str) -> httpx.AsyncClient:
        """A client authenticated as ``who`` (a key name of :attr:`keys`), or without a key."""
        h = dict(headers)
        if who is not None:
            h["Authorization"] = f"Bearer {self.keys[who]}"
        return httpx.AsyncClient(base_url=self.url, headers=h, timeout=30.0)


async def make_keys(store: Store) -> dict[str, str]:
    """One key of each role (two offices)."""
    return {
        "office": (await store.api_keys.create("office", actor="test", office_id=OFFICE_A)).token,
        "office_b": (await store.api_keys.create("office", actor="test", office_id=OFFICE_B)).token,
        "operator": (await store.api_keys.create("operator", actor="test")).token,
        "admin": (await store.api_keys.create("admin", actor="test")).token,
    }


@asynccontextmanager
async def served(
    store: Store,
    dispatcher: Dispatcher,
    *,
    rate: RateLimit | None = None,
    system: System | None = None,
    dashboard: Path | None = None,
) -> AsyncIterator[Api]:
    """Serve the app over a started dispatcher on a free port (``dashboard``: its static files)."""
    ctx = ApiContext(
        store=store, dispatcher=dispatcher, rate_limit=rate or RateLimit(1000, 1000), dashboard_dir=dashboard
    )
    keys = await make_keys(store)
    async with AppServer(create_app(ctx), "127.0.0.1", 0) as server:
        yield Api(server.url, store, dispatcher, ctx, keys, system, server)


@asynccontextmanager
async def idle_api(
    store: Store,
    broker: BrokerAddress,
    prefix: str,
    pool: SolverPool,
    *,
    rate: RateLimit | None = None,
    dashboard: Path | None = None,
) -> AsyncIterator[Api]:
    """The API over a seeded store and a started dispatcher with no drone online."""
    await seed(store, sample_fleet())
    clock = RealClock()  # the store's clock too: requests filed without ready_at are ready now
    link = FleetLink(broker, client_id=f"api-{prefix.split('/')[0]}", prefix=prefix, clock=clock)
    async with link:
        dispatcher = Dispatcher(store, link, clock, DispatcherSettings(plan_seconds=0.2), pool=pool)
        async with dispatcher, served(store, dispatcher, rate=rate, dashboard=dashboard) as api:
            yield api


@asynccontextmanager
async def flying_api(
    store: Store, broker: BrokerAddress, prefix: str, pool: SolverPool
) -> AsyncIterator[Api]:
    """The API over the whole system: simulated drones fly what is filed (150x)."""
    async with (
        running_system(store, broker, prefix, pool=pool) as system,
        served(store, system.dispatcher, system=system) as api,
    ):
        yield api


@pytest.fixture(name="api")
async def api_fixture(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> AsyncIterator[Api]:
    """The API over a seeded store (SQLite and PostgreSQL) and an idle dispatcher."""
    async with idle_api(store, broker, prefix, solver_pool) as api:
        yield api


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of an error response (and check the error format on the way)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


async def sse_messages(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event type, decoded JSON data) of each message of a server-sent event stream."""
    event, data = None, []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event or "message", json.loads("\n".join(data))
            event, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def parse_prometheus(text: str) -> dict[str, float]:
    """Samples of a Prometheus text exposition; every line must be a comment or a sample."""
    samples: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary"), line
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = _LINE.match(line)
        assert m is not None, f"not a Prometheus sample line: {line!r}"
        base = m.group(1).split("{")[0]
        assert any(base == t or base.startswith(t + "_") for t in types), f"sample without a TYPE: {line}"
        samples[m.group(1)] = float(m.group(2))
    return samples
