"""What the API runs on: the store, the running dispatcher, its clock, and per-process state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dispatch.api.rate_limit import RateLimit, RateLimiter
from dispatch.authority.reporter import AuthorityReporter
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.live_feed import LiveFeed
from dispatch.store import Store
from fleet.clock import Clock
from fleet.description import DEFAULT_TIMEZONE, check_timezone

API_PREFIX = "/api/v1"
"""Where the API routes live."""

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
"""Where the dashboard's static files live (served at ``/dashboard`` when the directory exists)."""


@dataclass
class ApiContext:
    """Everything a request handler needs. Build it around an already started dispatcher.

    ``clock`` defaults to the dispatcher's; ``feed`` (the live stream and the flown tracks) is
    created here and started with the app.
    """

    store: Store
    dispatcher: Dispatcher
    clock: Clock | None = None
    rate_limit: RateLimit = field(default_factory=RateLimit)
    dashboard_dir: Path | None = DASHBOARD_DIR
    timezone: str = DEFAULT_TIMEZONE  # the area's IANA time zone (checked), for people reading times
    map_style: str | None = None  # the dashboard map's style or raster tile URL (None: plain background)
    authority: AuthorityReporter | None = None  # the authority adapter, when reports are on
    feed: LiveFeed = field(init=False)
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        if self.clock is None:
            self.clock = self.dispatcher.clock
        self.feed = LiveFeed(self.dispatcher)
        self.limiter = RateLimiter(self.rate_limit)

    @property
    def now_clock(self) -> Clock:
        """The clock (never None after construction)."""
        assert self.clock is not None
        return self.clock


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, from its API key."""

    key_id: str
    role: str  # office | operator | admin
    office_id: str | None

    @property
    def actor(self) -> str:
        """How the audit chain names the caller: ``office:<id>/key:<key>`` or ``<role>/key:<key>``."""
        who = f"office:{self.office_id}" if self.role == "office" else self.role
        return f"{who}/key:{self.key_id}"

    @property
    def is_staff(self) -> bool:
        """Operators and admins (they see every office's requests, never the codes)."""
        return self.role in ("operator", "admin")
