"""The drone problem as a generic :class:`routing.instance.Instance`, and routes back as stops.

Mapping (integers: metres, seconds, grams, milli-watt-hours):

- one vehicle per drone, one matrix class per drone model (speed, altitude, service, turnaround);
- a start node per drone (its port, or its position in flight) and a virtual end node per drone,
  reached from a port or port copy at zero cost, and from a drop-off (or the in-flight start) at
  the cost of flying to the nearest port: every route ends at a port;
- per port a few shared **reload nodes** (port copies) for additional trips: the engine arrives
  there empty, resets the trip energy and pays ``turnaround_s`` on the way out;
- a pickup and a drop-off node per candidate request, restricted to the drones that can fly it
  alone; documents already on board become a drop-off node forced onto their drone (mandatory);
- a cost on time: every second a drop-off happens after its earliest possible time costs as much
  as ``DELAY_COST_FLIGHT_S`` seconds of flight of the fastest model (twice that for urgent ones),
  so an idle drone further away beats a busy one that would end its mission next to the pickup
  when it delivers sooner; without it, a rolling horizon commits nothing while it waits;
- penalties: dropping an urgent request costs more than dropping every normal one, and dropping a
  normal one more than any total route distance plus every lateness cost;
- energy per arc is conservative: the payload on an arc is bounded from above (nothing on board
  out of a port or into a port; out of a drop-off at most capacity minus that document; into a
  pickup at most capacity minus that document; never more than the weights that can be aboard).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleet.description import TAIL_WIND_FLOOR
from routing.feasibility import Candidate
from routing.instance import FORBIDDEN, Instance, VehicleSpec, spans_cover
from routing.matrices import Network
from routing.prepared import Prepared
from routing.problem import DROPOFF, PICKUP, PORT, Plan

START_NODE, END_NODE, RELOAD_NODE, PICKUP_NODE, DROPOFF_NODE = "start", "end", "reload", "pickup", "dropoff"
# A second by which a delivery comes later is worth this many seconds of flight (metres at the
# fastest model's cruise speed); doubled for urgent requests.
DELAY_COST_FLIGHT_S = 2.0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node of the instance stands for."""

    kind: str  # start | end | reload | pickup | dropoff
    site: int  # -1 for the virtual end
    ref: str  # drone id (start/end), port id (reload), request id (pickup/dropoff)
    vehicle: int = -1  # start/end, and drop-offs of documents already on board
    weight_g: int = 0


@dataclass(slots=True)
class Mapping:
    """An instance plus what its nodes mean."""

    instance: Instance
    nodes: list[NodeInfo]
    pair_request: list[str]  # per instance pair: the request id
    models: list[str]  # per matrix class: the model name

    def stops(self, route: list[int]) -> list[NodeInfo]:
        """The stops of one engine route (start and end excluded), as node descriptions."""
        return [self.nodes[i] for i in route]


def _grams(kg: float) -> int:
    return math.ceil(kg * 1000 - 1e-6)


def default_reloads_per_port(n_drones: int, n_ports: int, extra_trips: int = 3) -> int:
    """Shared reload copies per port: enough for every drone to fly ``extra_trips`` more trips."""
    return max(1, math.ceil(n_drones * extra_trips / max(1, n_ports)))


@dataclass(frozen=True, slots=True)
class EnergyReach:
    """What bounds a trip's energy from below, for :func:`aboard_bound`: leg lengths (m) between
    the stops, each stop's shortest flight home to a port (m), the model's consumption and its
    usable battery. A document is aboard on an arc only if a trip flying it from its pickup over
    that arc to its drop-off and home could fit in the battery."""

    length_m: np.ndarray
    home_m: np.ndarray
    wh_per_m: float  # empty, at the most favourable wind (a lower bound)
    wh_per_m_per_kg: float
    usable_wh: float


def aboard_bound(
    flight_s: np.ndarray,
    service_s: np.ndarray,
    windows: np.ndarray,
    pairs: list[tuple[int, int, float]],
    reach: EnergyReach | None = None,
) -> np.ndarray:
    """Per arc ``i -> j``: the total weight of the documents that could be aboard on it.

    A document (pickup ``p``, drop-off ``d``, weight ``w``) counts on ``i -> j`` only if a drone
    could pick it up, reach ``i`` within its window, fly to ``j`` within its window and still
    reach ``d`` by its deadline (earliest times, so the bound never misses a document); never on
    an arc out of its drop-off or into its pickup; and (``reach``) only if the flight ``p -> i ->
    j -> d`` with it aboard, then home, fits in the battery even in the most favourable air (the
    shortest paths and the empty drone's consumption: a lower bound, so no possible trip is
    missed). Without the last test a long leg was charged for documents no trip could carry with
    it, and went over the battery. Times in seconds, ``nan``/``inf`` flights none.
    """
    n = len(service_s)
    lo, hi = windows[:, 0].astype(float), windows[:, 1].astype(float)
    total = np.zeros((n, n))
    with np.errstate(invalid="ignore"):
        for p, d, w in pairs:
            # Earliest arrival at each i with the document aboard, then departure after service.
            at_i = np.maximum(lo[p] + service_s[p] + flight_s[p, :], lo)
            at_i[p] = lo[p]
            reach_i = at_i <= hi
            leave_i = at_i + service_s
            at_j = leave_i[:, None] + flight_s
            reach_j = at_j <= hi[None, :]
            at_d = np.maximum(at_j, lo[None, :]) + service_s[None, :] + flight_s[:, d][None, :]
            at_d[:, d] = at_j[:, d]
            ok = reach_i[:, None] & reach_j & (at_d <= hi[d])
            if reach is not None:
                chain = reach.length_m[p, :][:, None] + reach.length_m + reach.length_m[:, d][None, :]
                energy = (
                    chain * (reach.wh_per_m + reach.wh_per_m_per_kg * w) + reach.home_m[d] * reach.wh_per_m
                )
                ok &= energy <= reach.usable_wh
            ok[d, :] = False
            ok[:, p] = False
            total += w * ok
    return total


def _nodes(
    prep: Prepared, candidates: list[Candidate], k: int
) -> tuple[list[NodeInfo], list[tuple[int, int]]]:
    """Starts, ends, ``k`` reload copies per port, on-board drop-offs, then the candidate pairs."""
    nodes: list[NodeInfo] = []
    for v, s in enumerate(prep.starts):
        onboard_g = sum(_grams(prep.requests[r].weight_kg) for r in s.onboard)
        nodes.append(NodeInfo(START_NODE, s.site, s.drone.id, v, onboard_g))
    nodes.extend(NodeInfo(END_NODE, -1, s.drone.id, v) for v, s in enumerate(prep.starts))
    for pid, site in prep.port_site.items():
        nodes.extend(NodeInfo(RELOAD_NODE, site, pid) for _ in range(k))
    for v, s in enumerate(prep.starts):
        for rid in s.onboard:
            w = _grams(prep.requests[rid].weight_kg)
            nodes.append(NodeInfo(DROPOFF_NODE, prep.dropoff_site[rid], rid, v, w))
    pairs: list[tuple[int, int]] = []
    for c in candidates:
        w = _grams(prep.requests[c.request_id].weight_kg)
        pairs.append((len(nodes), len(nodes) + 1))
        nodes.append(NodeInfo(PICKUP_NODE, prep.pickup_site[c.request_id], c.request_id, -1, w))
        nodes.append(NodeInfo(DROPOFF_NODE, prep.dropoff_site[c.request_id], c.request_id, -1, w))
    return nodes, pairs


def _time_windows(
    prep: Prepared, nodes: list[NodeInfo], candidates: list[Candidate], pairs: list[tuple[int, int]]
) -> np.ndarray:
    """Integer windows (earliest, latest service start) per node, in seconds from the plan start."""
    horizon = math.ceil(prep.horizon_s)
    windows = np.zeros((len(nodes), 2), dtype=np.int64)
    windows[:, 1] = horizon
    for v, s in enumerate(prep.starts):
        t = math.ceil(s.available_s)
        windows[v] = (t, t)
    for i, nd in enumerate(nodes):
        if nd.kind == DROPOFF_NODE and nd.vehicle >= 0:
            # On board already: the deadline holds if a direct flight still makes it; otherwise the
            # document is delivered late rather than never (the plan lists it in ``late``).
            st = prep.starts[nd.vehicle]
            direct = st.available_s + prep.networks[st.model.name].flight_s(st.site, nd.site)
            deadline = prep.seconds(prep.requests[nd.ref].deadline)
            windows[i] = (0, math.floor(deadline) if direct <= deadline else horizon)
    for c, (p, d) in zip(candidates, pairs, strict=True):
        windows[p] = (math.ceil(c.pickup_window[0]), math.floor(c.pickup_window[1]))
        windows[d] = (math.ceil(c.dropoff_window[0]), math.floor(c.dropoff_window[1]))
    return windows


@dataclass(slots=True)
class _Arcs:
    """Integer matrices of one class, and its longest allowed arc (to scale the penalties)."""

    distance: np.ndarray
    travel_time: np.ndarray
    energy: np.ndarray
    longest: int


def _class_arcs(
    prep: Prepared,
    name: str,
    nodes: list[NodeInfo],
    windows: np.ndarray,
    candidates: list[Candidate],
    pairs: list[tuple[int, int]],
) -> _Arcs:
    """Distance, travel time and conservative energy of every arc for the drones of one model."""
    net = prep.networks[name]
    model = net.model
    n = len(nodes)
    kind = np.array([nd.kind for nd in nodes])
    site = np.array([max(nd.site, 0) for nd in nodes], dtype=np.int64)
    is_start, is_end = kind == START_NODE, kind == END_NODE
    is_reload, is_pick, is_drop = kind == RELOAD_NODE, kind == PICKUP_NODE, kind == DROPOFF_NODE
    weight_kg = np.array([nd.weight_g / 1000.0 for nd in nodes])
    start_load = np.where(is_start, weight_kg, 0.0)

    length = net.length_m[site[:, None], site[None, :]]
    service = np.where(is_pick | is_drop, model.service_s, np.where(is_reload, model.turnaround_s, 0.0))
    # Payload bound per arc: leaving a drop-off, that document is gone; entering a pickup, it is
    # not aboard yet; nothing out of or into a port; exactly the documents aboard out of a start.
    w_out = np.where(is_drop, weight_kg, 0.0)
    w_in = np.where(is_pick, weight_kg, 0.0)
    mine = [
        (p, d, prep.requests[c.request_id].weight_kg)
        for c, (p, d) in zip(candidates, pairs, strict=True)
        if any(prep.starts[v].model.name == name for v in c.vehicles)
    ]
    # Only arcs between pickups and drop-offs need the bound: arcs out of a start carry exactly what
    # is aboard, and arcs into or out of a port or an end are set apart below. Worked out on that
    # block alone (a few hundred nodes, not the thousand that a large fleet's starts and ends add).
    stops = np.flatnonzero(is_pick | is_drop)
    at = {int(node): k for k, node in enumerate(stops)}
    block = np.ix_(stops, stops)
    aboard = np.zeros((n, n))
    floor = 1.0 if net.wind is None else TAIL_WIND_FLOOR  # the most a tail wind saves
    home_m = np.array([prep.nearest_port(name, int(site[i]))[1] for i in stops])
    aboard[block] = aboard_bound(
        length[block] / model.cruise_speed_mps,
        service[stops],
        windows[stops],
        [(at[p], at[d], w) for p, d, w in mine],
        EnergyReach(
            length[block],
            home_m,
            model.wh_per_km / 1000 * floor,
            model.wh_per_km_per_kg / 1000 * floor,
            model.usable_wh,
        ),
    )
    aboard += start_load.sum()
    ub = np.clip(
        np.minimum(model.max_payload_kg - np.maximum(w_out[:, None], w_in[None, :]), aboard), 0.0, None
    )
    ub[is_start, :] = start_load[is_start][:, None]
    ub[is_reload, :] = 0.0
    ub[:, is_reload] = 0.0

    dist = np.ceil(length)
    tt = service[:, None] + np.ceil(length / model.cruise_speed_mps)
    climb_wh = np.zeros((n, n))
    if net.heights is not None:  # over terrain: the climbs of each arc's profile
        climb_wh = net.heights.climb_m[site[:, None], site[None, :]] * (model.wh_per_100m_climb / 100.0)
    wind = 1.0 if net.wind is None else net.wind[site[:, None], site[None, :]]  # routing.wind_energy
    en = np.ceil(length * (model.wh_per_km + model.wh_per_km_per_kg * ub) * wind + climb_wh)
    forbid = ~np.isfinite(length)
    forbid |= is_start[None, :]  # nothing returns to a start
    forbid |= is_end[:, None]  # nothing leaves an end
    forbid |= is_pick[:, None] & (is_reload | is_end)[None, :]  # a document aboard never lands at a port
    forbid |= is_reload[:, None] & is_reload[None, :]
    # With documents aboard, a drone delivers before it lands at a port. Its start -> end arc stays
    # allowed: the mandatory drop-offs keep it out of any solution, but OR-Tools' first-solution
    # heuristics start from the empty route start -> end and fail when that arc is forbidden.
    onboard_start = is_start & (start_load > 0)
    forbid |= onboard_start[:, None] & is_reload[None, :]

    # Into the virtual end: free from a port, else the flight to the nearest port.
    at_port = is_reload | np.array(
        [nd.kind == START_NODE and prep.starts[nd.vehicle].port is not None for nd in nodes]
    )
    nearest = [prep.nearest_port(name, int(site[i])) for i in range(n)]
    home = np.array([length_m for _, length_m in nearest])
    home_climb = np.array(
        [
            net.climb_wh(int(site[i]), prep.port_site[pid]) if pid else 0.0
            for i, (pid, _) in enumerate(nearest)
        ]
    )
    home_wind = np.array([_home_wind(prep, name, int(site[i])) for i in range(n)])
    to_home = np.where(at_port, 0.0, home)
    allowed = (at_port | is_drop | is_start) & np.isfinite(to_home)
    for j in np.flatnonzero(is_end):
        dist[:, j] = np.ceil(to_home)
        tt[:, j] = np.where(at_port, 0.0, service + np.ceil(home / model.cruise_speed_mps))
        en[:, j] = np.ceil(to_home * model.wh_per_km * home_wind + np.where(at_port, 0.0, home_climb))
        forbid[:, j] = ~allowed
        forbid[is_start & (np.array([nd.vehicle for nd in nodes]) != nodes[j].vehicle), j] = True
        if prep.starts[nodes[j].vehicle].until_s is not None:
            _back_to_its_port(
                prep, net, nodes[j].vehicle, int(j), nodes, site, service, (dist, tt, en), forbid
            )
    np.fill_diagonal(forbid, False)
    for m in (dist, tt, en):
        np.fill_diagonal(m, 0)
    finite = dist[~forbid]
    longest = int(finite.max()) if finite.size else 1
    for m in (dist, tt, en):
        m[forbid] = FORBIDDEN
    return _Arcs(dist.astype(np.int64), tt.astype(np.int64), en.astype(np.int64), max(longest, 1))


def _back_to_its_port(
    prep: Prepared,
    net: Network,
    v: int,
    j: int,
    nodes: list[NodeInfo],
    site: np.ndarray,
    service: np.ndarray,
    matrices: tuple[np.ndarray, np.ndarray, np.ndarray],
    forbid: np.ndarray,
) -> None:
    """Arcs into the end ``j`` of drone ``v`` in a window (``until_s``): its route ends at the port
    it stands at (where its next planned trip leaves from), not at the nearest one: from that
    port's copies at no cost, from a drop-off (or its start) by the flight there."""
    dist, tt, en = matrices
    model = net.model
    port = prep.starts[v].port
    assert port is not None
    home = prep.port_site[port]
    length = net.length_m[site, home]
    climb = np.array([net.climb_wh(int(i), home) for i in site])
    wind = np.array([net.wind_factor(int(i), home) for i in site])
    ours = np.array([nd.kind == RELOAD_NODE and nd.ref == port for nd in nodes])
    ours[v] = True
    ours[j] = True
    flown = np.where(ours, 0.0, length)
    dist[:, j] = np.ceil(flown)
    tt[:, j] = np.where(ours, 0.0, service + np.ceil(length / model.cruise_speed_mps))
    en[:, j] = np.ceil(flown * model.wh_per_km * wind + np.where(ours, 0.0, climb))
    kinds = np.array([nd.kind for nd in nodes])
    forbid[:, j] |= (kinds == RELOAD_NODE) & ~ours  # another port's copy: not where it must be
    forbid[:, j] |= ~np.isfinite(flown)


def _forbidden(
    prep: Prepared, nodes: list[NodeInfo], windows: np.ndarray
) -> dict[int, list[tuple[int, int]]]:
    """Per visit at a pad the intents in force hold part of the time (:mod:`routing.pad_busy`):
    the whole seconds inside its window at which it may not start. Documents already on board are
    delivered whatever the pad's traffic (deconfliction places that trip): no span for them."""
    out: dict[int, list[tuple[int, int]]] = {}
    for i, nd in enumerate(nodes):
        busy = prep.busy.get(nd.site) if nd.kind in (PICKUP_NODE, DROPOFF_NODE) and nd.vehicle < 0 else None
        if not busy:
            continue
        lo, hi = int(windows[i, 0]), int(windows[i, 1])
        spans = [
            (max(lo, math.floor(a) + 1), min(hi, math.ceil(b) - 1))
            for a, b in busy
            if math.ceil(b) - 1 >= lo and math.floor(a) + 1 <= hi
        ]
        spans = [(a, b) for a, b in spans if a <= b]
        if spans and not spans_cover(spans, lo, hi):  # held all its window: left to deconfliction
            out[i] = spans
    return out


def _home_wind(prep: Prepared, name: str, site: int) -> float:
    """The wind factor of the flight from ``site`` to its nearest port (1: calm, or none)."""
    port, _ = prep.nearest_port(name, site)
    return prep.networks[name].wind_factor(site, prep.port_site[port]) if port else 1.0


def _lateness_costs(prep: Prepared, nodes: list[NodeInfo], windows: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per drop-off node: (its earliest time, cost per second of delivery after it)."""
    speed = max(s.model.cruise_speed_mps for s in prep.starts)
    per_s = math.ceil(DELAY_COST_FLIGHT_S * speed)
    return {
        i: (int(windows[i, 0]), per_s * (2 if prep.requests[nd.ref].urgent else 1))
        for i, nd in enumerate(nodes)
        if nd.kind == DROPOFF_NODE
    }


def build_instance(
    prep: Prepared, candidates: list[Candidate], *, reloads_per_port: int | None = None
) -> Mapping:
    """Map the prepared problem and its candidate requests onto a generic instance."""
    starts = prep.starts
    k = reloads_per_port or default_reloads_per_port(len(starts), len(prep.port_site))
    nodes, pairs = _nodes(prep, candidates, k)
    n = len(nodes)
    windows = _time_windows(prep, nodes, candidates, pairs)
    class_keys = sorted({s.model.name for s in starts})  # one matrix class per model
    arcs = [_class_arcs(prep, name, nodes, windows, candidates, pairs) for name in class_keys]
    demand = np.array(
        [
            nd.weight_g if nd.kind == PICKUP_NODE else -nd.weight_g if nd.kind == DROPOFF_NODE else 0
            for nd in nodes
        ],
        dtype=np.int64,
    )
    vehicles = []
    for v, s in enumerate(starts):
        model = s.model
        budget = math.floor(model.usable_wh * 1000)
        used = math.ceil((model.battery_wh - s.energy_wh) * 1000)
        vehicles.append(
            VehicleSpec(
                start=v,
                end=len(starts) + v,
                capacity=math.floor(model.max_payload_kg * 1000 + 1e-6),
                matrix_class=class_keys.index(model.name),
                energy_capacity=budget,
                start_time=math.ceil(s.available_s),
                start_load=nodes[v].weight_g,
                start_energy_used=min(max(used, 0), budget),
                end_time=None if s.until_s is None else math.floor(s.until_s),
            )
        )
    lateness = _lateness_costs(prep, nodes, windows)
    worst_lateness = sum(c * (int(windows[i, 1]) - b) for i, (b, c) in lateness.items())
    # More than any set of routes can fly, plus every lateness cost at its worst.
    normal = max(a.longest for a in arcs) * (n + 1) + worst_lateness + 1
    urgent = normal * (sum(1 for c in candidates if not prep.requests[c.request_id].urgent) + 1)
    if urgent >= FORBIDDEN // 10:
        raise ValueError("penalties overflow: the instance is too large for integer penalties")
    onboard_drops = [i for i, nd in enumerate(nodes) if nd.kind == DROPOFF_NODE and nd.vehicle >= 0]
    instance = Instance(
        distance=[a.distance for a in arcs],
        travel_time=[a.travel_time for a in arcs],
        time_windows=windows,
        demand=demand,
        vehicles=vehicles,
        horizon=math.ceil(prep.horizon_s),
        pairs=pairs,
        pair_penalty=[urgent if prep.requests[c.request_id].urgent else normal for c in candidates],
        pair_vehicles=[list(c.vehicles) for c in candidates],
        forced_vehicle={i: nodes[i].vehicle for i in onboard_drops},
        energy=[a.energy for a in arcs],
        reload_nodes=[i for i, nd in enumerate(nodes) if nd.kind == RELOAD_NODE],
        node_penalty={i: None for i in onboard_drops},
        lateness_cost=lateness,
    )
    instance.forbidden = _forbidden(prep, nodes, windows)
    mapping = Mapping(instance, nodes, [c.request_id for c in candidates], class_keys)
    if prep.problem.previous_plan is not None or any(s.onboard for s in starts):
        instance.initial_routes = warm_start(mapping, prep.problem.previous_plan, prep)
    return mapping


def warm_start(mapping: Mapping, previous: Plan | None, prep: Prepared) -> list[list[int]]:
    """Routes for the engine: the previous plan's stops not yet reached, where still valid, and the
    documents on board delivered first if the previous plan does not place them.

    Seeding the on-board drop-offs matters: OR-Tools' first-solution heuristics can fail on their
    own to place a mandatory visit under the energy reload dimension, while a seeded route gives
    the search a complete assignment to start from.
    """
    pick_node: dict[str, int] = {}
    drop_node: dict[str, int] = {}
    for i, nd in enumerate(mapping.nodes):
        if nd.kind == PICKUP_NODE:
            pick_node[nd.ref] = i
        elif nd.kind == DROPOFF_NODE:
            drop_node[nd.ref] = i
    eligible = dict(zip(mapping.pair_request, mapping.instance.pair_vehicles, strict=True))
    free_reloads: dict[str, list[int]] = {}
    for i, nd in enumerate(mapping.nodes):
        if nd.kind == RELOAD_NODE:
            free_reloads.setdefault(nd.ref, []).append(i)
    routes: list[list[int]] = []
    for v, s in enumerate(prep.starts):
        route: list[int] = []
        dp = previous.drone(s.drone.id) if previous is not None else None
        picked: set[str] = set(s.onboard)
        if dp is not None:
            legs = [leg for trip in dp.trips for leg in trip.legs if leg.arrive > prep.t0]
            for n_leg, leg in enumerate(legs):
                rid = leg.to_id
                if leg.to_kind == PICKUP and rid in pick_node and v in (eligible.get(rid) or []):
                    route.append(pick_node[rid])
                    picked.add(rid)
                elif leg.to_kind == DROPOFF and rid in drop_node and rid in picked:
                    route.append(drop_node[rid])
                elif leg.to_kind == PORT and n_leg < len(legs) - 1 and free_reloads.get(rid):
                    route.append(free_reloads[rid].pop())
        # A pickup whose drop-off is missing, or a trailing port copy, would only confuse the engine.
        have = {mapping.nodes[i].ref for i in route if mapping.nodes[i].kind == DROPOFF_NODE}
        route = [i for i in route if mapping.nodes[i].kind != PICKUP_NODE or mapping.nodes[i].ref in have]
        while route and mapping.nodes[route[-1]].kind == RELOAD_NODE:
            route.pop()
        net = prep.networks[s.model.name]
        missing = sorted(
            (drop_node[rid] for rid in s.onboard if drop_node[rid] not in route),
            key=lambda i: float(net.length_m[s.site, mapping.nodes[i].site]),
        )
        routes.append(missing + route)
    return routes
