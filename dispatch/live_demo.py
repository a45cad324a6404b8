"""The live part of ``dronedispatch demo``: the whole system, with offices filing requests over HTTP.

Everything runs on this machine with no set-up: an embedded MQTT 5 broker, a SQLite file, the
simulated fleet (every drone its own MQTT client), the dispatcher, and the HTTP API with the
operators' dashboard, all on one accelerated clock. A stream of office requests (the samples, then
generated ones) is filed through ``POST /api/v1/requests`` with each office's own API key; the
dispatcher decides intake, plans, commands the drones and follows them to delivery. Progress shows
live in the terminal; the summary names every request's outcome, and the simulator's breach and
separation monitors are the safety oracles.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

import httpx

from airspace.terrain import AreaTerrain
from airspace.weather import WeatherFormatError
from dispatch.demo_display import DroneLine, Mode, ProgressDisplay, Snapshot
from dispatch.demo_stream import Filing, request_stream
from dispatch.lifecycle import REQUEST_TERMINAL
from dispatch.live_system import LIVE_DISPATCHER, LiveSystem, live_system
from dispatch.settings.model import WeatherSettings
from dispatch.store import Store
from dispatch.store.directory import load_pads
from dispatch.weather_feed import read_forecast, weather_watching
from fleet.description import Fleet
from routing.requests import Request


@dataclass(frozen=True, slots=True)
class LiveSummary:
    """What the live run achieved."""

    requests: int
    delivered: int
    on_time: int
    rejected: dict[str, str]  # request id -> reason
    unfinished: dict[str, str]  # request id -> state when the run ended
    other_final: dict[str, str]  # request id -> final state other than delivered/rejected (why)
    median_minutes: float | None  # filing to delivery, simulated minutes
    km_flown: float
    breaches: int
    audit_ok: bool
    wall_s: float
    not_filed: int = 0  # requests of the stream not filed before the run ended
    separation_losses: int = 0  # losses of separation the simulator's monitor saw
    closest_approach_m: float | None = None  # the closest of them (None: no loss)
    terrain_violations: int = 0  # cruising out of the true-height band (simulator's terrain monitor)
    # Each urgent request's simulated minutes from filing to delivery (None: not delivered).
    urgent_minutes: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The summary as plain JSON-ready data."""
        return {
            "requests": self.requests,
            "delivered": self.delivered,
            "on_time": self.on_time,
            "rejected": self.rejected,
            "unfinished": self.unfinished,
            "other_final": self.other_final,
            "median_request_to_delivery_min": (
                None if self.median_minutes is None else round(self.median_minutes, 1)
            ),
            "km_flown": round(self.km_flown, 2),
            "geofence_breaches": self.breaches,
            "separation_losses": self.separation_losses,
            "terrain_violations": self.terrain_violations,
            "closest_approach_m": (
                None if self.closest_approach_m is None else round(self.closest_approach_m, 1)
            ),
            "audit_chain_ok": self.audit_ok,
            "wall_s": round(self.wall_s, 1),
            "not_filed": self.not_filed,
            "urgent_minutes": {r: None if m is None else round(m, 1) for r, m in self.urgent_minutes.items()},
        }


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How the live run goes (the demo's flags)."""

    requests: int = 30  # filed in all: the samples first, then generated ones
    duration_s: float | None = None  # wall seconds once running; None: until every filed one is final
    speed: float = 60.0  # simulated seconds per wall second
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port
    display: Mode = "lines"
    plan_seconds: float = 1.0
    seed: int = 1
    every_s: float = 90.0  # simulated seconds between generated filings
    timeout_s: float = 900.0  # wall-time safety limit when no duration is given
    weather: str | None = None  # a forecast file or URL for weather go/no-go (None: not checked)
    terrain: AreaTerrain | None = None  # the area's terrain model (None: flat ground)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


async def _delivered_at(store: Store, request_id: str) -> datetime | None:
    """The hand-over as the drone reported it (the dispatcher records it a moment later)."""
    timeline = await store.requests.timeline(request_id)
    for entry in timeline.entries:
        if entry.action == "transition" and entry.payload.get("to") == "delivered":
            reported = entry.payload.get("details", {}).get("at")
            return datetime.fromisoformat(reported) if isinstance(reported, str) else entry.at
    return None


async def run_live(
    fleet: Fleet,
    zones_path: Path,
    pads_path: Path,
    samples: tuple[Request, ...],
    start: datetime,
    *,
    db_path: Path,
    options: LiveOptions | None = None,
    out: TextIO | None = None,
) -> LiveSummary:
    """Run the whole system and file the demo's request stream through the HTTP API, as offices
    would; return the summary (progress to ``out``)."""
    opts = options or LiveOptions()
    out = out or sys.stdout
    wall0 = time.monotonic()
    # A run starts on a new file; a WAL or shared-memory file left beside an old one (by a reader
    # such as the sqlite3 shell) would not match it and fail every query with a disk I/O error.
    for suffix in ("", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    pads = {pid: (place.lon, place.lat) for pid, (_, place) in load_pads(pads_path).items()}
    filings = request_stream(
        samples, pads, start, opts.requests, every=timedelta(seconds=opts.every_s), seed=opts.seed
    )
    display = ProgressDisplay(out, opts.display, tz=start.tzinfo)
    port = opts.port
    if port != 0 and not _port_free(opts.host, port):
        display.note(f"  port {port} is taken; serving on a free port instead")
        port = 0
    labels: dict[str, str] = {}  # request id -> label (R001, D015)
    ids: list[str] = []
    weather = None
    if opts.weather is not None:
        try:
            weather = await read_forecast(opts.weather)
        except (OSError, httpx.HTTPError, WeatherFormatError) as exc:
            display.note(f"  weather {opts.weather}: {exc}; the simulated drones fly in calm air")
    async with live_system(
        fleet,
        zones_path,
        pads_path,
        start,
        db_url=f"sqlite+aiosqlite:///{db_path}",
        speed=opts.speed,
        dispatcher_settings=replace(LIVE_DISPATCHER, plan_seconds=opts.plan_seconds),
        host=opts.host,
        port=port,
        offices={f.office_id for f in filings},
        weather=weather,
        terrain=opts.terrain,
    ) as system:
        clock = system.clock
        system.dispatcher.on_progress = lambda rid, state: display.request_changed(
            clock.now(), labels.get(rid, rid), state
        )
        display.note(f"  dashboard: {system.dashboard_url}")
        display.note(f"  API:       {system.base_url}/api/v1  (OpenAPI schema at {system.base_url}/schema)")
        try:
            async with weather_watching(system.dispatcher, WeatherSettings(source=opts.weather)):
                await _fly(system, fleet, filings, labels, ids, display, opts, wall0)
        finally:
            display.close()
        km = sum(system.sim.drone(d.id).distance_flown_m for d in fleet.drones) / 1000.0
        breaches = len(system.sim.breaches)
        summary = await _summary(system.store, ids, labels, km, breaches, len(filings), wall0)
        closest = system.sim.separation.closest()
        return replace(
            summary,
            separation_losses=system.sim.separation.count,
            terrain_violations=len(system.sim.terrain_violations),
            closest_approach_m=None if closest is None else closest.closest_m,
        )


async def _fly(
    system: LiveSystem,
    fleet: Fleet,
    filings: list[Filing],
    labels: dict[str, str],
    ids: list[str],
    display: ProgressDisplay,
    opts: LiveOptions,
    wall0: float,
) -> None:
    """File the requests on time through the API while the board refreshes; return when every
    filed request is final (or the wall-time limit is reached)."""
    store, dispatcher, sim, clock = system.store, system.dispatcher, system.sim, system.clock
    limit = opts.duration_s if opts.duration_s is not None else opts.timeout_s
    filed_all = asyncio.Event()

    async def file(http: httpx.AsyncClient, filing: Filing) -> None:
        reply = await http.post(
            "/api/v1/requests",
            json=filing.body,
            headers={
                "Authorization": f"Bearer {system.office_tokens[filing.office_id]}",
                "Idempotency-Key": f"demo-{filing.label}",
            },
        )
        if reply.status_code >= 500:
            raise RuntimeError(f"the API failed on {filing.label}: {reply.status_code} {reply.text}")
        body = reply.json()
        if reply.status_code >= 400:
            # Refused at intake (the request is kept, rejected, with its reason) or invalid.
            error = body.get("error", {})
            rid = error.get("details", {}).get("request_id")
            if rid is None:
                raise RuntimeError(f"API refused {filing.label}: {reply.status_code} {reply.text}")
            labels[rid] = filing.label
            ids.append(rid)
            display.request_changed(clock.now(), filing.label, "rejected", error.get("code"))
            return
        labels[body["id"]] = filing.label
        ids.append(body["id"])
        display.request_changed(clock.now(), filing.label, body["state"], body.get("state_reason"))

    async def feed() -> None:
        # Offices file independently: what is due at one time goes in at once, not one office
        # waiting for the previous one's answer (13 samples one by one took a simulated minute at
        # 60x, and the urgent licence filed last of them found its drone taken).
        limits = httpx.Limits(max_connections=len(filings) or 1)
        async with httpx.AsyncClient(base_url=system.base_url, timeout=30.0, limits=limits) as http:
            for at, group in itertools.groupby(filings, key=lambda f: f.at):
                wait = (at - clock.now()).total_seconds()
                if wait > 0:
                    await clock.sleep(wait)
                await asyncio.gather(*(file(http, f) for f in group))
        filed_all.set()

    async def finished() -> bool:
        if not filed_all.is_set():
            return False
        views = [await store.requests.get(i) for i in ids]
        return all(v.state in REQUEST_TERMINAL for v in views)

    async def draw() -> None:
        states: Counter[str] = Counter()
        for i in list(ids):
            states[(await store.requests.get(i)).state] += 1
        lines = []
        for d in fleet.drones:
            status = dispatcher.link.registry.get(d.id)
            tele = status.telemetry if status is not None else None
            view = dispatcher.drones.get(d.id)
            lines.append(
                DroneLine(
                    d.id,
                    tele.state if tele is not None else "unknown",
                    tele.battery_pct if tele is not None else None,
                    view.mission if view is not None else None,
                    len(view.onboard) if view is not None else 0,
                )
            )
        km = sum(sim.drone(d.id).distance_flown_m for d in fleet.drones) / 1000.0
        breaches, losses = len(sim.breaches), sim.separation.count
        display.refresh(
            Snapshot(clock.now(), len(ids), len(filings), states, tuple(lines), km, breaches, losses)
        )

    async def board() -> None:
        while True:
            await draw()
            await asyncio.sleep(0.5)  # a display refresh period, not synchronisation

    feeder = asyncio.create_task(feed(), name="demo-feed")
    drawer = asyncio.create_task(board(), name="demo-board")
    try:
        # --duration counts from when the system is up; the safety limit from the very start.
        remaining = limit if opts.duration_s is not None else limit - (time.monotonic() - wall0)
        waiter = asyncio.create_task(dispatcher.wait_until(finished, timeout_s=max(1.0, remaining)))
        done, _ = await asyncio.wait({feeder, waiter}, return_when=asyncio.FIRST_EXCEPTION)
        if feeder in done and feeder.exception() is not None:
            waiter.cancel()
            raise feeder.exception()  # type: ignore[misc]
        try:
            await waiter
        except TimeoutError:
            display.note(f"  (stopped after {limit:.0f} s of wall time)")
    finally:
        for task in (feeder, drawer):
            task.cancel()
        for task in (feeder, drawer):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await draw()  # the final state


async def _summary(
    store: Store, ids: list[str], labels: dict[str, str], km: float, breaches: int, planned: int, wall0: float
) -> LiveSummary:
    views = {labels[i]: await store.requests.get(i) for i in ids}
    minutes: list[float] = []
    urgent: dict[str, float | None] = {r: None for r, v in views.items() if v.priority == "urgent"}
    on_time = 0
    for label, view in views.items():
        if view.state != "delivered":
            continue
        at = await _delivered_at(store, view.id)
        if at is None:
            continue
        minutes.append((at - view.created_at).total_seconds() / 60.0)
        if label in urgent:
            urgent[label] = minutes[-1]
        if view.deadline is None or at <= view.deadline:
            on_time += 1
    report = await store.verify_audit()
    return LiveSummary(
        requests=len(views),
        delivered=sum(1 for v in views.values() if v.state == "delivered"),
        on_time=on_time,
        rejected={r: v.state_reason or "" for r, v in views.items() if v.state == "rejected"},
        unfinished={r: v.state for r, v in views.items() if v.state not in REQUEST_TERMINAL},
        other_final={
            r: f"{v.state}: {v.state_reason or '-'}"
            for r, v in views.items()
            if v.state in REQUEST_TERMINAL and v.state not in ("delivered", "rejected")
        },
        median_minutes=statistics.median(minutes) if minutes else None,
        km_flown=km,
        breaches=breaches,
        audit_ok=report.ok,
        wall_s=time.monotonic() - wall0,
        not_filed=planned - len(views),
        urgent_minutes=urgent,
    )


def print_summary(summary: LiveSummary, out: TextIO | None = None) -> None:
    """The summary table of a live run."""
    out = out or sys.stdout
    median = "-" if summary.median_minutes is None else f"{summary.median_minutes:.1f}"
    not_filed = summary.not_filed
    rows = [
        ("requests filed", f"{summary.requests}" + (f" ({not_filed} not filed)" if not_filed else "")),
        ("delivered", str(summary.delivered)),
        ("on time", str(summary.on_time)),
        ("rejected at intake", ", ".join(f"{r} ({why})" for r, why in summary.rejected.items()) or "-"),
        ("not finished", ", ".join(f"{r} ({s})" for r, s in summary.unfinished.items()) or "-"),
        ("ended otherwise", ", ".join(f"{r} ({s})" for r, s in summary.other_final.items()) or "-"),
        ("median request-to-delivery (min)", median),
        ("urgent, filing to delivery (min)", _urgent_cell(summary)),
        ("km flown", f"{summary.km_flown:.2f}"),
        ("geofence breaches", str(summary.breaches)),
        ("losses of separation", _separation_cell(summary)),
        ("terrain violations", str(summary.terrain_violations)),
        ("audit chain", "verified" if summary.audit_ok else "BROKEN"),
        ("wall time (s)", f"{summary.wall_s:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=out)


def _urgent_cell(summary: LiveSummary) -> str:
    cells = [f"{r} {'-' if m is None else f'{m:.1f}'}" for r, m in summary.urgent_minutes.items()]
    return ", ".join(cells) or "-"


def _separation_cell(summary: LiveSummary) -> str:
    if summary.closest_approach_m is None:
        return str(summary.separation_losses)
    return f"{summary.separation_losses} (closest {summary.closest_approach_m:.1f} m)"
