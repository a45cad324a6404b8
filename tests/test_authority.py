"""Authority reports: delivery in order through an outage and a restart, the backlog's bound, and
the real dispatcher's flights filed, reported at 1 Hz of clock time and closed."""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dispatch.api.metrics import _Text, authority_metrics
from dispatch.authority import AuthorityReporter, Backlog, Sender
from dispatch.authority.reports import close_report, plan_report, position_report
from dispatch.authority.sender import FileSink, HttpSink
from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import Settings, SettingsError, add_settings_arguments, load_settings
from dispatch.store import Store
from fleet.connection import BrokerAddress
from tests.authority_receiver import Receiver
from tests.dispatcher_fixtures import states

T0 = datetime.fromisoformat("2026-12-05T08:00:00+00:00")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    if r._server is not None:
        r.stop()


def plan(flight: str) -> dict[str, Any]:
    return plan_report(
        flight_id=flight,
        operator="op-1",
        drone_id="d1",
        waypoints=[(114.37, 36.10, 0.0), (114.38, 36.11, 60.0)],
        depart=T0,
        arrive=T0 + timedelta(minutes=5),
        end_port="port-1",
        intent=None,
        takeoff_altitude_m=30.0,
        filed_at=T0,
    )


def position(flight: str, seq: int) -> dict[str, Any]:
    at = T0 + timedelta(seconds=seq)
    return position_report(
        flight_id=flight,
        drone_id="d1",
        seq=seq,
        at=at,
        fix_at=at,
        lon=114.3712345,
        lat=36.1012345,
        height_m=60.04,
        takeoff_altitude_m=30.0,
        ground_speed_mps=15.0,
        course_deg=370.0,
        vertical_speed_mps=-0.5,
        battery_pct=81.6,
        drone_state="en_route",
    )


def close(flight: str, n: int) -> dict[str, Any]:
    return close_report(
        flight_id=flight,
        drone_id="d1",
        at=T0 + timedelta(seconds=n),
        outcome="completed",
        positions=n,
        reason=None,
    )


async def until(done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Wait for a condition the background sender makes true (a bounded poll, not a sleep)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not done():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def test_report_fields_are_integers_in_the_documented_units() -> None:
    p = position("F1", 3)
    assert (p["lon_e7"], p["lat_e7"]) == (1143712345, 361012345)
    assert (p["height_dm"], p["altitude_dm"]) == (600, 900)
    assert (p["ground_speed_cm_s"], p["course_deg"], p["vertical_speed_cm_s"], p["battery_pct"]) == (
        1500,
        10.0,
        -50,
        82,
    )
    assert p["report_id"] == "F1:pos:3"
    assert plan("F1")["route"][1] == {
        "lon_e7": 1143800000,
        "lat_e7": 361100000,
        "height_dm": 600,
        "altitude_dm": 900,
    }


async def test_an_outage_mid_flight_loses_nothing_and_keeps_the_order(
    receiver: Receiver, tmp_path: Path
) -> None:
    backlog = Backlog(tmp_path / "backlog.sqlite")
    sender = Sender(backlog, HttpSink(receiver.url), first_backoff_s=0.02, max_backoff_s=0.1)
    task = asyncio.create_task(sender.run())
    try:
        expected = [plan("F1")] + [position("F1", i) for i in range(1, 11)]
        receiver.lose_answer.add("F1:pos:5")  # kept, but the answer is lost: sent again, same key
        for r in expected:
            backlog.put(r)
            sender.kick()
        await sender.drained()
        receiver.stop()  # the outage: reports queue on disk
        later = [position("F1", i) for i in range(11, 31)] + [close("F1", 30)]
        for r in later:
            backlog.put(r)
            sender.kick()
        await until(lambda: sender.stats.retried >= 4)
        assert len(backlog) == len(later)
        assert sender.lag_s() > 0
        receiver.start()
        await sender.drained()
    finally:
        task.cancel()
        await sender.sink.aclose()
    everything = expected + later
    assert receiver.keys == [r["report_id"] for r in everything]  # each once, in order
    assert receiver.kept == everything
    assert receiver.attempts["F1:pos:5"] == 2
    assert sender.stats.sent == len(everything) and len(backlog) == 0 and sender.lag_s() == 0.0


async def test_a_restart_during_an_outage_delivers_the_backlog_from_disk(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.stop()
    path = tmp_path / "backlog.sqlite"
    first = Backlog(path)
    sender = Sender(first, HttpSink(receiver.url), first_backoff_s=0.02, max_backoff_s=0.1)
    task = asyncio.create_task(sender.run())
    reports = [plan("F2")] + [position("F2", i) for i in range(1, 6)] + [close("F2", 5)]
    for r in reports:
        first.put(r)
        sender.kick()
    await until(lambda: sender.stats.retried >= 2)
    task.cancel()  # the process stops with everything undelivered
    await sender.sink.aclose()
    first.close()
    receiver.start()
    again = Backlog(path)
    assert len(again) == len(reports)
    sender = Sender(again, HttpSink(receiver.url))
    task = asyncio.create_task(sender.run())
    try:
        await sender.drained()
    finally:
        task.cancel()
        await sender.sink.aclose()
    assert receiver.kept == reports


def test_past_its_bound_the_backlog_drops_the_oldest_positions_never_plans_or_closures(
    tmp_path: Path,
) -> None:
    backlog = Backlog(tmp_path / "b.sqlite", max_reports=5)
    backlog.put(plan("F3"))
    for i in range(1, 11):
        backlog.put(position("F3", i))
    backlog.put(close("F3", 10))
    backlog.put(plan("F4"))
    left = []
    while (p := backlog.first()) is not None:
        left.append(p.key)
        backlog.done(p.seq)
    assert left == ["F3:plan", "F3:pos:9", "F3:pos:10", "F3:close", "F4:plan"]
    assert backlog.dropped == 8


async def test_a_rejected_report_is_counted_and_not_retried(receiver: Receiver, tmp_path: Path) -> None:
    receiver.reject.add("F5:pos:1")
    backlog = Backlog(tmp_path / "b.sqlite")
    sender = Sender(backlog, HttpSink(receiver.url))
    task = asyncio.create_task(sender.run())
    try:
        for r in [plan("F5"), position("F5", 1), position("F5", 2)]:
            backlog.put(r)
            sender.kick()
        await sender.drained()
    finally:
        task.cancel()
        await sender.sink.aclose()
    assert receiver.keys == ["F5:plan", "F5:pos:2"]
    assert receiver.attempts["F5:pos:1"] == 1
    assert (sender.stats.sent, sender.stats.rejected) == (2, 1)


async def test_the_file_sink_writes_one_json_line_per_report(tmp_path: Path) -> None:
    out = tmp_path / "reports.jsonl"
    sink = FileSink(out)
    for r in [plan("F6"), position("F6", 1)]:
        await sink.send(r["report_id"], r)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [line.count('"report_id"') for line in lines] == [1, 1]
    assert '"F6:pos:1"' in lines[1]


async def test_the_dispatcher_files_reports_at_1_hz_and_closes_a_delivered_flight(
    store: Store,
    broker: BrokerAddress,
    prefix: str,
    solver_pool: SolverPool,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d = system.dispatcher
        backlog = Backlog(tmp_path / "backlog.sqlite")
        async with AuthorityReporter(
            d, backlog, HttpSink(receiver.url), operator="op-anyang", takeoff_altitude_m=40.0
        ) as reporter:
            view = await d.submit(request("service-centre", "zhangde-road"))
            assert view.state == "accepted", view.intake

            async def delivered() -> bool:
                return (await states(store, [view.id]))[
                    view.id
                ] == "delivered" and not await store.flights.list_active()

            await d.wait_until(delivered, timeout_s=60)
            await reporter.sender.drained()
            out = _Text()
            authority_metrics(out, reporter)
        backlog.close()
    (flight,) = await store.flights.carrying(view.id)
    mine = [r for r in receiver.kept if r["flight_id"] == flight.mission_id]
    kinds = [r["type"] for r in mine]
    assert kinds[0] == "flight_plan" and kinds[-1] == "flight_closed"
    assert set(kinds[1:-1]) == {"position"}
    filed, closed, positions = mine[0], mine[-1], mine[1:-1]
    assert filed["operator"] == "op-anyang" and filed["drone_id"] == flight.drone_id
    assert filed["operational_intent"] and filed["route"]
    assert closed["outcome"] == "completed" and closed["positions"] == len(positions)
    times = [datetime.fromisoformat(p["time"]) for p in positions]
    assert len(times) >= 30
    assert datetime.fromisoformat(filed["filed_at"]) < times[0]  # filed before take-off
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(times))  # 1 Hz of clock time
    assert datetime.fromisoformat(closed["time"]) - times[-1] < timedelta(seconds=1)
    assert [p["seq"] for p in positions] == list(range(1, len(positions) + 1))
    assert max(p["height_dm"] for p in positions) > 100
    assert all(p["altitude_dm"] == p["height_dm"] + 400 for p in positions)
    assert len({(p["lon_e7"], p["lat_e7"]) for p in positions}) > 10
    ages = [
        (datetime.fromisoformat(p["time"]) - datetime.fromisoformat(p["fix_time"])).total_seconds()
        for p in positions
    ]
    assert min(ages) >= 0  # never a fix from after the report's time
    # The reports follow the fixes (every 2 clock seconds, fewer when a loaded machine at 150x
    # delays the simulator): a fix is repeated, with its own fix_time, until the next one.
    assert len({p["fix_time"] for p in positions}) > 10
    assert all(receiver.attempts[r["report_id"]] == 1 for r in mine)
    text = "\n".join(out.lines)
    assert f"dronedispatch_authority_reports_sent_total {len(receiver.kept)}" in text
    assert "dronedispatch_authority_backlog 0" in text


@pytest.mark.parametrize("command", ["run", "serve"])
def test_run_and_serve_take_the_authority_settings(command: str) -> None:
    def load(argv: list[str], env: dict[str, str] | None = None) -> Settings:
        parser = argparse.ArgumentParser()
        add_settings_arguments(parser, command)
        return load_settings(
            parser.parse_args(["--insecure-unsigned-fleet", *argv]), command, environ=env or {}
        )

    assert load([]).authority.report is None  # off by default
    on = load(["--authority-report", "https://uom.example/api", "--authority-operator", "OP-1"]).authority
    assert (on.report, on.operator) == ("https://uom.example/api", "OP-1")
    env = {"DRONEDISPATCH_AUTHORITY_REPORT": "file:out.jsonl", "DRONEDISPATCH_AUTHORITY_BACKLOG_MAX": "50"}
    from_env = load([], env).authority
    assert (from_env.report, from_env.backlog_max) == ("file:out.jsonl", 50)
    with pytest.raises(SettingsError, match="authority-report"):
        load(["--authority-report", "uom.example"])
