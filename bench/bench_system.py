"""Benchmark: the whole system at scale, in real time (prints a table).

Run: ``.venv/bin/python -m bench system [--drones 1000] [--rate 2] [--seconds 60] [--sim-processes 2]``.

A generated city (:func:`routing.synthetic_city.city_area`: 4 ports, 40 pads, 60 zones) with
``--drones`` drones is seeded into a fresh PostgreSQL schema, the way ``dronedispatch serve
--seed-dir`` seeds a database, with one office per pad and an API key per office. Then:

- ``--sim-processes`` ``dronedispatch simulate`` processes fly the fleet, split between them, on
  the wall clock (so all share one clock), each drone its own MQTT client with its key of the
  fleet secret, each process with its geofence and separation monitors;
- one ``dronedispatch serve`` (the dispatcher, its fleet link and the HTTP API in one process,
  with its solver processes) commands them;
- once the dispatcher hears every drone, the offices file requests through the API for
  ``--seconds`` (``--rate`` per second, or ``--requests`` spread over the window), each from its
  own pad to another pad, independently of each other's answers.

Measured:

- *request to first command*: wall time from an office sending ``POST /api/v1/requests`` to the
  first ``upload_mission`` of a mission carrying that request seen on the broker (this process
  subscribes to every drone's command topic; the request's missions come from the API);
- *planning rounds* and *event-loop lag*: from the dispatcher's ``/metrics`` at the window's start
  and end (histograms; the p50 is interpolated in its bucket, as Prometheus does; the max is the
  dispatcher's largest since it started);
- *geofence breaches* and *losses of separation*: each simulator process's monitors (printed when
  it stops) and what the drones reported to the dispatcher. A simulator process watches the
  separation of its own drones; they are split by home port, so every pair meeting at a port is
  watched, but two drones of ports in different processes meeting en route are not;
- *CPU and peak RSS* per process (``/proc``): the dispatcher, its solver processes, each
  simulator, the broker (when it runs on this machine), this process.

Needs the MQTT broker (``--broker``, default Mosquitto on 127.0.0.1:1883) and PostgreSQL
(``--pg``, default ``$DRONEDISPATCH_TEST_PG`` or the local ``test`` database); exits with a clear
message when one is missing. Every process it starts is stopped on the way out, error or not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx
from sqlalchemy.engine import make_url

from bench.bench_fleet import _raise_fd_limit
from bench.bench_scaleout import _pg, _print_table
from bench.processes import Child, Usage, broker_pid, children_of
from dispatch.commands.serve import seed_if_empty
from dispatch.store import open_store
from fleet.connection import BrokerAddress, client_id_from
from fleet.signing import FleetSecret
from fleet.topics import Topics
from routing.synthetic_city import city_area

REPO = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"^serving on (http://\S+)")
SIM_READY = re.compile(r"^(\d+) drones on ")
SIM_BREACHES = re.compile(r"^(\d+) events, (\d+) geofence breach")
SIM_LOSSES = re.compile(r"^(\d+) loss\(es\) of separation")
WEIGHTS_KG = (0.2, 0.3, 0.5, 0.8, 1.0, 1.5)  # every model carries these


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the dispatcher's metrics ---------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def histogram(before: dict[str, float], after: dict[str, float], name: str) -> list[tuple[float, float]]:
    """(upper bound, observations in the window at or below it) of histogram ``name``, by bound."""
    prefix = f'dronedispatch_{name}_bucket{{le="'
    out = []
    for key, value in after.items():
        if key.startswith(prefix):
            bound = key[len(prefix) : -2]
            out.append((math.inf if bound == "+Inf" else float(bound), value - before.get(key, 0.0)))
    return sorted(out)


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """The q-quantile of a histogram, linear within its bucket (Prometheus' histogram_quantile)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return math.nan
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def bucket_max(buckets: list[tuple[float, float]]) -> str:
    """The bucket the window's largest observation fell in, e.g. ``<= 0.25``."""
    total = buckets[-1][1] if buckets else 0.0
    for bound, count in buckets:
        if count >= total:
            return f"<= {bound:g}" if not math.isinf(bound) else "> the last bucket"
    return "-"


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Filing:
    """One request an office filed: when (wall), its id and the API's answer."""

    office: str
    sent: float
    replied: float = math.nan  # the API answered (intake decided)
    status: int = 0
    request_id: str | None = None
    planned: float = math.nan  # the request's "planned" entry in its timeline
    commanded: float = math.nan  # the first upload_mission of one of its missions seen on the broker
    state: str = ""  # when last read
    timeline: list[str] = field(default_factory=list)  # its audit actions, when last read


async def _watch_commands(
    address: BrokerAddress, prefix: str, seen: dict[str, float], ready: asyncio.Event
) -> None:
    """Record the wall time each mission's first ``upload_mission`` crosses the broker."""
    topic = Topics(prefix).all_of("cmd")
    async with aiomqtt.Client(
        address.host, address.port, identifier=client_id_from("bench-system-watch", prefix)
    ) as client:
        await client.subscribe(topic, qos=0)
        ready.set()
        async for message in client.messages:
            now = time.time()
            try:
                body = json.loads(bytes(message.payload))
            except (TypeError, ValueError):
                continue
            if isinstance(body, dict) and body.get("type") == "upload_mission":
                seen.setdefault(str(body.get("mission_id")), now)


async def _file(
    http: httpx.AsyncClient, token: str, office: str, to: str, rng: random.Random, out: list[Filing]
) -> None:
    filing = Filing(office, time.time())
    out.append(filing)
    body = {
        "pickup": office,
        "dropoff": to,
        "weight_kg": rng.choice(WEIGHTS_KG),
        "deadline": (datetime.now(UTC) + timedelta(hours=3)).isoformat(),
    }
    try:
        reply = await http.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        filing.status = -1
        print(f"bench system: filing failed: {exc!r}", file=sys.stderr)
        return
    filing.replied, filing.status = time.time(), reply.status_code
    data = reply.json()
    filing.request_id = data.get("id") or data.get("error", {}).get("details", {}).get("request_id")


async def _scrape(http: httpx.AsyncClient) -> dict[str, float]:
    reply = await http.get("/metrics")
    reply.raise_for_status()
    return parse_metrics(reply.text)


@dataclass
class Measured:
    """What the window gave."""

    filings: list[Filing]
    before: dict[str, float]
    after: dict[str, float]
    usage: list[tuple[str, ...]]
    window_s: float
    settle_s: float


async def _window(
    args: argparse.Namespace,
    base_url: str,
    address: BrokerAddress,
    prefix: str,
    tokens: dict[str, str],
    usage: Usage,
) -> Measured:
    seen: dict[str, float] = {}
    watching = asyncio.Event()
    watcher = asyncio.create_task(_watch_commands(address, prefix, seen, watching))
    rng = random.Random(args.seed)
    offices = sorted(tokens)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as http:
        await asyncio.wait_for(watching.wait(), 30)
        t_ready = time.monotonic()
        while (await _scrape(http)).get("dronedispatch_drones_online", 0) < args.drones:
            if time.monotonic() - t_ready > 180:
                raise SystemExit("bench system: the dispatcher did not hear every drone within 180 s")
            await asyncio.sleep(1.0)  # polling the service's own gauge, a bench's pace
        settle_s = time.monotonic() - t_ready
        await asyncio.sleep(args.warm_up)  # steady telemetry before the window
        n = args.requests if args.requests is not None else round(args.rate * args.seconds)
        filings: list[Filing] = []
        before = await _scrape(http)
        usage.start()
        t0 = time.monotonic()
        tasks = []
        for i in range(n):
            delay = t0 + i * args.seconds / max(n, 1) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            office = rng.choice(offices)
            to = rng.choice([o for o in offices if o != office])
            tasks.append(asyncio.create_task(_file(http, tokens[office], office, to, rng, filings)))
        await asyncio.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
        await asyncio.gather(*tasks)
        window_s = time.monotonic() - t0
        after = await _scrape(http)
        rows = usage.rows(window_s)
        # The last requests' first commands: wait a little past the window (not measured for CPU).
        deadline = time.monotonic() + args.grace
        filed = [f for f in filings if f.status == 201 and f.request_id]
        while True:
            for f in filed:
                if not math.isnan(f.commanded):
                    continue
                detail = await http.get(
                    f"/api/v1/requests/{f.request_id}",
                    headers={"Authorization": f"Bearer {tokens[f.office]}"},
                )
                body = detail.json() if detail.status_code == 200 else {}
                f.state = body.get("request", {}).get("state", f"HTTP {detail.status_code}")
                f.timeline = [f"{e['action']}{e.get('details') or ''}" for e in body.get("timeline", [])]
                times = [seen[m] for m in body.get("missions", []) if m in seen]
                if times:
                    f.commanded = min(times)
                planned = [e["at"] for e in body.get("timeline", []) if e.get("state") == "planned"]
                if planned:
                    f.planned = datetime.fromisoformat(planned[0]).timestamp()
            if all(not math.isnan(f.commanded) for f in filed) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2.0)  # re-read the requests still without a command
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
        await watcher
    return Measured(filings, before, after, rows, window_s, settle_s)


def _check_services(broker: BrokerAddress, pg: str) -> None:
    try:
        socket.create_connection((broker.host, broker.port), timeout=5).close()
    except OSError as exc:
        raise SystemExit(
            f"bench system: no MQTT broker at {broker.host}:{broker.port} ({exc}); "
            "start Mosquitto or give --broker"
        ) from None
    try:
        asyncio.run(_pg(pg, "SELECT 1"))
    except (OSError, Exception) as exc:  # asyncpg raises its own errors besides OSError
        raise SystemExit(
            f"bench system: no PostgreSQL at {make_url(pg).render_as_string()} ({exc}); give --pg"
        ) from None


async def _seed(db_url: str, area_dir: Path) -> dict[str, str]:
    """Seed the area as ``serve --seed-dir`` would, and make an API key per office."""
    store = await open_store(db_url)
    try:
        print(f"seeded {await seed_if_empty(store, area_dir)}", flush=True)
        tokens = {}
        for office in await store.directory.offices():
            key = await store.api_keys.create("office", actor="bench-system", office_id=office.id)
            tokens[office.id] = key.token
        return tokens
    finally:
        await store.close()


def _write_area(args: argparse.Namespace, area_dir: Path) -> list[list[str]]:
    """Write the city's files; return its drone ids split into ``--sim-processes`` shares, by home
    port while there are as many ports as shares (each process's separation monitor then watches
    every pair that meets at a port), else one by one."""
    area = city_area(args.seed, n_drones=args.drones)
    area_dir.mkdir()
    (area_dir / "fleet.json").write_text(json.dumps(area.fleet), encoding="utf-8")
    pads = {f"pad-{k:02d}": {"lon": lon, "lat": lat} for k, (lon, lat) in enumerate(area.pads)}
    (area_dir / "pads.json").write_text(json.dumps(pads), encoding="utf-8")
    (area_dir / "zones.geojson").write_text(json.dumps(area.zones), encoding="utf-8")
    ports = [[d["id"] for d in port["drones"]] for port in area.fleet["ports"]]
    n = args.sim_processes
    if len(ports) >= n:
        return [[i for port in ports[k::n] for i in port] for k in range(n)]
    ids = [i for port in ports for i in port]
    return [ids[k::n] for k in range(n)]


def run(args: argparse.Namespace) -> int:
    """Start everything, measure, stop everything, print the table."""
    address = BrokerAddress.parse(args.broker)
    pg = args.pg or os.environ.get("DRONEDISPATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    _check_services(address, pg)
    _raise_fd_limit(args.drones + 256)  # the simulators inherit it: a connection per drone
    schema = f"dd_bench_{uuid.uuid4().hex[:10]}"
    db_url = make_url(pg).update_query_dict({"schema": schema}).render_as_string(hide_password=False)
    prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
    py = [sys.executable, "-m", "dispatch.cli"]
    asyncio.run(_pg(pg, f'CREATE SCHEMA "{schema}"'))
    children: list[Child] = []
    sim_out: dict[str, list[str]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-system-") as tmp_name:
            tmp = Path(tmp_name)
            logs = Path(args.logs) if args.logs else tmp
            logs.mkdir(parents=True, exist_ok=True)
            shares = _write_area(args, tmp / "area")
            tokens = asyncio.run(_seed(db_url, tmp / "area"))
            secret = FleetSecret.generate()
            secret.save(tmp / "fleet-secret")
            common = [
                "--broker",
                args.broker,
                "--prefix",
                prefix,
                "--fleet-secret",
                str(tmp / "fleet-secret"),
            ]
            t_start = time.monotonic()
            sims = []
            for k, share in enumerate(shares):
                cmd = [*py, "simulate", "--fleet", str(tmp / "area" / "fleet.json"), "--zones"]
                cmd += [
                    str(tmp / "area" / "zones.geojson"),
                    "--drones",
                    ",".join(share),
                    "--seed",
                    str(k),
                    *common,
                ]
                sims.append(Child(f"simulator-{k + 1}", cmd, logs))
            children += sims
            for sim in sims:
                sim.wait_line(SIM_READY, 300)
            serve = Child(
                "dispatcher",
                [
                    *py,
                    "serve",
                    "--db",
                    db_url,
                    "--client-id",
                    client_id_from("bench-system", prefix),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--rate-limit",
                    "1000/s burst 1000",  # the offices' pace is the bench's, not the API's limit
                    *common,
                    *(["--verbose"] if args.logs else []),
                ],
                logs,
            )
            children.append(serve)
            base_url = serve.wait_line(SERVING, 300).group(1)
            startup_s = time.monotonic() - t_start
            pids = {"dispatcher (serve)": [serve.proc.pid]}
            solvers = children_of(serve.proc.pid)
            if solvers:
                pids[f"solver processes ({len(solvers)})"] = solvers
            for sim in sims:
                pids[sim.name] = [sim.proc.pid]
            broker = broker_pid(address.port)
            if broker is not None:
                pids["broker (mosquitto)"] = [broker]
            pids["bench (filing, watching)"] = [os.getpid()]
            usage = Usage(pids)
            measured = asyncio.run(_window(args, base_url, address, prefix, tokens, usage))
            serve.stop()
            for sim in sims:
                sim.stop()
                sim_out[sim.name] = sim.lines
    finally:
        for child in children:
            child.stop()
        asyncio.run(_pg(pg, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    return _report(args, measured, sim_out, startup_s)


def _report(args: argparse.Namespace, m: Measured, sim_out: dict[str, list[str]], startup_s: float) -> int:
    filed = [f for f in m.filings if f.status == 201]
    refused = [f for f in m.filings if f.status != 201]
    commanded = [f for f in filed if not math.isnan(f.commanded)]
    left = Counter(f.state for f in filed if math.isnan(f.commanded))
    waiting = f" (not yet: {dict(left)})" if left else ""
    lat = [f.commanded - f.sent for f in commanded]
    # A request never commanded counts as slower than any: the percentiles are of every request
    # accepted at intake, not only of those that got a drone.
    lat_all = lat + [math.inf] * (len(filed) - len(commanded))

    def secs(v: float) -> str:
        return f"{v:.2f}" if math.isfinite(v) else "never"

    planned = [f for f in commanded if not math.isnan(f.planned)]
    stages = {
        "intake (POST answered)": [f.replied - f.sent for f in commanded],
        "answered -> planned": [f.planned - f.replied for f in planned],
        "planned -> first command": [f.commanded - f.planned for f in planned],
    }
    rounds = histogram(m.before, m.after, "plan_seconds")
    lag = histogram(m.before, m.after, "event_loop_lag_seconds")
    n_rounds = rounds[-1][1] if rounds else 0.0
    d_sum = m.after.get("dronedispatch_plan_seconds_sum", 0.0) - m.before.get(
        "dronedispatch_plan_seconds_sum", 0.0
    )
    breaches, losses = 0, 0
    for lines in sim_out.values():
        for line in lines:
            if b := SIM_BREACHES.match(line):
                breaches += int(b.group(2))
            if s := SIM_LOSSES.match(line):
                losses += int(s.group(1))
    reported_breaches = m.after.get("dronedispatch_geofence_breaches_total", 0.0)
    reported_losses = m.after.get("dronedispatch_separation_losses_total", 0.0)
    print(
        f"{args.drones} drones in {args.sim_processes} simulator processes at real time, 1 Hz telemetry; "
        f"{len(m.filings)} requests filed over {m.window_s:.0f} s; {os.cpu_count()} cores; "
        f"set-up {startup_s:.0f} s, every drone heard {m.settle_s:.0f} s later"
    )
    rows: list[tuple[str, ...]] = [
        (
            "requests filed / accepted at intake",
            f"{len(m.filings)} / {len(filed)}"
            + (f" (refused: {sorted({f.status for f in refused})})" if refused else ""),
        ),
        ("commanded (first upload seen on the broker)", f"{len(lat)} / {len(filed)}{waiting}"),
        (
            "request -> first command p50 / p95 / max (s), of all accepted",
            " / ".join(secs(_percentile(lat_all, q)) for q in (0.5, 0.95, 1.0)),
        ),
        *(
            (f"  of which {stage}, p50 / p95 (s)", f"{_percentile(v, 0.5):.2f} / {_percentile(v, 0.95):.2f}")
            for stage, v in stages.items()
        ),
        (
            "planning rounds in the window",
            f"{n_rounds:.0f} (mean {d_sum / n_rounds if n_rounds else math.nan:.2f} s)",
        ),
        (
            "round wall time p50 / max (s)",
            f"{quantile(rounds, 0.5):.2f} / {m.after.get('dronedispatch_plan_seconds_max', math.nan):.2f}",
        ),
        (
            "event-loop lag p50 / p95 (ms), window",
            f"{1000 * quantile(lag, 0.5):.0f} / {1000 * quantile(lag, 0.95):.0f}",
        ),
        (
            "event-loop lag max (ms): since start; window's bucket",
            f"{1000 * m.after.get('dronedispatch_event_loop_lag_seconds_max', math.nan):.0f}; "
            f"{bucket_max(lag)} s",
        ),
        (
            "telemetry received by the dispatcher (/s)",
            f"{m.after.get('dronedispatch_telemetry_messages_per_second', math.nan):,.0f}",
        ),
        ("geofence breaches: simulators / reported", f"{breaches} / {reported_breaches:.0f}"),
        ("losses of separation: simulators / reported", f"{losses} / {reported_losses:.0f}"),
    ]
    _print_table(("measure", "value"), rows)
    for f in [f for f in filed if math.isnan(f.commanded)][:3]:
        print(f"  e.g. {f.request_id} ({f.office}) {f.state}: {' | '.join(f.timeline)[:400]}")
    print()
    _print_table(("process", "CPU (of one core)", "peak RSS (MB)"), m.usage)
    p95 = _percentile(lat_all, 0.95)
    print(
        f"targets: first command p95 <= 2 s: {'met' if p95 <= 2.0 else 'MISSED'}; event-loop lag < 100 ms "
        f"(window p95): {'met' if quantile(lag, 0.95) < 0.1 else 'MISSED'}; breaches and losses 0: "
        f"{'met' if breaches + losses + reported_breaches + reported_losses == 0 else 'MISSED'}"
    )
    return 1 if breaches or losses or not lat else 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(prog="python -m bench system", description=__doc__.split("\n\n")[0])
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument(
        "--pg", help="PostgreSQL server URL (default $DRONEDISPATCH_TEST_PG or the local test database)"
    )
    p.add_argument("--drones", type=int, default=1000)
    p.add_argument("--rate", type=float, default=2.0, help="requests filed per second")
    p.add_argument("--requests", type=int, help="requests filed over the window (instead of --rate)")
    p.add_argument("--seconds", type=float, default=60.0, help="the measuring window")
    p.add_argument("--sim-processes", type=int, default=2)
    p.add_argument(
        "--warm-up", type=float, default=10.0, help="seconds of steady telemetry before the window"
    )
    p.add_argument("--grace", type=float, default=30.0, help="seconds past the window for the last commands")
    p.add_argument(
        "--logs",
        metavar="DIR",
        help="keep each process's standard error here, the dispatcher's verbose (default: dropped)",
    )
    p.add_argument("--seed", type=int, default=1, help="the city and the requests")
    args = p.parse_args(argv)
    if args.drones < 2 or args.sim_processes < 1 or args.seconds <= 0:
        p.error("--drones >= 2, --sim-processes >= 1 and --seconds > 0")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
