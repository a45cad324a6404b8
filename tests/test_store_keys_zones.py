"""API keys and zones in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dispatch.store import InvalidInput, NotFound, Store
from dispatch.store.api_keys import ApiKeyRepository
from tests.db_fixtures import EXAMPLES

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


async def test_api_keys_are_stored_hashed_and_verify(seeded_store: Store) -> None:
    store = seeded_store
    office_key = await store.api_keys.create(
        "office", office_id="service-centre", label="front desk", actor="admin"
    )
    admin_key = await store.api_keys.create("admin", actor="bootstrap")
    assert office_key.token.startswith(f"dd_{office_key.id}_") and len(office_key.token) > 40
    async with store.db.engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT token_sha256 FROM api_keys WHERE id = :i"), {"i": office_key.id})
        ).scalar()
        everything = json.dumps(
            [list(r) for r in (await conn.execute(text("SELECT * FROM api_keys"))).all()], default=str
        )
    assert stored == hashlib.sha256(office_key.token.encode()).hexdigest()
    assert office_key.token not in everything and admin_key.token not in everything

    seen = await store.api_keys.verify(office_key.token)
    assert (
        seen is not None
        and seen.role == "office"
        and seen.office_id == "service-centre"
        and seen.label == "front desk"
    )
    assert seen.last_used_at is not None and seen.last_used_at.utcoffset() == timedelta(0)
    assert await store.api_keys.verify(office_key.token + "x") is None
    assert await store.api_keys.verify("") is None

    revoked = await store.api_keys.revoke(office_key.id, actor="admin")
    assert revoked.revoked and revoked.revoked_at is not None
    assert await store.api_keys.verify(office_key.token) is None
    assert (await store.api_keys.revoke(office_key.id, actor="admin")).revoked_at == revoked.revoked_at
    assert (await store.api_keys.verify(admin_key.token)) is not None
    assert [(k.id, k.revoked) for k in await store.api_keys.list()] == [
        (office_key.id, True),
        (admin_key.id, False),
    ]
    with pytest.raises(NotFound):
        await store.api_keys.revoke("nope", actor="admin")
    actions = [action for entity, action in await _entries(store) if entity == "api_key"]
    assert actions == ["created", "created", "revoked"]


async def _entries(store: Store) -> list[tuple[str, str]]:
    async with store.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT entity, action FROM audit_entries ORDER BY seq"))
        return [(r[0], r[1]) for r in rows]


async def test_last_used_is_refreshed_at_most_once_a_minute(seeded_store: Store) -> None:
    clock = [T0]
    keys = ApiKeyRepository(seeded_store.db, wall=lambda: clock[0])  # key times are wall-clock
    key = await keys.create("operator", actor="admin")
    first = await keys.verify(key.token)
    clock[0] = T0 + timedelta(seconds=30)
    second = await keys.verify(key.token)
    clock[0] = T0 + timedelta(seconds=90)
    third = await keys.verify(key.token)
    assert first and second and third
    assert first.last_used_at == second.last_used_at == T0
    assert third.last_used_at == T0 + timedelta(seconds=90)


@pytest.mark.parametrize(
    ("role", "office", "message"),
    [
        ("root", None, "role must be one of"),
        ("office", None, "office keys need an office_id"),
        ("operator", "service-centre", "must not have one"),
        ("office", "nowhere", "unknown office"),
    ],
)
async def test_bad_keys_are_refused(seeded_store: Store, role: str, office: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await seeded_store.api_keys.create(role, office_id=office, actor="admin")
    assert await seeded_store.api_keys.list() == []


def sample_zones() -> list[dict[str, object]]:
    features: list[dict[str, object]] = json.loads((EXAMPLES / "zones.geojson").read_text(encoding="utf-8"))[
        "features"
    ]
    return features


async def test_zones_round_trip(store: Store) -> None:
    features = sample_zones()
    for feature in features:
        await store.zones.upsert(feature, actor="operator:kim")
    listed = await store.zones.list()
    assert [z.id for z in listed] == sorted(str(f["properties"]["id"]) for f in features)  # type: ignore[index]
    by_id = {z.id: z for z in listed}
    for feature in features:
        zone = by_id[feature["properties"]["id"]]  # type: ignore[index]
        assert zone.feature == feature
        assert (
            zone.active and zone.created_by == "operator:kim" and zone.created_at.utcoffset() == timedelta(0)
        )


async def test_zone_validity_upsert_and_deactivation(store: Store) -> None:
    typhoon = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [114.39, 36.10]},
        "properties": {"id": "typhoon", "kind": "temporary", "radius_m": 800.5},
    }
    await store.zones.upsert(typhoon, actor="op", valid_from=T0, valid_until=T0 + timedelta(hours=6))
    assert [z.id for z in await store.zones.list(at=T0 + timedelta(hours=1))] == ["typhoon"]
    assert await store.zones.list(at=T0 - timedelta(seconds=1)) == []
    assert await store.zones.list(at=T0 + timedelta(hours=6)) == []
    bigger = {**typhoon, "properties": {**typhoon["properties"], "radius_m": 1200.0}}  # type: ignore[dict-item]
    updated = await store.zones.upsert(bigger, actor="op2")
    assert updated.feature["properties"]["radius_m"] == 1200.0 and updated.valid_until is None
    assert updated.created_by == "op"
    gone = await store.zones.deactivate("typhoon", actor="op", reason="passed")
    assert not gone.active
    assert await store.zones.list() == []
    assert [z.id for z in await store.zones.list(active_only=False)] == ["typhoon"]
    assert (await store.zones.get("typhoon")).feature == bigger
    with pytest.raises(NotFound):
        await store.zones.deactivate("nope", actor="op")
    assert (await store.verify_audit()).count == 3


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        ({"type": "FeatureCollection"}, "type 'Feature'"),
        ({"type": "Feature", "geometry": {"type": "Circle"}, "properties": {"id": "z"}}, "GeoJSON geometry"),
        (
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}},
            "properties.id",
        ),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [1, 2]},
                "properties": {"id": "z", "r": float("nan")},
            },
            "no canonical JSON form",
        ),
    ],
)
async def test_bad_zones_are_refused(store: Store, feature: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await store.zones.upsert(feature, actor="op")
    assert await store.zones.list(active_only=False) == []


async def test_zone_window_must_be_aware_and_ordered(store: Store) -> None:
    zone = sample_zones()[0]
    with pytest.raises(InvalidInput, match="timezone-aware"):
        await store.zones.upsert(zone, actor="op", valid_from=datetime(2026, 12, 1))
    with pytest.raises(InvalidInput, match="after valid_from"):
        await store.zones.upsert(zone, actor="op", valid_from=T0, valid_until=T0)


async def test_concurrent_upserts_of_a_new_zone_all_succeed(store: Store) -> None:
    zone = sample_zones()[0]
    views = await asyncio.gather(*(store.zones.upsert(zone, actor=f"op{n}") for n in range(4)))
    assert {v.id for v in views} == {zone["properties"]["id"]}  # type: ignore[index]
    assert len(await store.zones.list()) == 1
    report = await store.verify_audit()
    assert report.ok and report.count == 4
