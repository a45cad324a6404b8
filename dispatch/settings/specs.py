"""The table of settings: for each, its TOML key, command-line option, environment variables,
how its text is checked and what it means. The loader, the argument group and the documentation
table (docs/configuration.md) are all made from :data:`SETTINGS`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from fleet.clock import clock_anchor, clock_speed, clock_start
from fleet.connection import BrokerAddress, check_client_id
from fleet.description import check_timezone
from fleet.signing import SECRET_ENV
from fleet.topics import Topics

Value = str | int | float | bool | datetime
"""What a setting's raw value can be: text (command line, environment) or a TOML value."""

RUN: Final = "run"
SERVE: Final = "serve"
BOTH: Final = frozenset({RUN, SERVE})
ENV_PREFIX: Final = "DRONEDISPATCH_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_AREA_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _number(value: Value) -> float:
    if isinstance(value, bool | datetime):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def positive(value: Value) -> float:
    """A finite number > 0."""
    number = _number(value)
    if number <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return number


def not_negative(value: Value) -> float:
    """A finite number >= 0."""
    number = _number(value)
    if number < 0:
        raise ValueError(f"must be >= 0, got {value!r}")
    return number


def positive_int(value: Value) -> int:
    """A whole number >= 1."""
    number = _number(value)
    if number != int(number) or number < 1:
        raise ValueError(f"must be a whole number >= 1, got {value!r}")
    return int(number)


def port(value: Value) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    number = _number(value)
    if number != int(number) or not 0 <= number <= 65535:
        raise ValueError(f"must be a port number 0-65535, got {value!r}")
    return int(number)


def flag(value: Value) -> bool:
    """A yes/no: a TOML boolean, or 1/true/yes/on, 0/false/no/off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def text(value: Value) -> str:
    """Non-empty text."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {value!r}")
    return value


def broker_url(value: Value) -> str:
    """A broker URL :class:`~fleet.connection.BrokerAddress` accepts."""
    BrokerAddress.parse(text(value))
    return str(value)


def map_style(value: Value) -> str:
    """An ``http(s)`` URL: a MapLibre style document, or a raster tile template with ``{z}/{x}/{y}``."""
    url = text(value).strip()
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return url


def topic_prefix(value: Value) -> str:
    """A topic prefix :class:`~fleet.topics.Topics` accepts."""
    return Topics(text(value)).prefix


def client_id(value: Value) -> str:
    """A portable MQTT client id."""
    return check_client_id(text(value))


def area_name(value: Value) -> str:
    """A service area's name (letters, digits, ``_ . -``): it names a lock and an MQTT group."""
    name = text(value)
    if not _AREA_NAME.match(name):
        raise ValueError(
            f"a service area is named with 1-64 letters, digits, _ . - (got {name!r}); the directory"
            " 'serve' seeds an empty database from is --seed-dir"
        )
    return name


def store_url(value: Value) -> str:
    """A store URL the store accepts."""
    from dispatch.store.engine import resolve_url  # the store's URL rules; heavy, only when given

    resolve_url(text(value))
    return str(value)


def rate_limit(value: Value) -> str:
    """An API rate limit (``20/s``, ``20/s burst 40``)."""
    from dispatch.api.rate_limit import RateLimit  # imports the API: only when given

    RateLimit.parse(text(value))
    return str(value)


def report_target(value: Value) -> str:
    """An ``http(s)`` URL, or ``file:PATH`` (a JSONL file): where authority reports go."""
    target = text(value).strip()
    if target.startswith("file:") and len(target) > len("file:"):
        return target
    if not re.match(r"^https?://[^\s/]+", target):
        raise ValueError(f"expected an http:// or https:// URL or file:PATH, got {value!r}")
    return target


def weather_source(value: Value) -> str:
    """A forecast file's path, or an ``http(s)`` URL."""
    source = text(value).strip()
    if "://" in source and not re.match(r"^https?://[^\s/]+", source):
        raise ValueError(f"expected a file path or an http:// or https:// URL, got {value!r}")
    return source


def unknown_weather(value: Value) -> str:
    """``hold`` or ``fly``: what unknown weather means."""
    if value not in ("hold", "fly"):
        raise ValueError(f"expected hold or fly, got {value!r}")
    return str(value)


def approval_mode(value: Value) -> str:
    """``off`` or ``required``: whether flights into controlled airspace wait for the authority."""
    if value not in ("off", "required"):
        raise ValueError(f"expected off or required, got {value!r}")
    return str(value)


def approval_timeout_policy(value: Value) -> str:
    """``deny`` or ``retry``: what no answer to an approval request means."""
    if value not in ("deny", "retry"):
        raise ValueError(f"expected deny or retry, got {value!r}")
    return str(value)


def altitude(value: Value) -> float:
    """A finite number of metres (may be negative)."""
    return _number(value)


def directory(value: Value) -> Path:
    """An existing directory."""
    path = Path(text(value))
    if not path.is_dir():
        raise ValueError(f"no such directory: {str(path)!r}")
    return path


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: ``key`` is ``section.field`` of :class:`~dispatch.settings.model.Settings` and
    its TOML key. ``option`` None: file and environment only. ``external``: the option is added by
    a shared helper of fleet/ (TLS, fleet secret, clock), not by the settings' argument group."""

    key: str
    option: str | None
    convert: Callable[[Value], object]
    meaning: str
    commands: frozenset[str] = BOTH
    env: tuple[str, ...] = ()
    metavar: str | None = None  # None: a flag (no value)
    external: bool = False
    alias: str | None = None  # a short spelling of the option

    @property
    def dest(self) -> str:
        """The argparse destination of the option."""
        assert self.option is not None
        return self.option.lstrip("-").replace("-", "_")

    @property
    def env_names(self) -> tuple[str, ...]:
        """The environment variables, first set wins: the given ones, else ``DRONEDISPATCH_*``."""
        if self.env:
            return self.env
        name = self.option.lstrip("-") if self.option else self.key.replace(".", "_")
        return (ENV_PREFIX + name.replace("-", "_").upper(),)


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        "store.url",
        "--db",
        store_url,
        "the store's URL ([URLs](reference/store.md#configuration)); "
        "unset: `sqlite+aiosqlite:///dronedispatch.db` in the working directory",
        env=("DATABASE_URL", "DRONEDISPATCH_DB"),
        metavar="URL",
    ),
    Setting(
        "store.seed_dir",
        "--seed-dir",
        directory,
        "the service area directory seeded into a database without "
        "a fleet (`fleet.json`, `pads.json`, `zones.geojson`, optional `offices.json`)",
        commands=frozenset({SERVE}),
        metavar="DIR",
    ),
    Setting(
        "link.broker",
        "--broker",
        broker_url,
        "`mqtt://[user[:password]@]host[:port]` or `mqtts://...` (TLS, port 8883)",
        env=("MQTT_URL",),
        metavar="URL",
    ),
    Setting(
        "link.tls_ca",
        "--tls-ca",
        text,
        "trust only this CA (PEM) for an `mqtts://` broker (unset: the system's CAs)",
        external=True,
        metavar="PEM",
    ),
    Setting(
        "link.tls_cert",
        "--tls-cert",
        text,
        "client certificate (PEM) for a broker that requires one",
        external=True,
        metavar="PEM",
    ),
    Setting(
        "link.tls_key",
        "--tls-key",
        text,
        "the private key of the client certificate, if not in the same file",
        external=True,
        metavar="PEM",
    ),
    Setting("link.prefix", "--prefix", topic_prefix, "topic prefix", env=("MQTT_PREFIX",), metavar="P"),
    Setting(
        "link.client_id",
        "--client-id",
        client_id,
        "MQTT client id; keep it stable (the broker keeps the "
        "session and the drones' events while the dispatcher is down), the same for every process of an area",
        metavar="ID",
    ),
    Setting(
        "link.fleet_secret_file",
        "--fleet-secret",
        text,
        "the fleet secret file: drone messages count only when signed "
        "([signatures](hardening.md#drones-sign-what-they-report))",
        env=(SECRET_ENV,),
        external=True,
        metavar="FILE",
    ),
    Setting(
        "link.insecure_unsigned_fleet",
        "--insecure-unsigned-fleet",
        flag,
        "INSECURE: run without a fleet secret; drone messages are neither signed nor checked",
        external=True,
    ),
    Setting(
        "link.max_telemetry_age_s", None, positive, "telemetry older than this (clock seconds) is ignored"
    ),
    Setting(
        "dispatcher.plan_seconds",
        "--plan-seconds",
        positive,
        "solver time per planning round (real seconds)",
        metavar="S",
    ),
    Setting(
        "dispatcher.tick_s",
        "--tick-s",
        positive,
        "periodic planning round and zone scan (clock seconds)",
        metavar="S",
    ),
    Setting(
        "dispatcher.silent_after_s",
        "--silent-after-s",
        positive,
        "a flying drone unheard this long (clock "
        "seconds) is silent: its work is re-planned and it is told to return",
        metavar="S",
    ),
    Setting(
        "dispatcher.commit_window_s",
        None,
        positive,
        "missions that start within this (clock seconds) are "
        "commanded at once; later ones wait for a later round",
    ),
    Setting(
        "dispatcher.start_lead_s",
        None,
        positive,
        "a committed trip departs at least this long (clock seconds) after its commit, so that "
        "its upload is acknowledged and its start received before its planned take-off (the "
        "start is sent this long before it); on a fast clock at least half a wall second, and at "
        "least twice the slowest of the last 20 starts to reach a drone. A held drone's resume "
        "names a moment at least this long ahead (or twice the slowest of the last 20 resumes)",
    ),
    Setting(
        "dispatcher.timing_margin_s",
        None,
        positive,
        "how early or late (clock seconds) a drone may be at take-off and still fly inside its "
        "operational intent; every volume's time window is widened by it (plus 1 % of the time "
        "since take-off); on a fast clock at least a tenth of a wall second (wall-clock delays "
        "last speed times longer in clock time)",
    ),
    Setting("dispatcher.horizon_s", None, positive, "how far ahead (clock seconds) zones count for planning"),
    Setting(
        "dispatcher.round_requests", None, positive_int, "requests planned per round, earliest deadline first"
    ),
    Setting("dispatcher.actor", None, text, "the dispatcher's name in the audit log"),
    Setting(
        "dispatcher.reroute_hold_attempts",
        None,
        positive_int,
        "holds a zone re-route of a flying drone tries before giving up",
    ),
    Setting(
        "dispatcher.ground_reroute_wait_s",
        None,
        positive_int,
        "clock seconds a re-route waits for a grounded drone's upload ack",
    ),
    Setting(
        "dispatcher.return_attempts",
        None,
        positive_int,
        "return-to-port commands tried while a drone refuses them",
    ),
    Setting(
        "dispatcher.command_expiry_s",
        None,
        positive,
        "validity (clock seconds) of every command sent to a drone",
    ),
    Setting(
        "dispatcher.conformance_return_after_s",
        None,
        positive,
        "how long (clock seconds) a flight off its route may stay outside its operational intent "
        "before it is given up and its drone sent to the nearest port (one only late or early on "
        "its route is re-timed instead); meanwhile the flights whose intents meet "
        "the column around it are held ([conformance](reference/planner.md#conformance-monitoring))",
    ),
    Setting(
        "leadership.area",
        "--area",
        area_name,
        "the service area this process leads (one leader per area)",
        metavar="NAME",
    ),
    Setting(
        "leadership.share_telemetry",
        "--share-telemetry",
        flag,
        "PostgreSQL only: split the telemetry among "
        "the area's processes and share it through the fleet view "
        "([scale-out](deployment.md#telemetry-split-shared-through-the-store))",
        commands=frozenset({RUN}),
    ),
    Setting(
        "clock.speed",
        "--clock-speed",
        clock_speed,
        "simulated seconds per real second",
        external=True,
        metavar="S",
    ),
    Setting(
        "clock.start",
        "--clock-start",
        clock_start,
        "simulated time at the anchor (ISO 8601 with a zone offset)",
        external=True,
        metavar="ISO_TIME",
    ),
    Setting(
        "clock.anchor",
        "--clock-anchor",
        clock_anchor,
        "Unix time at which the clock read the start; give "
        "the three clock settings together (unset: real time)",
        external=True,
        metavar="UNIX_TIME",
    ),
    Setting(
        "api.host", "--host", text, "address the API listens on", commands=frozenset({SERVE}), metavar="H"
    ),
    Setting(
        "api.port",
        "--port",
        port,
        "port the API listens on (`0`: any free port)",
        commands=frozenset({SERVE}),
        metavar="P",
    ),
    Setting(
        "api.rate_limit",
        "--rate-limit",
        rate_limit,
        "token bucket per API key (`20/s`, `20/s burst 40`)",
        env=("API_RATE_LIMIT",),
        commands=frozenset({SERVE}),
        metavar="R",
    ),
    Setting(
        "api.timezone",
        "--timezone",
        check_timezone,
        "the area's IANA time zone for the times people read "
        "(unset: the `timezone` of the seed directory's `fleet.json`, else `UTC`)",
        commands=frozenset({SERVE}),
        metavar="ZONE",
    ),
    Setting(
        "api.map_style",
        "--map-style",
        map_style,
        "the dashboard map's background: a MapLibre style URL or a raster tile URL with `{z}/{x}/{y}` "
        "(unset: a plain background, nothing fetched; [operators](operators.md#the-map))",
        commands=frozenset({SERVE}),
        metavar="URL",
    ),
    Setting(
        "authority.report",
        "--authority-report",
        report_target,
        "report flight plans, 1 Hz positions and closures to the airspace authority: an http(s) URL "
        "(POST, JSON) or `file:PATH` (JSON lines); unset: no reports ([authority](authority.md))",
        metavar="URL",
    ),
    Setting(
        "authority.backlog",
        "--authority-backlog",
        text,
        "the SQLite file of the reports not yet delivered (kept across restarts and outages)",
        metavar="PATH",
    ),
    Setting(
        "authority.backlog_max",
        None,
        positive_int,
        "reports the backlog keeps; past it the oldest position reports are dropped (and counted), "
        "flight plans and closures never",
    ),
    Setting(
        "authority.operator",
        "--authority-operator",
        text,
        "the operator's id at the authority, in every flight plan",
        metavar="ID",
    ),
    Setting(
        "authority.takeoff_altitude_m",
        None,
        altitude,
        "the area's ground altitude (metres above sea level): reported altitudes are heights above "
        "take-off plus this",
    ),
    Setting(
        "authority.approval",
        "--authority-approval",
        approval_mode,
        "`required`: a flight into controlled airspace (a `controlled` zone, above the ceiling) takes "
        "off only once the authority approves it (needs an http(s) `--authority-report`); `off`: "
        "controlled zones are avoided like no-fly zones ([authority](authority.md#approval-mode))",
        metavar="MODE",
    ),
    Setting(
        "authority.approval_timeout_s",
        None,
        positive,
        "wall seconds an approval is waited for; then the flight does not take off",
    ),
    Setting(
        "authority.approval_poll_s",
        None,
        positive,
        "wall seconds between asks while the authority's answer is `pending`",
    ),
    Setting(
        "authority.approval_on_timeout",
        None,
        approval_timeout_policy,
        "no answer in time: `deny` (the requests are planned around the controlled airspace, as "
        "after a denial) or `retry` (planned again as before, asking again)",
    ),
    Setting(
        "weather.source",
        "--weather",
        weather_source,
        "weather go/no-go from an hourly forecast in Open-Meteo's JSON format: a file or an http(s) "
        "URL, re-read periodically; unset: the weather is not checked ([weather](weather.md))",
        metavar="PATH_OR_URL",
    ),
    Setting(
        "weather.refresh_s",
        None,
        positive,
        "wall seconds between reads of the weather source",
    ),
    Setting(
        "weather.max_age_s",
        None,
        positive,
        "wall seconds a forecast is still used after its last good read; then the weather is unknown",
    ),
    Setting(
        "weather.unknown",
        "--weather-unknown",
        unknown_weather,
        "what unknown weather (source unreadable or stale, hours not covered) means: `hold` (no "
        "take-off) or `fly`",
        metavar="POLICY",
    ),
    Setting(
        "terrain.dem",
        "--terrain",
        text,
        "a terrain model (GeoTIFF DEM on EPSG:4326, metres above sea level): cruise altitudes become "
        "true heights over it and missions are flown in the `terrain` altitude frame; unset: flat "
        "ground ([heights and terrain](terrain.md))",
        metavar="DEM.tif",
    ),
    Setting(
        "terrain.clearance_m",
        None,
        not_negative,
        "the least true height along a leg over the terrain model",
    ),
    Setting(
        "terrain.ceiling_m",
        None,
        positive,
        "the most true height along a leg (controlled airspace begins above it: in approval mode a "
        "flight above it asks the authority)",
    ),
    Setting(
        "logging.verbose",
        "--verbose",
        flag,
        "log at INFO level: every request state change; `serve` also one access line per HTTP call",
        alias="-v",
    ),
    Setting(
        "logging.stats_every",
        "--stats-every",
        not_negative,
        "seconds between `stats ...` lines (`0`: none)",
        commands=frozenset({RUN}),
        metavar="S",
    ),
)

BY_KEY: Final = {s.key: s for s in SETTINGS}
