"""Delivery requests: the ``REQUESTS.json`` format, parsed as pure data (no I/O here).

``REQUESTS.json`` is a list of::

    {"id": "R001", "pickup": {"lon": 114.3968, "lat": 36.1043},
     "dropoff": {"lon": 114.416, "lat": 36.1115}, "weight_kg": 0.3, "priority": "urgent",
     "ready_at": "2026-12-01T09:00:00+08:00", "deadline": "2026-12-01T09:30:00+08:00"}

Times are ISO 8601 with an explicit offset (``Z`` or ``+08:00``); ``priority`` is ``urgent`` or
``normal``; ``ready_at`` is the earliest pick-up, ``deadline`` the latest arrival at the drop-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PRIORITIES: tuple[str, ...] = ("urgent", "normal")
REQUEST_FIELDS: tuple[str, ...] = ("id", "pickup", "dropoff", "weight_kg", "priority", "ready_at", "deadline")


class RequestFormatError(ValueError):
    """A request list is invalid. The message names the source, the record and the field."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source = source
        self.where = where
        self.problem = problem
        super().__init__(f"{source}: {where}: {problem}")


@dataclass(frozen=True, slots=True)
class Request:
    """One document to carry from a pickup pad to a drop-off pad."""

    id: str
    pickup: tuple[float, float]  # lon, lat
    dropoff: tuple[float, float]  # lon, lat
    weight_kg: float
    priority: str  # "urgent" | "normal"
    ready_at: datetime  # timezone-aware
    deadline: datetime  # timezone-aware

    @property
    def urgent(self) -> bool:
        """Whether the request is urgent (kept before normal ones when not all fit)."""
        return self.priority == "urgent"

    def to_dict(self) -> dict[str, Any]:
        """The ``REQUESTS.json`` record of this request."""
        return {
            "id": self.id,
            "pickup": {"lon": self.pickup[0], "lat": self.pickup[1]},
            "dropoff": {"lon": self.dropoff[0], "lat": self.dropoff[1]},
            "weight_kg": self.weight_kg,
            "priority": self.priority,
            "ready_at": self.ready_at.isoformat(),
            "deadline": self.deadline.isoformat(),
        }


def parse_time(text: Any, source: str, where: str, field: str) -> datetime:
    """Parse an ISO 8601 time that carries its offset; errors name source, record and field."""
    if not isinstance(text, str):
        raise RequestFormatError(source, where, f"field {field!r} must be an ISO 8601 string, got {text!r}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RequestFormatError(source, where, f"field {field!r} is not ISO 8601: {text!r}") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise RequestFormatError(
            source, where, f"field {field!r} must carry a time zone offset (e.g. +08:00 or Z): {text!r}"
        )
    return value


def _lonlat(source: str, where: str, rec: dict[str, Any], field: str) -> tuple[float, float]:
    point = rec.get(field)
    if not isinstance(point, dict):
        raise RequestFormatError(source, where, f"field {field!r} must be an object {{'lon', 'lat'}}")
    unknown = sorted(set(point) - {"lon", "lat", "name"})
    if unknown:
        raise RequestFormatError(source, where, f"field {field!r}: unknown field(s) {unknown}")
    coords = []
    for axis, bound in (("lon", 180.0), ("lat", 90.0)):
        value = point.get(axis)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RequestFormatError(source, where, f"field '{field}.{axis}' must be a finite number")
        if not -bound <= value <= bound:
            raise RequestFormatError(source, where, f"field '{field}.{axis}' out of range: {value}")
        coords.append(float(value))
    return coords[0], coords[1]


def parse_request(rec: Any, source: str, where: str) -> Request:
    """Validate one decoded request record."""
    if not isinstance(rec, dict):
        raise RequestFormatError(source, where, "must be an object")
    rid = rec.get("id")
    if not isinstance(rid, str) or not rid:
        raise RequestFormatError(source, where, "field 'id' must be a non-empty string")
    where = f"{where} (id {rid!r})"
    unknown = sorted(set(rec) - set(REQUEST_FIELDS))
    if unknown:
        raise RequestFormatError(source, where, f"unknown field(s) {', '.join(map(repr, unknown))}")
    for field in REQUEST_FIELDS:
        if field not in rec:
            raise RequestFormatError(source, where, f"missing field {field!r}")
    weight = rec["weight_kg"]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise RequestFormatError(source, where, f"field 'weight_kg' must be a finite number, got {weight!r}")
    if weight <= 0:
        raise RequestFormatError(source, where, f"field 'weight_kg' must be > 0, got {weight!r}")
    priority = rec["priority"]
    if priority not in PRIORITIES:
        raise RequestFormatError(
            source, where, f"field 'priority' must be one of {PRIORITIES}, got {priority!r}"
        )
    ready_at = parse_time(rec["ready_at"], source, where, "ready_at")
    deadline = parse_time(rec["deadline"], source, where, "deadline")
    if deadline <= ready_at:
        raise RequestFormatError(source, where, "field 'deadline' must be after 'ready_at'")
    return Request(
        id=rid,
        pickup=_lonlat(source, where, rec, "pickup"),
        dropoff=_lonlat(source, where, rec, "dropoff"),
        weight_kg=float(weight),
        priority=priority,
        ready_at=ready_at,
        deadline=deadline,
    )


def parse_requests(data: Any, source: str = "REQUESTS.json") -> tuple[Request, ...]:
    """Validate a decoded ``REQUESTS.json`` document (a list of request records).

    Raises :class:`RequestFormatError` naming the record and field at the first problem;
    duplicate ids are refused.
    """
    if not isinstance(data, list):
        raise RequestFormatError(source, "$", "must be a JSON list of request objects")
    requests: list[Request] = []
    seen: set[str] = set()
    for i, rec in enumerate(data):
        req = parse_request(rec, source, f"[{i}]")
        if req.id in seen:
            raise RequestFormatError(source, f"[{i}] (id {req.id!r})", f"duplicate request id {req.id!r}")
        seen.add(req.id)
        requests.append(req)
    return tuple(requests)
