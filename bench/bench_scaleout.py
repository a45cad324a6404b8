"""Benchmark: telemetry of a large fleet split across two dispatcher processes (prints a table).

Run: ``.venv/bin/python -m bench scaleout [--drones 2000] [--seconds 60] [--mode dispatchers|links]``.

``--drones`` simulated drones (each its own MQTT connection, split over two simulator processes)
fly at 1 Hz in real time against a real broker (default Mosquitto on 127.0.0.1:1883).

``--mode dispatchers`` (the default): the drones are written into a fleet description
(FLEET.json) and seeded with ``dronedispatch db seed`` into a fresh PostgreSQL schema; two
``dronedispatch run --share-telemetry`` processes of one service area start (a leader and a
standby): each hears its share of the telemetry through the area's MQTT 5 shared subscription,
writes it into the fleet view, and the leader takes the standby's share from there. The numbers
come from the processes' own ``stats`` lines (every 10 s): per process, telemetry/s received
directly and taken from the fleet view, delay p50/p95 from the sample's timestamp to its handling
in the first and the last third of the window (a growing delay is a growing backlog), CPU.

``--mode links``: bare :class:`~fleet.link.FleetLink` processes in one shared subscription instead
of dispatchers (the ingest alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.bench_fleet import _raise_fd_limit, _sim_worker, bench_fleet
from dispatch.commands.run import READY_LINE
from dispatch.service.fleet_view import parse_stats_line
from dispatch.service.leadership import STANDBY_LINE
from fleet.clock import RealClock
from fleet.connection import client_id_from
from fleet.link import FleetLink
from fleet.messages import Telemetry
from fleet.signing import FleetSecret

REPO = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _link_worker(url: str, prefix: str, name: str, group: str, seconds: float, out: Any, go: Any) -> None:
    async def run() -> None:
        clock = RealClock()
        link = FleetLink(
            url,
            client_id=client_id_from(name, prefix),
            prefix=prefix,
            session_expiry_s=0,
            telemetry_group=group,
            max_telemetry_age_s=60,
        )
        delays: list[tuple[float, float]] = []  # (monotonic, delay s)
        async with link:
            await link.wait_connected(30)
            out.put(("ready", name))
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            with link.subscribe(maxsize=1_000_000, telemetry=True) as sub:
                t0, c0 = time.monotonic(), time.process_time()
                end = t0 + seconds

                async def consume() -> None:
                    async for update in sub:
                        if isinstance(update, Telemetry):
                            delays.append((time.monotonic(), (clock.now() - update.ts).total_seconds()))

                with_timeout = asyncio.create_task(consume())
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                with_timeout.cancel()
                t1, c1 = time.monotonic(), time.process_time()
        third = (t1 - t0) / 3
        first = [d for t, d in delays if t < t0 + third]
        last = [d for t, d in delays if t >= t1 - third]
        out.put(
            (
                "done",
                name,
                {
                    "rate": len(delays) / (t1 - t0),
                    "first_p50": _percentile(first, 0.5),
                    "first_p95": _percentile(first, 0.95),
                    "last_p50": _percentile(last, 0.5),
                    "last_p95": _percentile(last, 0.95),
                    "cpu": (c1 - c0) / (t1 - t0),
                    "dropped": link.stats.dropped_total,
                },
            )
        )

    asyncio.run(run())


def _start_sims(
    ctx: Any,
    args: argparse.Namespace,
    prefix: str,
    ids: list[str],
    seconds: float,
    out: Any,
    sims: list[Any],
    secret: FleetSecret | None = None,
) -> None:
    """Start ``--sim-processes`` simulator processes flying ``ids`` at 1 Hz for ``seconds``, split
    between them, into ``sims`` (so a caller's clean-up sees them even if one fails to start);
    return once every one reports its drones connected."""
    sims += [
        ctx.Process(
            target=_sim_worker,
            args=(
                args.broker,
                prefix,
                ids[k :: args.sim_processes],
                1.0,
                seconds,
                out,
                secret.value.hex() if secret else None,
            ),
        )
        for k in range(args.sim_processes)
    ]
    for proc in sims:
        proc.start()
    for _ in sims:
        assert out.get(timeout=300)[0] == "ready"


def _links_main(args: argparse.Namespace) -> int:
    prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
    ctx = mp.get_context("spawn")
    out, sim_out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    links = [
        ctx.Process(
            target=_link_worker, args=(args.broker, prefix, f"disp{k}", "dispatchers", args.seconds, out, go)
        )
        for k in range(args.links)
    ]
    ids = [f"B{i:05d}" for i in range(args.drones)]
    t_start = time.monotonic()
    for proc in links:
        proc.start()
    for _ in links:
        assert out.get(timeout=60)[0] == "ready"
    sims: list[Any] = []
    _start_sims(ctx, args, prefix, ids, args.seconds + 20, sim_out, sims)
    connect_s = time.monotonic() - t_start
    time.sleep(3.0)  # let every drone reach its steady 1 Hz before measuring
    go.set()
    results = {}
    for _ in links:
        _, name, stats = out.get(timeout=args.seconds + 60)
        results[name] = stats
    sent = [sim_out.get(timeout=120) for _ in sims]
    for proc in [*links, *sims]:
        proc.join(60)
    total = sum(r["rate"] for r in results.values())
    print(
        f"broker {args.broker}, {os.cpu_count()} cores; {args.drones} drones at 1 Hz "
        f"({sum(s[1] for s in sent):,.0f} telemetry/s sent), {args.links} links in one shared "
        f"subscription; {args.seconds:g} s measured; set-up {connect_s:.0f} s"
    )
    header = ("link", "telemetry/s", "delay p50/p95 first third (s)", "delay p50/p95 last third (s)", "CPU")
    rows = [
        (
            name,
            f"{r['rate']:,.0f}",
            f"{r['first_p50']:.2f} / {r['first_p95']:.2f}",
            f"{r['last_p50']:.2f} / {r['last_p95']:.2f}",
            f"{100 * r['cpu']:.0f}%",
        )
        for name, r in sorted(results.items())
    ]
    rows.append(("all", f"{total:,.0f}", "", "", ""))
    _print_table(header, rows)
    growing = any(r["last_p95"] > r["first_p95"] + 1.0 for r in results.values())
    print("backlog:", "GROWING" if growing else "steady (the delay does not grow)")
    return 1 if growing else 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


# --- dispatchers ---------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class _Dispatcher:
    """One ``dronedispatch run --share-telemetry`` process and the lines it printed."""

    def __init__(self, name: str, cmd: list[str], log: Any) -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stats: list[tuple[float, dict[str, str]]] = []  # (monotonic, fields)
        self.ready = threading.Event()
        self.standby = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.strip()
            if line == READY_LINE:
                self.ready.set()
            elif line == STANDBY_LINE:
                self.standby.set()
            elif (fields := parse_stats_line(line)) is not None:
                self.stats.append((time.monotonic(), fields))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _summary(stats: list[tuple[float, dict[str, str]]], t0: float, t1: float) -> dict[str, float]:
    """Rates and delays of the stats lines printed inside [t0, t1] (each covers the 10 s before it)."""
    inside = [f for t, f in stats if t0 + 5 < t <= t1 + 5]
    if not inside:
        return {}
    third = max(1, len(inside) // 3)
    first, last = inside[:third], inside[-third:]

    def val(lines: list[dict[str, str]], key: str, pick: Any) -> float:
        values = [float(f[key]) for f in lines if f[key] != "nan"]
        return pick(values) if values else float("nan")

    return {
        "direct": statistics.mean(float(f["direct/s"]) for f in inside),
        "view": statistics.mean(float(f["view/s"]) for f in inside),
        "cpu": statistics.mean(float(f["cpu"]) for f in inside),
        **{
            f"{part}_{kind}_{q}": val(lines, f"delay_{kind}_{q}", statistics.median if q == "p50" else max)
            for part, lines in (("first", first), ("last", last))
            for kind in ("direct", "view")
            for q in ("p50", "p95")
        },
    }


def _dispatchers_main(args: argparse.Namespace) -> int:
    pg = args.pg or os.environ.get("DRONEDISPATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"dd_bench_{uuid.uuid4().hex[:10]}"
    db_url = make_url(pg).update_query_dict({"schema": schema}).render_as_string(hide_password=False)
    prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
    client_id = client_id_from("bench-dispatcher", prefix)
    ids = [f"B{i:05d}" for i in range(args.drones)]
    asyncio.run(_pg(pg, f'CREATE SCHEMA "{schema}"'))
    procs: list[_Dispatcher] = []
    sims: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        log = open(Path(tmp) / "dispatchers.log", "w")  # noqa: SIM115 (closed below, after the processes)
        try:
            fleet_file = Path(tmp) / "fleet.json"
            fleet_file.write_text(json.dumps(bench_fleet(args.drones).to_dict()), encoding="utf-8")
            seeded = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dispatch.cli",
                    "db",
                    "seed",
                    "--fleet",
                    str(fleet_file),
                    "--pads",
                    str(REPO / "examples" / "anyang" / "pads.json"),
                    "--db",
                    db_url,
                ],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            )
            print(seeded.stdout.strip())
            ctx = mp.get_context("spawn")
            sim_out = ctx.Queue()
            sim_s = args.seconds + 60  # past the window: dispatchers' start, settling, the last report
            t_start = time.monotonic()
            secret = FleetSecret.generate()
            secret.save(Path(tmp) / "fleet-secret")
            _start_sims(ctx, args, prefix, ids, sim_s, sim_out, sims, secret)
            cmd = [
                sys.executable,
                "-m",
                "dispatch.cli",
                "run",
                "--db",
                db_url,
                "--broker",
                args.broker,
                "--prefix",
                prefix,
                "--client-id",
                client_id,
                "--area",
                "bench",
                "--share-telemetry",
                "--stats-every",
                "10",
                "--fleet-secret",
                str(Path(tmp) / "fleet-secret"),
            ]
            procs.append(_Dispatcher("leader", cmd, log))
            if not procs[0].ready.wait(120):
                raise SystemExit(f"the leader did not start; see its log:\n{_tail(log)}")
            procs.append(_Dispatcher("standby", cmd, log))
            if not procs[1].standby.wait(60):
                raise SystemExit(f"the second dispatcher did not stand by; see its log:\n{_tail(log)}")
            connect_s = time.monotonic() - t_start
            time.sleep(12.0)  # let both settle into steady state (one stats window) before measuring
            t0 = time.monotonic()
            time.sleep(args.seconds)  # the measuring window: the processes report on their own
            t1 = time.monotonic()
            time.sleep(6.0)  # the stats line covering the window's end
            sent = [sim_out.get(timeout=args.seconds + 180) for _ in sims]
        finally:
            for p in procs:
                p.stop()
            for proc in sims:
                proc.join(60)
                if proc.is_alive():
                    proc.kill()
            log.close()
            asyncio.run(_pg(pg, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    results = {p.name: _summary(p.stats, t0, t1) for p in procs}
    print(
        f"broker {args.broker}, PostgreSQL, {os.cpu_count()} cores; {args.drones} drones at 1 Hz "
        f"({sum(s[1] for s in sent):,.0f} telemetry/s sent); 2 dispatcher processes with "
        f"--share-telemetry; {args.seconds:g} s measured; set-up {connect_s:.0f} s"
    )

    def pair(r: dict[str, float], part: str, kind: str) -> str:
        return f"{r[f'{part}_{kind}_p50']:.2f} / {r[f'{part}_{kind}_p95']:.2f}"

    # One cell per kind of delay: the first third's p50/p95, then the last third's.
    header = (
        "process",
        "direct/s",
        "from view/s",
        "delay direct p50/p95, first -> last third (s)",
        "delay view p50/p95, first -> last third (s)",
        "CPU",
    )
    rows = [
        (
            name,
            f"{r['direct']:,.0f}",
            f"{r['view']:,.0f}",
            f"{pair(r, 'first', 'direct')} -> {pair(r, 'last', 'direct')}",
            f"{pair(r, 'first', 'view')} -> {pair(r, 'last', 'view')}" if r["view"] > 0 else "-",
            f"{100 * r['cpu']:.0f}%",
        )
        for name, r in results.items()
        if r
    ]
    _print_table(header, rows)
    if len(rows) < 2:
        print("verdict: FAILED (a process printed no stats in the window)")
        return 1
    total = sum(r["direct"] for r in results.values())
    growing = any(
        r[f"last_{k}_p95"] > r[f"first_{k}_p95"] + 1.0
        for r in results.values()
        for k in ("direct", "view")
        if r[f"last_{k}_p95"] == r[f"last_{k}_p95"]
    )
    sent_rate = sum(s[1] for s in sent)
    lead = results.get("leader", {})
    print(
        f"heard directly, both processes: {total:,.0f}/s of {sent_rate:,.0f}/s sent; the leader took "
        f"{lead.get('direct', 0) + lead.get('view', 0):,.0f}/s (directly + from the fleet view; a sample"
        " older than one it already holds is not taken)"
    )
    print("backlog:", "GROWING" if growing else "steady (the delay does not grow)")
    return 1 if growing else 0


def _tail(log: Any) -> str:
    log.flush()
    return Path(log.name).read_text()[-3000:]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(prog="python -m bench scaleout")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--drones", type=int, default=2000)
    p.add_argument("--mode", choices=("dispatchers", "links"), default="dispatchers")
    p.add_argument("--links", type=int, default=2, help="--mode links: link processes sharing the telemetry")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--sim-processes", type=int, default=2)
    p.add_argument(
        "--pg", help="PostgreSQL server URL (default $DRONEDISPATCH_TEST_PG or the local test database)"
    )
    args = p.parse_args(argv)
    _raise_fd_limit(args.drones + 256)
    return _dispatchers_main(args) if args.mode == "dispatchers" else _links_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
