"""Benchmark: telemetry of a large fleet split across several dispatcher links (prints a table).

Run: ``.venv/bin/python -m bench scaleout [--drones 2000] [--links 2] [--seconds 30]``.

``--drones`` simulated drones (each its own MQTT connection, split over two simulator processes)
fly at 1 Hz in real time against a real broker (default Mosquitto on 127.0.0.1:1883). ``--links``
dispatcher link processes subscribe to the telemetry through one MQTT 5 shared subscription
(``FleetLink(telemetry_group=...)``): the broker hands each message to one of them. Each link
process consumes every sample it gets (as the dispatcher's loop does) and measures the delay from
the drone's timestamp to its handling. Reported per link: messages per second, delay p50/p95 in
the first and the last third of the window (a growing backlog shows as a growing delay), CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
import uuid
from typing import Any

from bench.bench_fleet import _raise_fd_limit, _sim_worker
from fleet.clock import RealClock
from fleet.connection import client_id_from
from fleet.link import FleetLink
from fleet.messages import Telemetry


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _link_worker(url: str, prefix: str, name: str, group: str, seconds: float, out: Any, go: Any) -> None:
    async def run() -> None:
        clock = RealClock()
        link = FleetLink(url, client_id=client_id_from(name, prefix), prefix=prefix, session_expiry_s=0,
                         telemetry_group=group, max_telemetry_age_s=60)  # fmt: skip
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
        out.put(("done", name, {
            "rate": len(delays) / (t1 - t0),
            "first_p50": _percentile(first, 0.5), "first_p95": _percentile(first, 0.95),
            "last_p50": _percentile(last, 0.5), "last_p95": _percentile(last, 0.95),
            "cpu": (c1 - c0) / (t1 - t0), "dropped": link.stats.dropped_total,
        }))  # fmt: skip

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(prog="python -m bench scaleout")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--drones", type=int, default=2000)
    p.add_argument("--links", type=int, default=2, help="dispatcher link processes sharing the telemetry")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--sim-processes", type=int, default=2)
    args = p.parse_args(argv)
    _raise_fd_limit(args.drones + 256)
    prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
    ctx = mp.get_context("spawn")
    out, sim_out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    links = [
        ctx.Process(target=_link_worker,
                    args=(args.broker, prefix, f"disp{k}", "dispatchers", args.seconds, out, go))
        for k in range(args.links)
    ]  # fmt: skip
    ids = [f"B{i:05d}" for i in range(args.drones)]
    sims = [
        ctx.Process(target=_sim_worker,
                    args=(args.broker, prefix, ids[k::args.sim_processes], 1.0, args.seconds + 20, sim_out))
        for k in range(args.sim_processes)
    ]  # fmt: skip
    t_start = time.monotonic()
    for proc in links:
        proc.start()
    for _ in links:
        assert out.get(timeout=60)[0] == "ready"
    for proc in sims:
        proc.start()
    for _ in sims:
        assert sim_out.get(timeout=300)[0] == "ready"
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
    print(f"broker {args.broker}, {os.cpu_count()} cores; {args.drones} drones at 1 Hz "
          f"({sum(s[1] for s in sent):,.0f} telemetry/s sent), {args.links} links in one shared "
          f"subscription; {args.seconds:g} s measured; set-up {connect_s:.0f} s")  # fmt: skip
    header = ("link", "telemetry/s", "delay p50/p95 first third (s)", "delay p50/p95 last third (s)", "CPU")
    rows = [
        (name, f"{r['rate']:,.0f}", f"{r['first_p50']:.2f} / {r['first_p95']:.2f}",
         f"{r['last_p50']:.2f} / {r['last_p95']:.2f}", f"{100 * r['cpu']:.0f}%")
        for name, r in sorted(results.items())
    ]  # fmt: skip
    rows.append(("all", f"{total:,.0f}", "", "", ""))
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    growing = any(r["last_p95"] > r["first_p95"] + 1.0 for r in results.values())
    print("backlog:", "GROWING" if growing else "steady (the delay does not grow)")
    return 1 if growing else 0


if __name__ == "__main__":
    raise SystemExit(main())
