"""The chain-of-custody hash chain: canonical JSON, entry hashes and chain verification.

Pure functions, no I/O; the store appends entries and feeds them back here to verify.

Each entry is hashed over its canonical JSON form::

    {"action": ..., "actor": ..., "at": "2026-12-01T00:00:00.000000Z", "entity": "request",
     "entity_id": "...", "payload": {...}, "prev_hash": "<hex of the previous entry>", "seq": 1}

Canonical JSON: keys sorted, no whitespace, UTF-8 (non-ASCII kept as is), timestamps as ISO 8601
UTC with microseconds and a ``Z`` suffix, floats in Python's shortest round-trip form (``0.1``,
``1.0``, ``1e-07``), NaN and infinities refused. The first entry's ``prev_hash`` is
:data:`GENESIS_HASH` (64 zeros). ``hash = sha256(canonical).hexdigest()``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry of a chain."""


class CanonicalFormError(ValueError):
    """A value cannot be put in canonical JSON (NaN, infinity, naive datetime, unknown type)."""


def iso_utc(moment: datetime) -> str:
    """A timezone-aware datetime as ISO 8601 UTC with microseconds: ``2026-12-01T00:30:00.000000Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CanonicalFormError(f"naive datetime {moment!r}: audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalFormError(f"{where}: {value!r} has no canonical JSON form")
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalFormError(f"{where}: object key {key!r} is not a string")
            out[key] = _normalise(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise CanonicalFormError(f"{where}: {type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value (see the module docstring); idempotent through ``json.loads``."""
    try:
        normalised = _normalise(value, "$")
    except RecursionError:
        raise CanonicalFormError("$: nested too deeply") from None
    return json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the chain as stored: what is hashed, plus the stored hash."""

    seq: int
    at: datetime
    entity: str
    entity_id: str
    action: str
    actor: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


def entry_hash(
    *,
    seq: int,
    at: datetime,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    payload: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The sha256 (hex) of an entry's canonical JSON form."""
    body = {
        "seq": seq,
        "at": iso_utc(at),
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "actor": actor,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of verifying a chain.

    ``ok`` with ``count`` entries and ``head_hash``; or not ``ok``, with ``broken_seq`` naming the
    first entry that does not verify (``None`` when the chain is intact but its recorded head is
    not) and ``problem`` saying why.
    """

    ok: bool
    count: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None


class ChainVerifier:
    """Verifies a chain fed one entry at a time, in ``seq`` order, holding only the last link.

    Feed entries with :meth:`add` until it returns a broken :class:`ChainReport` (stop there) or
    the entries run out; then :meth:`finish` gives the verdict.

    ``anchors`` maps entry numbers to hashes saved outside the database earlier (a printed head):
    a chain rewritten and re-hashed from before an anchor no longer matches it.
    """

    def __init__(self, anchors: Mapping[int, str] | None = None) -> None:
        self.count = 0
        self.seq = 0
        self.hash = GENESIS_HASH
        self.anchors = dict(anchors or {})

    def add(self, rec: AuditRecord) -> ChainReport | None:
        """Check the next entry; a report naming it if it is broken, else ``None``."""
        self.count += 1
        if rec.seq != self.seq + 1:
            gap = rec.seq > self.seq + 1
            detail = f"entries {self.seq + 1}..{rec.seq - 1} are missing" if gap else "out of order"
            return self._broken(rec.seq, f"entry {rec.seq} follows entry {self.seq}: {detail}")
        if rec.prev_hash != self.hash:
            return self._broken(
                rec.seq, f"entry {rec.seq} does not link to entry {self.seq} (prev_hash differs)"
            )
        try:
            computed = entry_hash(
                seq=rec.seq,
                at=rec.at,
                entity=rec.entity,
                entity_id=rec.entity_id,
                action=rec.action,
                actor=rec.actor,
                payload=rec.payload,
                prev_hash=rec.prev_hash,
            )
        except CanonicalFormError as exc:
            return self._broken(rec.seq, f"entry {rec.seq} cannot be hashed: {exc}")
        if computed != rec.hash:
            return self._broken(rec.seq, f"entry {rec.seq} was altered (its content does not match its hash)")
        anchored = self.anchors.get(rec.seq)
        if anchored is not None and anchored != rec.hash:
            return self._broken(
                rec.seq, f"entry {rec.seq} does not match its anchored hash: the chain was rewritten"
            )
        self.seq, self.hash = rec.seq, rec.hash
        return None

    def finish(self, expected_head: tuple[int, str] | None = None) -> ChainReport:
        """The verdict once every entry was added without a break.

        ``expected_head`` is the (seq, hash) the store recorded as the chain head; it catches the
        deletion of entries at the end of the chain, which the chain alone cannot show.
        """
        beyond = [seq for seq in self.anchors if seq > self.seq]
        if beyond:
            return self._broken(
                self.seq + 1, f"anchored entry {min(beyond)} is missing: entries were removed"
            )
        if expected_head is not None and expected_head != (self.seq, self.hash):
            head_seq, _ = expected_head
            if head_seq > self.seq:
                return self._broken(
                    self.seq + 1,
                    f"the chain ends at entry {self.seq} but its head records entry {head_seq}:"
                    " entries were removed",
                )
            return self._broken(None, f"the recorded head (entry {head_seq}) does not match the chain")
        return ChainReport(True, self.count, self.hash)

    def _broken(self, seq: int | None, problem: str) -> ChainReport:
        return ChainReport(False, self.count, self.hash, seq, problem)


def verify_chain(
    records: Iterable[AuditRecord],
    expected_head: tuple[int, str] | None = None,
    anchors: Mapping[int, str] | None = None,
) -> ChainReport:
    """Recompute the chain over ``records`` (in ``seq`` order) and report the first broken entry.

    See :class:`ChainVerifier` for ``anchors`` and :meth:`ChainVerifier.finish` for ``expected_head``.
    """
    verifier = ChainVerifier(anchors)
    for rec in records:
        broken = verifier.add(rec)
        if broken is not None:
            return broken
    return verifier.finish(expected_head)
