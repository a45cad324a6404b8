"""Tampering with the stored audit chain (raw SQL) is caught and named, by the store and by the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from dispatch import cli
from dispatch.audit import canonical_json, entry_hash
from dispatch.store import Intake, NewRequest, Place, Store
from dispatch.store.models import AuditEntryRow, AuditHeadRow

SERVICE_CENTRE = Place(114.3968, 36.1043, "service-centre")
ZHANGDE_ROAD = Place(114.416, 36.1115, "zhangde-road")


async def fill(store: Store) -> int:
    """Entries 1 (seed) .. 7: three requests filed and accepted, one planned back and forth."""
    for _ in range(3):
        await store.requests.create(
            NewRequest("service-centre", SERVICE_CENTRE, ZHANGDE_ROAD, 0.2), actor="o", intake=Intake(True)
        )
    report = await store.verify_audit()
    assert report.ok and report.count == 7
    return report.count


async def tamper(store: Store, *statements: str) -> None:
    async with store.db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


@pytest.mark.parametrize(
    ("statements", "broken", "words"),
    [
        (
            ["UPDATE audit_entries SET payload = REPLACE(payload, 'accepted', 'rejected') WHERE seq = 3"],
            3,
            "altered",
        ),
        (["UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 5"], 5, "altered"),
        (["UPDATE audit_entries SET payload = 'not json' WHERE seq = 2"], 2, "altered"),
        (["UPDATE audit_entries SET entity_id = 'req_other' WHERE seq = 6"], 6, "altered"),
        (
            [
                "UPDATE audit_entries SET seq = -1 WHERE seq = 4",
                "UPDATE audit_entries SET seq = 4 WHERE seq = 5",
                "UPDATE audit_entries SET seq = 5 WHERE seq = -1",
            ],
            4,
            "does not link",
        ),
        (["DELETE FROM audit_entries WHERE seq = 4"], 5, "4..4 are missing"),
        (["DELETE FROM audit_entries WHERE seq = 7"], 7, "entries were removed"),
    ],
    ids=["payload", "actor", "garbage", "subject", "order", "deletion", "tail-deletion"],
)
async def test_tampering_is_named(
    seeded_store: Store, statements: list[str], broken: int, words: str
) -> None:
    await fill(seeded_store)
    await tamper(seeded_store, *statements)
    report = await seeded_store.verify_audit()
    assert not report.ok
    assert report.broken_seq == broken
    assert words in (report.problem or "")


async def test_a_changed_timestamp_is_named(seeded_store: Store) -> None:
    await fill(seeded_store)
    entry = (await seeded_store.requests.list())[0]
    timeline = await seeded_store.requests.timeline(entry.id)
    seq = timeline.entries[-1].seq
    if seeded_store.dialect == "postgresql":
        await tamper(
            seeded_store, f"UPDATE audit_entries SET at = at + interval '1 second' WHERE seq = {seq}"
        )
    else:
        await tamper(
            seeded_store, f"UPDATE audit_entries SET at = '2020-01-01 00:00:00.000000' WHERE seq = {seq}"
        )
    report = await seeded_store.verify_audit()
    assert not report.ok and report.broken_seq == seq


async def test_cli_verify_prints_count_and_head_or_names_the_broken_entry(
    seeded_store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await fill(seeded_store)
    head = (await seeded_store.verify_audit()).head_hash
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "7 entries" in out and head in out
    await tamper(
        seeded_store, "UPDATE audit_entries SET payload = REPLACE(payload, '0.2', '2.0') WHERE seq = 2"
    )
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--db", db_url]) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().err


def test_cli_verify_refuses_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["audit", "verify", "--db", f"sqlite:///{tmp_path}/absent.db"]) == 1
    assert "no database file" in capsys.readouterr().err


def test_cli_verify_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["audit"]) == 2
    assert cli.main(["audit", "verify", "--db", "mysql://x/y"]) == 1
    assert "unsupported database" in capsys.readouterr().err


async def test_verification_pages_through_the_chain(
    seeded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch.store import audit_log

    monkeypatch.setattr(audit_log, "_PAGE", 2)
    await fill(seeded_store)
    report = await seeded_store.verify_audit()
    assert report.ok and report.count == 7
    await tamper(seeded_store, "DELETE FROM audit_entries WHERE seq = 5")
    report = await seeded_store.verify_audit()
    assert report.broken_seq == 6 and "5..5 are missing" in (report.problem or "")


async def test_cli_anchor_exposes_a_rehashed_rewrite(
    seeded_store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await fill(seeded_store)
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--db", db_url]) == 0
    anchor = capsys.readouterr().out.split("head ")[1].strip()
    assert anchor.startswith("7:")
    # A forger with write access rewrites entry 3 and re-hashes it, every later entry and the head.
    async with seeded_store.db.engine.begin() as conn:
        rows = (
            (await conn.execute(select(AuditEntryRow.__table__).order_by(AuditEntryRow.seq))).mappings().all()
        )
        prev = rows[1]["hash"]
        for row in rows[2:]:
            payload = json.loads(row["payload"])
            if row["seq"] == 3:
                payload["details"] = {"forged": True}
            fields = {k: row[k] for k in ("seq", "at", "entity", "entity_id", "action", "actor")}
            digest = entry_hash(**fields, payload=payload, prev_hash=prev)
            await conn.execute(
                update(AuditEntryRow)
                .where(AuditEntryRow.seq == row["seq"])
                .values(payload=canonical_json(payload), prev_hash=prev, hash=digest)
            )
            prev = digest
        await conn.execute(update(AuditHeadRow).values(hash=prev))
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--db", db_url]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--db", db_url, "--anchor", anchor]) == 1
    err = capsys.readouterr().err
    assert "BROKEN at entry 7" in err and "anchored hash" in err
    assert cli.main(["audit", "verify", "--db", db_url, "--anchor", "7:xyz"]) == 2
