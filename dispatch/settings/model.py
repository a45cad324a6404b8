"""The service's settings as one frozen, typed object: what ``run`` and ``serve`` run with.

Built by :func:`dispatch.settings.loader.load_settings` from the command line, the environment and
an optional TOML file; every value here has been checked. The defaults are today's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dispatch.sample_area import SAMPLE_DIR
from dispatch.service.leadership import DEFAULT_AREA
from fleet.clock import Clock, shared_clock
from fleet.connection import BrokerAddress
from fleet.signing import FleetSecret
from fleet.topics import DEFAULT_PREFIX


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    """How the dispatcher plans and follows the fleet (clock seconds unless named otherwise)."""

    plan_seconds: float = 0.5  # solver time per planning round (real seconds)
    tick_s: float = 30.0  # periodic planning round and zone scan
    silent_after_s: float = 90.0  # a flying drone unheard this long is silent
    commit_window_s: float = 120.0  # missions starting within this window are commanded now
    start_lead_s: float = 5.0  # a committed trip departs at least this long after its commit
    timing_margin_s: float = 5.0  # operational intents' timing uncertainty at take-off
    horizon_s: float = 7200.0  # how far ahead zones count for planning
    round_requests: int = 100  # requests per planning round, earliest deadline first
    actor: str = "dispatcher"  # the audit log's name for the dispatcher
    reroute_hold_attempts: int = 20  # holds tried by a zone re-route of a flying drone
    ground_reroute_wait_s: int = 120  # 1-second waits for a grounded drone's upload ack
    return_attempts: int = 20  # return-to-port commands tried while a drone refuses
    command_expiry_s: float = 7200.0  # validity of every command sent to a drone
    conformance_return_after_s: float = 60.0  # a flight off its route and outside this long goes home


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """The dispatcher's MQTT link to the fleet."""

    broker: str = "mqtt://127.0.0.1:1883"
    prefix: str = DEFAULT_PREFIX
    client_id: str = "dispatcher"
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    fleet_secret_file: str | None = None
    insecure_unsigned_fleet: bool = False
    max_telemetry_age_s: float = 60.0
    # Loaded from fleet_secret_file when the settings are loaded (None only with the opt-out).
    fleet_secret: FleetSecret | None = field(default=None, repr=False, compare=False)

    def address(self) -> BrokerAddress:
        """The broker's address with the TLS files."""
        return BrokerAddress.parse(
            self.broker, ca_file=self.tls_ca, cert_file=self.tls_cert, key_file=self.tls_key
        )


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The HTTP API and dashboard (``serve`` only)."""

    host: str = "127.0.0.1"
    port: int = 8000
    rate_limit: str = "20/s burst 40"
    timezone: str | None = None  # None: the seed directory's fleet.json names it, else UTC
    map_style: str | None = None  # the dashboard map's style or tile URL; None: a plain background


@dataclass(frozen=True, slots=True)
class LeadershipSettings:
    """Which service area this process leads, and how its processes share the telemetry."""

    area: str = DEFAULT_AREA
    share_telemetry: bool = False


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The database, and what ``serve`` seeds into an empty one."""

    url: str | None = None  # None: the store's default (a SQLite file in the working directory)
    seed_dir: Path = SAMPLE_DIR


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """Simulated time shared between processes (all three given) or real time (none)."""

    speed: float | None = None
    start: datetime | None = None
    anchor: float | None = None

    def clock(self) -> Clock:
        """The clock these settings describe."""
        return shared_clock(self.speed, self.start, self.anchor)


@dataclass(frozen=True, slots=True)
class AuthoritySettings:
    """Reporting flights to the airspace authority (docs/authority.md); off while ``report`` is None."""

    report: str | None = None  # an http(s) URL the reports are POSTed to, or file:PATH (JSONL)
    backlog: str = "authority-backlog.sqlite"  # the undelivered reports, in the working directory
    backlog_max: int = 100_000  # reports kept; past it the oldest positions are dropped
    operator: str = "dronedispatch"  # the operator's id at the authority
    takeoff_altitude_m: float = 0.0  # the area's ground altitude above sea level (for altitude_dm)
    approval: str = "off"  # required: flights into controlled airspace take off only once approved
    approval_timeout_s: float = 60.0  # wall seconds an approval is waited for
    approval_poll_s: float = 1.0  # wall seconds between asks while the answer is pending
    approval_on_timeout: str = "deny"  # no answer in time: deny (avoid the airspace) or retry


@dataclass(frozen=True, slots=True)
class WeatherSettings:
    """Weather go/no-go (docs/weather.md); off while ``source`` is None."""

    source: str | None = None  # a file of Open-Meteo hourly JSON, or an http(s) URL answering it
    refresh_s: float = 600.0  # wall seconds between reads of the source
    max_age_s: float = 10800.0  # wall seconds a forecast is used after its last good read
    unknown: str = "hold"  # the area's policy when the weather is unknown: hold or fly


@dataclass(frozen=True, slots=True)
class TerrainSettings:
    """True heights over a terrain model (docs/terrain.md); flat ground while ``dem`` is None."""

    dem: str | None = None  # a GeoTIFF DEM on EPSG:4326, metres above sea level
    clearance_m: float = 30.0  # the least true height along a leg
    ceiling_m: float = 120.0  # the most true height (controlled airspace above)


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """What the process reports."""

    verbose: bool = False
    stats_every: float = 10.0  # seconds between ``stats`` lines of ``run`` (0: none)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service runs with."""

    dispatcher: DispatcherSettings = field(default_factory=DispatcherSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    leadership: LeadershipSettings = field(default_factory=LeadershipSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    authority: AuthoritySettings = field(default_factory=AuthoritySettings)
    weather: WeatherSettings = field(default_factory=WeatherSettings)
    terrain: TerrainSettings = field(default_factory=TerrainSettings)
