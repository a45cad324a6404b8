"""The persistent store: SQLAlchemy 2 async models, migrations on open, typed repositories.

Open it with :func:`open_store`; see :class:`Store` for the repositories.
"""

from dispatch.store.engine import DEFAULT_URL, URL_ENVS, StoreConfigError
from dispatch.store.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreError
from dispatch.store.store import Store, open_store
from dispatch.store.views import (
    ApiKeyView,
    AuditEntry,
    CommandView,
    CreatedRequest,
    FlightView,
    Intake,
    LegView,
    NewApiKey,
    NewFlight,
    NewLeg,
    NewRequest,
    OfficeView,
    Place,
    RecordedCommand,
    RequestCodes,
    RequestTimeline,
    RequestView,
    SeedSummary,
    ZoneView,
)

__all__ = [
    "DEFAULT_URL",
    "URL_ENVS",
    "ApiKeyView",
    "AuditEntry",
    "CommandView",
    "Conflict",
    "CreatedRequest",
    "FlightView",
    "Forbidden",
    "Intake",
    "InvalidInput",
    "LegView",
    "NewApiKey",
    "NewFlight",
    "NewLeg",
    "NewRequest",
    "NotFound",
    "OfficeView",
    "Place",
    "RecordedCommand",
    "RequestCodes",
    "RequestTimeline",
    "RequestView",
    "SeedSummary",
    "Store",
    "StoreConfigError",
    "StoreError",
    "ZoneView",
    "open_store",
]
