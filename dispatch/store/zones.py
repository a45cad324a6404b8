"""Airspace zones, stored as their GeoJSON feature with validity, author and an active flag.

Only the GeoJSON envelope is checked here (a Feature with a geometry and ``properties.id``); the
zone semantics (kind, floor, ceiling, margin) belong to ``airspace``, which reads the feature back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from airspace.zones import count_positions
from dispatch.audit import CanonicalFormError, canonical_json
from dispatch.store.audit_log import append_entry
from dispatch.store.database import Database
from dispatch.store.errors import InvalidInput, NotFound
from dispatch.store.models import ZoneRow
from dispatch.store.types import check_storable
from dispatch.store.views import ZoneView
from fleet.topics import valid_id

ENTITY = "zone"
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def zone_view(row: ZoneRow) -> ZoneView:
    """The immutable view of a stored zone."""
    return ZoneView(
        id=row.id,
        feature=row.feature,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        created_by=row.created_by,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _zone_id(feature: Any) -> str:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidInput("a zone must be a GeoJSON object with type 'Feature'")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
        raise InvalidInput(f"zone geometry must be a GeoJSON geometry ({', '.join(GEOMETRY_TYPES)})")
    if "coordinates" not in geometry:
        raise InvalidInput("zone geometry has no coordinates")
    try:  # bounded before anything walks the whole feature (canonical JSON, the database)
        count_positions(geometry["coordinates"])
    except ValueError as exc:
        raise InvalidInput(f"zone geometry: {exc}") from None
    properties = feature.get("properties")
    zone_id = properties.get("id") if isinstance(properties, dict) else None
    if not isinstance(zone_id, str) or not valid_id(zone_id):
        raise InvalidInput(
            "a zone feature needs properties.id: 1-64 letters, digits, '_', '.', '-', starting with a"
            " letter or digit (one URL path segment, one MQTT topic level)"
        )
    try:
        canonical_json(feature)
    except CanonicalFormError as exc:
        raise InvalidInput(f"zone {zone_id}: {exc}") from None
    except RecursionError:
        raise InvalidInput(f"zone {zone_id}: nested too deeply") from None
    return zone_id


def _check_window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    check_storable("valid_from", valid_from)
    check_storable("valid_until", valid_until)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from")


class ZoneRepository:
    """Upsert, list and deactivate zones."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(
        self,
        feature: dict[str, Any],
        *,
        actor: str,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> ZoneView:
        """Insert or replace the zone ``properties.id`` of ``feature``; it becomes active. Audited."""
        zone_id = _zone_id(feature)
        _check_window(valid_from, valid_until)
        try:
            return await self._upsert(zone_id, feature, actor, valid_from, valid_until)
        except IntegrityError:
            # Another writer inserted this zone id first (PostgreSQL); now it exists, update it.
            return await self._upsert(zone_id, feature, actor, valid_from, valid_until)

    async def _upsert(
        self,
        zone_id: str,
        feature: dict[str, Any],
        actor: str,
        valid_from: datetime | None,
        valid_until: datetime | None,
    ) -> ZoneView:
        async with self._db.write() as session:
            now = self._db.now()
            row = await session.get(ZoneRow, zone_id, with_for_update=True, populate_existing=True)
            if row is None:
                row = ZoneRow(id=zone_id, created_by=actor, created_at=now)
                session.add(row)
            row.feature, row.valid_from, row.valid_until = feature, valid_from, valid_until
            row.active, row.updated_at = True, now
            await session.flush()
            await append_entry(
                session,
                self._db,
                entity=ENTITY,
                entity_id=zone_id,
                action="upserted",
                actor=actor,
                payload={"feature": feature, "valid_from": valid_from, "valid_until": valid_until},
            )
            return zone_view(row)

    async def deactivate(self, zone_id: str, *, actor: str, reason: str | None = None) -> ZoneView:
        """Deactivate a zone (kept for the record); deactivating an inactive zone changes nothing."""
        async with self._db.write() as session:
            row = await session.get(ZoneRow, zone_id, with_for_update=True, populate_existing=True)
            if row is None:
                raise NotFound(f"no zone {zone_id!r}")
            if row.active:
                row.active, row.updated_at = False, self._db.now()
                await append_entry(
                    session,
                    self._db,
                    entity=ENTITY,
                    entity_id=zone_id,
                    action="deactivated",
                    actor=actor,
                    payload={"reason": reason},
                )
            return zone_view(row)

    async def get(self, zone_id: str) -> ZoneView:
        """One zone, or :class:`NotFound`."""
        async with self._db.read() as session:
            row = await session.get(ZoneRow, zone_id)
            if row is None:
                raise NotFound(f"no zone {zone_id!r}")
            return zone_view(row)

    async def list(self, *, active_only: bool = True, at: datetime | None = None) -> list[ZoneView]:
        """Zones by id; ``active_only`` drops deactivated ones, ``at`` keeps those valid at that time."""
        check_storable("at", at)
        async with self._db.read() as session:
            query = select(ZoneRow)
            if active_only:
                query = query.where(ZoneRow.active.is_(True))
            if at is not None:
                query = query.where(
                    (ZoneRow.valid_from.is_(None) | (ZoneRow.valid_from <= at))
                    & (ZoneRow.valid_until.is_(None) | (ZoneRow.valid_until > at))
                )
            rows = await session.scalars(query.order_by(ZoneRow.id))
            return [zone_view(r) for r in rows]
