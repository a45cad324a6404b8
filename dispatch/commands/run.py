"""``dronedispatch run``: the dispatcher service, until SIGTERM or Ctrl-C.

::

    dronedispatch run [--config FILE] [--db URL] [--broker mqtt[s]://HOST:PORT [--tls-ca PEM ...]]
                      [--prefix dd/v1] [--client-id dispatcher] [--area default]
                      [--plan-seconds 0.5] [--tick-s 30] [--silent-after-s 90]
                      [--share-telemetry] [--stats-every 10]
                      [--clock-speed S --clock-start ISO_TIME --clock-anchor UNIX_TIME]
                      [--fleet-secret FILE | --insecure-unsigned-fleet] [-v]

Its settings (:mod:`dispatch.settings`, the same as ``serve``'s) come from these options, else the
environment (``DATABASE_URL``, ``MQTT_URL``, ``MQTT_PREFIX``, ``DRONEDISPATCH_*``), else the TOML
file ``--config FILE``, else their defaults; a bad value exits with status 2 and names it.

It reads the fleet and the zones from the database (``dronedispatch db seed`` first), decides
intake of every request filed as ``submitted``, plans, commands the drones over MQTT and follows
them. It can be killed at any moment: started again (same ``--client-id``, so the broker kept its
session and the events of the drones meanwhile), it rebuilds its view from the database and the
drones' retained state, re-sends unacknowledged commands with their ids and carries on.
Standard output says ``dispatcher ready`` once running, then ``request ID STATE`` for every
request state change the dispatcher commits.

One dispatcher leads a service area (``--area``) at a time (:mod:`dispatch.service.leadership`).
On PostgreSQL, start as many as you like: the others print ``standby: ...`` and wait, and one takes
over the moment the leader dies; give them the same ``--client-id`` so the new leader inherits the
broker session. On SQLite a second dispatcher on the same file is refused (exit status 2).
If the leader loses its lock connection it stops at once (exit status 3): it can no longer be sure
it leads.

``--share-telemetry`` (PostgreSQL only) splits the telemetry among the area's dispatcher processes:
each is a member of one MQTT 5 shared subscription, writes the latest sample of the drones it
heard into the store's fleet view, and the leader takes what the others wrote from there
(:mod:`dispatch.service.fleet_view`). A standby then listens to its share of the telemetry (with
its own client id, telemetry only) instead of waiting idle. Every ``--stats-every`` seconds a
``stats role=... direct/s=... view/s=... delay_...`` line reports the telemetry taken. A drone heard
only by another process reaches the leader through the view up to a second later (its write and
read periods); ``--silent-after-s`` (clock seconds) must stay well above that, which matters only
on a fast simulated clock.

A fleet secret (``--fleet-secret`` or ``$DRONEDISPATCH_FLEET_SECRET_FILE``) is required: a drone's
state, ack or event counts only when signed with that drone's key (:mod:`fleet.signing`); without
it the command refuses to start unless told ``--insecure-unsigned-fleet``.

``--clock-*`` run it on simulated time shared with ``serve`` and ``simulate``: simulated time is
``start + (unix_now - anchor) * speed``; give every process the same three values
(:func:`fleet.clock.shared_clock`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterable

import aiomqtt

from airspace.terrain import AreaTerrain, TerrainError
from dispatch.authority.wiring import authority_approvals, authority_reporting
from dispatch.logs import configure_logging
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.fleet_view import (
    FleetViewReader,
    FleetViewWriter,
    TelemetryMeter,
    ViewStats,
    share_group,
    writer_id,
)
from dispatch.service.inbox import StoreJournal
from dispatch.service.leadership import LeadershipError, Lease, cancel_and_wait, run_as_leader
from dispatch.settings import LinkSettings, Settings, SettingsError, add_settings_arguments, load_settings
from dispatch.settings.specs import RUN
from dispatch.store import Store, StoreError, open_store
from dispatch.terrain_file import terrain_of_settings
from dispatch.weather_feed import weather_watching
from fleet.clock import Clock
from fleet.connection import client_id_from
from fleet.link import FleetLink
from fleet.topics import Topics

READY_LINE = "dispatcher ready"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dronedispatch run", description="Run the dispatcher service.")
    add_settings_arguments(parser, RUN)
    return parser


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (for the commands that run until stopped)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def dispatcher_link(
    link: LinkSettings,
    clock: Clock,
    store: Store,
    *,
    telemetry_group: str | None = None,
    forget_filters: Iterable[str] = (),
) -> FleetLink:
    """The dispatcher's fleet link of the ``link`` settings (a member of the shared subscription
    ``telemetry_group`` if given; ``forget_filters``: see :class:`~fleet.link.FleetLink`), checking
    drone signatures with the fleet secret and writing every event to ``store``'s inbox before it
    is acknowledged."""
    return FleetLink(
        link.address(),
        client_id=link.client_id,
        prefix=link.prefix,
        clock=clock,
        max_telemetry_age_s=link.max_telemetry_age_s,
        telemetry_group=telemetry_group,
        forget_filters=forget_filters,
        fleet_secret=link.fleet_secret,
        event_journal=StoreJournal(store, link.client_id),
    )


def _view_link(link: LinkSettings, clock: Clock, group: str) -> FleetLink:
    """A standby's telemetry-only link in the area's group: its own client id (the leader's
    session is the leader's) and no persistent session (telemetry is QoS 0, nothing to keep)."""
    client_id = client_id_from(link.client_id, "view", str(os.getpid()))
    return FleetLink(
        link.address(),
        client_id=client_id,
        prefix=link.prefix,
        clock=clock,
        max_telemetry_age_s=link.max_telemetry_age_s,
        telemetry_group=group,
        telemetry_only=True,
        session_expiry_s=0,
    )


async def _run(settings: Settings, terrain: AreaTerrain | None = None) -> int:
    clock = settings.clock.clock()
    stop = stop_on_signals()
    area, db, stats_every = settings.leadership.area, settings.store.url, settings.logging.stats_every
    group = share_group(area) if settings.leadership.share_telemetry else None
    me = writer_id()
    meter = TelemetryMeter(clock)
    view_stats = ViewStats()
    role = "standby"

    async def report() -> None:
        while stats_every > 0:
            await asyncio.sleep(stats_every)  # the reporting period
            print(meter.report(role, view_stats if group else None), flush=True)

    async def stand_by() -> None:
        # While another process leads, hear this process's share of the telemetry and write it
        # into the fleet view, so that share is not lost to the leader.
        assert group is not None
        while True:
            try:
                store = await open_store(db, now=clock.now)
                try:
                    link = _view_link(settings.link, clock, group)
                    link.expect_drones(d.id for d in (await store.directory.fleet()).drones)
                    link.add_telemetry_listener(meter.on_telemetry)
                    writer = FleetViewWriter(store, link, me, stats=view_stats)
                    async with link:
                        await writer.run()
                finally:
                    await store.close()
            except (OSError, TimeoutError, StoreError, aiomqtt.MqttError) as exc:
                # No broker or database yet: the share goes to the other members meanwhile.
                print(f"dronedispatch run: standby: no telemetry share ({exc}); retrying", file=sys.stderr)
                await asyncio.sleep(5.0)  # a retry period, not synchronisation

    async def lead(_lease: Lease) -> int:
        nonlocal role
        role = "leader"
        # Only the leader opens the broker session of --client-id: a standby must not take over
        # the leader's MQTT session while the leader lives.
        store = await open_store(db, now=clock.now)
        try:
            # The broker keeps a session's subscriptions: the telemetry filter of the other mode,
            # left by an earlier run with or without --share-telemetry, is dropped.
            every = Topics(settings.link.prefix).all_of("telemetry")
            other_mode = every if group is not None else f"$share/{share_group(area)}/{every}"
            link = dispatcher_link(
                settings.link, clock, store, telemetry_group=group, forget_filters=[other_mode]
            )
            link.add_telemetry_listener(meter.on_telemetry)
            # The dispatcher subscribes to the link before it connects: the events the broker kept
            # for this session while the dispatcher was down arrive right after the connect.
            dispatcher = Dispatcher(store, link, clock, settings.dispatcher, terrain=terrain)
            dispatcher.on_progress = lambda rid, state: print(f"request {rid} {state}", flush=True)
            async with contextlib.AsyncExitStack() as running:
                if group is not None:
                    link.expect_drones(d.id for d in (await store.directory.fleet()).drones)
                    reader = FleetViewReader(store, link, me, stats=view_stats)
                    # What the others heard so far, before the dispatcher looks for its drones.
                    await reader.read_once()
                    writer = FleetViewWriter(store, link, me, stats=view_stats)
                    for work in (reader.run(), writer.run()):
                        running.push_async_callback(cancel_and_wait, asyncio.create_task(work))
                await running.enter_async_context(link)
                await running.enter_async_context(
                    authority_approvals(dispatcher, settings.authority, ceiling_m=settings.terrain.ceiling_m)
                )
                await running.enter_async_context(dispatcher)
                await running.enter_async_context(authority_reporting(dispatcher, settings.authority))
                await running.enter_async_context(weather_watching(dispatcher, settings.weather))
                print(READY_LINE, flush=True)
                await stop.wait()
        finally:
            await store.close()
        return 0

    reporter = asyncio.create_task(report())
    try:
        return await run_as_leader(
            db,
            lead,
            stop,
            area=area,
            program="dronedispatch run",
            while_standby=stand_by if group is not None else None,
        )
    finally:
        await cancel_and_wait(reporter)


def main(argv: list[str] | None = None) -> int:
    """Run the dispatcher until SIGTERM/SIGINT; exit status 0, or 2 for bad arguments or database."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args, RUN)  # at once, not when (or if) this process comes to lead
        terrain = terrain_of_settings(settings.terrain)
    except (SettingsError, TerrainError) as exc:
        print(f"dronedispatch run: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.verbose)
    try:
        return asyncio.run(_run(settings, terrain))
    except (StoreError, LeadershipError) as exc:
        print(f"dronedispatch run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
