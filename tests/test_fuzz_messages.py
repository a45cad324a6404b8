"""Hostile input on the fleet protocol: the decoders and the dispatcher's link never crash or stall.

Random bytes, random JSON, valid bodies with one field broken, huge and deeply nested payloads,
non-finite numbers, ids that are not in the fleet, a topic that names another drone than the body,
and timestamps far in the past or future. Every rejected message is counted under its reason in
``FleetLink.stats.dropped``; none reaches the registry or the subscribers; valid messages still
flow afterwards, also through the real broker.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import load_fleet
from fleet.link import FleetLink
from fleet.messages import (
    DECODERS,
    MAX_BODY_BYTES,
    Ack,
    Delivered,
    Message,
    ProtocolError,
    State,
    Telemetry,
    decode,
    encode,
)
from fleet.topics import KINDS, Topics
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import upload, wait_until

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
FLEET_IDS = ["D01", "D02", "D03"]
PREFIX = "dd/v1"
T = Topics(PREFIX)


def telemetry(drone_id: str = "D01", ts: datetime = NOW, **kw: Any) -> Telemetry:
    fields: dict[str, Any] = {
        "lon": 114.39,
        "lat": 36.10,
        "alt_m": 0.0,
        "ground_speed_mps": 0.0,
        "heading_deg": 0.0,
        "battery_pct": 100.0,
        "energy_wh": 350.0,
        "state": "idle",
    }
    return Telemetry(drone_id=drone_id, ts=ts, **{**fields, **kw})


def samples(drone_id: str = "D01", ts: datetime = NOW) -> dict[str, dict[str, Any]]:
    """One valid body of each kind, as JSON objects."""
    up = upload(ScaledClock(1, start=ts), drone=drone_id)
    bodies: dict[str, Message] = {
        "telemetry": telemetry(drone_id, ts),
        "state": State(drone_id=drone_id, ts=ts, online=True, state="idle"),
        "cmd": up,
        "ack": Ack(drone_id=drone_id, cmd_id="c1", ts=ts, accepted=False, reason="busy"),
        "event": Delivered(
            drone_id=drone_id, ts=ts, lon=114.34, lat=36.11, alt_m=0, request_id="R1", code_ok=True
        ),
    }
    return {k: json.loads(encode(m)) for k, m in bodies.items()}


def _decodes_or_refuses(kind: str, body: bytes) -> Message | None:
    """The decoder's contract: a typed message or a ProtocolError, nothing else."""
    try:
        msg = decode(kind, body)
    except ProtocolError as exc:
        assert exc.reason in {"too_large", "malformed", "bad_version"}, exc
        return None
    # Whatever is accepted survives a round trip unchanged.
    assert decode(kind, encode(msg)) == msg
    return msg


# --- the decoders, pure ---------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(kind=st.sampled_from(KINDS), body=st.binary(max_size=512))
def test_random_bytes_are_refused_cleanly(kind: str, body: bytes) -> None:
    _decodes_or_refuses(kind, body)


@FUZZ
@given(kind=st.sampled_from(KINDS), value=json_values)
def test_random_json_is_refused_cleanly(kind: str, value: Any) -> None:
    assert _decodes_or_refuses(kind, json.dumps(value).encode()) is None


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    junk=json_values | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", '"\\ud800"']),
)
def test_one_broken_field_is_refused_or_still_valid(kind: str, data: st.DataObject, junk: Any) -> None:
    body = samples()[kind]
    field = data.draw(st.sampled_from([*body, "unknown_field"]), label="field")
    action = data.draw(st.sampled_from(["replace", "delete"]), label="action")
    if action == "delete":
        body.pop(field, None)
        raw = json.dumps(body).encode()
    elif isinstance(junk, str) and junk in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", '"\\ud800"'):
        body[field] = "@@JUNK@@"
        raw = json.dumps(body).encode().replace(b'"@@JUNK@@"', junk.encode())
    else:
        body[field] = junk
        raw = json.dumps(body).encode()
    msg = _decodes_or_refuses(kind, raw)
    if msg is not None:  # e.g. an optional field set to a valid value: the value is really in range
        for name in ("lon", "lat", "alt_m", "battery_pct", "energy_wh"):
            value = getattr(msg, name, 0.0)
            assert isinstance(value, float | int) and value == value and abs(value) < 1e7


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400", b"1e309"])
def test_non_finite_coordinates_are_refused(literal: bytes) -> None:
    body = encode(telemetry()).replace(b'"lon":114.39', b'"lon":' + literal)
    with pytest.raises(ProtocolError) as info:
        decode("telemetry", body, "D01")
    assert info.value.reason == "malformed"


def test_huge_and_deep_payloads_are_refused_fast() -> None:
    cases = {
        b"{" + b" " * (50 * MAX_BODY_BYTES) + b"}": "too_large",  # 12.5 MiB: refused before parsing
        b'{"v":1,"msg_id":"a","x":' + b"[" * 120_000 + b"]" * 120_000 + b"}": "malformed",
        b'{"x":' + b"[" * 120_000 + b"]" * 120_000 + b',"v":1,"msg_id":"a"}': "malformed",
        b"[" * (MAX_BODY_BYTES - 1): "malformed",
        b'{"v":1,"msg_id":"a","drone_id":"' + b"D" * 200_000 + b'"}': "malformed",
        json.dumps({**samples()["cmd"], "waypoints": [[114.34, 36.11, 120.0]] * 5000}).encode(): "malformed",
    }
    for body, reason in cases.items():
        for kind in DECODERS:
            t0 = time.perf_counter()
            with pytest.raises(ProtocolError) as info:
                decode(kind, body)
            assert info.value.reason == reason, (kind, body[:40])
            assert time.perf_counter() - t0 < 0.5


# --- the link's validation, without a broker --------------------------------------------------


def offline_link(clock: ScaledClock) -> FleetLink:
    """A link that is never started: its message handler is driven directly."""
    return FleetLink("mqtt://127.0.0.1:1", prefix=PREFIX, clock=clock, drone_ids=FLEET_IDS)


def hostile_cases(now: datetime) -> list[tuple[str, bytes, str]]:
    """(topic, payload, the reason it must be dropped for)."""
    good = encode(telemetry("D01", now))
    assert b'"lat":36.1,' in good  # the number the malformed variants below edit
    return [
        ("elsewhere/drones/D01/telemetry", good, "bad_topic"),
        (f"{PREFIX}/drones/D01/selfdestruct", good, "bad_topic"),
        (f"{PREFIX}/drones/D01/telemetry/extra", good, "bad_topic"),
        (f"{PREFIX}/drones/D 01/telemetry", good, "bad_topic"),
        (T.topic("D99", "telemetry"), encode(telemetry("D99", now)), "unknown_drone"),
        (T.topic("D02", "telemetry"), good, "spoofed"),  # topic D02, body D01
        (T.topic("D01", "telemetry"), b"\xff\xfe garbage", "malformed"),
        (T.topic("D01", "telemetry"), b'{"v":"1","msg_id":"a"}', "malformed"),
        (T.topic("D01", "telemetry"), good.replace(b'"lat":36.1,', b'"lat":"36.1",'), "malformed"),
        (T.topic("D01", "telemetry"), good.replace(b'"lat":36.1,', b'"lat":1e999,'), "malformed"),
        (T.topic("D01", "telemetry"), good.replace(b'"lat":36.1,', b'"lat":NaN,'), "malformed"),
        (T.topic("D01", "telemetry"), good.replace(b'"v":1', b'"v":2'), "bad_version"),
        (T.topic("D01", "telemetry"), b" " * (MAX_BODY_BYTES + 1), "too_large"),
        (T.topic("D01", "telemetry"), encode(telemetry("D01", now + timedelta(days=3))), "bad_time"),
        (T.topic("D01", "telemetry"), encode(telemetry("D01", now - timedelta(days=3))), "bad_time"),
        (T.topic("D01", "event"), encode(telemetry("D01", now)), "malformed"),  # not an event
        (T.topic("D01", "telemetry"), encode(telemetry("D01", datetime(1, 1, 1, tzinfo=UTC))), "bad_time"),
        (
            T.topic("D01", "event"),
            encode(
                Delivered(
                    drone_id="D01",
                    ts=datetime(9999, 1, 1, tzinfo=UTC),
                    lon=1,
                    lat=1,
                    alt_m=0,
                    request_id="R1",
                    code_ok=True,
                )
            ),
            "bad_time",
        ),
        (
            T.topic("D01", "state"),
            encode(State(drone_id="D01", ts=now + timedelta(hours=5), online=True)),
            "bad_time",
        ),
        (T.topic("D01", "cmd"), encode(upload(ScaledClock(1, start=now))), "unexpected_kind"),
    ]


def test_each_hostile_message_is_dropped_under_its_reason() -> None:
    clock = ScaledClock(1, start=NOW)
    link = offline_link(clock)
    cases = hostile_cases(clock.now())
    with link.subscribe(telemetry=True) as updates:
        for topic, payload, _ in cases:
            link._handle_safely(topic, payload)
        assert link.stats.dropped == Counter(reason for _, _, reason in cases)
        assert updates.get_nowait() is None and link.registry.drones == {}
        # Minutes of clock skew are normal, and a retained state may be days old: both accepted.
        link._handle_safely(
            T.topic("D01", "telemetry"), encode(telemetry("D01", clock.now() + timedelta(minutes=7)))
        )
        old_state = State(drone_id="D02", ts=clock.now() - timedelta(days=30), online=False)
        link._handle_safely(T.topic("D02", "state"), encode(old_state))
        assert set(link.registry.drones) == {"D01", "D02"}
        assert link.stats.dropped_total == len(cases)


topics = st.one_of(
    st.sampled_from([T.topic(d, k) for d in [*FLEET_IDS, "D99"] for k in KINDS]),
    st.text(max_size=40),
)


@FUZZ
@given(
    messages=st.lists(
        st.tuples(topics, st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())),
        max_size=20,
    )
)
def test_the_link_survives_any_sequence(messages: list[tuple[str, bytes]]) -> None:
    clock = ScaledClock(1, start=NOW)
    link = offline_link(clock)
    with link.subscribe(telemetry=True) as updates:
        for topic, payload in messages:
            link._handle_safely(topic, payload)
        passed_on = updates.pending()
    assert link.stats.dropped["internal_error"] == 0
    assert link.stats.received == len(messages)
    # Every message was either dropped (counted under a reason), passed on, or cleared a retained state.
    accounted = link.stats.dropped_total + passed_on + link.stats.duplicate_events + link.stats.cleared_states
    assert accounted == len(messages)
    assert set(link.registry.drones) <= set(FLEET_IDS)


# --- through the real broker ------------------------------------------------------------------


async def test_garbage_through_the_broker_then_valid_messages_flow(
    broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(100, start=NOW)
    topics_ = Topics(prefix)
    link = FleetLink(
        broker,
        client_id=client_id_from("disp", prefix),
        prefix=prefix,
        clock=clock,
        session_expiry_s=120,
        drone_ids=["D01", "D02"],
    )
    fleet = load_fleet(EXAMPLES / "fleet.json")
    sim = SimulatedFleet(fleet, broker, clock=clock, prefix=prefix, drone_ids=["D01"], session_expiry_s=120)
    rng = random.Random(7)
    crafted = [
        (t.replace(PREFIX, prefix, 1) if t.startswith(PREFIX) else t, p, r)
        for t, p, r in hostile_cases(clock.now())
        if r not in ("bad_topic", "unexpected_kind")  # not under our subscriptions: never delivered
    ]
    noise = [
        (topics_.topic("D02", rng.choice(["ack", "event"])), rng.randbytes(rng.randint(0, 400)))
        for _ in range(500)
    ]
    async with link, sim, aiomqtt.Client(broker.host, broker.port) as rogue:
        expected = Counter(r for _, _, r in crafted)
        for topic, payload, _ in crafted:
            await rogue.publish(topic, payload, qos=1)
        for topic, payload in noise:
            await rogue.publish(topic, payload, qos=1)
        # Garbage for the drone too: it must drop it and still obey the dispatcher.
        for payload in [b"\x00" * 10, b'{"v":1,"msg_id":"x","type":"self_destruct"}', b"[" * 100_000]:
            await rogue.publish(topics_.topic("D01", "cmd"), payload, qos=1)
        await rogue.publish(topics_.topic("D02", "telemetry"), encode(telemetry("D02", clock.now())), qos=1)
        await wait_until(lambda: link.registry.get("D02") is not None, timeout_s=20, what="valid telemetry")
        total = len(crafted) + len(noise)
        await wait_until(lambda: link.stats.dropped_total >= total, timeout_s=20, what="every drop counted")
        assert link.stats.dropped_total == total and link.stats.dropped["internal_error"] == 0
        assert expected <= link.stats.dropped  # each crafted message under its reason
        assert (await link.send(upload(clock))).accepted  # the drone obeys after its own garbage
        agent = sim.agents["D01"]
        assert agent.dropped["malformed"] == 3 and agent.dropped["internal_error"] == 0
        assert set(link.registry.drones) <= {"D01", "D02"}
