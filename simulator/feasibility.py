"""Whether a simulated drone can fly a route with its stops: energy and payload (pure, no state).

The drone checks an upload and a re-route with the same rule the planner uses:
``DroneModel.leg_energy_wh`` per horizontal leg with the payload on board, the peak payload within
the model's maximum, and every hand-over's document on board by the time of its stop. Over terrain
(``climbs``) the climbs between waypoints cost ``DroneModel.climb_energy_wh`` too, as in the
planner (the climb-out from the ground to the first waypoint stays inside the per-km figures).
"""

from __future__ import annotations

import math

from fleet.description import DroneModel
from fleet.messages import PickupStop, Stop

XYZ = tuple[float, float, float]


def needs(
    model: DroneModel,
    start: XYZ,
    route: list[XYZ],
    stops: list[Stop],
    first: int,
    on_board: dict[str, float],
    climbs: bool = False,
) -> tuple[float, float, str | None]:
    """Energy (Wh) and peak payload of flying ``route`` from ``start``; or a reason it is impossible.

    ``route`` holds waypoints ``first..``; stops index the full list. ``climbs``: count the climbs
    between consecutive waypoints (over terrain).
    """
    board = dict(on_board)
    by_at: dict[int, list[Stop]] = {}
    for s in stops:
        by_at.setdefault(s.at, []).append(s)
    need, peak = 0.0, sum(board.values())
    px, py = start[0], start[1]
    for i, (x, y, _) in enumerate(route, start=first):
        need += model.leg_energy_wh(math.hypot(x - px, y - py), sum(board.values()))
        if climbs and i > first:
            need += model.climb_energy_wh(route[i - first][2] - route[i - first - 1][2])
        px, py = x, y
        for s in by_at.get(i, []):
            if isinstance(s, PickupStop):
                board[s.request_id] = s.payload_kg
                peak = max(peak, sum(board.values()))
            elif s.request_id not in board:
                return need, peak, f"hand-over of request {s.request_id!r} which is not on board by then"
            else:
                board.pop(s.request_id)
    return need, peak, None


def plan_problem(
    model: DroneModel,
    start: XYZ,
    route: list[XYZ],
    stops: list[Stop],
    first: int,
    on_board: dict[str, float],
    available_wh: float,
    climbs: bool = False,
) -> str | None:
    """Why the drone cannot fly ``route`` (see :func:`needs`) with ``available_wh`` above its
    reserve; None when it can."""
    need, peak, problem = needs(model, start, route, stops, first, on_board, climbs)
    if problem:
        return problem
    if peak > model.max_payload_kg + 1e-9:
        return f"payload {peak:.2f} kg exceeds the maximum {model.max_payload_kg:.2f} kg"
    if need > available_wh + 1e-9:
        left = max(available_wh, 0.0)
        return f"mission needs {need:.1f} Wh, only {left:.1f} Wh available above the reserve"
    return None
