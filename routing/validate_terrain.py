"""The independent terrain check of a plan: every leg keeps the clearance and stays under the
true-height ceiling, and its energy counts its climbs.

It does not reuse the planner's profile computation (:mod:`routing.terrain_legs`,
:func:`airspace.terrain.altitude_profile`): it samples the ground under each leg as flown between
the waypoints of its profile (lon, lat, altitude above mean sea level, altitude linear between
waypoints) with :func:`airspace.terrain.band_violations`, and recomputes the climb energy from
the profile's altitudes. :func:`routing.validate.validate_plan` runs it for a problem with terrain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from airspace.terrain import AreaTerrain, band_violations
from airspace.terrain_profile import frame_for
from fleet.description import DroneModel, Fleet
from routing.problem import Leg, Plan

if TYPE_CHECKING:
    from routing.validate import Violation

ENERGY_TOLERANCE_WH = 1e-6

Add = Callable[..., None]  # add(kind, detail, **where), as the plan validator's


def profile_climb_m(profile: Sequence[tuple[float, float, float]]) -> float:
    """Metres climbed along a profile's waypoints (descents not subtracted)."""
    alts = np.asarray([w[2] for w in profile], dtype=float)
    return float(np.clip(np.diff(alts), 0.0, None).sum()) if len(alts) > 1 else 0.0


def leg_climb_m(leg: Leg) -> float:
    """Metres climbed along a leg's flown profile (descents not subtracted)."""
    return profile_climb_m(leg.profile)


def check_terrain(
    plan: Plan,
    area: AreaTerrain,
    fleet: Fleet,
    add: Add,
    flight_wh: Callable[[Leg, DroneModel], float] | None = None,
) -> None:
    """Report legs that leave the band ``[ground + clearance, ground + ceiling]`` (kinds
    ``terrain_clearance`` and ``ceiling``), legs without a profile (``terrain_profile``), and legs
    whose energy is below the flight's energy plus the climbs' (``energy_climb``). ``flight_wh``:
    a leg's energy without its climbs (default: in calm air, ``DroneModel.leg_energy_wh``)."""
    drones = {d.id: d for d in fleet.drones}
    for drone_id, trip, seq, leg in plan.legs():
        where = {"drone_id": drone_id, "trip": trip, "seq": seq}
        if len(leg.profile) < 2:
            if leg.distance_m > 0:
                add("terrain_profile", "a leg over terrain states no altitude profile", **where)
            continue
        frame = frame_for([(w[0], w[1]) for w in leg.profile])  # a shared projection, not one per leg
        for lon, lat, height, kind in band_violations(
            area.terrain, leg.profile, frame, clearance_m=area.clearance_m, ceiling_m=area.ceiling_m
        ):
            limit = (
                f"below the {area.clearance_m:g} m clearance"
                if kind == "clearance"
                else f"above the {area.ceiling_m:g} m ceiling"
            )
            add(
                "terrain_clearance" if kind == "clearance" else "ceiling",
                f"{height:.1f} m true height at ({lon:.6f}, {lat:.6f}), {limit}",
                **where,
            )
        drone = drones.get(drone_id)
        if drone is None:
            continue
        model = fleet.model_of(drone)
        flight = (
            flight_wh(leg, model)
            if flight_wh is not None
            else model.leg_energy_wh(leg.distance_m, leg.payload_kg)
        )
        need = flight + model.climb_energy_wh(leg_climb_m(leg))
        if leg.energy_wh < need - ENERGY_TOLERANCE_WH:
            add(
                "energy_climb",
                f"leg energy {leg.energy_wh:.3f} Wh < {need:.3f} Wh "
                f"with its {leg_climb_m(leg):.0f} m of climb",
                **where,
            )


def terrain_violations(plan: Plan, area: AreaTerrain, fleet: Fleet) -> list[Violation]:
    """:func:`check_terrain`'s findings as :class:`routing.validate.Violation` records."""
    from routing.validate import Violation  # imported here: routing.validate runs this module

    out: list[Violation] = []
    check_terrain(
        plan, area, fleet, lambda kind, detail, **where: out.append(Violation(kind, detail, **where))
    )
    return out
