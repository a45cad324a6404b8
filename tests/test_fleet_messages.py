"""The protocol's message types: round trips, and every kind of bad body is refused."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.messages import (
    Ack,
    Delivered,
    HandoverStop,
    PickupStop,
    ProtocolError,
    Reroute,
    State,
    Telemetry,
    UploadMission,
    decode,
    encode,
)
from fleet.topics import Topics

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def telemetry(**over: object) -> Telemetry:
    fields: dict[str, object] = dict(
        drone_id="D01",
        ts=NOW,
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
    fields.update(over)
    return Telemetry(**fields)  # type: ignore[arg-type]


def mission(**over: object) -> UploadMission:
    fields: dict[str, object] = dict(
        drone_id="D01",
        cmd_id="c1",
        expires_at=NOW + timedelta(minutes=5),
        mission_id="M1",
        waypoints=[(114.39, 36.10, 120.0), (114.40, 36.11, 120.0), (114.39, 36.10, 120.0)],
        stops=[
            PickupStop(at=0, request_id="R1", pickup_code="1111", payload_kg=0.5),
            HandoverStop(at=1, request_id="R1", recipient_code="2222"),
        ],
        lost_link="return",
    )
    fields.update(over)
    return UploadMission(**fields)  # type: ignore[arg-type]


def as_dict(msg: msgspec.Struct) -> dict[str, object]:
    return msgspec.json.decode(encode(msg))


def test_round_trips() -> None:
    for kind, msg in [
        ("telemetry", telemetry()),
        ("cmd", mission()),
        ("state", State(drone_id="D01", ts=NOW, online=True, state="idle")),
        ("ack", Ack(drone_id="D01", cmd_id="c1", ts=NOW, accepted=False, reason="expired")),
        ("event", Delivered(drone_id="D01", ts=NOW, lon=1, lat=2, alt_m=0, request_id="R1", code_ok=True)),
    ]:
        assert decode(kind, encode(msg), "D01") == msg


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        ("telemetry", b"not json", "malformed"),
        ("telemetry", b"[]", "malformed"),
        ("telemetry", b'{"msg_id": "x"}', "malformed"),  # no schema version
        ("telemetry", b"x" * (256 * 1024 + 1), "too_large"),
        ("bogus", b"{}", "unknown_kind"),
    ],
)
def test_garbage_is_refused(kind: str, body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(kind, body)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("v", 2),
        ("lon", 181.0),
        ("lat", -91.0),
        ("battery_pct", 100.5),
        ("ground_speed_mps", -1.0),
        ("state", "dancing"),
        ("drone_id", "D/01"),
        ("drone_id", "+"),
        ("ts", "2026-12-01T00:00:00"),  # naive time
        ("extra_field", 1),
        ("msg_id", ""),
    ],
)
def test_out_of_range_telemetry_is_refused(field: str, value: object) -> None:
    body = as_dict(telemetry())
    body[field] = value
    with pytest.raises(ProtocolError) as info:
        decode("telemetry", msgspec.json.encode(body))
    assert info.value.reason in ("malformed", "bad_version")


def test_non_finite_numbers_are_refused() -> None:
    body = encode(telemetry(lon=1.5)).replace(b'"lon":1.5', b'"lon":1e400')
    with pytest.raises(ProtocolError):
        decode("telemetry", body)
    body = encode(telemetry(energy_wh=1.5)).replace(b'"energy_wh":1.5', b'"energy_wh":NaN')
    with pytest.raises(ProtocolError):
        decode("telemetry", body)


def test_topic_and_body_must_agree_about_the_drone() -> None:
    with pytest.raises(ProtocolError) as info:
        decode("telemetry", encode(telemetry()), "D02")
    assert info.value.reason == "spoofed"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.__setitem__("stops", [{**m["stops"][0], "at": 3}]),  # beyond the waypoints
        lambda m: m.__setitem__("stops", list(reversed(m["stops"]))),  # out of order
        lambda m: m["stops"].append(m["stops"][0]),  # pickup twice
        lambda m: m.__setitem__("waypoints", []),
        lambda m: m.__setitem__("waypoints", [[1.0, 2.0]]),
        lambda m: m.__setitem__("waypoints", [[1.0, 2.0, 3.0]] * 2001),
        lambda m: m.pop("lost_link"),
        lambda m: m.__setitem__("lost_link", "panic"),
        lambda m: m.pop("expires_at"),
        lambda m: m["stops"][1].pop("recipient_code"),
        lambda m: m["stops"][0].pop("payload_kg"),
        lambda m: m.__setitem__("type", "self_destruct"),
    ],
)
def test_bad_missions_are_refused(mutate: object) -> None:
    body = as_dict(mission())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(ProtocolError):
        decode("cmd", msgspec.json.encode(body))


def test_reroute_stops_index_the_new_full_list() -> None:
    r = Reroute(
        drone_id="D01",
        cmd_id="c2",
        expires_at=NOW,
        mission_id="M1",
        from_index=2,
        waypoints=[(1.0, 2.0, 100.0), (1.1, 2.0, 100.0)],
        stops=[HandoverStop(at=3, request_id="R1", recipient_code="x")],
    )
    assert decode("cmd", encode(r)) == r
    bad = as_dict(r)
    bad["stops"][0]["at"] = 1  # before from_index
    with pytest.raises(ProtocolError):
        decode("cmd", msgspec.json.encode(bad))


def test_rejection_needs_a_reason() -> None:
    body = as_dict(Ack(drone_id="D01", cmd_id="c1", ts=NOW, accepted=False, reason="x"))
    body["reason"] = None
    with pytest.raises(ProtocolError):
        decode("ack", msgspec.json.encode(body))


def test_topics() -> None:
    t = Topics("dd/v1")
    assert t.topic("D01", "cmd") == "dd/v1/drones/D01/cmd"
    assert t.parse("dd/v1/drones/D01/telemetry") == ("D01", "telemetry")
    for bad in ["dd/v1/drones/D01", "dd/v1/drones/D01/cmd/x", "xx/v1/drones/D01/ack", "dd/v1/drones//ack"]:
        assert t.parse(bad) is None
    with pytest.raises(ValueError):
        Topics("dd/#")


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["telemetry", "state", "cmd", "ack", "event"]), body=st.binary(max_size=300))
def test_random_bytes_only_ever_raise_protocol_errors(kind: str, body: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(kind, body, "D01")


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["telemetry", "state", "cmd", "ack", "event"]),
    base=st.sampled_from(["telemetry", "mission"]),
    key=st.sampled_from(["v", "msg_id", "drone_id", "ts", "lon", "waypoints", "stops", "state", "type", "x"]),
    value=json_values,
)
def test_mutated_bodies_only_ever_raise_protocol_errors(
    kind: str, base: str, key: str, value: object
) -> None:
    body = as_dict(telemetry() if base == "telemetry" else mission())
    body[key] = value
    with contextlib.suppress(ProtocolError):
        decode(kind, msgspec.json.encode(body), "D01")
