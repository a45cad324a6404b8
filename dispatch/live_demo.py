"""The live part of ``dronedispatch demo``: the real dispatcher flies the sample requests.

Everything runs on this machine with no set-up: an embedded MQTT 5 broker, a SQLite file, the
simulated fleet (every drone its own MQTT client) and the dispatcher, all on one accelerated clock.
The sample requests are filed as their offices would file them; the dispatcher decides intake,
plans, commands the drones and follows them to delivery. Progress is printed as it happens; the
summary names every request's outcome, and the simulator's breach monitor is the safety oracle.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from airspace.zones import load_zones
from dispatch.lifecycle import REQUEST_TERMINAL
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.shared_clock import SharedClock
from dispatch.service.solver_pool import SolverPool
from dispatch.store import NewRequest, Place, Store, open_store
from dispatch.store.directory import load_pads
from fleet.description import Fleet
from fleet.embedded_broker import EmbeddedBroker
from fleet.link import FleetLink
from routing.requests import Request
from simulator.fleet_sim import SimulatedFleet

PREFIX = "dd/v1"


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
            "audit_chain_ok": self.audit_ok,
            "wall_s": round(self.wall_s, 1),
        }


def _pad_at(pads: dict[str, Place], lon: float, lat: float) -> Place:
    for place in pads.values():
        if abs(place.lon - lon) < 1e-7 and abs(place.lat - lat) < 1e-7:
            return place
    return Place(lon, lat)


def _filing(req: Request, pads: dict[str, Place]) -> NewRequest:
    pickup = _pad_at(pads, *req.pickup)
    dropoff = _pad_at(pads, *req.dropoff)
    return NewRequest(
        office_id=pickup.pad_id or "",
        pickup=pickup,
        dropoff=dropoff,
        weight_kg=req.weight_kg,
        priority=req.priority,
        ready_at=req.ready_at,
        deadline=req.deadline,
        description=f"sample request {req.id}",
        idempotency_key=req.id,
    )


async def _delivered_at(store: Store, request_id: str) -> datetime | None:
    timeline = await store.requests.timeline(request_id)
    for entry in timeline.entries:
        if entry.action == "transition" and entry.payload.get("to") == "delivered":
            return entry.at
    return None


async def run_live(
    fleet: Fleet,
    zones_path: Path,
    pads_path: Path,
    requests: tuple[Request, ...],
    start: datetime,
    *,
    db_path: Path,
    speed: float = 60.0,
    timeout_s: float = 300.0,
    plan_seconds: float = 1.0,
    out: TextIO | None = None,
) -> LiveSummary:
    """Fly ``requests`` with the simulated ``fleet``; return the summary (progress to ``out``)."""
    out = out or sys.stdout
    wall0 = time.monotonic()
    db_path.unlink(missing_ok=True)
    zones = load_zones(zones_path)
    pads = {pid: place for pid, (_, place) in load_pads(pads_path).items()}
    features = json.loads(zones_path.read_text(encoding="utf-8"))["features"]
    # The store reads the simulated clock; until that clock runs (after the slow start-up below),
    # everything is stamped with the start of the simulated day.
    now = [lambda: start]
    store = await open_store(f"sqlite+aiosqlite:///{db_path}", now=lambda: now[0]())
    pool = SolverPool()
    try:
        await store.directory.seed(fleet, load_pads(pads_path), actor="demo")
        for feature in features:
            await store.zones.upsert(feature, actor="demo")
        await pool.warm_up()  # solver processes take seconds to start: not on the simulated clock
        with EmbeddedBroker() as broker:
            clock = SharedClock.starting_now(speed, start)
            now[0] = clock.now
            tz = start.tzinfo
            sim = SimulatedFleet(fleet, broker, clock=clock, prefix=PREFIX, zones=zones)
            link = FleetLink(
                broker, client_id="demo-dispatcher", prefix=PREFIX, clock=clock, max_telemetry_age_s=60.0
            )
            async with sim, link:
                dispatcher = Dispatcher(store, link, clock, pool=pool, plan_seconds=plan_seconds)
                names: dict[str, str] = {}

                def progress(request_id: str, state: str) -> None:
                    when = clock.now().astimezone(tz).strftime("%H:%M:%S")
                    print(f"  {when}  {names.get(request_id, request_id):<6} {state}", file=out, flush=True)

                dispatcher.on_progress = progress
                async with dispatcher:
                    ids: list[str] = []
                    for req in requests:
                        view = await dispatcher.submit(_filing(req, pads), actor=f"office:{req.id}")
                        names[view.id] = req.id
                        ids.append(view.id)
                        why = f" ({view.state_reason})" if view.state_reason else ""
                        progress(view.id, f"{view.state}{why}")

                    async def finished() -> bool:
                        views = [await store.requests.get(i) for i in ids]
                        return all(v.state in REQUEST_TERMINAL for v in views)

                    try:
                        await dispatcher.wait_until(finished, timeout_s=timeout_s)
                    except TimeoutError:
                        print(f"  (stopped after {timeout_s:.0f} s of wall time)", file=out)
                km = sum(sim.drone(d.id).distance_flown_m for d in fleet.drones) / 1000.0
                breaches = len(sim.breaches)
        views = {names[i]: await store.requests.get(i) for i in ids}
        minutes: list[float] = []
        on_time = 0
        for view in views.values():
            if view.state != "delivered":
                continue
            at = await _delivered_at(store, view.id)
            if at is None:
                continue
            minutes.append((at - view.created_at).total_seconds() / 60.0)
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
        )
    finally:
        pool.close()
        await store.close()


def print_summary(summary: LiveSummary, out: TextIO | None = None) -> None:
    """The summary table of a live run."""
    out = out or sys.stdout
    median = "-" if summary.median_minutes is None else f"{summary.median_minutes:.1f}"
    rows = [
        ("requests", str(summary.requests)),
        ("delivered", str(summary.delivered)),
        ("on time", str(summary.on_time)),
        ("rejected at intake", ", ".join(f"{r} ({why})" for r, why in summary.rejected.items()) or "-"),
        ("not finished", ", ".join(f"{r} ({s})" for r, s in summary.unfinished.items()) or "-"),
        ("ended otherwise", ", ".join(f"{r} ({s})" for r, s in summary.other_final.items()) or "-"),
        ("median request-to-delivery (min)", median),
        ("km flown", f"{summary.km_flown:.2f}"),
        ("geofence breaches", str(summary.breaches)),
        ("audit chain", "verified" if summary.audit_ok else "BROKEN"),
        ("wall time (s)", f"{summary.wall_s:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=out)
