"""The directory: offices, pads, drone models, ports and drones; seeding it from files; reading it.

Seed files:

* ``FLEET.json``: the fleet description (``fleet.description``): models, ports and drones.
* ``PADS.json``: ``{"pad-id": {"lon": 114.39, "lat": 36.10, "name": "optional"}, ...}``.
* ``OFFICES.json`` (optional): ``{"office-id": {"name": "Service Centre", "pad": "pad-id"}, ...}``.
  Without it every pad is taken to be one office's own pad: an office with the pad's id is
  created for each pad (the sample area's pads are all offices that send and receive).

Seeding is an upsert: re-running it updates what changed and adds what is new; nothing is
deleted (a drone or pad missing from a newer file stays, since requests and flights refer to it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dispatch.store.audit_log import append_entry
from dispatch.store.database import Database
from dispatch.store.errors import InvalidInput, NotFound
from dispatch.store.models import DroneModelRow, DroneRow, Office, Pad, PortRow
from dispatch.store.views import OfficeView, Place, SeedSummary
from fleet.description import MODEL_FIELDS, Fleet, model_options


def _read_json(path: str | Path, what: str) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{p}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from None


def parse_pads(data: Any, source: str = "PADS.json") -> dict[str, tuple[str, Place]]:
    """Validate a decoded pads document: ``{pad_id: {lon, lat, name?}}`` -> ``{pad_id: (name, place)}``."""
    if not isinstance(data, dict) or not data:
        raise InvalidInput(f"{source}: must be a non-empty object {{pad_id: {{lon, lat}}}}")
    pads: dict[str, tuple[str, Place]] = {}
    for pad_id, rec in data.items():
        where = f"{source}: pad {pad_id!r}"
        if not pad_id or len(pad_id) > 64:
            raise InvalidInput(f"{where}: the id must be 1 to 64 characters")
        if not isinstance(rec, dict):
            raise InvalidInput(f"{where}: must be an object with lon and lat")
        unknown = sorted(set(rec) - {"lon", "lat", "name"})
        if unknown:
            raise InvalidInput(f"{where}: unknown field(s) {', '.join(unknown)}")
        coords = []
        for axis, bound in (("lon", 180.0), ("lat", 90.0)):
            value = rec.get(axis)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInput(f"{where}: {axis} must be a finite number, got {value!r}")
            if not -bound <= value <= bound:
                raise InvalidInput(f"{where}: {axis} {value} out of range [-{bound:g}, {bound:g}]")
            coords.append(float(value))
        name = rec.get("name", pad_id)
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{where}: name must be a non-empty string")
        pads[pad_id] = (name, Place(coords[0], coords[1], pad_id))
    return pads


def parse_offices(data: Any, pad_ids: set[str], source: str = "OFFICES.json") -> dict[str, tuple[str, str]]:
    """Validate a decoded offices document: ``{office_id: {name, pad}}`` -> ``{office_id: (name, pad)}``."""
    if not isinstance(data, dict) or not data:
        raise InvalidInput(f"{source}: must be a non-empty object {{office_id: {{name, pad}}}}")
    offices: dict[str, tuple[str, str]] = {}
    for office_id, rec in data.items():
        where = f"{source}: office {office_id!r}"
        if not office_id or len(office_id) > 64:
            raise InvalidInput(f"{where}: the id must be 1 to 64 characters")
        if not isinstance(rec, dict) or set(rec) - {"name", "pad"}:
            raise InvalidInput(f"{where}: must be an object with exactly 'name' and 'pad'")
        name, pad = rec.get("name"), rec.get("pad")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{where}: name must be a non-empty string")
        if pad not in pad_ids:
            raise InvalidInput(f"{where}: pad {pad!r} is not among the pads")
        offices[office_id] = (name, str(pad))
    return offices


def load_pads(path: str | Path) -> dict[str, tuple[str, Place]]:
    """Read and validate a ``PADS.json`` file."""
    return parse_pads(_read_json(path, "pads"), str(path))


def load_offices(path: str | Path, pad_ids: set[str]) -> dict[str, tuple[str, str]]:
    """Read and validate an ``OFFICES.json`` file against the known pad ids."""
    return parse_offices(_read_json(path, "offices"), pad_ids, str(path))


OUT_OF_SERVICE_REASON_MAX = 500
"""The longest reason for taking a drone out of service (the column's width)."""


class DirectoryRepository:
    """Seed and read offices, pads, models, ports and drones."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def seed(
        self,
        fleet: Fleet,
        pads: dict[str, tuple[str, Place]],
        offices: dict[str, tuple[str, str]] | None = None,
        *,
        actor: str,
    ) -> SeedSummary:
        """Upsert a fleet, pads and offices (default: one office per pad) in one audited transaction."""
        if offices is None:
            offices = {pad_id: (name, pad_id) for pad_id, (name, _) in pads.items()}
        for office_id, (_, pad_id) in offices.items():
            if pad_id not in pads:
                raise InvalidInput(f"office {office_id!r}: pad {pad_id!r} is not among the pads")
        async with self._db.write() as session:
            now = self._db.now()
            for pad_id, (name, place) in pads.items():
                pad = await session.get(Pad, pad_id) or Pad(id=pad_id, created_at=now)
                pad.name, pad.lon, pad.lat = name, place.lon, place.lat
                session.add(pad)
            await session.flush()
            for office_id, (name, pad_id) in offices.items():
                office = await session.get(Office, office_id) or Office(
                    id=office_id, created_at=now, active=True
                )
                office.name, office.pad_id = name, pad_id
                session.add(office)
            for model in fleet.models.values():
                row = await session.get(DroneModelRow, model.name) or DroneModelRow(name=model.name)
                for f in MODEL_FIELDS:
                    setattr(row, f, getattr(model, f))
                row.cruise_altitudes_m = list(model.cruise_altitudes_m) or None
                row.options = model_options(model) or None
                session.add(row)
            for port in fleet.ports:
                prow = await session.get(PortRow, port.id) or PortRow(id=port.id)
                prow.lon, prow.lat = port.lon, port.lat
                prow.landing_spots = port.landing_spots
                session.add(prow)
            await session.flush()
            for drone in fleet.drones:
                drow = await session.get(DroneRow, drone.id) or DroneRow(id=drone.id, active=True)
                drow.model, drow.port_id, drow.energy_wh = drone.model, drone.port, drone.energy_wh
                session.add(drow)
            await session.flush()
            summary = SeedSummary(
                offices=len(offices),
                pads=len(pads),
                models=len(fleet.models),
                ports=len(fleet.ports),
                drones=len(fleet.drones),
            )
            await append_entry(
                session,
                self._db,
                entity="directory",
                entity_id="seed",
                action="seeded",
                actor=actor,
                payload={
                    "offices": sorted(offices),
                    "pads": sorted(pads),
                    "fleet": fleet.to_dict(),
                },
            )
            return summary

    async def pad(self, pad_id: str) -> Place:
        """A pad's place, or :class:`NotFound`."""
        async with self._db.read() as session:
            row = await session.get(Pad, pad_id)
            if row is None:
                raise NotFound(f"no pad {pad_id!r}")
            return Place(row.lon, row.lat, row.id)

    async def pads(self) -> dict[str, Place]:
        """Every pad by id."""
        async with self._db.read() as session:
            return {
                r.id: Place(r.lon, r.lat, r.id) for r in await session.scalars(select(Pad).order_by(Pad.id))
            }

    async def pad_names(self) -> dict[str, str]:
        """Every pad's display name by id."""
        async with self._db.read() as session:
            return {r.id: r.name for r in await session.scalars(select(Pad).order_by(Pad.id))}

    async def add_office(self, office_id: str, name: str, pad_id: str, *, actor: str) -> None:
        """Add (or rename, or move to another pad) an office through the audited :meth:`seed`."""
        fleet = await self.fleet()
        place = await self.pad(pad_id)
        names = await self.pad_names()
        await self.seed(fleet, {pad_id: (names[pad_id], place)}, {office_id: (name, pad_id)}, actor=actor)

    async def add_pad(self, pad_id: str, name: str, lon: float, lat: float, *, actor: str) -> None:
        """Add (or move) a pad through the audited :meth:`seed` (no office is created for it)."""
        fleet = await self.fleet()
        await self.seed(fleet, {pad_id: (name, Place(lon, lat, pad_id))}, {}, actor=actor)

    async def offices(self) -> list[OfficeView]:
        """Every office, by id."""
        async with self._db.read() as session:
            rows = await session.scalars(select(Office).order_by(Office.id))
            return [OfficeView(r.id, r.name, r.pad_id, r.active) for r in rows]

    async def office(self, office_id: str) -> OfficeView:
        """One office, or :class:`NotFound`."""
        async with self._db.read() as session:
            r = await session.get(Office, office_id)
            if r is None:
                raise NotFound(f"no office {office_id!r}")
            return OfficeView(r.id, r.name, r.pad_id, r.active)

    async def out_of_service(self) -> dict[str, str]:
        """The drones an operator took out of service, with the reason given, by id."""
        async with self._db.read() as session:
            rows = await session.scalars(select(DroneRow).where(DroneRow.out_of_service.is_not(None)))
            return {r.id: r.out_of_service for r in rows if r.out_of_service is not None}

    async def set_in_service(self, drone_id: str, *, in_service: bool, reason: str, actor: str) -> bool:
        """Take a drone out of service (``reason`` required, at most 500 characters) or put it back,
        with an audit entry (``out_of_service`` / ``in_service``) in the same transaction. Returns
        whether anything changed (no entry when not). :class:`NotFound` for an unknown drone."""
        reason = reason.strip()
        if not in_service and not reason:
            raise InvalidInput("a reason is required to take a drone out of service")
        if len(reason) > OUT_OF_SERVICE_REASON_MAX:
            raise InvalidInput(f"reason: at most {OUT_OF_SERVICE_REASON_MAX} characters")
        async with self._db.write() as session:
            row = await session.get(DroneRow, drone_id, with_for_update=True)
            if row is None or not row.active:
                raise NotFound(f"no drone {drone_id!r}")
            target = None if in_service else reason
            if row.out_of_service == target:
                return False
            row.out_of_service = target
            await append_entry(
                session,
                self._db,
                entity="drone",
                entity_id=drone_id,
                action="in_service" if in_service else "out_of_service",
                actor=actor,
                payload={"reason": reason},
            )
            return True

    async def fleet(self) -> Fleet:
        """The stored fleet as a :class:`fleet.description.Fleet` (active drones only)."""
        from fleet.description import parse_fleet

        async with self._db.read() as session:
            models = {
                m.name: {f: getattr(m, f) for f in MODEL_FIELDS}
                | ({"cruise_altitudes_m": m.cruise_altitudes_m} if m.cruise_altitudes_m else {})
                | (m.options or {})
                for m in await session.scalars(select(DroneModelRow))
            }
            if not models:
                raise NotFound("no fleet in the database: run `dronedispatch db seed`")
            ports = list(await session.scalars(select(PortRow).order_by(PortRow.id)))
            drones = list(
                await session.scalars(select(DroneRow).where(DroneRow.active.is_(True)).order_by(DroneRow.id))
            )
        doc = {
            "models": models,
            "ports": [
                {
                    "id": p.id,
                    "lon": p.lon,
                    "lat": p.lat,
                    **({"landing_spots": p.landing_spots} if p.landing_spots is not None else {}),
                    "drones": [
                        {"id": d.id, "model": d.model}
                        | ({"energy_wh": d.energy_wh} if d.energy_wh is not None else {})
                        for d in drones
                        if d.port_id == p.id
                    ],
                }
                for p in ports
            ],
        }
        return parse_fleet(doc, source="database")
