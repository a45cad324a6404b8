"""The pure hash chain: canonical JSON and chain verification (no database)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dispatch.audit import (
    GENESIS_HASH,
    AuditRecord,
    CanonicalFormError,
    canonical_json,
    entry_hash,
    iso_utc,
    verify_chain,
)

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_canonical_json_sorts_keys_drops_whitespace_keeps_utf8() -> None:
    text = canonical_json({"b": 1, "a": {"d": [1, 2.5], "c": "인감"}})
    assert text == '{"a":{"c":"인감","d":[1,2.5]},"b":1}'


def test_canonical_json_times_are_utc_iso_with_microseconds() -> None:
    anyang = timezone(timedelta(hours=8))
    assert (
        canonical_json({"t": datetime(2026, 12, 1, 9, 0, tzinfo=anyang)})
        == '{"t":"2026-12-01T01:00:00.000000Z"}'
    )
    assert iso_utc(T0) == "2026-12-01T00:00:00.000000Z"


def test_canonical_json_floats_are_stable_and_idempotent() -> None:
    value = {"x": 0.1, "y": 1.0, "z": 1e-7, "w": 114.3968}
    text = canonical_json(value)
    assert text == '{"w":114.3968,"x":0.1,"y":1.0,"z":1e-07}'
    assert canonical_json(json.loads(text)) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), datetime(2026, 1, 1), {1: "x"}, object()])
def test_canonical_json_refuses_values_without_a_canonical_form(bad: object) -> None:
    with pytest.raises(CanonicalFormError):
        canonical_json({"v": bad})


def _chain(n: int) -> list[AuditRecord]:
    records, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "at": T0 + timedelta(seconds=seq),
            "entity": "request",
            "entity_id": f"r{seq}",
            "action": "transition",
            "actor": "test",
            "payload": {"to": "accepted", "n": seq * 0.5},
            "prev_hash": prev,
        }
        h = entry_hash(**fields)  # type: ignore[arg-type]
        records.append(AuditRecord(**fields, hash=h))  # type: ignore[arg-type]
        prev = h
    return records


def test_an_intact_chain_verifies() -> None:
    chain = _chain(5)
    report = verify_chain(chain, expected_head=(5, chain[-1].hash))
    assert report.ok and report.count == 5 and report.head_hash == chain[-1].hash


def test_an_empty_chain_verifies_to_genesis() -> None:
    report = verify_chain([], expected_head=(0, GENESIS_HASH))
    assert report.ok and report.count == 0 and report.head_hash == GENESIS_HASH


def test_altered_payload_is_named() -> None:
    chain = _chain(5)
    chain[2] = replace(chain[2], payload={"to": "delivered", "n": 1.5})
    report = verify_chain(chain)
    assert not report.ok and report.broken_seq == 3 and "altered" in (report.problem or "")


def test_altered_timestamp_is_named() -> None:
    chain = _chain(4)
    chain[1] = replace(chain[1], at=chain[1].at + timedelta(microseconds=1))
    assert verify_chain(chain).broken_seq == 2


def test_missing_entry_is_named() -> None:
    chain = _chain(5)
    del chain[1]
    report = verify_chain(chain)
    assert report.broken_seq == 3 and "2..2 are missing" in (report.problem or "")


def test_removed_tail_is_caught_by_the_recorded_head() -> None:
    chain = _chain(5)
    report = verify_chain(chain[:3], expected_head=(5, chain[-1].hash))
    assert not report.ok and report.broken_seq == 4 and "removed" in (report.problem or "")


def test_relinked_forgery_is_caught_by_the_recorded_head() -> None:
    """Rewriting an entry and re-hashing everything after it still disagrees with the recorded head."""
    chain = _chain(3)
    forged = _chain(3)
    forged[2] = replace(forged[2], payload={"to": "forged"})
    forged[2] = replace(
        forged[2],
        hash=entry_hash(
            **{
                k: getattr(forged[2], k)
                for k in ("seq", "at", "entity", "entity_id", "action", "actor", "payload", "prev_hash")
            }
        ),
    )
    report = verify_chain(forged, expected_head=(3, chain[-1].hash))
    assert not report.ok and report.broken_seq is None and "head" in (report.problem or "")


def test_anchors_catch_a_rewritten_and_rehashed_chain() -> None:
    chain = _chain(4)
    anchors = {2: chain[1].hash}
    assert verify_chain(chain, anchors=anchors).ok
    forged, prev = [], GENESIS_HASH
    for rec in chain:
        payload = {"to": "forged"} if rec.seq == 2 else rec.payload
        fields = {k: getattr(rec, k) for k in ("seq", "at", "entity", "entity_id", "action", "actor")}
        h = entry_hash(**fields, payload=payload, prev_hash=prev)
        forged.append(AuditRecord(**fields, payload=payload, prev_hash=prev, hash=h))
        prev = h
    assert verify_chain(
        forged, expected_head=(4, forged[-1].hash)
    ).ok  # consistent, so only an anchor shows it
    report = verify_chain(forged, expected_head=(4, forged[-1].hash), anchors=anchors)
    assert report.broken_seq == 2 and "anchored hash" in (report.problem or "")
    missing = verify_chain(chain[:1], anchors=anchors)
    assert missing.broken_seq == 2 and "anchored entry 2 is missing" in (missing.problem or "")


def test_a_payload_nested_too_deeply_is_a_clear_error() -> None:
    deep: object = "leaf"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(CanonicalFormError, match="nested too deeply"):
        canonical_json({"details": deep})
