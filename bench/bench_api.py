"""Benchmark: an intake burst against the HTTP API (prints a table).

Run: ``.venv/bin/python -m bench api [--rate 50] [--seconds 60] [--db URL]``.

A child process runs the whole system on embedded defaults (:mod:`dispatch.live_system`: store,
embedded MQTT broker, simulated fleet of the sample area, dispatcher, HTTP API) at 60x simulated
time. This process files requests over HTTP at a fixed rate (open loop: each request is due at its
own instant and its latency counts from that instant, so a slow server cannot hide its backlog),
each from a random sample office to another pad, with that office's key. Reported: status codes
(there must be no 5xx), latency percentiles, the throughput achieved, and how long after the burst
the last request was decided (accepted or rejected by intake).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dispatch.sample_area import SAMPLE_DIR
from fleet.description import load_fleet

START = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
BLOCKED = {"crane-site"}  # inside a zone: intake would reject every request to it


def _system(db_url: str, out: Any, stop: Any) -> None:
    """Child process: run the system until ``stop`` is set; report (url, office tokens) on ``out``."""
    from dispatch.live_system import live_system

    async def main() -> None:
        fleet = load_fleet(SAMPLE_DIR / "fleet.json")
        async with live_system(
            fleet, SAMPLE_DIR / "zones.geojson", SAMPLE_DIR / "pads.json", START, db_url=db_url, speed=60.0
        ) as system:
            out.put((system.base_url, system.office_tokens, system.operator_token))
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    asyncio.run(main())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def burst(
    base: str, tokens: dict[str, str], operator: str, rate: float, seconds: float
) -> list[tuple[str, str]]:
    """File ``rate`` requests per second for ``seconds``; return the table rows."""
    rng = random.Random(5)
    pads = sorted(p for p in tokens if p not in BLOCKED)
    n = int(rate * seconds)
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    ids: list[str] = []
    # As many connections as a minute of backlog could need: a slow answer must not make the
    # client queue (and time out) requests the server never saw.
    limits = httpx.Limits(max_connections=800, max_keepalive_connections=800)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as http:

        async def one(i: int, due: float) -> None:
            src, dst = rng.sample(pads, 2)
            body = {
                "pickup": src,
                "dropoff": dst,
                "weight_kg": 0.3,
                "priority": "normal",
                "deadline": (START + timedelta(hours=8)).isoformat(),
            }
            try:
                reply = await http.post(
                    "/api/v1/requests",
                    json=body,
                    headers={"Authorization": f"Bearer {tokens[src]}", "Idempotency-Key": f"burst-{i}"},
                )
            except httpx.HTTPError as exc:  # no answer within the client's timeout, or cut off
                failures[type(exc).__name__] += 1
                return
            latencies.append(time.monotonic() - due)
            codes[reply.status_code] += 1
            data = reply.json()
            if reply.status_code < 300:
                ids.append(data["id"])
            else:
                error = data.get("error", {})
                reasons[str(error.get("code"))] += 1
                if "request_id" in error.get("details", {}):
                    ids.append(error["details"]["request_id"])

        t0 = time.monotonic()
        tasks = []
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # the open-loop schedule itself, not synchronisation
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        sent_s = time.monotonic() - t0
        # How long until intake decided every filed request (none left ``submitted``).
        headers = {"Authorization": f"Bearer {operator}"}
        while True:
            page = (
                await http.get("/api/v1/requests", params={"state": "submitted", "limit": 1}, headers=headers)
            ).json()
            if not page.get("items"):
                break
            await asyncio.sleep(0.2)  # polling the API, as a client would
        decided_s = time.monotonic() - t0
    five = sum(v for k, v in codes.items() if k >= 500)
    p50, p95, p99 = (_percentile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99))
    mean, worst = statistics.fmean(latencies) * 1000, max(latencies) * 1000
    return [
        ("requests filed (target rate x s)", f"{n} ({rate:g}/s x {seconds:g} s)"),
        ("achieved rate (responses/s)", f"{n / sent_s:.1f}"),
        ("status codes", ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))),
        ("5xx", str(five)),
        ("no answer (60 s timeout, cut off)", ", ".join(f"{k}: {v}" for k, v in failures.items()) or "0"),
        ("refusal reasons", ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "-"),
        ("latency p50 / p95 / p99 (ms)", f"{p50:.0f} / {p95:.0f} / {p99:.0f}"),
        ("latency mean / max (ms)", f"{mean:.0f} / {worst:.0f}"),
        ("all decided after (s from start)", f"{decided_s:.1f}"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the burst and print its table."""
    parser = argparse.ArgumentParser(prog="bench_api", description="HTTP intake burst")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="burst length (default 60)")
    parser.add_argument("--db", help="store URL (default: a SQLite file in a temporary directory)")
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        out, stop = ctx.Queue(), ctx.Event()
        child = ctx.Process(target=_system, args=(db_url, out, stop))  # not daemonic: it has solver children
        child.start()
        try:
            base, tokens, operator = out.get(timeout=120)
            rows = asyncio.run(burst(base, tokens, operator, args.rate, args.seconds))
        finally:
            stop.set()
            child.join(30)
            if child.is_alive():
                child.kill()
    rows.insert(0, ("store", "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"))
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0 if rows[4][1] == "0" and rows[5][1] == "0" else 1


if __name__ == "__main__":
    raise SystemExit(main())
