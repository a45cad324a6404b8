"""Flights (missions), their legs, the requests they carry and the commands sent for them.

Recording a flight plans its requests (``accepted -> planned``) in the same transaction, so the
database never shows a flight without its requests planned or the other way round. Commands
are keyed by ``cmd_id``: recording a known id returns the stored command and creates nothing, so
a restarted dispatcher never sends the same command as a new one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.lifecycle import FLIGHT_TERMINAL, FlightState, RequestState, check_flight_transition
from dispatch.store.audit_log import append_entry
from dispatch.store.database import Database
from dispatch.store.errors import Conflict, InvalidInput, NotFound
from dispatch.store.models import CommandRow, DroneRow, FlightLegRow, FlightRequestRow, FlightRow, RequestRow
from dispatch.store.requests import apply_transition, lock_request
from dispatch.store.views import CommandView, FlightView, LegView, NewFlight, RecordedCommand

ENTITY = "flight"
LEG_ACTIONS: tuple[str, ...] = ("pickup", "dropoff", "return", "transit")


def command_view(row: CommandRow) -> CommandView:
    """The immutable view of a stored command."""
    return CommandView(
        cmd_id=row.cmd_id,
        mission_id=row.mission_id,
        drone_id=row.drone_id,
        kind=row.kind,
        payload=row.payload,
        created_at=row.created_at,
        sent_at=row.sent_at,
        acked_at=row.acked_at,
        result=row.result,
        result_detail=row.result_detail,
    )


def _check_waypoints(where: str, waypoints: Any) -> None:
    if not isinstance(waypoints, list) or len(waypoints) < 2:
        raise InvalidInput(f"{where}: waypoints must be a list of at least two [lon, lat] points")
    for i, point in enumerate(waypoints):
        if not isinstance(point, list | tuple) or len(point) not in (2, 3):
            raise InvalidInput(f"{where}: waypoint {i} must be [lon, lat] or [lon, lat, alt], got {point!r}")
        for value in point:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInput(f"{where}: waypoint {i} has a non-finite or non-numeric value {value!r}")
        if not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
            raise InvalidInput(f"{where}: waypoint {i} {list(point)!r} is outside lon/lat range")


def _validate(new: NewFlight) -> None:
    if not new.mission_id:
        raise InvalidInput("mission_id is required")
    if not new.legs:
        raise InvalidInput(f"flight {new.mission_id}: a flight needs at least one leg")
    if len(set(new.request_ids)) != len(new.request_ids):
        raise InvalidInput(f"flight {new.mission_id}: request_ids has duplicates")
    carried = set(new.request_ids)
    for i, leg in enumerate(new.legs):
        where = f"flight {new.mission_id} leg {i}"
        if leg.action not in LEG_ACTIONS:
            raise InvalidInput(f"{where}: action must be one of {', '.join(LEG_ACTIONS)}, got {leg.action!r}")
        if leg.request_id is not None and leg.request_id not in carried:
            raise InvalidInput(f"{where}: request {leg.request_id} is not among the flight's request_ids")
        if leg.action in ("pickup", "dropoff") and leg.request_id is None:
            raise InvalidInput(f"{where}: a {leg.action} leg must name its request_id")
        _check_waypoints(
            where, list(leg.waypoints) if isinstance(leg.waypoints, list | tuple) else leg.waypoints
        )
        if leg.eta is not None and (leg.eta.tzinfo is None or leg.eta.utcoffset() is None):
            raise InvalidInput(f"{where}: eta must be timezone-aware")


class FlightRepository:
    """Flights, legs, carried requests and commands."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, new: NewFlight, *, actor: str) -> FlightView:
        """Store a planned flight and move every request it carries ``accepted -> planned``, atomically.

        Raises :class:`InvalidInput` (bad legs, unknown drone), :class:`Conflict` (mission id in
        use), :class:`~dispatch.lifecycle.InvalidTransition` (a request is not ``accepted``).
        """
        _validate(new)
        try:
            return await self._record(new, actor)
        except IntegrityError:
            async with self._db.read() as session:
                if await session.get(FlightRow, new.mission_id) is None:
                    raise
            raise Conflict(f"mission id {new.mission_id!r} is already recorded") from None

    async def _record(self, new: NewFlight, actor: str) -> FlightView:
        async with self._db.write() as session:
            if await session.get(DroneRow, new.drone_id) is None:
                raise InvalidInput(f"flight {new.mission_id}: unknown drone {new.drone_id!r}")
            if await session.get(FlightRow, new.mission_id) is not None:
                raise Conflict(f"mission id {new.mission_id!r} is already recorded")
            # Lock order everywhere: flight, then requests sorted by id, then the audit head (taken
            # by the first append), so concurrent writers queue instead of deadlocking.
            requests = [await lock_request(session, rid) for rid in sorted(new.request_ids)]
            now = self._db.now()
            session.add(
                FlightRow(
                    mission_id=new.mission_id,
                    drone_id=new.drone_id,
                    state=FlightState.PLANNED.value,
                    plan=new.plan,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            await append_entry(
                session,
                self._db,
                entity=ENTITY,
                entity_id=new.mission_id,
                action="planned",
                actor=actor,
                payload={
                    "drone_id": new.drone_id,
                    "request_ids": list(new.request_ids),
                    "legs": len(new.legs),
                },
            )
            for row in requests:
                await apply_transition(
                    session,
                    self._db,
                    row,
                    RequestState.PLANNED,
                    actor=actor,
                    details={"mission_id": new.mission_id, "drone_id": new.drone_id},
                )
                session.add(FlightRequestRow(mission_id=new.mission_id, request_id=row.id))
            for seq, leg in enumerate(new.legs):
                session.add(
                    FlightLegRow(
                        mission_id=new.mission_id,
                        seq=seq,
                        action=leg.action,
                        request_id=leg.request_id,
                        stop_id=leg.stop_id,
                        waypoints=[list(p) for p in leg.waypoints],
                        distance_m=leg.distance_m,
                        eta=leg.eta,
                    )
                )
            await session.flush()
            return (await self._views(session, [new.mission_id]))[0]

    async def transition(
        self, mission_id: str, target: str, *, actor: str, details: dict[str, Any] | None = None
    ) -> FlightView:
        """Move a flight to ``target`` (see ``FLIGHT_TRANSITIONS``), audited, in one transaction.

        ``acked`` and ``aborted`` change the carried requests too and go through :meth:`acknowledge`
        and :meth:`abort`; asking for them here raises :class:`InvalidInput`.
        """
        if target in (FlightState.ACKED, FlightState.ABORTED):
            method = "acknowledge" if target == FlightState.ACKED else "abort"
            raise InvalidInput(f"a flight becomes {target} with {method}(), which also moves its requests")
        async with self._db.write() as session:
            row = await self._lock_flight(session, mission_id)
            await self._apply(session, row, target, actor, details)
            return (await self._views(session, [mission_id]))[0]

    async def acknowledge(self, mission_id: str, *, actor: str, cmd_id: str | None = None) -> FlightView:
        """The drone acked its mission: flight ``commanded -> acked`` and its ``planned`` requests
        ``-> dispatched``, in one transaction (requests cancelled meanwhile are left as they are).
        """
        async with self._db.write() as session:
            flight = await self._lock_flight(session, mission_id)
            requests = await self._lock_carried(session, mission_id)
            details = {"cmd_id": cmd_id} if cmd_id is not None else {}
            await self._apply(session, flight, FlightState.ACKED, actor, details)
            for req in requests:
                if req.state == RequestState.PLANNED:
                    await apply_transition(
                        session,
                        self._db,
                        req,
                        RequestState.DISPATCHED,
                        actor=actor,
                        details={"mission_id": mission_id, "drone_id": flight.drone_id, **details},
                    )
            return (await self._views(session, [mission_id]))[0]

    async def abort(self, mission_id: str, *, actor: str, reason: str) -> FlightView:
        """Abort a flight; its requests not yet picked up go back to ``accepted`` for re-planning.

        Requests already picked up keep their state: the documents are aboard, and the caller
        records what became of them (``failed -> returned`` or ``delivered``). One transaction.
        """
        if not reason:
            raise InvalidInput("aborting a flight needs a reason")
        async with self._db.write() as session:
            flight = await self._lock_flight(session, mission_id)
            requests = await self._lock_carried(session, mission_id)
            await self._apply(session, flight, FlightState.ABORTED, actor, {"reason": reason})
            for req in requests:
                if req.state in (RequestState.PLANNED, RequestState.DISPATCHED):
                    await apply_transition(
                        session,
                        self._db,
                        req,
                        RequestState.ACCEPTED,
                        actor=actor,
                        details={"reason": reason, "mission_id": mission_id, "drone_id": flight.drone_id},
                    )
            return (await self._views(session, [mission_id]))[0]

    async def _apply(
        self, session: AsyncSession, row: FlightRow, target: str, actor: str, details: dict[str, Any] | None
    ) -> None:
        check_flight_transition(row.state, target)
        previous, row.state, row.updated_at = row.state, FlightState(target).value, self._db.now()
        await append_entry(
            session,
            self._db,
            entity=ENTITY,
            entity_id=row.mission_id,
            action="transition",
            actor=actor,
            payload={"from": previous, "to": row.state, "details": details or {}},
        )
        await session.flush()

    @staticmethod
    async def _lock_flight(session: AsyncSession, mission_id: str) -> FlightRow:
        row = (
            await session.execute(
                select(FlightRow)
                .where(FlightRow.mission_id == mission_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no flight {mission_id!r}")
        return row

    @staticmethod
    async def _lock_carried(session: AsyncSession, mission_id: str) -> list[RequestRow]:
        ids = await session.scalars(
            select(FlightRequestRow.request_id)
            .where(FlightRequestRow.mission_id == mission_id)
            .order_by(FlightRequestRow.request_id)
        )
        return [await lock_request(session, rid) for rid in list(ids)]

    async def get(self, mission_id: str) -> FlightView:
        """One flight with legs, requests and commands, or :class:`NotFound`."""
        async with self._db.read() as session:
            views = await self._views(session, [mission_id])
            if not views:
                raise NotFound(f"no flight {mission_id!r}")
            return views[0]

    async def list_active(self, drone_id: str | None = None) -> list[FlightView]:
        """Flights not yet completed or aborted (optionally of one drone), oldest first."""
        async with self._db.read() as session:
            query = select(FlightRow.mission_id).where(
                FlightRow.state.not_in([s.value for s in FLIGHT_TERMINAL])
            )
            if drone_id is not None:
                query = query.where(FlightRow.drone_id == drone_id)
            ids = list(await session.scalars(query.order_by(FlightRow.created_at, FlightRow.mission_id)))
            return await self._views(session, ids)

    async def recent(self, limit: int = 50) -> list[FlightView]:
        """Active flights and the most recently finished ones (newest first), at most ``limit`` in all."""
        async with self._db.read() as session:
            ids = list(
                await session.scalars(
                    select(FlightRow.mission_id)
                    .order_by(FlightRow.updated_at.desc(), FlightRow.mission_id)
                    .limit(limit)
                )
            )
            return await self._views(session, ids)

    async def carrying(self, request_id: str) -> list[FlightView]:
        """Every flight that has carried or carries a request, oldest first."""
        async with self._db.read() as session:
            ids = list(
                await session.scalars(
                    select(FlightRequestRow.mission_id)
                    .join(FlightRow, FlightRow.mission_id == FlightRequestRow.mission_id)
                    .where(FlightRequestRow.request_id == request_id)
                    .order_by(FlightRow.created_at, FlightRow.mission_id)
                )
            )
            return await self._views(session, ids)

    async def dropoff_etas(self, request_ids: Sequence[str]) -> dict[str, datetime]:
        """The planned drop-off time of each request that is on a flight, from its latest flight not
        aborted (one query for a page of requests); requests on no such flight are left out."""
        if not request_ids:
            return {}
        aborted = [s.value for s in FLIGHT_TERMINAL if s != FlightState.COMPLETED]
        async with self._db.read() as session:
            rows = await session.execute(
                select(FlightLegRow.request_id, FlightLegRow.eta)
                .join(FlightRow, FlightRow.mission_id == FlightLegRow.mission_id)
                .where(
                    FlightLegRow.request_id.in_(list(request_ids)),
                    FlightLegRow.action == "dropoff",
                    FlightLegRow.eta.is_not(None),
                    FlightRow.state.not_in(aborted),
                )
                .order_by(FlightRow.created_at, FlightRow.mission_id, FlightLegRow.seq)
            )
            # Oldest first, so the latest flight's leg is the one left in the dict.
            return {rid: eta for rid, eta in rows if rid is not None and eta is not None}

    async def record_command(
        self,
        *,
        cmd_id: str,
        drone_id: str,
        kind: str,
        payload: dict[str, Any],
        mission_id: str | None = None,
    ) -> RecordedCommand:
        """Record a command before it is sent; a known ``cmd_id`` returns the stored one (``created=False``).

        Raises :class:`Conflict` if the known command was for another drone or of another kind.
        """
        if not cmd_id or not kind:
            raise InvalidInput("a command needs a cmd_id and a kind")
        try:
            async with self._db.write() as session:
                existing = await session.get(CommandRow, cmd_id)
                if existing is not None:
                    return self._known(existing, drone_id, kind, mission_id)
                if await session.get(DroneRow, drone_id) is None:
                    raise InvalidInput(f"command {cmd_id}: unknown drone {drone_id!r}")
                if mission_id is not None and await session.get(FlightRow, mission_id) is None:
                    raise InvalidInput(f"command {cmd_id}: unknown flight {mission_id!r}")
                row = CommandRow(
                    cmd_id=cmd_id,
                    mission_id=mission_id,
                    drone_id=drone_id,
                    kind=kind,
                    payload=payload,
                    created_at=self._db.now(),
                )
                session.add(row)
                await session.flush()
                return RecordedCommand(command_view(row), created=True)
        except IntegrityError:
            # A concurrent writer recorded the same cmd_id first (PostgreSQL); use what it stored.
            async with self._db.read() as session:
                existing = await session.get(CommandRow, cmd_id)
                if existing is None:
                    raise
                return self._known(existing, drone_id, kind, mission_id)

    @staticmethod
    def _known(existing: CommandRow, drone_id: str, kind: str, mission_id: str | None) -> RecordedCommand:
        if (existing.drone_id, existing.kind, existing.mission_id) != (drone_id, kind, mission_id):
            raise Conflict(
                f"cmd_id {existing.cmd_id!r} is already recorded as {existing.kind}"
                f" for drone {existing.drone_id} (mission {existing.mission_id})"
            )
        return RecordedCommand(command_view(existing), created=False)

    async def retime_start(
        self, mission_id: str, cmd_id: str, *, plan: dict[str, Any], payload: dict[str, Any], actor: str
    ) -> CommandView:
        """A new planned departure for a flight whose start was never sent: its ``plan`` and the
        stored start's ``payload`` are replaced, audited (``retimed``), in one transaction. Raises
        :class:`Conflict` once the start went out (a drone may hold it: it is never changed)."""
        async with self._db.write() as session:
            flight = await self._lock_flight(session, mission_id)
            row = await self._lock_command(session, cmd_id)
            if row.sent_at is not None or row.mission_id != mission_id:
                raise Conflict(f"command {cmd_id} of {mission_id} was sent: it is not changed")
            row.payload = payload
            await self._retime(session, flight, plan, actor=actor, cmd_id=cmd_id)
            return command_view(row)

    async def replace_start(
        self,
        mission_id: str,
        refused_cmd_id: str,
        *,
        cmd_id: str,
        plan: dict[str, Any],
        payload: dict[str, Any],
        actor: str,
    ) -> CommandView:
        """A new start (``cmd_id``) for a flight whose start ``refused_cmd_id`` the drone refused:
        the new start is recorded and the flight's ``plan`` replaced, audited (``retimed``), in one
        transaction. Raises :class:`Conflict` unless the refused start was answered ``nack``, and
        returns the stored start if ``cmd_id`` is known already (a repeat after a restart)."""
        async with self._db.write() as session:
            flight = await self._lock_flight(session, mission_id)
            refused = await self._lock_command(session, refused_cmd_id)
            if refused.mission_id != mission_id or refused.result != "nack":
                raise Conflict(f"command {refused_cmd_id} of {mission_id} was not refused: no new start")
            known = await session.get(CommandRow, cmd_id)
            if known is not None:
                return command_view(known)
            row = CommandRow(
                cmd_id=cmd_id,
                mission_id=mission_id,
                drone_id=refused.drone_id,
                kind=refused.kind,
                payload=payload,
                created_at=self._db.now(),
            )
            session.add(row)
            await self._retime(
                session, flight, plan, actor=actor, cmd_id=cmd_id, refused_cmd_id=refused_cmd_id
            )
            await session.flush()
            return command_view(row)

    async def _retime(
        self, session: AsyncSession, flight: FlightRow, plan: dict[str, Any], *, actor: str, **cmd: str
    ) -> None:
        """Give the locked ``flight`` its new ``plan`` and audit it (``retimed``, naming ``cmd``)."""
        before = (flight.plan or {}).get("depart")
        flight.plan = plan
        flight.updated_at = self._db.now()
        await append_entry(
            session,
            self._db,
            entity=ENTITY,
            entity_id=flight.mission_id,
            action="retimed",
            actor=actor,
            payload={**cmd, "depart_before": before, "depart": plan.get("depart")},
        )

    async def mark_command_sent(self, cmd_id: str) -> CommandView:
        """Record that a command went out; a re-send keeps the first ``sent_at``."""
        async with self._db.write() as session:
            row = await self._lock_command(session, cmd_id)
            if row.sent_at is None:
                row.sent_at = self._db.now()
            return command_view(row)

    async def mark_command_acked(
        self, cmd_id: str, result: str = "ack", detail: str | None = None
    ) -> CommandView:
        """Record the drone's ``ack`` or ``nack``; a repeated identical answer changes nothing.

        Raises :class:`Conflict` if the command was already answered differently.
        """
        if result not in ("ack", "nack"):
            raise InvalidInput(f"command result must be 'ack' or 'nack', got {result!r}")
        async with self._db.write() as session:
            row = await self._lock_command(session, cmd_id)
            if row.result is not None:
                if row.result != result:
                    raise Conflict(f"command {cmd_id} was already answered {row.result}, now {result}")
                return command_view(row)
            row.result, row.result_detail, row.acked_at = result, detail, self._db.now()
            if row.sent_at is None:
                row.sent_at = row.acked_at
            return command_view(row)

    async def pending_commands(self, drone_id: str | None = None) -> list[CommandView]:
        """Commands not yet acked or nacked (sent or not), oldest first."""
        where: list[ColumnElement[bool]] = [CommandRow.result.is_(None)]
        if drone_id is not None:
            where.append(CommandRow.drone_id == drone_id)
        return await self._commands(*where)

    async def commands_of_drone(self, drone_id: str) -> list[CommandView]:
        """Every command recorded for a drone (in a mission or not), oldest first."""
        return await self._commands(CommandRow.drone_id == drone_id)

    async def _commands(self, *where: ColumnElement[bool]) -> list[CommandView]:
        async with self._db.read() as session:
            query = select(CommandRow).where(*where)
            rows = await session.scalars(query.order_by(CommandRow.created_at, CommandRow.cmd_id))
            return [command_view(r) for r in rows]

    async def get_command(self, cmd_id: str) -> CommandView:
        """One command, or :class:`NotFound`."""
        async with self._db.read() as session:
            row = await session.get(CommandRow, cmd_id)
            if row is None:
                raise NotFound(f"no command {cmd_id!r}")
            return command_view(row)

    @staticmethod
    async def _lock_command(session: AsyncSession, cmd_id: str) -> CommandRow:
        row = (
            await session.execute(
                select(CommandRow)
                .where(CommandRow.cmd_id == cmd_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no command {cmd_id!r}")
        return row

    @staticmethod
    async def _views(session: AsyncSession, mission_ids: Sequence[str]) -> list[FlightView]:
        if not mission_ids:
            return []
        ids = list(mission_ids)
        flights = {
            f.mission_id: f
            for f in await session.scalars(select(FlightRow).where(FlightRow.mission_id.in_(ids)))
        }
        legs: dict[str, list[LegView]] = {i: [] for i in ids}
        for leg in await session.scalars(
            select(FlightLegRow).where(FlightLegRow.mission_id.in_(ids)).order_by(FlightLegRow.seq)
        ):
            legs[leg.mission_id].append(
                LegView(
                    leg.seq, leg.action, leg.waypoints, leg.request_id, leg.stop_id, leg.distance_m, leg.eta
                )
            )
        carried: dict[str, list[str]] = {i: [] for i in ids}
        for link in await session.scalars(
            select(FlightRequestRow)
            .where(FlightRequestRow.mission_id.in_(ids))
            .order_by(FlightRequestRow.request_id)
        ):
            carried[link.mission_id].append(link.request_id)
        commands: dict[str, list[CommandView]] = {i: [] for i in ids}
        for cmd in await session.scalars(
            select(CommandRow)
            .where(CommandRow.mission_id.in_(ids))
            .order_by(CommandRow.created_at, CommandRow.cmd_id)
        ):
            commands[str(cmd.mission_id)].append(command_view(cmd))
        return [
            FlightView(
                mission_id=f.mission_id,
                drone_id=f.drone_id,
                state=f.state,
                plan=f.plan,
                legs=tuple(legs[f.mission_id]),
                request_ids=tuple(carried[f.mission_id]),
                commands=tuple(commands[f.mission_id]),
                created_at=f.created_at,
                updated_at=f.updated_at,
            )
            for f in (flights[i] for i in ids if i in flights)
        ]
