"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from dispatch.store.errors import InvalidInput


def check_storable(name: str, value: datetime | None) -> None:
    """:class:`InvalidInput` unless ``value`` (if any) is timezone-aware and has a UTC time
    (``0001-01-01T00:00+14:00`` has none): what :class:`UTCDateTime` stores, checked before the
    database is asked (where it failed as an error of the database)."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware, got {value.isoformat()}")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} {value.isoformat()} has no UTC time (out of range)") from None


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone support, so the value is stored as
    naive UTC text and the UTC zone is put back on the way out. Naive datetimes are refused on
    the way in: guessing their zone would silently shift times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Check a value is tz-aware and normalise it to UTC."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: store timezone-aware times only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return a tz-aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
