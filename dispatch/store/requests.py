"""Delivery requests: filing (idempotent per office), state transitions with audit, queries, codes."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.audit import canonical_json
from dispatch.lifecycle import RequestState, check_request_transition
from dispatch.store.audit_log import append_entry, entries_for
from dispatch.store.change_log import note_request_change
from dispatch.store.database import Database
from dispatch.store.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.store.models import Office, Pad, RequestRow
from dispatch.store.types import check_storable
from dispatch.store.views import (
    CreatedRequest,
    DeliveryTimes,
    Intake,
    NewRequest,
    Place,
    RequestCodes,
    RequestTimeline,
    RequestView,
)

PRIORITIES: tuple[str, ...] = ("urgent", "normal")
CODE_DIGITS = 6
# About a centimetre: a place naming a pad must be that pad, give or take float noise.
PAD_TOLERANCE_DEG = 1e-7
ENTITY = "request"


def new_code() -> str:
    """A random numeric code of :data:`CODE_DIGITS` digits (``secrets``, leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def request_view(row: RequestRow) -> RequestView:
    """The public view of a stored request (no codes)."""
    return RequestView(
        id=row.id,
        office_id=row.office_id,
        pickup=Place(row.pickup_lon, row.pickup_lat, row.pickup_pad_id),
        dropoff=Place(row.dropoff_lon, row.dropoff_lat, row.dropoff_pad_id),
        weight_kg=row.weight_kg,
        priority=row.priority,
        ready_at=row.ready_at,
        deadline=row.deadline,
        description=row.description,
        state=row.state,
        state_reason=row.state_reason,
        intake=row.intake,
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_place(name: str, place: Place) -> None:
    for axis, value, bound in (("lon", place.lon, 180.0), ("lat", place.lat, 90.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInput(f"{name}.{axis} must be a finite number, got {value!r}")
        if not -bound <= value <= bound:
            raise InvalidInput(f"{name}.{axis} {value} is out of range [-{bound:g}, {bound:g}]")


def _validate(new: NewRequest) -> None:
    if not new.office_id:
        raise InvalidInput("office_id is required")
    _check_place("pickup", new.pickup)
    _check_place("dropoff", new.dropoff)
    w = new.weight_kg
    if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w <= 0:
        raise InvalidInput(f"weight_kg must be a finite number > 0, got {w!r}")
    if new.priority not in PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}, got {new.priority!r}")
    check_storable("ready_at", new.ready_at)
    check_storable("deadline", new.deadline)
    if new.ready_at is not None and new.deadline is not None and new.deadline <= new.ready_at:
        raise InvalidInput(
            f"deadline {new.deadline.isoformat()} is not after ready_at {new.ready_at.isoformat()}"
        )
    if new.idempotency_key is not None and not 1 <= len(new.idempotency_key) <= 200:
        raise InvalidInput("idempotency_key must be 1 to 200 characters")


def _fingerprint(new: NewRequest) -> str:
    body = {
        "office_id": new.office_id,
        "pickup": [new.pickup.lon, new.pickup.lat, new.pickup.pad_id],
        "dropoff": [new.dropoff.lon, new.dropoff.lat, new.dropoff.pad_id],
        "weight_kg": float(new.weight_kg),
        "priority": new.priority,
        "ready_at": new.ready_at,
        "deadline": new.deadline,
        "description": new.description,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _summary(row: RequestRow) -> dict[str, Any]:
    """What the audit log records about a newly filed request (no codes)."""
    return {
        "office_id": row.office_id,
        "pickup": {"lon": row.pickup_lon, "lat": row.pickup_lat, "pad_id": row.pickup_pad_id},
        "dropoff": {"lon": row.dropoff_lon, "lat": row.dropoff_lat, "pad_id": row.dropoff_pad_id},
        "weight_kg": row.weight_kg,
        "priority": row.priority,
        "ready_at": row.ready_at,
        "deadline": row.deadline,
        "description": row.description,
        "idempotency_key": row.idempotency_key,
    }


async def apply_transition(
    session: AsyncSession,
    db: Database,
    row: RequestRow,
    target: str,
    *,
    actor: str,
    details: dict[str, Any] | None,
) -> None:
    """Check and apply one transition of a locked request row, appending its audit entry."""
    check_request_transition(row.state, target, details)
    previous = row.state
    row.state = RequestState(target).value
    reason = (details or {}).get("reason")
    row.state_reason = str(reason) if reason is not None else None
    row.updated_at = db.now()
    await append_entry(
        session,
        db,
        entity=ENTITY,
        entity_id=row.id,
        action="transition",
        actor=actor,
        payload={"from": previous, "to": row.state, "details": details or {}},
    )
    note_request_change(session, row.id, previous, row.state, actor=actor, reason=reason)


async def lock_request(session: AsyncSession, request_id: str) -> RequestRow:
    """Load a request for update (row lock on PostgreSQL), or raise :class:`NotFound`."""
    row = (
        await session.execute(
            select(RequestRow)
            .where(RequestRow.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no request {request_id!r}")
    return row


async def _apply_intake(
    session: AsyncSession, db: Database, row: RequestRow, intake: Intake, actor: str
) -> None:
    target = RequestState.ACCEPTED if intake.accepted else RequestState.REJECTED
    details: dict[str, Any] = dict(intake.details)
    if intake.reason is not None:
        details["reason"] = intake.reason
    await apply_transition(session, db, row, target, actor=actor, details=details)
    row.intake = {"accepted": intake.accepted, "reason": intake.reason, "details": intake.details}


class RequestRepository:
    """Requests: file, transition, list, get with timeline, and the secret codes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, new: NewRequest, *, actor: str, intake: Intake | None = None) -> CreatedRequest:
        """File a request as ``submitted``; with ``intake``, also accept or reject it in the same transaction.

        With an ``idempotency_key`` already used by this office, returns the request filed then
        (``created=False``) and changes nothing; if the retried body differs, raises
        :class:`Conflict`. Raises :class:`InvalidInput` for malformed data, unknown office or pads.
        """
        _validate(new)
        if intake is not None and not intake.accepted and not intake.reason:
            raise InvalidInput("a rejecting intake needs a reason")
        fingerprint = _fingerprint(new)
        if new.idempotency_key is not None:
            existing = await self._by_key(new.office_id, new.idempotency_key, fingerprint)
            if existing is not None:
                return CreatedRequest(existing, created=False)
        try:
            return CreatedRequest(await self._insert(new, fingerprint, actor, intake), created=True)
        except IntegrityError:
            # A concurrent retry with the same key won the race; return what it filed.
            if new.idempotency_key is None:
                raise
            existing = await self._by_key(new.office_id, new.idempotency_key, fingerprint)
            if existing is None:
                raise
            return CreatedRequest(existing, created=False)

    async def _by_key(self, office_id: str, key: str, fingerprint: str) -> RequestView | None:
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(RequestRow).where(
                        RequestRow.office_id == office_id, RequestRow.idempotency_key == key
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            if row.idempotency_fingerprint != fingerprint:
                raise Conflict(
                    f"idempotency key {key!r} of office {office_id!r} was used for request {row.id}"
                    " with a different body"
                )
            return request_view(row)

    async def _insert(
        self, new: NewRequest, fingerprint: str, actor: str, intake: Intake | None
    ) -> RequestView:
        async with self._db.write() as session:
            office = await session.get(Office, new.office_id)
            if office is None:
                raise InvalidInput(f"unknown office {new.office_id!r}")
            if not office.active:
                raise InvalidInput(f"office {new.office_id!r} is not active")
            for name, place in (("pickup", new.pickup), ("dropoff", new.dropoff)):
                if place.pad_id is None:
                    continue
                pad = await session.get(Pad, place.pad_id)
                if pad is None:
                    raise InvalidInput(f"{name}.pad_id names unknown pad {place.pad_id!r}")
                if (
                    abs(pad.lon - place.lon) > PAD_TOLERANCE_DEG
                    or abs(pad.lat - place.lat) > PAD_TOLERANCE_DEG
                ):
                    raise InvalidInput(
                        f"{name} ({place.lon}, {place.lat}) is not where pad {pad.id!r} is"
                        f" ({pad.lon}, {pad.lat})"
                    )
            now = self._db.now()
            row = RequestRow(
                id=f"req_{secrets.token_hex(8)}",
                office_id=new.office_id,
                pickup_pad_id=new.pickup.pad_id,
                pickup_lon=float(new.pickup.lon),
                pickup_lat=float(new.pickup.lat),
                dropoff_pad_id=new.dropoff.pad_id,
                dropoff_lon=float(new.dropoff.lon),
                dropoff_lat=float(new.dropoff.lat),
                weight_kg=float(new.weight_kg),
                priority=new.priority,
                ready_at=new.ready_at,
                deadline=new.deadline,
                description=new.description,
                state=RequestState.SUBMITTED.value,
                state_reason=None,
                intake=None,
                pickup_code=new_code(),
                recipient_code=new_code(),
                idempotency_key=new.idempotency_key,
                idempotency_fingerprint=fingerprint if new.idempotency_key is not None else None,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            await append_entry(
                session,
                self._db,
                entity=ENTITY,
                entity_id=row.id,
                action="submitted",
                actor=actor,
                payload=_summary(row),
            )
            note_request_change(session, row.id, None, row.state, actor=actor)
            if intake is not None:
                await _apply_intake(session, self._db, row, intake, actor)
            await session.flush()
            return request_view(row)

    async def record_intake(self, request_id: str, intake: Intake, *, actor: str) -> RequestView:
        """Record the intake decision on a ``submitted`` request: ``accepted``, or ``rejected`` with a reason.

        The decision is stored with the request and the transition audited, in one transaction.
        """
        if not intake.accepted and not intake.reason:
            raise InvalidInput("a rejecting intake needs a reason")
        async with self._db.write() as session:
            row = await lock_request(session, request_id)
            await _apply_intake(session, self._db, row, intake, actor)
            return request_view(row)

    async def record_intakes(
        self, decisions: Sequence[tuple[str, Intake]], *, actor: str
    ) -> list[RequestView]:
        """Record many intake decisions in one transaction (a batch of filings decided together).

        A request that is no longer ``submitted`` (another dispatcher decided it first) keeps its
        state and is returned as it is; every other one is accepted or rejected as
        :meth:`record_intake` would.
        """
        for _, intake in decisions:
            if not intake.accepted and not intake.reason:
                raise InvalidInput("a rejecting intake needs a reason")
        async with self._db.write() as session:
            out = []
            for request_id, intake in decisions:
                row = await lock_request(session, request_id)
                if row.state == RequestState.SUBMITTED.value:
                    await _apply_intake(session, self._db, row, intake, actor)
                out.append(request_view(row))
            await session.flush()
            return out

    async def decide_submitted(
        self,
        decide: Callable[[list[RequestView]], Awaitable[list[Intake]]],
        *,
        actor: str,
        limit: int = 100,
        filed_before: datetime | None = None,
    ) -> list[RequestView]:
        """Claim up to ``limit`` ``submitted`` requests nobody else is deciding, decide them with
        ``decide`` while they stay claimed, and record every decision in the same transaction.
        ``filed_before``: only requests filed before then (the caller's own filings since then are
        on their way to a decision).

        On PostgreSQL the claim is ``SELECT ... FOR UPDATE SKIP LOCKED``: several dispatcher
        processes may run this at once and each request is decided by exactly one of them, none
        waiting for another. On SQLite the write transaction itself makes the claim exclusive.
        Returns the decided requests (oldest first); an exception in ``decide`` records nothing.
        """
        async with self._db.write() as session:
            rows = (
                (
                    await session.execute(
                        select(RequestRow)
                        .where(RequestRow.state == RequestState.SUBMITTED.value)
                        .where(true() if filed_before is None else RequestRow.created_at < filed_before)
                        .order_by(RequestRow.created_at, RequestRow.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                        .execution_options(populate_existing=True)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                return []
            intakes = await decide([request_view(row) for row in rows])
            if len(intakes) != len(rows):
                raise InvalidInput(f"{len(intakes)} intake decisions for {len(rows)} claimed requests")
            for row, intake in zip(rows, intakes, strict=True):
                if not intake.accepted and not intake.reason:
                    raise InvalidInput("a rejecting intake needs a reason")
                await _apply_intake(session, self._db, row, intake, actor)
            await session.flush()
            return [request_view(row) for row in rows]

    async def transition(
        self,
        request_id: str,
        target: str,
        *,
        actor: str,
        details: dict[str, Any] | None = None,
        expected_state: str | None = None,
    ) -> RequestView:
        """Move a request to ``target`` and append the audit entry, in one transaction.

        Raises :class:`~dispatch.lifecycle.InvalidTransition` (nothing written) when the life cycle
        forbids it or required details are missing, :class:`Conflict` when ``expected_state`` is
        given and the request is in another state, :class:`NotFound` for an unknown request.
        """
        async with self._db.write() as session:
            row = await lock_request(session, request_id)
            if expected_state is not None and row.state != expected_state:
                raise Conflict(f"request {request_id} is {row.state}, not {expected_state}")
            await apply_transition(session, self._db, row, target, actor=actor, details=details)
            return request_view(row)

    async def hold(self, request_id: str, why: str | None, *, actor: str) -> RequestView:
        """Say why an accepted request waits (``why``: e.g. ``weather_hold: wind 17.0 m/s > limit
        12.0 m/s``), or that it waits no more (None), as its ``state_reason``; audited as ``held``
        or ``released``, once per change. A request no longer accepted is left as it is."""
        async with self._db.write() as session:
            row = await lock_request(session, request_id)
            if row.state != RequestState.ACCEPTED.value or row.state_reason == why:
                return request_view(row)
            row.state_reason = why
            row.updated_at = self._db.now()
            await append_entry(
                session,
                self._db,
                entity=ENTITY,
                entity_id=row.id,
                action="held" if why is not None else "released",
                actor=actor,
                payload={"reason": why},
            )
            return request_view(row)

    async def get(self, request_id: str) -> RequestView:
        """One request, or :class:`NotFound`."""
        async with self._db.read() as session:
            row = await session.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"no request {request_id!r}")
            return request_view(row)

    async def timeline(self, request_id: str) -> RequestTimeline:
        """A request with every audit entry about it, oldest first."""
        async with self._db.read() as session:
            row = await session.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"no request {request_id!r}")
            return RequestTimeline(request_view(row), await entries_for(session, ENTITY, request_id))

    async def list(
        self,
        *,
        office_id: str | None = None,
        states: Sequence[str] | None = None,
        limit: int = 100,
        after_id: str | None = None,
    ) -> list[RequestView]:
        """Requests filtered by office and/or states, oldest first, ``limit`` at a time.

        Order is (created_at, id); page on with ``after_id`` = the last id of the previous page.
        """
        if not 1 <= limit <= 10_000:
            raise InvalidInput(f"limit must be in 1..10000, got {limit}")
        known = [s.value for s in RequestState]
        unknown = [s for s in states or () if s not in known]
        if unknown:
            raise InvalidInput(f"unknown request state(s) {', '.join(unknown)} (known: {', '.join(known)})")
        async with self._db.read() as session:
            query = select(RequestRow)
            if office_id is not None:
                query = query.where(RequestRow.office_id == office_id)
            if states is not None:
                query = query.where(RequestRow.state.in_(list(states)))
            if after_id is not None:
                anchor = await session.get(RequestRow, after_id)
                if anchor is None:
                    raise NotFound(f"no request {after_id!r} to page after")
                query = query.where(
                    (RequestRow.created_at > anchor.created_at)
                    | ((RequestRow.created_at == anchor.created_at) & (RequestRow.id > anchor.id))
                )
            rows = await session.scalars(query.order_by(RequestRow.created_at, RequestRow.id).limit(limit))
            return [request_view(r) for r in rows]

    async def page(
        self,
        *,
        office_id: str | None = None,
        states: Sequence[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[builtins.list[RequestView], bool]:
        """A page of requests oldest first (created, id) and whether more follow; ``offset`` is
        unbounded (:meth:`list` pages by cursor, clients of the API by offset)."""
        known = {s.value for s in RequestState}
        unknown = [s for s in states or () if s not in known]
        if unknown:
            raise InvalidInput(
                f"unknown request state(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        query = select(RequestRow)
        if office_id is not None:
            query = query.where(RequestRow.office_id == office_id)
        if states is not None:
            query = query.where(RequestRow.state.in_(list(states)))
        query = query.order_by(RequestRow.created_at, RequestRow.id).offset(offset).limit(limit + 1)
        async with self._db.read() as session:
            rows = list(await session.scalars(query))
        return [request_view(r) for r in rows[:limit]], len(rows) > limit

    async def counts(self) -> dict[str, int]:
        """How many requests are in each state (every state listed, zero included)."""
        async with self._db.read() as session:
            rows = (
                await session.execute(select(RequestRow.state, func.count()).group_by(RequestRow.state))
            ).all()
        counts = {s.value: 0 for s in RequestState}
        counts.update({state: int(n) for state, n in rows})
        return counts

    async def delivered(self) -> builtins.list[DeliveryTimes]:
        """Every delivered request's hand-over time, ready time and deadline (for on-time counts)."""
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(
                        RequestRow.updated_at, RequestRow.ready_at, RequestRow.created_at, RequestRow.deadline
                    ).where(RequestRow.state == RequestState.DELIVERED.value)
                )
            ).all()
        return [DeliveryTimes(at, ready or created, deadline) for at, ready, created, deadline in rows]

    async def codes_for_office(self, request_id: str, office_id: str) -> RequestCodes:
        """The request's codes, for the office that filed it only (:class:`Forbidden` otherwise)."""
        codes, owner = await self._codes(request_id)
        if owner != office_id:
            raise Forbidden(f"request {request_id} was not filed by office {office_id!r}")
        return codes

    async def codes_for_mission(self, request_id: str) -> RequestCodes:
        """The request's codes for the dispatcher to put in the drone's mission (sensitive)."""
        codes, _ = await self._codes(request_id)
        return codes

    async def _codes(self, request_id: str) -> tuple[RequestCodes, str]:
        async with self._db.read() as session:
            row = await session.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"no request {request_id!r}")
            return RequestCodes(row.id, row.pickup_code, row.recipient_code), row.office_id

    async def verify_code(self, request_id: str, kind: str, code: str) -> bool:
        """Whether ``code`` is the request's ``pickup`` or ``recipient`` code (constant-time compare)."""
        if kind not in ("pickup", "recipient"):
            raise InvalidInput(f"code kind must be 'pickup' or 'recipient', got {kind!r}")
        codes, _ = await self._codes(request_id)
        expected = codes.pickup_code if kind == "pickup" else codes.recipient_code
        return hmac.compare_digest(expected.encode(), code.encode())
