"""The generic routing instance that every solver engine in ``routing`` takes.

This is the contract between problem models (the drone dispatch problem, the Solomon and
Li & Lim benchmark readers) and the engines (OR-Tools, PyVRP). Everything is integer, already
scaled by the caller (metres, seconds, grams, milli-watt-hours...): engines never rescale.

Conventions
- Nodes are ``0..n-1``. Every vehicle has its own ``start`` and ``end`` node (they may be shared
  between vehicles; OR-Tools handles that).
- ``travel_time[c][i, j]`` is the time from *arriving* at ``i`` to arriving at ``j`` for vehicles of
  matrix class ``c``: service time at ``i`` plus flight time ``i -> j``. A value ``>= FORBIDDEN``
  forbids the arc (likewise in ``distance``).
- ``demand[i]`` is the payload change at ``i`` (positive at a pickup, negative at its delivery).
- ``reload_nodes`` are optional visits (port copies, for multi-trip): a vehicle arrives there empty
  (payload cumul fixed to 0), its trip energy resets, and ``travel_time`` out of it includes the
  turnaround.
- A pair with ``penalty None`` must be served; otherwise dropping it costs ``penalty`` in the
  objective (``distance`` units). Penalties must lie in ``[0, 1e15]`` (no int64 overflow).
- ``pair_vehicles`` may be empty (no pair restricted) or have one entry per pair.
- ``forced_vehicle`` restricts a node to one vehicle. A forced node that is not in a pair is an
  unpaired visit, mandatory unless ``node_penalty`` gives it a penalty.
- A node with no role (not a vehicle start/end, not in a pair, not in ``node_penalty`` or
  ``forced_vehicle``, not a reload node) is never visited.
- ``lateness_cost`` maps a node to ``(bound, coefficient)``: a visit starting at ``t > bound`` adds
  ``coefficient * (t - bound)`` to the objective (a cost on time, in ``distance`` units per time
  unit; OR-Tools' soft upper bound of the time cumul). Routes are timed at their earliest for it:
  no route gains by waiting. Benchmark instances leave it empty (distance only).
- ``forbidden`` maps a visit node to closed spans ``[lo, hi]`` inside its window at which its visit
  may not start (a pad held by another flight): the visit starts before or after each.
- ``Solution.routes`` include the reload nodes visited (they split the trips); ``arrival`` is when
  the visit starts: the arrival, or the opening of the window after a wait.
- ``routing.engine.solve`` is the entry point; ``routing.engine_evaluation.check_solution``
  verifies a Solution against its Instance independently of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Any arc cost at or above this is treated as forbidden by every engine.
FORBIDDEN: int = 10**12


@dataclass(slots=True)
class VehicleSpec:
    """One vehicle of an instance (for multi-trip drones: one per drone, trips split by reloads)."""

    start: int
    end: int
    capacity: int
    matrix_class: int = 0
    energy_capacity: int | None = None  # per-trip budget; None: no energy limit
    start_time: int = 0
    end_time: int | None = None  # latest arrival at ``end``; None: the instance horizon
    start_load: int = 0  # payload already on board (documents picked up before re-planning)
    start_energy_used: int = 0  # energy already spent on the current trip
    fixed_cost: int = 0  # added to the objective when the vehicle is used


@dataclass(slots=True)
class Instance:
    """A pickup-and-delivery problem with time windows, capacity, energy and multi-trip reloads."""

    distance: list[np.ndarray]  # per matrix class, (n, n) int64: the objective
    travel_time: list[np.ndarray]  # per matrix class, (n, n) int64: service at i + flight i->j
    time_windows: np.ndarray  # (n, 2) int64: earliest, latest arrival
    demand: np.ndarray  # (n,) int64
    vehicles: list[VehicleSpec]
    horizon: int
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (pickup, delivery)
    pair_penalty: list[int | None] = field(default_factory=list)  # None: mandatory
    pair_vehicles: list[list[int] | None] = field(default_factory=list)  # None: any vehicle
    energy: list[np.ndarray] | None = None  # per matrix class, (n, n) int64 (conservative)
    reload_nodes: list[int] = field(default_factory=list)
    forced_vehicle: dict[int, int] = field(default_factory=dict)  # node -> the vehicle that must visit it
    node_penalty: dict[int, int | None] = field(default_factory=dict)  # unpaired visits (VRPTW customers)
    initial_routes: list[list[int]] | None = None  # warm start: per vehicle, nodes between start and end
    lateness_cost: dict[int, tuple[int, int]] = field(default_factory=dict)  # node -> (bound, cost per unit)
    forbidden: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # node -> closed spans

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.time_windows.shape[0])


@dataclass(slots=True)
class Solution:
    """What an engine returns: one route per vehicle plus what it left out."""

    routes: list[list[int]]  # per vehicle: visited nodes between start and end
    arrival: list[list[int]]  # per vehicle: arrival time at each visited node (same shape as routes)
    objective: int
    distance: int  # total distance of the routes (without penalties or fixed costs)
    dropped_pairs: list[int]  # indices into Instance.pairs
    dropped_nodes: list[int]  # unpaired nodes left out
    engine: str  # which engine/configuration produced it
    seconds: float  # wall time of the solve
    # Other solutions the same call found, asked for with ``solve(..., alternatives=True)``: for a
    # caller whose own measure differs from the objective (the planner's deconfliction).
    alternatives: list[Solution] = field(default_factory=list)

    @property
    def vehicles_used(self) -> int:
        """Vehicles with at least one visit."""
        return sum(1 for r in self.routes if r)


def spans_cover(spans: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """Whether the closed integer ``spans`` (sorted) leave no whole second of ``[lo, hi]`` free:
    forbidden spans that would leave a visit no instant to start (:attr:`Instance.forbidden`)."""
    t = lo
    for a, b in spans:
        if a > t:
            return False
        t = max(t, b + 1)
    return t > hi
