"""Signatures on drone messages (fleet.signing): keys, sign and verify, the secret file, the
commands' options, and the link's check before anything sees a message (no broker needed)."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from dispatch.commands import mqtt as mqtt_command
from dispatch.commands import run as run_command
from dispatch.commands import serve as serve_command
from fleet.clock import ScaledClock
from fleet.link import FleetLink, RefusedEvent
from fleet.messages import Ack, Delivered, Fault, PickedUp, State, Telemetry, decode, encode
from fleet.signing import (
    SECRET_ENV,
    FleetSecret,
    add_fleet_secret_arguments,
    fleet_secret_from_args,
    sign,
    signature_problem,
)
from fleet.topics import Topics
from simulator import cli as simulate_command
from tests.conftest import EXAMPLES

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = FleetSecret(bytes(range(32)))
T = Topics()


def delivered(drone_id: str = "D01") -> Delivered:
    return Delivered(
        drone_id=drone_id,
        ts=NOW,
        lon=114.39,
        lat=36.10,
        alt_m=0.0,
        mission_id="M1",
        request_id="R1",
        code_ok=True,
    )


def test_each_drone_key_is_an_hmac_of_the_secret() -> None:
    expected = hmac.new(SECRET.value, b"drone-key:D01", hashlib.sha256).digest()
    assert SECRET.drone_key("D01") == expected
    assert SECRET.drone_key("D02") != expected
    assert FleetSecret.generate().drone_key("D01") != expected
    assert repr(SECRET) == "FleetSecret()"  # never printed


def test_a_signed_message_survives_the_wire_and_any_tampering_is_refused() -> None:
    key = SECRET.drone_key("D01")
    messages = [
        delivered(),
        PickedUp(
            drone_id="D01",
            ts=NOW,
            lon=114.34,
            lat=36.11,
            alt_m=1.5,
            request_id="R1",
            code_ok=True,
            payload_kg=0.3,
        ),
        Fault(drone_id="D01", ts=NOW, lon=114.34, lat=36.11, alt_m=80.0, kind="motor"),
        Ack(drone_id="D01", cmd_id="c1", ts=NOW, accepted=False, reason="busy"),
        State(drone_id="D01", ts=NOW.astimezone(), online=False),
    ]
    kinds = {Delivered: "event", PickedUp: "event", Fault: "event", Ack: "ack", State: "state"}
    for message in messages:
        received = decode(kinds[type(message)], encode(sign(message, key)), "D01")
        assert signature_problem(received, SECRET) is None  # type: ignore[arg-type]
        assert signature_problem(message, SECRET) == "no signature"  # type: ignore[arg-type]
    received = decode("event", encode(sign(delivered(), key)), "D01")
    tampered = {
        "code_ok": False,
        "request_id": "R2",
        "mission_id": "M2",
        "ts": NOW + timedelta(seconds=1),
        "lon": 114.40,
        "msg_id": "other",
        "drone_id": "D02",
    }
    for name, value in tampered.items():
        assert (
            signature_problem(msgspec.structs.replace(received, **{name: value}), SECRET) == "wrong signature"
        )
    # Another drone's key, or a signature that is not hex of the right length, proves nothing.
    other = sign(delivered(), SECRET.drone_key("D02"))
    assert signature_problem(other, SECRET) == "wrong signature"  # type: ignore[arg-type]
    with pytest.raises(Exception, match="sig"):
        decode("event", encode(delivered()).replace(b'"sig":null', b'"sig":"zz"'), "D01")
    # Telemetry carries no signature: one there is an unknown member, refused.
    telemetry = Telemetry(
        drone_id="D01",
        ts=NOW,
        lon=114.34,
        lat=36.11,
        alt_m=0.0,
        ground_speed_mps=0.0,
        heading_deg=0.0,
        battery_pct=90.0,
        energy_wh=300.0,
        state="idle",
    )
    assert sign(telemetry, key) is telemetry
    with pytest.raises(Exception, match="sig"):
        decode("telemetry", encode(telemetry)[:-1] + b',"sig":"' + b"0" * 64 + b'"}', "D01")


def test_the_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    SECRET.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FleetSecret.load(path) == SECRET
    with pytest.raises(FileExistsError):
        SECRET.save(path)  # replacing it would change every drone's key
    for text in ["", "00" * 16, "not hex at all", "é"]:
        (tmp_path / "bad").write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="fleet secret"):
            FleetSecret.load(tmp_path / "bad")


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_fleet_secret_arguments(parser)
    return parser.parse_args(argv)


def test_a_secret_is_required_unless_refused_out_loud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret"
    SECRET.save(path)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ValueError, match="--insecure-unsigned-fleet"):
        fleet_secret_from_args(_options([]))
    assert fleet_secret_from_args(_options(["--fleet-secret", str(path)])) == SECRET
    assert fleet_secret_from_args(_options(["--insecure-unsigned-fleet"])) is None
    with pytest.raises(ValueError, match="absent"):
        fleet_secret_from_args(_options(["--fleet-secret", str(tmp_path / "absent")]))
    monkeypatch.setenv(SECRET_ENV, str(path))
    assert fleet_secret_from_args(_options([])) == SECRET


def test_commands_refuse_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert run_command.main(["--db", "sqlite:///never-opened.db"]) == 2
    assert "no fleet secret" in capsys.readouterr().err
    assert serve_command.main(["--db", "sqlite:///never-opened.db"]) == 2
    assert "no fleet secret" in capsys.readouterr().err
    argv = ["--broker", "mqtt://127.0.0.1:1", "--fleet", str(EXAMPLES / "fleet.json")]
    assert simulate_command.main(argv) == 2
    assert "no fleet secret" in capsys.readouterr().err


def test_mqtt_keys_creates_the_secret_once_and_prints_each_drones_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    argv = ["keys", "--fleet", str(EXAMPLES / "fleet.json"), "--secret", str(path)]
    assert mqtt_command.main(argv) == 0
    first = capsys.readouterr().out
    secret = FleetSecret.load(path)
    keys = dict(line.split() for line in first.splitlines() if line.startswith("D"))
    assert keys == {d: secret.drone_key(d).hex() for d in ["D01", "D02", "D03", "D04", "D05", "D06"]}
    assert secret.value.hex() not in first
    assert mqtt_command.main(argv) == 0  # the same secret again: the same keys
    assert dict(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("D")) == keys


def test_the_link_checks_before_anything_sees_a_message() -> None:
    link = FleetLink("mqtt://127.0.0.1:1", clock=ScaledClock(1, start=NOW), fleet_secret=SECRET)
    forged = [delivered(), sign(delivered(), SECRET.drone_key("D02"))]
    with link.subscribe() as updates:
        for message in forged:
            link._handle(T.topic("D01", "event"), encode(message))
        link._handle(T.topic("D01", "state"), encode(State(drone_id="D01", ts=NOW, online=False)))
        link._handle(T.topic("D01", "ack"), encode(Ack(drone_id="D01", cmd_id="c", ts=NOW, accepted=True)))
        assert link.stats.dropped == {"bad_signature": 4}
        assert link.registry.get("D01") is None  # no state, no event recorded
        refused = [updates.get_nowait(), updates.get_nowait()]
        assert all(isinstance(u, RefusedEvent) for u in refused) and updates.pending() == 0
        assert [(u.event, u.request_id, u.count) for u in refused] == [
            ("delivered", "R1", 1),
            ("delivered", "R1", 2),
        ]
        genuine = sign(delivered(), SECRET.drone_key("D01"))
        link._handle(T.topic("D01", "event"), encode(genuine))
        assert updates.get_nowait() == decode("event", encode(genuine))
        assert link.stats.dropped_total == 4
