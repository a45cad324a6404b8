"""The independent terrain check of a plan: every leg keeps the clearance and stays under the
true-height ceiling, and its energy counts its climbs.

It does not reuse the planner's profile computation (:func:`airspace.terrain.altitude_profile`):
it samples the ground under each leg as flown between its waypoints (lon, lat, altitude above
mean sea level, altitude linear between waypoints) with :func:`airspace.terrain.band_violations`,
and recomputes the climb energy from the waypoints' altitudes.
"""

from __future__ import annotations

import numpy as np

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, band_violations
from fleet.description import Fleet
from routing.problem import Leg, Plan
from routing.validate import Violation

ENERGY_TOLERANCE_WH = 1e-6


def leg_climb_m(leg: Leg) -> float:
    """Metres climbed along a leg between its waypoints (descents not subtracted)."""
    alts = np.asarray([w[2] for w in leg.waypoints], dtype=float)
    return float(np.clip(np.diff(alts), 0.0, None).sum()) if len(alts) > 1 else 0.0


def terrain_violations(plan: Plan, area: AreaTerrain, fleet: Fleet) -> list[Violation]:
    """Legs that leave the band ``[ground + clearance, ground + ceiling]`` (kinds
    ``terrain_clearance`` and ``ceiling``), and legs whose energy is below the flight's energy
    plus the climbs' (kind ``energy_climb``)."""
    out: list[Violation] = []
    drones = {d.id: d for d in fleet.drones}
    for drone_id, trip, seq, leg in plan.legs():
        if len(leg.waypoints) < 2:
            continue
        frame = LocalFrame.for_points([(w[0], w[1]) for w in leg.waypoints])
        for lon, lat, height, kind in band_violations(
            area.terrain, leg.waypoints, frame, clearance_m=area.clearance_m, ceiling_m=area.ceiling_m
        ):
            limit = (
                f"below the {area.clearance_m:g} m clearance"
                if kind == "clearance"
                else f"above the {area.ceiling_m:g} m ceiling"
            )
            out.append(
                Violation(
                    "terrain_clearance" if kind == "clearance" else "ceiling",
                    f"{height:.1f} m true height at ({lon:.6f}, {lat:.6f}), {limit}",
                    drone_id=drone_id,
                    trip=trip,
                    seq=seq,
                )
            )
        drone = drones.get(drone_id)
        if drone is None:
            continue
        model = fleet.model_of(drone)
        need = model.leg_energy_wh(leg.distance_m, leg.payload_kg) + model.climb_energy_wh(leg_climb_m(leg))
        if leg.energy_wh < need - ENERGY_TOLERANCE_WH:
            out.append(
                Violation(
                    "energy_climb",
                    f"leg energy {leg.energy_wh:.3f} Wh < {need:.3f} Wh "
                    f"with its {leg_climb_m(leg):.0f} m of climb",
                    drone_id=drone_id,
                    trip=trip,
                    seq=seq,
                )
            )
    return out
