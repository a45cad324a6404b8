"""Benchmark: the fleet link's telemetry ingest and the simulator's capacity (prints a table).

Run: ``.venv/bin/python -m bench.bench_fleet [--broker mqtt://127.0.0.1:1883] [--seconds 10]``.

1. *Ingest*: one :class:`~fleet.link.FleetLink` (one process, one MQTT client) receives telemetry
   of 1,000 drone ids, published as fast as they go by a separate publisher process; we count the
   messages the link validated into its registry per second and the link process's CPU time.
2. *Simulator capacity*: N simulated drones, each its own MQTT connection, flying square loops
   around their port, telemetry every simulated second; split over P processes (one asyncio loop
   each). One MQTT 5 link (the dispatcher's) counts the telemetry it receives per second against
   the target (N x speed); CPU of the simulator processes (sum) and of the link process.

Everything shares the machine's cores with the broker, so the numbers are end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

from fleet.clock import RealClock, ScaledClock
from fleet.connection import BrokerAddress, Protocol, client_id_from
from fleet.description import Drone, DroneModel, Fleet, Port
from fleet.embedded_broker import EmbeddedBroker
from fleet.link import FleetLink
from fleet.messages import Start, Telemetry, UploadMission, encode
from fleet.signing import FleetSecret
from fleet.topics import Topics

MODEL = DroneModel("bench", 15.0, 120.0, 2.0, 350.0, 0.2, 14.0, 3.0, 60.0, 300.0)
PORT = Port("P", 114.3955, 36.1052)


def bench_fleet(n: int) -> Fleet:
    """A fleet of ``n`` identical drones at one port."""
    drones = tuple(Drone(f"B{i:05d}", "bench", "P") for i in range(n))
    return Fleet(models={"bench": MODEL}, ports=(PORT,), drones=drones)


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed <= hard or (soft < needed and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise SystemExit(f"bench_fleet: needs {needed} file descriptors, the limit is {soft}")


# --- 1. ingest ---------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _publisher(url: str, prefix: str, seconds: float, n_ids: int) -> None:
    """Blast pre-encoded QoS 0 telemetry over a raw MQTT 3.1.1 socket (no client library in the
    way), so that the benchmark measures the receiving link, not the sender."""
    address = BrokerAddress.parse(url)
    topics = Topics(prefix)
    now = datetime.now(UTC)
    packets = []
    for i in range(n_ids):
        t = Telemetry(
            drone_id=f"B{i:05d}",
            ts=now,
            lon=114.39,
            lat=36.10,
            alt_m=120.0,
            ground_speed_mps=15.0,
            heading_deg=90.0,
            battery_pct=80.0,
            energy_wh=280.0,
            state="en_route",
            mission_id="M1",
            payload_kg=0.5,
        )
        packets.append(_packet(0x30, _utf8(topics.topic(t.drone_id, "telemetry")) + encode(t)))
    batch = b"".join(packets)
    with socket.create_connection((address.host, address.port)) as sock:
        connect = (
            _utf8("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + _utf8(f"pub-{uuid.uuid4().hex[:8]}")
        )
        sock.sendall(_packet(0x10, connect))
        if sock.recv(4)[:1] != b"\x20":
            raise RuntimeError("publisher: no CONNACK")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sock.sendall(batch)  # blocks when the broker's socket buffer is full: natural pacing
        sock.sendall(b"\xe0\x00")  # DISCONNECT


async def _ingest(url: str, seconds: float, protocol: Protocol) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
    link = FleetLink(
        url, client_id=client_id_from("bench", prefix), prefix=prefix, session_expiry_s=0, protocol=protocol
    )
    async with link:
        proc = mp.get_context("spawn").Process(target=_publisher, args=(url, prefix, seconds + 1.0, 1000))
        proc.start()
        await asyncio.sleep(1.0)  # let the publisher connect and reach full speed
        n0, c0, t0 = link.stats.telemetry, time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        n1, c1, t1 = link.stats.telemetry, time.process_time(), time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, proc.join)
    rate = (n1 - n0) / (t1 - t0)
    cpu = (c1 - c0) / (t1 - t0)
    return {
        "rate": rate,
        "cpu": cpu,
        "us_per_msg": 1e6 * (c1 - c0) / max(n1 - n0, 1),
        "dropped": link.stats.dropped_total,
    }


# --- 2. simulator capacity ---------------------------------------------------------------------


def _square(lon: float, lat: float, side_deg: float = 0.01) -> list[tuple[float, float, float]]:
    pts = [(lon + side_deg, lat), (lon + side_deg, lat + side_deg), (lon, lat + side_deg), (lon, lat)]
    return [(a, b, 120.0) for a, b in pts]


def _sim_worker(
    url: str,
    prefix: str,
    ids: list[str],
    speed: float,
    seconds: float,
    out: mp.Queue,
    secret: str | None = None,
) -> None:
    """Fly ``ids`` (signing with keys of the fleet secret ``secret``, hex, if given) for ``seconds``."""
    from simulator.fleet_sim import SimulatedFleet

    _raise_fd_limit(len(ids) + 256)

    async def run() -> None:
        clock = RealClock() if speed == 1.0 else ScaledClock(speed)
        sim = SimulatedFleet(
            bench_fleet(max(int(i[1:]) for i in ids) + 1),
            url,
            clock=clock,
            prefix=prefix,
            drone_ids=ids,
            session_expiry_s=0,
            fleet_secret=FleetSecret.parse(secret) if secret else None,
        )
        await sim.start(timeout_s=120)
        now = clock.now()
        for drone_id in ids:  # keep every drone flying: square loops around the port
            d = sim.drone(drone_id)
            exp = now + timedelta(hours=1)
            d.apply(
                UploadMission(
                    drone_id=drone_id,
                    cmd_id="u",
                    expires_at=exp,
                    mission_id="L",
                    waypoints=_square(PORT.lon, PORT.lat),
                    lost_link="hold",
                ),
                now,
            )
            d.apply(Start(drone_id=drone_id, cmd_id="s", expires_at=exp, mission_id="L"), now)
        out.put(("ready", len(ids)))
        sent0, c0, t0 = (
            sum(a.telemetry_sent for a in sim.agents.values()),
            time.process_time(),
            time.monotonic(),
        )
        await asyncio.sleep(seconds)
        sent1, c1, t1 = (
            sum(a.telemetry_sent for a in sim.agents.values()),
            time.process_time(),
            time.monotonic(),
        )
        out.put(("done", (sent1 - sent0) / (t1 - t0), (c1 - c0) / (t1 - t0)))
        await sim.stop()

    asyncio.run(run())


async def _capacity(url: str, drones: int, procs: int, speed: float, seconds: float) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
    ids = [f"B{i:05d}" for i in range(drones)]
    link = FleetLink(url, client_id=client_id_from("bench", prefix), prefix=prefix, session_expiry_s=0)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    workers = [
        ctx.Process(target=_sim_worker, args=(url, prefix, ids[k::procs], speed, seconds, out))
        for k in range(procs)
    ]
    loop = asyncio.get_running_loop()
    t_connect = time.monotonic()
    async with link:
        for w in workers:
            w.start()
        for _ in workers:
            msg = await loop.run_in_executor(None, out.get)
            assert msg[0] == "ready", msg
        connect_s = time.monotonic() - t_connect
        await asyncio.sleep(1.0)
        n0, t0, c0 = link.stats.telemetry, time.monotonic(), time.process_time()
        await asyncio.sleep(seconds - 2.0)
        n1, t1, c1 = link.stats.telemetry, time.monotonic(), time.process_time()
        results = [await loop.run_in_executor(None, out.get) for _ in workers]
        for w in workers:
            await loop.run_in_executor(None, w.join)
    sent = sum(r[1] for r in results)
    return {
        "target": drones * speed,
        "sent": sent,
        "received": (n1 - n0) / (t1 - t0),
        "cpu": sum(r[2] for r in results),
        "connect_s": connect_s,
        "link_cpu": (c1 - c0) / (t1 - t0),
    }


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the fleet benchmarks and print a table."""
    p = argparse.ArgumentParser(prog="python -m bench.bench_fleet")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="broker URL, or 'embedded'")
    p.add_argument("--seconds", type=float, default=8.0, help="measuring time per benchmark")
    p.add_argument("--drones", type=int, default=1000, help="simulated drones at 1 Hz real time")
    p.add_argument("--fast-drones", type=int, default=100, help="simulated drones at --speed 60")
    p.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1), help="simulator processes")
    args = p.parse_args(argv)
    _raise_fd_limit(args.drones + 256)
    embedded = EmbeddedBroker() if args.broker == "embedded" else None
    url = embedded.start().url if embedded else args.broker
    try:
        ingest5 = asyncio.run(_ingest(url, args.seconds, "5"))
        ingest3 = asyncio.run(_ingest(url, args.seconds, "3.1.1"))
        real = asyncio.run(_capacity(url, args.drones, args.processes, 1.0, args.seconds + 2))
        fast = asyncio.run(_capacity(url, args.fast_drones, args.processes, 60.0, args.seconds + 2))
    finally:
        if embedded:
            embedded.stop()
    rows = [
        (
            "ingest: one link (MQTT 5), 1,000 drone ids",
            f"{ingest5['rate']:,.0f} telemetry/s",
            f"{100 * ingest5['cpu']:.0f}% of a core, {ingest5['us_per_msg']:.0f} us/msg",
            "target >= 5,000/s",
        ),
        (
            "ingest: one link (MQTT 3.1.1), 1,000 drone ids",
            f"{ingest3['rate']:,.0f} telemetry/s",
            f"{100 * ingest3['cpu']:.0f}% of a core, {ingest3['us_per_msg']:.0f} us/msg",
            "target >= 5,000/s",
        ),
        (
            f"simulator: {args.drones} drones, 1 Hz, real time, {args.processes} proc",
            f"{real['received']:,.0f} /s received ({real['sent']:,.0f} sent)",
            f"sim {100 * real['cpu']:.0f}% (sum), link {100 * real['link_cpu']:.0f}%; "
            f"connect {real['connect_s']:.1f} s",
            f"target {real['target']:,.0f}/s",
        ),
        (
            f"simulator: {args.fast_drones} drones, --speed 60, {args.processes} proc",
            f"{fast['received']:,.0f} /s received ({fast['sent']:,.0f} sent)",
            f"sim {100 * fast['cpu']:.0f}% (sum), link {100 * fast['link_cpu']:.0f}%",
            f"target {fast['target']:,.0f}/s",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("benchmark", "result", "CPU", "goal")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(f"broker {url}, {os.cpu_count()} cores")
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
