"""The shared fleet view: dispatcher processes that split the telemetry share what each heard.

With ``dronedispatch run --share-telemetry`` every dispatcher process of a service area is a
member of one MQTT 5 shared subscription (:func:`share_group`): the broker hands each telemetry
sample to one of them. Each process writes the latest sample of every drone it heard into the
store's fleet view (:class:`FleetViewWriter`, table ``drone_positions``, one statement every
``period_s``), and the leader reads what the others wrote (:class:`FleetViewReader`) and hands it
to its :class:`~fleet.link.FleetLink` as if it had heard it (``accept_shared``), so the dispatcher's
registry is fresh for every drone although the leader reads only its share from the broker.

:class:`TelemetryMeter` counts what a process takes (directly and from the view) and the delay
from a sample's timestamp to its handling, for the periodic ``stats`` line of ``dronedispatch run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

from dispatch.store import Store
from dispatch.store.positions import Position
from fleet.clock import Clock
from fleet.link import SHARE_GROUP, FleetLink
from fleet.messages import ProtocolError, Telemetry, decode, encode

log = logging.getLogger(__name__)

_NOT_IN_GROUP = re.compile(r"[^A-Za-z0-9_.-]")


def share_group(area: str) -> str:
    """The shared-subscription group of a service area's dispatchers (a valid :data:`SHARE_GROUP`)."""
    name = "dd-" + _NOT_IN_GROUP.sub(".", area)
    if len(name) > 64 or name != "dd-" + area:
        # Two areas whose names differ only in characters a group cannot hold stay apart.
        name = f"{name[:50]}-{hashlib.sha256(area.encode()).hexdigest()[:10]}"
    assert SHARE_GROUP.fullmatch(name), name
    return name


def writer_id() -> str:
    """This process's name in the fleet view's ``writer`` column (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class ViewStats:
    """Counters of the fleet view in one process (monotonic)."""

    batches: int = 0
    rows_written: int = 0
    write_errors: int = 0
    reads: int = 0
    rows_read: int = 0
    read_errors: int = 0
    undecodable: int = 0


class FleetViewWriter:
    """Writes the latest sample of every drone ``link`` hears itself into the fleet view, every
    ``period_s``, in one statement. Memory: one sample per drone between writes. Samples the link
    took from the view (``accept_shared``) are never written back."""

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        writer: str,
        *,
        period_s: float = 0.5,
        stats: ViewStats | None = None,
    ) -> None:
        self.store = store
        self.link = link
        self.writer = writer
        self.period_s = period_s
        self.stats = stats or ViewStats()
        self._latest: dict[str, tuple[Telemetry, datetime]] = {}

    def _on_telemetry(self, msg: Telemetry, received_at: datetime, shared: bool) -> None:
        if shared:
            return
        held = self._latest.get(msg.drone_id)
        if held is None or msg.ts > held[0].ts:
            self._latest[msg.drone_id] = (msg, received_at)

    async def flush(self) -> int:
        """Write what was heard since the last write; return the number of drones written."""
        batch, self._latest = self._latest, {}
        if not batch:
            return 0
        rows = [Position(d, t.ts, encode(t).decode(), at) for d, (t, at) in batch.items()]
        try:
            await self.store.positions.upsert_latest(rows, writer=self.writer)
        except Exception:
            # The next samples (about a second away) replace these; never stop the writer for it.
            self.stats.write_errors += 1
            log.exception("fleet view: writing %d positions failed", len(rows))
            return 0
        self.stats.batches += 1
        self.stats.rows_written += len(rows)
        return len(rows)

    async def run(self) -> None:
        """Write every ``period_s`` until cancelled (a final write on the way out)."""
        self.link.add_telemetry_listener(self._on_telemetry)
        try:
            while True:
                await asyncio.sleep(self.period_s)  # the write period, not synchronisation
                await self.flush()
        finally:
            self.link.remove_telemetry_listener(self._on_telemetry)
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())


class FleetViewReader:
    """Reads what other processes wrote into the fleet view every ``period_s`` and hands it to
    ``link`` (:meth:`FleetLink.accept_shared`: only samples newer than the one held are taken).

    The cursor is the database clock of the newest row read. A write whose statement read the
    clock earlier can commit after one that read it later, so every read looks ``margin_s`` behind
    the cursor; what it reads twice is dropped by the sample's timestamp (cheaply, before decoding).
    """

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        writer: str,
        *,
        period_s: float = 0.5,
        margin_s: float = 2.0,
        stats: ViewStats | None = None,
    ) -> None:
        self.store = store
        self.link = link
        self.writer = writer
        self.period_s = period_s
        self.margin_us = int(margin_s * 1_000_000)
        self.stats = stats or ViewStats()
        self.cursor: int | None = None

    async def read_once(self) -> int:
        """One read of the rows others wrote since the cursor (minus the margin); return how many
        samples the link took."""
        after = None if self.cursor is None else self.cursor - self.margin_us
        rows = await self.store.positions.changed_since(after, exclude_writer=self.writer)
        self.stats.reads += 1
        self.stats.rows_read += len(rows)
        if not rows:
            return 0
        self.cursor = max(self.cursor or 0, rows[-1].stamp_us)
        registry = self.link.registry
        fresh: list[tuple[Telemetry, datetime]] = []
        for row in rows:
            status = registry.get(row.drone_id)
            if status is not None and status.telemetry is not None and status.telemetry.ts >= row.ts:
                continue
            try:
                msg = decode("telemetry", row.sample.encode(), row.drone_id)
            except ProtocolError as exc:
                self.stats.undecodable += 1
                log.warning("fleet view: undecodable sample of %s from %s: %s", row.drone_id, row.writer, exc)
                continue
            assert isinstance(msg, Telemetry)
            fresh.append((msg, row.received_at))
        return self.link.accept_shared(fresh)

    async def run(self) -> None:
        """Read every ``period_s`` until cancelled."""
        while True:
            try:
                await self.read_once()
            except Exception:
                self.stats.read_errors += 1
                log.exception("fleet view: reading failed")
            await asyncio.sleep(self.period_s)  # the read period, not synchronisation


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


@dataclass(slots=True)
class _Window:
    started: float = field(default_factory=time.monotonic)
    cpu: float = field(default_factory=time.process_time)
    direct: list[float] = field(default_factory=list)  # delays, real seconds
    shared: list[float] = field(default_factory=list)


class TelemetryMeter:
    """Counts the telemetry a process takes and its delay (sample timestamp to handling, in real
    seconds: simulated delays are divided by the clock's speed), per reporting window."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.speed = float(getattr(clock, "speed", 1.0))
        self._window = _Window()

    def on_telemetry(self, msg: Telemetry, _received_at: datetime, shared: bool) -> None:
        """A :data:`~fleet.link.TelemetryListener`: attach it with ``link.add_telemetry_listener``."""
        delay = (self.clock.now() - msg.ts).total_seconds() / self.speed
        (self._window.shared if shared else self._window.direct).append(delay)

    def report(self, role: str, view: ViewStats | None = None) -> str:
        """The stats line of the window since the last report (and start a new window)::

        stats role=leader direct/s=1000.4 view/s=498.0 delay_direct_p50=0.02 delay_direct_p95=0.08
              delay_view_p50=0.61 delay_view_p95=0.98 cpu=0.23 view_rows_written=... view_rows_read=...
        """
        w, self._window = self._window, _Window()
        span = max(1e-9, time.monotonic() - w.started)
        direct, shared = sorted(w.direct), sorted(w.shared)
        fields = {
            "role": role,
            "direct/s": f"{len(direct) / span:.1f}",
            "view/s": f"{len(shared) / span:.1f}",
            "delay_direct_p50": f"{_percentile(direct, 0.5):.3f}",
            "delay_direct_p95": f"{_percentile(direct, 0.95):.3f}",
            "delay_view_p50": f"{_percentile(shared, 0.5):.3f}",
            "delay_view_p95": f"{_percentile(shared, 0.95):.3f}",
            "cpu": f"{(time.process_time() - w.cpu) / span:.3f}",
        }
        if view is not None:
            fields |= {
                "view_rows_written": str(view.rows_written),
                "view_rows_read": str(view.rows_read),
                "view_errors": str(view.write_errors + view.read_errors),
            }
        return "stats " + " ".join(f"{k}={v}" for k, v in fields.items())


def parse_stats_line(line: str) -> dict[str, str] | None:
    """The fields of a ``stats ...`` line printed by ``dronedispatch run`` (None for other lines)."""
    if not line.startswith("stats "):
        return None
    return dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
