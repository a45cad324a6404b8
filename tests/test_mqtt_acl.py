"""`dronedispatch mqtt acl` against a real Mosquitto: a drone can speak only as itself.

The generated password file, ACL and listener settings are loaded into a private Mosquitto;
real MQTT clients then try to impersonate another drone, read its commands, or log in without
(or with someone else's) credentials.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from dispatch.commands import mqtt as mqtt_command
from fleet.acl import acl_text, broker_access, check_password, hash_password
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress
from fleet.description import load_fleet
from fleet.link import FleetLink
from fleet.messages import Delivered, Hold, Landed, State, Telemetry, TookOff, encode
from fleet.topics import Topics
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import start, upload, wait_until
from tests.mqtt_fixtures import Mosquitto

PREFIX = "dd/v1"
T = Topics(PREFIX)


def test_hashes_are_mosquitto_passwd_compatible(tmp_path: Path) -> None:
    # A line written by mosquitto_passwd itself verifies with our reader, and ours has its shape.
    pw_file = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw_file), "alice", "s3cret"], check=True)
    theirs = pw_file.read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$") and check_password("s3cret", theirs)
    assert not check_password("wrong", theirs)
    ours = hash_password("s3cret")
    _, seven, iterations, salt, digest = ours.split("$")
    assert (seven, iterations, len(salt), len(digest)) == ("7", "101", 16, 88)
    assert check_password("s3cret", ours) and ours != hash_password("s3cret")  # salted


def test_acl_lists_each_drones_own_topics_only() -> None:
    text = acl_text(["D01", "D02"], prefix="p/x")
    d01 = text.split("user D01\n")[1].split("\n\n")[0].splitlines()
    assert d01 == [
        "topic write p/x/drones/D01/telemetry",
        "topic write p/x/drones/D01/state",
        "topic write p/x/drones/D01/ack",
        "topic write p/x/drones/D01/event",
        "topic read p/x/drones/D01/cmd",
    ]
    assert "pattern" not in text and "#" not in text.replace("# ", "")
    for bad in (["D01", "D01"], ["a b"], ["D+"], ["dispatcher"]):
        with pytest.raises(ValueError):
            broker_access(bad)


def test_command_writes_files_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "broker"
    assert mqtt_command.main(["acl", "--fleet", str(EXAMPLES / "fleet.json"), "--out", str(out)]) == 0
    printed = _passwords(capsys.readouterr().out)
    assert set(printed) == {"dispatcher", "D01", "D02", "D03", "D04", "D05", "D06"}
    assert (out / "passwords").stat().st_mode & 0o077 == 0
    hashed = dict(line.split(":", 1) for line in (out / "passwords").read_text().splitlines())
    assert all(check_password(printed[u], hashed[u]) for u in printed)
    assert all(pw not in (out / "passwords").read_text() for pw in printed.values())
    # A second run would silently change every password: refused without --force.
    assert mqtt_command.main(["acl", "--fleet", str(EXAMPLES / "fleet.json"), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def _passwords(stdout: str) -> dict[str, str]:
    lines = stdout.split("passwords (shown once", 1)[1].splitlines()[1:]
    return dict(line.split(" ", 1) for line in lines if line)


@pytest.fixture
async def acl_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """A Mosquitto configured exactly by the command's files; yields (broker, passwords)."""
    out = tmp_path / "access"
    argv = ["acl", "--fleet", str(EXAMPLES / "fleet.json"), "--out", str(out), "--prefix", PREFIX]
    assert mqtt_command.main(argv) == 0
    passwords = _passwords(capsys.readouterr().out)
    conf = (out / "mosquitto.conf").read_text().splitlines()
    # Use the generated listener's settings, on a free port of our own.
    listener = conf.index(next(line for line in conf if line.startswith("listener ")))
    settings = "\n".join(line for line in conf[listener + 1 :] if line and not line.startswith("#"))
    assert "allow_anonymous false" in settings and "acl_file" in settings and "password_file" in settings
    broker = Mosquitto(tmp_path, listener_settings=settings, head="per_listener_settings true\n")
    broker.start()
    try:
        yield broker, passwords
    finally:
        broker.stop()


def _login(address: BrokerAddress, user: str, password: str) -> BrokerAddress:
    return replace(address, username=user, password=password)


def _telemetry(drone_id: str, clock: ScaledClock, lon: float = 114.39) -> Telemetry:
    return Telemetry(
        drone_id=drone_id,
        ts=clock.now(),
        lon=lon,
        lat=36.10,
        alt_m=0,
        ground_speed_mps=0,
        heading_deg=0,
        battery_pct=100,
        energy_wh=350,
        state="idle",
    )


async def test_a_drone_cannot_speak_as_another(acl_broker) -> None:  # type: ignore[no-untyped-def]
    broker, pw = acl_broker
    clock = ScaledClock(1)
    link = FleetLink(_login(broker.address, "dispatcher", pw["dispatcher"]), prefix=PREFIX, clock=clock)
    d01 = _login(broker.address, "D01", pw["D01"])
    async with link, aiomqtt.Client(d01.host, d01.port, username="D01", password=pw["D01"]) as drone:
        with link.subscribe(telemetry=True) as updates:
            # Bodies consistent with their topics: only the broker can stop these.
            await drone.publish(T.topic("D02", "telemetry"), encode(_telemetry("D02", clock)))
            fake = TookOff(drone_id="D02", ts=clock.now(), lon=114.39, lat=36.10, alt_m=0, mission_id=None)
            await drone.publish(T.topic("D02", "event"), encode(fake), qos=1)
            # Then its own telemetry: once that arrives, anything published before it would have.
            await drone.publish(T.topic("D01", "telemetry"), encode(_telemetry("D01", clock)))
            await wait_until(lambda: link.registry.get("D01") is not None, what="D01's own telemetry")
            seen = []
            while (u := updates.get_nowait()) is not None:
                seen.append(u)
        assert [(type(u).__name__, u.drone_id) for u in seen if hasattr(u, "drone_id")] == [
            ("Telemetry", "D01")
        ]
        assert link.registry.get("D02") is None
        assert link.stats.dropped_total == 0  # refused by the broker, never reached the link


async def test_a_drone_cannot_read_or_send_another_drones_commands(acl_broker) -> None:  # type: ignore[no-untyped-def]
    broker, pw = acl_broker
    clock = ScaledClock(1)
    addr = broker.address
    received: dict[str, list[bytes]] = {"D01": [], "D02": []}
    got: dict[str, asyncio.Event] = {"D01": asyncio.Event(), "D02": asyncio.Event()}

    async def listen(client: aiomqtt.Client, me: str) -> None:
        async for msg in client.messages:
            assert isinstance(msg.payload, bytes)
            received[me].append(msg.payload)
            if msg.payload.startswith(b"for"):
                got[me].set()

    async with (
        aiomqtt.Client(addr.host, addr.port, username="D01", password=pw["D01"]) as d01,
        aiomqtt.Client(addr.host, addr.port, username="D02", password=pw["D02"]) as d02,
        aiomqtt.Client(addr.host, addr.port, username="dispatcher", password=pw["dispatcher"]) as disp,
    ):
        # Mosquitto 2.0 grants the subscription and checks "read" on every delivery instead.
        await d01.subscribe(T.topic("D02", "cmd"), qos=1)
        await d01.subscribe("#", qos=1)  # snooping on everything
        await d01.subscribe(T.topic("D01", "cmd"), qos=1)
        await d02.subscribe(T.topic("D02", "cmd"), qos=1)
        tasks = [asyncio.create_task(listen(d01, "D01")), asyncio.create_task(listen(d02, "D02"))]
        try:
            # D01 forges a command to D02: the broker must not pass it on.
            forged = Hold(drone_id="D02", cmd_id="forged", expires_at=clock.now())
            await d01.publish(T.topic("D02", "cmd"), encode(forged), qos=1)
            # The dispatcher commands D02, then D01 (same publisher, in order).
            await d02.publish(T.topic("D02", "telemetry"), encode(_telemetry("D02", clock)), qos=1)
            await disp.publish(T.topic("D02", "cmd"), b"for D02 only", qos=1)
            await disp.publish(T.topic("D01", "cmd"), b"for D01", qos=1)
            # Each drone's last message is the dispatcher's: anything before it would have arrived.
            await asyncio.wait_for(asyncio.gather(got["D01"].wait(), got["D02"].wait()), 10)
        finally:
            for task in tasks:
                task.cancel()
        # Only its own command (overlapping subscriptions may deliver it more than once).
        assert set(received["D01"]) == {b"for D01"}
        assert received["D02"] == [b"for D02 only"]  # the dispatcher's, not the forged one


async def test_anonymous_and_borrowed_credentials_are_refused(acl_broker) -> None:  # type: ignore[no-untyped-def]
    broker, pw = acl_broker
    addr = broker.address
    for user, password in [(None, None), ("D01", pw["D02"]), ("D01", ""), ("nobody", "x")]:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(addr.host, addr.port, username=user, password=password, timeout=5):
                pass


async def test_the_whole_protocol_works_under_the_acl(acl_broker) -> None:  # type: ignore[no-untyped-def]
    # The ACL must not be too strict either: commands, acks, events, retained state and the last
    # will of real simulated drones, each logged in as itself, all get through.
    broker, pw = acl_broker
    clock = ScaledClock(200)
    link = FleetLink(_login(broker.address, "dispatcher", pw["dispatcher"]), prefix=PREFIX, clock=clock)
    fleet = load_fleet(EXAMPLES / "fleet.json")
    sim = SimulatedFleet(
        fleet, broker.address, clock=clock, prefix=PREFIX, drone_ids=["D01", "D02"], passwords=pw
    )
    async with link, sim:
        with link.subscribe() as updates:
            assert (await link.send(upload(clock))).accepted
            assert (await link.send(start(clock))).accepted
            await sim.wait_event("D01", Landed, timeout_s=30)
            sim.inject_link_loss("D02", 30)
            seen: list[object] = []

            async def _collect() -> None:
                async for u in updates:
                    seen.append(u)
                    if isinstance(u, State) and u.drone_id == "D02" and not u.online:
                        return

            await asyncio.wait_for(_collect(), 10)  # the broker published D02's last will
        assert any(isinstance(u, Delivered) and u.code_ok for u in seen)
        assert link.stats.dropped_total == 0 and link.registry.is_online("D01", clock.now())


async def test_simulate_command_logs_each_drone_in_as_itself(acl_broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broker, pw = acl_broker
    printed = tmp_path / "printed.txt"  # the command's stdout, as an operator would keep it
    printed.write_text("passwords (shown once):\n" + "".join(f"{u} {p}\n" for u, p in pw.items()))
    clock = ScaledClock(1)
    link = FleetLink(_login(broker.address, "dispatcher", pw["dispatcher"]), prefix=PREFIX, clock=clock)
    argv = [
        sys.executable,
        "-m",
        "dispatch.cli",
        "simulate",
        "--broker",
        broker.address.url,
        "--fleet",
        str(EXAMPLES / "fleet.json"),
        "--passwords",
        str(printed),
        "--duration",
        "60",
    ]
    async with link:
        proc = await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.PIPE)
        try:
            every = {"D01", "D02", "D03", "D04", "D05", "D06"}
            await wait_until(
                lambda: set(link.registry.online_ids(clock.now())) == every, 30, "all six online"
            )
        finally:
            proc.terminate()
            _, err = await proc.communicate()
        assert link.stats.dropped_total == 0, err.decode()
