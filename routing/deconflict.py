"""Deconfliction by construction: give every trip a conflict-free operational intent.

Called by :func:`routing.planner.plan` on the timed routes. Trips are placed one by one, in
priority order (trips of drones already in flight first, as they are; then urgent before normal —
a trip inherits the urgency of the later trips of its drone, so a drone's trips keep their order —
then earliest departure), each against the intents already accepted: the ``active`` intents of
flights already flying and the trips placed before it. For a trip in conflict the cheapest
remedy wins:

1. another cruise **layer** of its model (``DroneModel.layers``; free: a leg's energy does not
   depend on its altitude, climbs and descents are inside ``service_s``), tried from the layer
   its heading prefers (the compass split into as many sectors as layers, so crossing traffic
   tends to fly on different layers); a layer is offered only if every zone that blocks it (or
   the pads' columns up to it) also blocks the model's cruise altitude, so the zone-safe paths
   stay zone-safe;
2. a **ground delay**: the whole trip departs later (never airborne holding), by the least amount
   that clears every conflicting volume, in whole seconds (:mod:`routing.delay_search`: found
   from the volumes' time windows, not by trying delays one by one); the drone's later
   trips move with it (turnaround kept). A trip that uses a pad open only part of the time (a
   temporary zone covers it) is never delayed beyond what its drone's earlier trips impose;
3. if no layer and no delay keep every deadline of the trip, the request whose deadline binds
   (a normal one before an urgent one) is left unserved with reason ``deconfliction``; the planner
   re-times the drone without it and places everything again (the next planning round re-plans it).

Before placing a trip, its waits move off the pads where possible: a drone early for a pickup
leaves its previous stop later instead (back to the port, where it waits parked), so that it does
not hold a pad it does not need; a wait after a drop-off stays (a delivery is never made later).
Trips without documents (repositioning) have no deadline: they may wait up to ``max_delay_s``.
Pure: no I/O, no event loop.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from fleet.description import DroneModel
from routing.delay_search import Shape, least_delay
from routing.intents import IntentParams, OperationalIntent, intent_frame, shifted, trip_intent
from routing.prepared import Prepared
from routing.problem import DROPOFF, PICKUP, START, DronePlan, Eta, Plan, Trip
from routing.separation import IntentIndex, index_of
from routing.terrain_legs import layers_over_terrain, relayered
from routing.trip_battery import over_budget
from routing.zone_geometry import column_overlaps


@dataclass(frozen=True, slots=True)
class DeconflictionParams:
    """Knobs of deconfliction (intents' shape, ground-delay steps)."""

    intents: IntentParams = field(default_factory=IntentParams)
    delay_step_s: float = 10.0  # the dispatcher's trial searches (holds, later slots): least step
    max_delay_s: float = 1800.0  # for trips without a deadline
    long_wait_s: float = 600.0  # a wait on a pad longer than this may become a visit to a port
    # Tell the solver when the intents in force hold the pads (routing.pad_busy). Off by default:
    # measured, it serves more in the passes over left-out requests (on there) and fewer in a
    # round in chunks, whose short searches drop visits the held times crowd.
    steer_pads: bool = False


@dataclass(slots=True)
class Deconflicted:
    """The plan's drones re-timed and re-layered, their intents, and the requests to leave out."""

    drones: tuple[DronePlan, ...]
    etas: dict[str, Eta]
    intents: tuple[OperationalIntent, ...]
    dropped: dict[str, str]  # request id -> detail
    unfinished: frozenset[str] = frozenset()  # drones with trips left unplaced: call again
    breaks: dict[str, frozenset[str]] = field(default_factory=dict)  # drone -> see ``Retime``


# (drone id, requests left out, requests after whose drop-off it goes back to a port) -> its plan
Retime = Callable[[str, frozenset[str], frozenset[str]], DronePlan | None]


@dataclass(slots=True)
class _Trip:
    drone_id: str
    number: int
    trip: Trip
    urgent: bool
    fixed: bool  # in flight at planning time: flown as planned


def _requests(trip: Trip) -> list[str]:
    return [leg.to_id for leg in trip.legs if leg.to_kind in (PICKUP, DROPOFF)]


def moved(trip: Trip, delay_s: float, altitude_m: float) -> Trip:
    """``trip`` departing ``delay_s`` later at cruise altitude ``altitude_m`` (every leg)."""
    d = timedelta(seconds=delay_s)
    return Trip(
        tuple(
            replace(
                leg,
                depart=leg.depart + d,
                arrive=leg.arrive + d,
                waypoints=tuple((w[0], w[1], altitude_m) for w in leg.waypoints),
            )
            for leg in trip.legs
        )
    )


def compacted(trip: Trip, service_s: float) -> Trip:
    """``trip`` with every wait before a pickup moved back to the stop before it (repeatedly, so
    waits gather at the trip's start); the service start at each pickup is kept."""
    legs = list(trip.legs)
    for i in range(len(legs) - 2, -1, -1):
        leg = legs[i]
        gap = legs[i + 1].depart - timedelta(seconds=service_s) - leg.arrive
        if leg.to_kind == PICKUP and gap > timedelta(0):
            legs[i] = replace(leg, depart=leg.depart + gap, arrive=leg.arrive + gap)
    return Trip(tuple(legs))


def _etas(plan: Plan, drones: tuple[DronePlan, ...], service_s: dict[str, float]) -> dict[str, Eta]:
    """The ETAs of the placed trips: pickup at the start of its service, delivery at the arrival."""
    etas = dict(plan.etas)
    for dp in drones:
        legs = [leg for trip in dp.trips for leg in trip.legs]
        for i, leg in enumerate(legs):
            e = etas.get(leg.to_id)
            if e is None or leg.to_kind not in (PICKUP, DROPOFF):
                continue
            if leg.to_kind == DROPOFF:
                etas[leg.to_id] = replace(e, delivered_at=leg.arrive)
            elif i + 1 < len(legs):
                etas[leg.to_id] = replace(
                    e, pickup_at=legs[i + 1].depart - timedelta(seconds=service_s[dp.drone_id])
                )
    return etas


def allowed_layers(prep: Prepared, model_name: str) -> tuple[float, ...]:
    """The model's layers whose blocking zones (en route and pad columns) block its cruise altitude too."""
    model = prep.problem.fleet.models[model_name]
    base = model.cruise_altitude_m
    if prep.problem.terrain is not None:
        # Over terrain every zone that meets the band of true heights is avoided at all heights
        # (routing.terrain_legs): a layer changes no path, only the profile (see relayered).
        return layers_over_terrain(prep.problem.terrain, model.layers, base)
    zones = prep.problem.zones
    return tuple(
        a
        for a in model.layers
        if all(
            (not z.blocks_altitude(a) or z.blocks_altitude(base))
            and (not column_overlaps(z, a) or column_overlaps(z, base))
            for z in zones
        )
    )


def _heading_order(prep: Prepared, trip: Trip, layers: tuple[float, ...]) -> list[float]:
    """Layers from the one the trip's heading prefers (its longest leg, start to end), then nearest."""
    if len(layers) < 2:
        return list(layers)
    leg = max(trip.legs, key=lambda g: g.distance_m)
    (lon0, lat0, _), (lon1, lat1, _) = leg.waypoints[0], leg.waypoints[-1]
    east = (lon1 - lon0) * math.cos(math.radians((lat0 + lat1) / 2))
    heading = math.degrees(math.atan2(east, lat1 - lat0)) % 360.0
    pref = min(int(heading / (360.0 / len(layers))), len(layers) - 1)
    return [layers[i] for i in sorted(range(len(layers)), key=lambda i: (abs(i - pref), i))]


def _drone_trips(prep: Prepared, dp: DronePlan, first: int = 1) -> list[_Trip]:
    """The trips of one drone numbered ``first`` and on, each urgent if it or a later one is."""
    later_urgent = False
    trips = []
    for k in range(len(dp.trips), first - 1, -1):
        trip = dp.trips[k - 1]
        later_urgent |= any(prep.requests[r].urgent for r in _requests(trip) if r in prep.requests)
        fixed = k == 1 and bool(trip.legs) and trip.legs[0].from_kind == START
        trips.append(_Trip(dp.drone_id, k, trip, later_urgent, fixed))
    return [t for t in reversed(trips) if t.trip.legs]


def _rank(t: _Trip, ready: float | None) -> tuple[bool, bool, float, str, int]:
    """Placement order: in flight first, then urgent, then the earliest departure its drone
    allows now (its earlier trips placed: ``ready``)."""
    depart = t.trip.legs[0].depart.timestamp()
    return (not t.fixed, not t.urgent, max(depart, ready or depart), t.drone_id, t.number)


def pad_break(prep: Prepared, model: DroneModel, trip: Trip, long_s: float) -> str | None:
    """The request after whose drop-off ``trip`` waits longest on the pad for its next pickup, if
    that wait is longer than ``long_s`` and than flying to the nearest port, swapping the battery
    and flying back, with nothing on board: all that time the pad's column up to the cruise
    altitude is closed to every other drone, where a port visit would free it."""
    best: tuple[float, str | None] = (long_s, None)
    aboard: set[str] = set()
    for prev, leg in zip(trip.legs, trip.legs[1:], strict=False):
        if prev.to_kind == PICKUP:
            aboard.add(prev.to_id)
        elif prev.to_kind == DROPOFF:
            aboard.discard(prev.to_id)
        if leg.to_kind != PICKUP or prev.to_kind != DROPOFF or aboard or prev.to_id not in prep.dropoff_site:
            continue  # only with nothing on board may the drone land at a port
        wait = (leg.depart - prev.arrive).total_seconds() - model.service_s
        _, to_port = prep.nearest_port(model.name, prep.dropoff_site[prev.to_id])
        if wait > max(best[0], 2 * to_port / model.cruise_speed_mps + model.turnaround_s):
            best = (wait, prev.to_id)
    return best[1]


def _slack_s(
    prep: Prepared, plan: Plan, t: _Trip, params: DeconflictionParams, until: dict[str, float]
) -> float:
    """How much later the trip may depart and still meet every deadline on it (and, for a drone
    in a window between trips planned before, be back by the window's end)."""
    slack = [
        (prep.requests[leg.to_id].deadline - leg.arrive).total_seconds()
        for leg in t.trip.legs
        if leg.to_kind == DROPOFF and leg.to_id in prep.requests and leg.to_id not in plan.late
    ]
    if t.drone_id in until:
        slack.append(until[t.drone_id] - prep.seconds(t.trip.legs[-1].arrive))
    return min(slack) if slack else params.max_delay_s


def _binding(prep: Prepared, plan: Plan, trip: Trip) -> list[str]:
    """The request to leave out of a trip that cannot be placed: the one whose deadline limits
    the delay most (a normal one before an urgent one); the others are tried again without it."""
    slack = {
        leg.to_id: (prep.requests[leg.to_id].urgent, (prep.requests[leg.to_id].deadline - leg.arrive))
        for leg in trip.legs
        if leg.to_kind == DROPOFF and leg.to_id in prep.requests and leg.to_id not in plan.late
    }
    return [min(slack, key=lambda r: slack[r])] if slack else []


def _windowed(prep: Prepared, model_name: str, trip: Trip) -> bool:
    """Whether the trip lands on a pad that a temporary zone closes part of the time."""
    net = prep.networks[model_name]
    if not net.pads:
        return False
    sites = [prep.pickup_site.get(leg.to_id) if leg.to_kind == PICKUP else None for leg in trip.legs]
    sites += [prep.dropoff_site.get(leg.to_id) if leg.to_kind == DROPOFF else None for leg in trip.legs]
    sites += [prep.port_site.get(leg.to_id) for leg in trip.legs] + [prep.port_site.get(trip.legs[0].from_id)]
    return any(s is not None and s in net.pads for s in sites)


@dataclass(slots=True)
class Replay:
    """What one pass of :func:`deconflict` decided, trip by trip in its order, so that the next
    pass over the same round (the planner's passes after leaving requests out) repeats the
    decisions of its unchanged prefix instead of searching again: every decision depends only on
    the trips before it, the flights in the air and the trip itself."""

    steps: list[tuple[object, _Outcome]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One trip's placement (``trip``, ``intent``, its drone free again at ``free_at``), or the
    requests it drops, or nothing (its drone dropped a request earlier in the pass)."""

    kind: str  # "place" | "drop"
    trip: Trip | None = None
    intent: OperationalIntent | None = None
    free_at: float = 0.0
    dropped: tuple[tuple[str, str], ...] = ()
    wait_for: str | None = None  # a drop: the request after whose drop-off a port visit may help


def _key(plan: Plan, t: _Trip, dp: DronePlan | None) -> object:
    """Everything a trip's placement reads besides the placements before it (``dp``: its
    drone's plan as re-timed so far)."""
    late = tuple(r in plan.late for r in _requests(t.trip))
    nxt = None
    if not _requests(t.trip):  # a repositioning trip that fails names its drone's next trip
        nxt = dp.trips[t.number] if dp is not None and t.number < len(dp.trips) else None
    return (t.drone_id, t.number, t.fixed, t.urgent, t.trip, late, nxt)


def deconflict(
    prep: Prepared,
    plan: Plan,
    active: Sequence[OperationalIntent] = (),
    params: DeconflictionParams | None = None,
    replay: Replay | None = None,
    retime: Retime | None = None,
) -> Deconflicted:
    """Place every trip of ``plan`` without conflict (see the module docstring). ``replay``: the
    previous pass over the same round with the same ``active`` and ``params``; it is updated.

    ``retime(drone_id, left_out, breaks)``: the drone's plan re-timed without the requests
    ``left_out`` and with a port visit after the drop-off of each of ``breaks`` (None if it flies
    nothing then). Given, a drone whose trip cannot be placed is re-timed at once and its trips
    from that one on are placed in the same pass; without it (or where re-timing changes an
    earlier trip) its remaining trips are left unplaced (``unfinished``) for the caller to
    re-time the drone and call again."""
    p = params or DeconflictionParams()
    fleet = prep.problem.fleet
    frame = intent_frame(fleet)
    index = index_of(active, frame, {port.id: port.landing_spots for port in fleet.ports})
    drones = {d.id: d for d in fleet.drones}
    vehicle = {s.drone.id: v for v, s in enumerate(prep.starts)}
    current = {dp.drone_id: dp for dp in plan.drones}
    placed: dict[str, dict[int, Trip]] = {}
    ready: dict[str, float] = {}  # per drone: earliest next departure (POSIX s)
    removed: dict[str, set[str]] = {}
    breaks: dict[str, set[str]] = {}
    unfinished: set[str] = set()
    dropped: dict[str, str] = {}
    intents: list[OperationalIntent] = []
    layer_cache: dict[str, tuple[float, ...]] = {}
    until = {s.drone.id: s.until_s for s in prep.starts if s.until_s is not None}

    def decide(t: _Trip) -> _Outcome:
        model = fleet.model_of(drones[t.drone_id])
        if not t.fixed and not _windowed(prep, model.name, t.trip):
            t.trip = compacted(t.trip, model.service_s)
        depart = t.trip.legs[0].depart.timestamp()
        base = max(0.0, ready.get(t.drone_id, depart) - depart)
        alt0 = t.trip.legs[0].waypoints[0][2]
        choice: tuple[float, float] | None = (0.0, alt0)
        intent: OperationalIntent | None = None
        at_layer = _AtLayer(prep, model, t.trip)
        if t.fixed:
            intent = trip_intent(t.drone_id, t.number, t.trip, frame, p.intents)
        else:
            if model.name not in layer_cache:
                layer_cache[model.name] = allowed_layers(prep, model.name) or (model.cruise_altitude_m,)
            layers = _heading_order(prep, t.trip, layer_cache[model.name])
            slack = _slack_s(prep, plan, t, p, until)
            # A trip late as routed is the validator's to repair; placed as early as it can go.
            limit = base if _windowed(prep, model.name, t.trip) or slack < 0 else slack
            if limit < base:  # its drone's earlier trips were delayed past this one's deadline
                choice, intent, why = None, None, f"its drone is ready {base - limit:.0f} s too late"
            else:
                choice, intent, why = _search(t, layers, base, limit, index, p, at_layer)
            if choice is None:
                rids = _binding(prep, plan, t.trip)
                if not rids:  # repositioning: its drone's next trip cannot be flown from there
                    nxt = current[t.drone_id]
                    rids = _binding(prep, plan, nxt.trips[t.number]) if t.number < len(nxt.trips) else []
                if rids:
                    detail = f"no conflict-free layer or departure before its deadline: {why}"
                    wait_for = pad_break(prep, model, t.trip, p.long_wait_s) if retime is not None else None
                    return _Outcome("drop", dropped=tuple((rid, detail) for rid in rids), wait_for=wait_for)
                choice, intent = (
                    (base, alt0),
                    trip_intent(t.drone_id, t.number, moved(t.trip, base, alt0), frame, p.intents),
                )
        assert choice is not None and intent is not None
        delay, alt = choice
        trip = t.trip if t.fixed else moved(at_layer(alt), delay, alt)
        return _Outcome("place", trip, intent, trip.legs[-1].arrive.timestamp() + model.turnaround_s)

    # Each drone's trips in order; only the next of each waits to be placed.
    pending = {dp.drone_id: _drone_trips(prep, dp)[::-1] for dp in plan.drones}
    queue: list[tuple[tuple[bool, bool, float, str, int], _Trip]] = []

    def push(drone_id: str) -> None:
        if pending[drone_id]:
            u = pending[drone_id].pop()
            heapq.heappush(queue, (_rank(u, ready.get(drone_id)), u))

    def requeue(t: _Trip, battery: bool = False) -> bool:
        """Re-time ``t``'s drone and queue its trips from ``t`` on, if its earlier ones stay (and,
        with ``battery``, if every trip stays within what the drone may use)."""
        assert retime is not None
        did = t.drone_id
        again = retime(did, frozenset(removed.get(did, ())), frozenset(breaks.get(did, ())))
        if again is None:
            if did in until and t.number > 1:
                return False  # its earlier trips would leave a drone in a window at another port
            current[did] = DronePlan(did, current[did].trips[: t.number - 1])
            return True
        if again.trips[: t.number - 1] != current[did].trips[: t.number - 1]:
            return False  # e.g. an earlier trip now ends at another port
        if battery and over_budget(prep, vehicle[did], again) is not None:
            return False  # e.g. the next trip now starts from a port too far for the battery
        current[did] = again
        pending[did] = _drone_trips(prep, again, t.number)[::-1]
        push(did)
        return True

    for did in pending:
        push(did)
    before = replay.steps if replay is not None else []
    steps: list[tuple[object, _Outcome]] = []
    while queue:
        _, t = heapq.heappop(queue)
        key = _key(plan, t, current[t.drone_id]) if replay is not None else None
        pos = len(steps)
        if pos < len(before) and before[pos][0] == key:
            outcome = before[pos][1]
        else:
            before = []  # the unchanged prefix ends here: every later decision is made afresh
            outcome = decide(t)
        steps.append((key, outcome))
        if outcome.kind == "drop":
            did, brk = t.drone_id, outcome.wait_for
            if brk is not None and brk not in breaks.get(did, set()):
                # Before leaving anything out: the drone waits at a port instead of on a pad.
                breaks.setdefault(did, set()).add(brk)
                if requeue(t, battery=True):
                    continue
                breaks[did].discard(brk)
            dropped.update(outcome.dropped)
            removed.setdefault(did, set()).update(rid for rid, _ in outcome.dropped)
            if retime is None or not requeue(t):
                unfinished.add(did)
        else:
            assert outcome.trip is not None and outcome.intent is not None
            index.add(outcome.intent)
            intents.append(outcome.intent)
            placed.setdefault(t.drone_id, {})[t.number] = outcome.trip
            ready[t.drone_id] = outcome.free_at
            push(t.drone_id)
    if replay is not None:
        replay.steps = steps
    new_drones = tuple(
        DronePlan(did, tuple(placed.get(did, {}).get(k, tr) for k, tr in enumerate(current[did].trips, 1)))
        for did in (dp.drone_id for dp in plan.drones)
    )
    service = {d.id: fleet.model_of(d).service_s for d in fleet.drones}
    kept = replace(plan, etas={r: e for r, e in plan.etas.items() if r not in dropped})
    etas = _etas(kept, new_drones, service)
    intents.sort(key=lambda i: (i.drone_id, i.trip))
    return Deconflicted(
        new_drones,
        etas,
        tuple(intents),
        dropped,
        frozenset(unfinished),
        {did: frozenset(b) for did, b in breaks.items() if b},
    )


class _AtLayer:
    """A trip as flown at a cruise layer (computed when a layer is first tried): over terrain with
    its own profiles and climbs (:func:`relayered`), over flat ground :func:`moved` to it (its
    climb-out and glide-in take as long as the layer's height needs); at its own layer, itself."""

    def __init__(self, prep: Prepared, model: DroneModel, trip: Trip) -> None:
        self.area, self.model, self.trip = prep.problem.terrain, model, trip
        self.own = trip.legs[0].waypoints[0][2] if trip.legs and trip.legs[0].waypoints else None
        self._done: dict[float, Trip] = {}

    def __call__(self, altitude_m: float) -> Trip:
        if altitude_m == self.own:
            return self.trip
        if altitude_m not in self._done:
            self._done[altitude_m] = (
                moved(self.trip, 0.0, altitude_m)  # its climb-out and glide-in last longer or less
                if self.area is None
                else relayered(self.trip, self.area, self.model, altitude_m)
            )
        return self._done[altitude_m]


def _search(
    t: _Trip,
    layers: list[float],
    base: float,
    limit: float,
    index: IntentIndex,
    p: DeconflictionParams,
    at_layer: Callable[[float], Trip] | None = None,
) -> tuple[tuple[float, float] | None, OperationalIntent | None, str]:
    """The least delay in ``[base, limit]`` (then the preferred layer) with no conflict.
    ``at_layer``: the trip as flown at a layer (over terrain each layer has its own profile)."""
    if not layers or base > limit + 1e-9:
        return None, None, "no layer" if not layers else "no time left before its deadlines"
    templates: dict[int, OperationalIntent] = {}  # by the id of the trip at the layer

    def template(alt: float) -> OperationalIntent:
        trip = t.trip if at_layer is None else at_layer(alt)
        if id(trip) not in templates:
            templates[id(trip)] = trip_intent(t.drone_id, t.number, trip, index.frame, p.intents)
        return templates[id(trip)]

    half = p.intents.half_band_m
    shapes: dict[int, Shape] = {}  # by layer position: the trip there at delay 0

    def shape(k: int) -> Shape:
        if k not in shapes:
            shapes[k] = Shape(index, shifted(template(layers[k]), 0.0, layers[k], half).volumes)
        return shapes[k]

    # No separate test of "free at once": measured on a city's round, 93 % of trips are not (the
    # ports' take-offs), and the search's first window answers it (ties go to the preferred
    # layer). Its answer needs no second reading: the forbidden delays it avoided, read over the
    # whole window, include those read at that one delay (routing.delay_search).
    got = least_delay(index, t.drone_id, _Lazy(shape, len(layers)), base, limit)
    if got is not None:
        delay, k = got
        return (delay, layers[k]), shifted(template(layers[k]), delay, layers[k], half), ""
    first = shifted(template(layers[0]), base, layers[0], half)
    found = index.conflicts(first, first_volume=True)  # why it could not leave at once
    return None, None, str(found[0]) if found else "no conflict-free delay before its deadlines"


class _Lazy:
    """The trip's shapes by layer (:class:`routing.delay_search.Layers`), each made when read."""

    def __init__(self, make: Callable[[int], Shape], n: int) -> None:
        self._make, self._n = make, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k: int, /) -> Shape:
        if not 0 <= k < self._n:
            raise IndexError(k)
        return self._make(k)


def flown(trip: Trip, service_s: float, depart: datetime) -> Trip:
    """``trip`` as a drone flies it when started at ``depart``: its legs back to back, each stop
    taking exactly ``service_s`` (a drone waits nowhere but on the ground before take-off)."""
    legs = []
    t = depart
    for leg in trip.legs:
        duration = leg.arrive - leg.depart
        legs.append(replace(leg, depart=t, arrive=t + duration))
        t = t + duration + timedelta(seconds=service_s)
    return Trip(tuple(legs))


def place_trip(
    drone_id: str,
    trip_no: int,
    trip: Trip,
    *,
    service_s: float,
    earliest: datetime,
    deadlines: dict[str, datetime],
    index: IntentIndex,
    params: DeconflictionParams | None = None,
) -> tuple[Trip, OperationalIntent] | str:
    """Place a planned trip for commitment: flown back to back (:func:`flown`), departing no
    earlier than ``earliest`` nor than its planned departure, and (if its deadlines allow) late
    enough that no pickup comes before its planned time; then the least ground delay (in whole
    seconds, :func:`routing.delay_search.least_delay`) whose intent conflicts with none in
    ``index`` while every delivery meets its deadline (``deadlines``: request id -> deadline).
    Returns the trip and its intent, or why it cannot be placed now (the trip is then not
    committed; the next round plans again)."""
    p = params or DeconflictionParams()
    if not trip.legs:
        return "an empty trip"
    start = max(earliest, trip.legs[0].depart)
    at_start = flown(trip, service_s, start)
    # Planned service start at each pickup vs. when the back-to-back trip gets there.
    early = [
        (trip.legs[i + 1].depart - timedelta(seconds=service_s) - at_start.legs[i].arrive).total_seconds()
        for i in range(len(trip.legs) - 1)
        if trip.legs[i].to_kind == PICKUP
    ]
    slack = [
        (deadlines[leg.to_id] - leg.arrive).total_seconds()
        for leg in at_start.legs
        if leg.to_kind == DROPOFF and leg.to_id in deadlines
    ]
    limit = min(slack) if slack else p.max_delay_s
    if limit < 0:
        return f"it can no longer meet a deadline (late by {-limit:.0f} s)"
    base = min(max([0.0, *early]), limit)
    alt = trip.legs[0].waypoints[0][2]
    template = trip_intent(drone_id, trip_no, at_start, index.frame, p.intents)
    half = p.intents.half_band_m
    at_zero = shifted(template, 0.0, alt, half).volumes
    why = ""
    sought = base
    while (got := least_delay(index, drone_id, [at_zero], sought, limit)) is not None:
        delay = got[0]
        intent = shifted(template, delay, alt, half)
        found = index.conflicts(intent, first_volume=True)
        if not found:
            return moved(at_start, delay, alt), intent
        why = str(found[0])
        sought = delay + 1.0  # a rounding edge the exact check refuses: on to the next second
    if not why:
        found = index.conflicts(shifted(template, base, alt, half), first_volume=True)
        why = str(found[0]) if found else "none within the limit"
    return f"no conflict-free departure before its deadline: {why}"
