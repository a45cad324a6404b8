"""The fleet description: drone models with their energy model, ports and drones.

This is the one definition of the ``FLEET.json`` format, shared as pure data by the planner
(``routing``), the simulator and the dispatcher. It does no I/O beyond :func:`load_fleet`, which
reads a file and validates it; everything else works on plain dicts and frozen dataclasses.

``FLEET.json``::

    {"models": {"NAME": {"cruise_speed_mps": 15, "cruise_altitude_m": 120, "max_payload_kg": 2.5,
                         "battery_wh": 500, "reserve_fraction": 0.2, "wh_per_km": 12,
                         "wh_per_km_per_kg": 1.5, "service_s": 60, "turnaround_s": 300}},
     "ports": [{"id": "P1", "lon": 114.39, "lat": 36.10,
                "drones": [{"id": "D1", "model": "NAME"}]}]}

A drone may also carry ``"energy_wh"`` (battery state at the start, default: full). Optional,
for strategic deconfliction (``routing.deconflict``): a model's ``"cruise_altitudes_m"``, the
cruise layers it may fly (a list that includes ``cruise_altitude_m``, the preferred one; default:
only ``cruise_altitude_m``), and a port's ``"landing_spots"`` (how many drones may land or take
off there at once, an integer >= 1; default 1). Optional, for weather go/no-go, what a model is
rated for (:class:`WeatherLimits`, defaults there): ``"max_wind_mps"``, ``"max_gust_mps"``,
``"max_precip_mm_h"``, ``"min_temp_c"``, ``"max_temp_c"``. The area may
name its time zone, ``"timezone": "Asia/Shanghai"`` (an IANA name; default ``UTC``): the dashboard
shows times in it. Optional, for terrain (``airspace.terrain``): the area's DEM, ``"terrain":
"terrain.tif"`` (a GeoTIFF, relative to the fleet file), its ``"clearance_m"`` (minimum true height
along a leg, default 30) and ``"ceiling_m"`` (maximum true height, default 120), and per model
``"climb_rate_mps"`` (default 3) and ``"wh_per_100m_climb"`` (default 3).
"""

from __future__ import annotations

import json
import math
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEZONE = "UTC"
DEFAULT_LANDING_SPOTS = 1
# Terrain following (airspace.terrain): 3 m/s at 15 m/s is a grade of 0.2 (11°); lifting a 5 kg
# drone 100 m is 1.4 Wh of potential energy, about 3 Wh of battery at 45 % efficiency.
DEFAULT_CLIMB_RATE_MPS = 3.0
DEFAULT_WH_PER_100M_CLIMB = 3.0
TERRAIN_MODEL_FIELDS: tuple[str, ...] = ("climb_rate_mps", "wh_per_100m_climb")
DEFAULT_CLEARANCE_M = 30.0
DEFAULT_CEILING_M = 120.0

MODEL_FIELDS: tuple[str, ...] = (
    "cruise_speed_mps",
    "cruise_altitude_m",
    "max_payload_kg",
    "battery_wh",
    "reserve_fraction",
    "wh_per_km",
    "wh_per_km_per_kg",
    "service_s",
    "turnaround_s",
)


TAIL_WIND_FLOOR = 0.9  # a tail wind saves at most 10 % (routing.wind_energy says why)


def air_factor(ux: float, uy: float, wind_xy: tuple[float, float], speed_mps: float) -> float:
    """How much more (or less) energy a metre of ground track costs in a wind: flying in
    direction (``ux``, ``uy``: unit vector east, north) at ground speed ``speed_mps`` in a wind
    ``wind_xy`` (east, north, m/s), ``max(TAIL_WIND_FLOOR, (airspeed / speed)²)``. The one law
    the planner (:mod:`routing.wind_energy`, where the reasons are given) and the simulator use."""
    v = speed_mps
    air2 = (v * ux - wind_xy[0]) ** 2 + (v * uy - wind_xy[1]) ** 2
    return max(TAIL_WIND_FLOOR, air2 / (v * v))


@dataclass(frozen=True, slots=True)
class WeatherLimits:
    """The weather a drone model is rated to fly in; beyond any of these it does not take off.

    The defaults are those of common light delivery drones: sustained wind up to 12 m/s at any
    height flown, gusts up to 15 m/s, no more than drizzle (0.5 mm/h), -10 to 40 °C.
    """

    max_wind_mps: float = 12.0
    max_gust_mps: float = 15.0
    max_precip_mm_h: float = 0.5
    min_temp_c: float = -10.0
    max_temp_c: float = 40.0

    def to_dict(self) -> dict[str, float]:
        """The fields that differ from the defaults, as in FLEET.json."""
        default = WeatherLimits()
        return {f: getattr(self, f) for f in WEATHER_FIELDS if getattr(self, f) != getattr(default, f)}


WEATHER_FIELDS: tuple[str, ...] = (
    "max_wind_mps",
    "max_gust_mps",
    "max_precip_mm_h",
    "min_temp_c",
    "max_temp_c",
)


class FleetFormatError(ValueError):
    """A fleet description is invalid. The message names the source, the record and the field."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source = source
        self.where = where
        self.problem = problem
        super().__init__(f"{source}: {where}: {problem}")


@dataclass(frozen=True, slots=True)
class DroneModel:
    """Performance and energy model of one type of drone."""

    name: str
    cruise_speed_mps: float
    cruise_altitude_m: float
    max_payload_kg: float
    battery_wh: float
    reserve_fraction: float
    wh_per_km: float
    wh_per_km_per_kg: float
    service_s: float
    turnaround_s: float
    cruise_altitudes_m: tuple[float, ...] = ()  # allowed cruise layers; (): only cruise_altitude_m
    weather: WeatherLimits = WeatherLimits()
    climb_rate_mps: float = DEFAULT_CLIMB_RATE_MPS  # vertical speed it keeps while cruising over terrain
    wh_per_100m_climb: float = DEFAULT_WH_PER_100M_CLIMB  # energy of lifting itself 100 m along a leg

    @property
    def grade(self) -> float:
        """The steepest climb or descent along a leg, metres per metre flown (climb rate / speed)."""
        return self.climb_rate_mps / self.cruise_speed_mps

    def climb_energy_wh(self, climb_m: float) -> float:
        """Energy of climbing ``climb_m`` metres along legs over terrain (descents give none back);
        the take-off and landing at pads stay inside the per-km figures, as before terrain."""
        return max(0.0, climb_m) / 100.0 * self.wh_per_100m_climb

    @property
    def layers(self) -> tuple[float, ...]:
        """The cruise altitudes this model may fly, sorted (at least ``cruise_altitude_m``)."""
        return tuple(sorted(self.cruise_altitudes_m)) or (self.cruise_altitude_m,)

    @property
    def usable_wh(self) -> float:
        """Energy a trip may use: the battery less the reserve that must remain on landing."""
        return self.battery_wh * (1.0 - self.reserve_fraction)

    def leg_energy_wh(self, distance_m: float, payload_kg: float) -> float:
        """Energy of a leg: km x (wh_per_km + wh_per_km_per_kg x payload carried)."""
        return distance_m / 1000.0 * (self.wh_per_km + self.wh_per_km_per_kg * payload_kg)

    def leg_time_s(self, distance_m: float) -> float:
        """Flight time of a leg at cruise speed."""
        return distance_m / self.cruise_speed_mps


@dataclass(frozen=True, slots=True)
class Drone:
    """One airframe, based at a port."""

    id: str
    model: str
    port: str
    energy_wh: float | None = None  # None: full battery


@dataclass(frozen=True, slots=True)
class Port:
    """A drone port (depot): where trips start and end and batteries are swapped."""

    id: str
    lon: float
    lat: float
    landing_spots: int = DEFAULT_LANDING_SPOTS  # drones landing or taking off at once


@dataclass(frozen=True, slots=True)
class Fleet:
    """Models, ports and drones of one service area."""

    models: dict[str, DroneModel]
    ports: tuple[Port, ...]
    drones: tuple[Drone, ...]
    timezone: str = DEFAULT_TIMEZONE  # the area's IANA time zone
    terrain: str | None = None  # the area's DEM (GeoTIFF), as written: relative to FLEET.json
    clearance_m: float = DEFAULT_CLEARANCE_M  # minimum true height over the ground along a leg
    ceiling_m: float = DEFAULT_CEILING_M  # maximum true height (controlled airspace above)

    def port(self, port_id: str) -> Port:
        """The port with this id (KeyError if unknown)."""
        for p in self.ports:
            if p.id == port_id:
                return p
        raise KeyError(port_id)

    def model_of(self, drone: Drone) -> DroneModel:
        """The model of a drone."""
        return self.models[drone.model]

    def to_dict(self) -> dict[str, Any]:
        """The ``FLEET.json`` form of this fleet."""
        models: dict[str, dict[str, Any]] = {}
        for name, m in self.models.items():
            models[name] = {f: getattr(m, f) for f in MODEL_FIELDS}
            if m.cruise_altitudes_m:
                models[name]["cruise_altitudes_m"] = list(m.cruise_altitudes_m)
            models[name].update(model_options(m))
        ports = []
        for p in self.ports:
            drones = []
            for d in self.drones:
                if d.port != p.id:
                    continue
                rec: dict[str, Any] = {"id": d.id, "model": d.model}
                if d.energy_wh is not None:
                    rec["energy_wh"] = d.energy_wh
                drones.append(rec)
            prec: dict[str, Any] = {"id": p.id, "lon": p.lon, "lat": p.lat, "drones": drones}
            if p.landing_spots != DEFAULT_LANDING_SPOTS:
                prec["landing_spots"] = p.landing_spots
            ports.append(prec)
        doc: dict[str, Any] = {"models": models, "ports": ports}
        if self.timezone != DEFAULT_TIMEZONE:
            doc["timezone"] = self.timezone
        if self.terrain is not None:
            doc["terrain"] = self.terrain
        if self.clearance_m != DEFAULT_CLEARANCE_M:
            doc["clearance_m"] = self.clearance_m
        if self.ceiling_m != DEFAULT_CEILING_M:
            doc["ceiling_m"] = self.ceiling_m
        return doc


def model_options(m: DroneModel) -> dict[str, float]:
    """A model's optional fields (weather limits, terrain following) that differ from their
    defaults, as FLEET.json writes them."""
    options = m.weather.to_dict()
    if m.climb_rate_mps != DEFAULT_CLIMB_RATE_MPS:
        options["climb_rate_mps"] = m.climb_rate_mps
    if m.wh_per_100m_climb != DEFAULT_WH_PER_100M_CLIMB:
        options["wh_per_100m_climb"] = m.wh_per_100m_climb
    return options


def check_timezone(name: object) -> str:
    """``name`` if it is an IANA time zone this system knows (``Asia/Shanghai``, ``UTC``); else ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a time zone is an IANA name such as 'Asia/Shanghai', got {name!r}")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: give an IANA name such as 'Asia/Shanghai'") from None
    return name


def _number(source: str, where: str, rec: dict[str, Any], field: str) -> float:
    if field not in rec:
        raise FleetFormatError(source, where, f"missing field {field!r}")
    value = rec[field]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FleetFormatError(source, where, f"field {field!r} must be a finite number, got {value!r}")
    return float(value)


def _check_unknown(source: str, where: str, rec: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(rec) - allowed)
    if unknown:
        raise FleetFormatError(source, where, f"unknown field(s) {', '.join(map(repr, unknown))}")


def _parse_model(source: str, name: str, rec: Any) -> DroneModel:
    where = f"models.{name}"
    if not isinstance(rec, dict):
        raise FleetFormatError(source, where, "must be an object")
    _check_unknown(
        source, where, rec, {*MODEL_FIELDS, *WEATHER_FIELDS, *TERRAIN_MODEL_FIELDS, "cruise_altitudes_m"}
    )
    values = {f: _number(source, where, rec, f) for f in MODEL_FIELDS}
    positive = ("cruise_speed_mps", "cruise_altitude_m", "max_payload_kg", "battery_wh", "wh_per_km")
    for f in positive:
        if values[f] <= 0:
            raise FleetFormatError(source, where, f"field {f!r} must be > 0, got {values[f]!r}")
    for f in ("wh_per_km_per_kg", "service_s", "turnaround_s"):
        if values[f] < 0:
            raise FleetFormatError(source, where, f"field {f!r} must be >= 0, got {values[f]!r}")
    if not 0 <= values["reserve_fraction"] < 1:
        raise FleetFormatError(
            source, where, f"field 'reserve_fraction' must be in [0, 1), got {values['reserve_fraction']!r}"
        )
    layers = _layers(source, where, rec, values)
    climb_rate = _optional(source, where, rec, "climb_rate_mps", DEFAULT_CLIMB_RATE_MPS, positive=True)
    climb_wh = _optional(source, where, rec, "wh_per_100m_climb", DEFAULT_WH_PER_100M_CLIMB, positive=False)
    return DroneModel(
        name=name,
        **values,
        cruise_altitudes_m=layers,
        weather=_weather(source, where, rec),
        climb_rate_mps=climb_rate,
        wh_per_100m_climb=climb_wh,
    )


def _optional(
    source: str, where: str, rec: dict[str, Any], field: str, default: float, *, positive: bool
) -> float:
    """An optional number (> 0 if ``positive``, else >= 0), ``default`` when absent."""
    if field not in rec:
        return default
    value = _number(source, where, rec, field)
    if value < 0 or (positive and value == 0):
        raise FleetFormatError(
            source, where, f"field {field!r} must be {'>' if positive else '>='} 0, got {value!r}"
        )
    return value


def _weather(source: str, where: str, rec: dict[str, Any]) -> WeatherLimits:
    """The optional weather limits of a model record (the defaults of :class:`WeatherLimits`)."""
    given = {f: _number(source, where, rec, f) for f in WEATHER_FIELDS if f in rec}
    limits = WeatherLimits(**given)
    for f in ("max_wind_mps", "max_gust_mps"):
        if getattr(limits, f) <= 0:
            raise FleetFormatError(source, where, f"field {f!r} must be > 0, got {getattr(limits, f)!r}")
    if limits.max_gust_mps < limits.max_wind_mps:
        raise FleetFormatError(
            source,
            where,
            f"field 'max_gust_mps' ({limits.max_gust_mps}) must be >= max_wind_mps ({limits.max_wind_mps})",
        )
    if limits.max_precip_mm_h < 0:
        raise FleetFormatError(
            source, where, f"field 'max_precip_mm_h' must be >= 0, got {limits.max_precip_mm_h!r}"
        )
    if limits.min_temp_c >= limits.max_temp_c:
        raise FleetFormatError(
            source,
            where,
            f"field 'min_temp_c' ({limits.min_temp_c}) must be below max_temp_c ({limits.max_temp_c})",
        )
    return limits


def _layers(source: str, where: str, rec: dict[str, Any], values: dict[str, float]) -> tuple[float, ...]:
    """The optional ``cruise_altitudes_m``: distinct positive altitudes including ``cruise_altitude_m``."""
    if "cruise_altitudes_m" not in rec:
        return ()
    raw = rec["cruise_altitudes_m"]
    if not isinstance(raw, list) or not raw:
        raise FleetFormatError(
            source, where, "field 'cruise_altitudes_m' must be a non-empty list of numbers"
        )
    layers = [_number(source, where, {"cruise_altitudes_m[]": v}, "cruise_altitudes_m[]") for v in raw]
    if any(a <= 0 for a in layers) or len(set(layers)) != len(layers):
        raise FleetFormatError(
            source, where, f"field 'cruise_altitudes_m' must hold distinct altitudes > 0, got {raw!r}"
        )
    if values["cruise_altitude_m"] not in layers:
        raise FleetFormatError(
            source,
            where,
            f"field 'cruise_altitudes_m' must include cruise_altitude_m={values['cruise_altitude_m']}",
        )
    return tuple(sorted(layers))


def parse_fleet(data: Any, source: str = "FLEET.json") -> Fleet:
    """Validate a decoded ``FLEET.json`` document and build a :class:`Fleet`.

    Raises :class:`FleetFormatError` naming the record and field at the first problem.
    """
    if not isinstance(data, dict):
        raise FleetFormatError(source, "$", "must be a JSON object with 'models' and 'ports'")
    _check_unknown(source, "$", data, {"models", "ports", "timezone", "terrain", "clearance_m", "ceiling_m"})
    terrain = data.get("terrain")
    if terrain is not None and (not isinstance(terrain, str) or not terrain.strip()):
        raise FleetFormatError(
            source, "terrain", f"must name a GeoTIFF file (a non-empty string), got {terrain!r}"
        )
    clearance = _optional(source, "$", data, "clearance_m", DEFAULT_CLEARANCE_M, positive=False)
    ceiling = _optional(source, "$", data, "ceiling_m", DEFAULT_CEILING_M, positive=True)
    if clearance > ceiling:
        raise FleetFormatError(
            source, "$", f"clearance_m ({clearance}) must not exceed ceiling_m ({ceiling})"
        )
    try:
        timezone = check_timezone(data.get("timezone", DEFAULT_TIMEZONE))
    except ValueError as exc:
        raise FleetFormatError(source, "timezone", str(exc)) from None
    raw_models = data.get("models")
    if not isinstance(raw_models, dict) or not raw_models:
        raise FleetFormatError(source, "models", "must be a non-empty object of drone models")
    models = {name: _parse_model(source, name, rec) for name, rec in raw_models.items()}
    raw_ports = data.get("ports")
    if not isinstance(raw_ports, list) or not raw_ports:
        raise FleetFormatError(source, "ports", "must be a non-empty list of ports")
    ports: list[Port] = []
    drones: list[Drone] = []
    seen_ports: set[str] = set()
    seen_drones: set[str] = set()
    for i, prec in enumerate(raw_ports):
        where = f"ports[{i}]"
        if not isinstance(prec, dict):
            raise FleetFormatError(source, where, "must be an object")
        _check_unknown(source, where, prec, {"id", "lon", "lat", "drones", "name", "landing_spots"})
        pid = prec.get("id")
        if not isinstance(pid, str) or not pid:
            raise FleetFormatError(source, where, "field 'id' must be a non-empty string")
        where = f"ports[{i}] (id {pid!r})"
        if pid in seen_ports:
            raise FleetFormatError(source, where, f"duplicate port id {pid!r}")
        seen_ports.add(pid)
        lon = _number(source, where, prec, "lon")
        lat = _number(source, where, prec, "lat")
        if not -180 <= lon <= 180:
            raise FleetFormatError(source, where, f"longitude {lon} out of range [-180, 180]")
        if not -90 <= lat <= 90:
            raise FleetFormatError(source, where, f"latitude {lat} out of range [-90, 90]")
        spots = prec.get("landing_spots", DEFAULT_LANDING_SPOTS)
        if isinstance(spots, bool) or not isinstance(spots, int) or spots < 1:
            raise FleetFormatError(
                source, where, f"field 'landing_spots' must be an integer >= 1, got {spots!r}"
            )
        ports.append(Port(pid, lon, lat, spots))
        raw_drones = prec.get("drones", [])
        if not isinstance(raw_drones, list):
            raise FleetFormatError(source, where, "field 'drones' must be a list")
        for j, drec in enumerate(raw_drones):
            dwhere = f"ports[{i}].drones[{j}]"
            if not isinstance(drec, dict):
                raise FleetFormatError(source, dwhere, "must be an object")
            _check_unknown(source, dwhere, drec, {"id", "model", "energy_wh"})
            did = drec.get("id")
            if not isinstance(did, str) or not did:
                raise FleetFormatError(source, dwhere, "field 'id' must be a non-empty string")
            dwhere = f"ports[{i}].drones[{j}] (id {did!r})"
            if did in seen_drones:
                raise FleetFormatError(source, dwhere, f"duplicate drone id {did!r}")
            seen_drones.add(did)
            model = drec.get("model")
            if not isinstance(model, str) or model not in models:
                raise FleetFormatError(
                    source, dwhere, f"field 'model' names unknown model {model!r}; known: {sorted(models)}"
                )
            energy: float | None = None
            if "energy_wh" in drec:
                energy = _number(source, dwhere, drec, "energy_wh")
                if not 0 <= energy <= models[model].battery_wh:
                    raise FleetFormatError(
                        source,
                        dwhere,
                        f"field 'energy_wh' must be within [0, battery_wh={models[model].battery_wh}]",
                    )
            drones.append(Drone(did, model, pid, energy))
    if not drones:
        raise FleetFormatError(source, "ports", "the fleet has no drones")
    return Fleet(
        models=models,
        ports=tuple(ports),
        drones=tuple(drones),
        timezone=timezone,
        terrain=terrain,
        clearance_m=clearance,
        ceiling_m=ceiling,
    )


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a ``FLEET.json`` file (errors name the file, the record and the field)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FleetFormatError(str(p), "$", f"cannot read file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise FleetFormatError(
            str(p), f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    return parse_fleet(data, source=str(p))
