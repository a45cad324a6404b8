"""The reports sent to the authority, as JSON-ready dictionaries (pure: no I/O).

Three kinds, each with an idempotency key (``report_id``) that is stable across retries and
restarts: ``flight_plan`` (``<flight>:plan``), ``position`` (``<flight>:pos:<seq>``) and
``flight_closed`` (``<flight>:close``). Coordinates are WGS-84 in 1e-7 degrees (integers),
heights and altitudes in decimetres (integers). Field by field: docs/authority.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from routing.intents import OperationalIntent, to_f3548

COORDINATES = "WGS-84"
Report = dict[str, Any]


def e7(degrees: float) -> int:
    """Degrees as an integer count of 1e-7 degrees."""
    return round(degrees * 1e7)


def dm(metres: float) -> int:
    """Metres as an integer count of decimetres."""
    return round(metres * 10.0)


def iso(t: datetime) -> str:
    """A time as ISO 8601 with its offset (the dispatcher's clock is UTC)."""
    return t.isoformat()


def intent_volumes(intent: OperationalIntent | None) -> list[dict[str, Any]] | None:
    """The operational intent as ASTM F3548-21 ``Volume4D`` dictionaries (None without one)."""
    if intent is None or not intent.volumes:
        return None
    # Volume4D is a dict subclass whose times are str subclasses: a JSON round trip makes plain data.
    volumes: list[dict[str, Any]] = json.loads(json.dumps(to_f3548(intent), default=str))
    return volumes


def plan_report(
    *,
    flight_id: str,
    operator: str,
    drone_id: str,
    waypoints: list[tuple[float, float, float]],
    depart: datetime,
    arrive: datetime,
    end_port: str,
    intent: OperationalIntent | None,
    takeoff_altitude_m: float,
    filed_at: datetime,
) -> Report:
    """The flight plan filed before take-off: the 4D route (waypoints) and, when the flight has
    one, its operational intent."""
    return {
        "type": "flight_plan",
        "report_id": f"{flight_id}:plan",
        "flight_id": flight_id,
        "operator": operator,
        "drone_id": drone_id,
        "filed_at": iso(filed_at),
        "planned_departure": iso(depart),
        "planned_arrival": iso(arrive),
        "end_port": end_port,
        "coordinate_system": COORDINATES,
        "route": [
            {
                "lon_e7": e7(lon),
                "lat_e7": e7(lat),
                "height_dm": dm(h),
                "altitude_dm": dm(h + takeoff_altitude_m),
            }
            for lon, lat, h in waypoints
        ],
        "operational_intent": intent_volumes(intent),
    }


def position_report(
    *,
    flight_id: str,
    drone_id: str,
    seq: int,
    at: datetime,
    fix_at: datetime,
    lon: float,
    lat: float,
    height_m: float,
    takeoff_altitude_m: float,
    ground_speed_mps: float,
    course_deg: float,
    vertical_speed_mps: float,
    battery_pct: float,
    drone_state: str,
) -> Report:
    """One position of an airborne flight at report time ``at`` from the fix taken at ``fix_at``."""
    return {
        "type": "position",
        "report_id": f"{flight_id}:pos:{seq}",
        "flight_id": flight_id,
        "drone_id": drone_id,
        "seq": seq,
        "time": iso(at),
        "fix_time": iso(fix_at),
        "coordinate_system": COORDINATES,
        "lon_e7": e7(lon),
        "lat_e7": e7(lat),
        "height_dm": dm(height_m),
        "altitude_dm": dm(height_m + takeoff_altitude_m),
        "ground_speed_cm_s": round(ground_speed_mps * 100.0),
        "course_deg": round(course_deg % 360.0, 1),
        "vertical_speed_cm_s": round(vertical_speed_mps * 100.0),
        "battery_pct": round(battery_pct),
        "drone_state": drone_state,
    }


def close_report(
    *, flight_id: str, drone_id: str, at: datetime, outcome: str, positions: int, reason: str | None
) -> Report:
    """The flight's closure: ``completed`` (landed at the end of its mission) or ``aborted``."""
    return {
        "type": "flight_closed",
        "report_id": f"{flight_id}:close",
        "flight_id": flight_id,
        "drone_id": drone_id,
        "time": iso(at),
        "outcome": outcome,
        "reason": reason,
        "positions": positions,
    }


def approval_request(
    *,
    flight_id: str,
    operator: str,
    drone_id: str,
    waypoints: list[tuple[float, float, float]],
    depart: datetime,
    arrive: datetime,
    end_port: str,
    intent: OperationalIntent | None,
    takeoff_altitude_m: float,
    filed_at: datetime,
    zones: list[dict[str, Any]],
    above_ceiling_m: float | None,
    ceiling_m: float,
    attempt: int = 1,
) -> Report:
    """The request for approval of a flight that enters controlled airspace: the flight plan's
    fields, the controlled zones it enters and, when it flies above the area's ceiling, how high.
    A later ``attempt`` (the flight now enters airspace it was not approved for) has its own key."""
    body = plan_report(
        flight_id=flight_id,
        operator=operator,
        drone_id=drone_id,
        waypoints=waypoints,
        depart=depart,
        arrive=arrive,
        end_port=end_port,
        intent=intent,
        takeoff_altitude_m=takeoff_altitude_m,
        filed_at=filed_at,
    )
    body.update(
        type="approval_request",
        report_id=f"{flight_id}:approval" + (f":{attempt}" if attempt > 1 else ""),
        controlled_zones=zones,
        above_ceiling=(
            None
            if above_ceiling_m is None
            else {"height_dm": dm(above_ceiling_m), "ceiling_dm": dm(ceiling_m)}
        ),
    )
    return body
