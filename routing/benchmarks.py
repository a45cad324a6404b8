"""Solomon (VRPTW) and Li & Lim (PDPTW) benchmark instances: parsers, mapping, independent checker.

The parsers take the text of an instance file (reading files is the caller's business, so this
module stays pure) and raise :class:`BenchmarkFormatError` naming the source, the line and the
field of anything they cannot read. :func:`to_instance` maps a parsed benchmark onto the generic
:class:`~routing.instance.Instance` in integers; :func:`check_routes` recomputes the cost of a
solution from the original numbers (double precision for Li & Lim, the truncated one-decimal
convention for Solomon) and verifies its feasibility, independently of any engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from routing.instance import Instance, VehicleSpec

Kind = Literal["vrptw", "pdptw"]

# Integer scaling of the engines' data. Li & Lim distances are doubles: a thousandth keeps the
# rounding of the objective below 0.01 per route. Solomon's distance-only convention is exact in
# tenths.
LILIM_SCALE = 1000
SOLOMON_SCALE = 10


class BenchmarkFormatError(ValueError):
    """An instance text that cannot be read; the message names source, line and field."""


class SolutionCheckError(ValueError):
    """A benchmark solution that is infeasible or incomplete; ``problems`` lists every violation."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:10]) + (f"; ... ({len(problems)} problems)" if len(problems) > 10 else "")
        super().__init__(f"{source}: infeasible solution: {shown}")


@dataclass(frozen=True, slots=True)
class BenchmarkInstance:
    """A benchmark instance exactly as published (node 0 is the depot)."""

    name: str
    kind: Kind
    vehicles: int
    capacity: int
    x: np.ndarray  # (n,) float
    y: np.ndarray  # (n,) float
    demand: np.ndarray  # (n,) int
    earliest: np.ndarray  # (n,) int
    latest: np.ndarray  # (n,) int
    service: np.ndarray  # (n,) int
    pairs: tuple[tuple[int, int], ...]  # (pickup, delivery); empty for VRPTW

    @property
    def n_nodes(self) -> int:
        """Number of nodes, depot included."""
        return int(self.x.shape[0])

    def euclid(self) -> np.ndarray:
        """(n, n) Euclidean distances in double precision."""
        return np.hypot(self.x[:, None] - self.x[None, :], self.y[:, None] - self.y[None, :])


@dataclass(frozen=True, slots=True)
class CheckedSolution:
    """The cost of a benchmark solution as the independent checker computes it."""

    vehicles: int
    distance: float


def _number(token: str, source: str, line_no: int, field: str, *, integer: bool) -> float:
    try:
        value = float(token)
    except ValueError:
        raise BenchmarkFormatError(f"{source}:{line_no}: field {field!r}: not a number: {token!r}") from None
    if not math.isfinite(value):
        raise BenchmarkFormatError(f"{source}:{line_no}: field {field!r}: not finite: {token!r}")
    if integer and value != int(value):
        raise BenchmarkFormatError(f"{source}:{line_no}: field {field!r}: not an integer: {token!r}")
    return value


def _fields(line: str, names: tuple[str, ...], source: str, line_no: int) -> list[str]:
    tokens = line.split()
    if len(tokens) != len(names):
        raise BenchmarkFormatError(
            f"{source}:{line_no}: expected {len(names)} fields ({' '.join(names)}), got {len(tokens)}"
        )
    return tokens


_NODE_FIELDS = ("id", "x", "y", "demand", "earliest", "latest", "service")


def _check_windows(source: str, line_no: int, earliest: float, latest: float) -> None:
    if latest < earliest:
        raise BenchmarkFormatError(
            f"{source}:{line_no}: field 'latest': {latest:g} before earliest {earliest:g}"
        )


def parse_lilim(text: str, source: str) -> BenchmarkInstance:
    """Parse a Li & Lim PDPTW instance (``K Q S`` then ``id x y demand e l s pickup delivery``)."""
    lines = [(no, line) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise BenchmarkFormatError(f"{source}:1: empty file")
    head_no, head = lines[0]
    k, q, _speed = (
        _number(t, source, head_no, f, integer=f != "speed")
        for t, f in zip(
            _fields(head, ("vehicles", "capacity", "speed"), source, head_no),
            ("vehicles", "capacity", "speed"),
            strict=True,
        )
    )
    names = (*_NODE_FIELDS, "pickup", "delivery")
    rows: list[list[float]] = []
    for line_no, line in lines[1:]:
        tokens = _fields(line, names, source, line_no)
        row = [
            _number(t, source, line_no, f, integer=f not in ("x", "y"))
            for t, f in zip(tokens, names, strict=True)
        ]
        if int(row[0]) != len(rows):
            raise BenchmarkFormatError(
                f"{source}:{line_no}: field 'id': expected {len(rows)}, got {tokens[0]}"
            )
        _check_windows(source, line_no, row[4], row[5])
        rows.append(row)
    if len(rows) < 3:
        raise BenchmarkFormatError(f"{source}:{head_no}: no customers after the header")
    line_of = {i: no for i, (no, _) in enumerate(lines[1:])}
    pairs: list[tuple[int, int]] = []
    for i, row in enumerate(rows[1:], start=1):
        demand, pickup, delivery = int(row[3]), int(row[7]), int(row[8])
        where = f"{source}:{line_of[i]}"
        if demand > 0:
            if not 0 < delivery < len(rows) or pickup != 0:
                raise BenchmarkFormatError(f"{where}: field 'delivery': pickup {i} names delivery {delivery}")
            partner = rows[delivery]
            if int(partner[7]) != i or int(partner[3]) != -demand:
                raise BenchmarkFormatError(
                    f"{where}: field 'delivery': node {delivery} is not the delivery of pickup {i} "
                    f"(its pickup field is {int(partner[7])}, demand {int(partner[3])})"
                )
            pairs.append((i, delivery))
        elif demand < 0:
            if not 0 < pickup < len(rows) or delivery != 0:
                raise BenchmarkFormatError(f"{where}: field 'pickup': delivery {i} names pickup {pickup}")
            if int(rows[pickup][8]) != i:
                raise BenchmarkFormatError(
                    f"{where}: field 'pickup': node {pickup} does not name {i} as delivery"
                )
        else:
            raise BenchmarkFormatError(
                f"{where}: field 'demand': 0 for a customer (neither pickup nor delivery)"
            )
    return _build(_stem(source), "pdptw", int(k), int(q), rows, tuple(pairs))


def parse_solomon(text: str, source: str) -> BenchmarkInstance:
    """Parse a Solomon VRPTW instance (name, VEHICLE block, CUSTOMER table)."""
    lines = [(no, line) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise BenchmarkFormatError(f"{source}:1: empty file")
    name = lines[0][1].strip()
    try:
        vehicle_at = next(i for i, (_, line) in enumerate(lines) if line.strip().upper() == "VEHICLE")
        customer_at = next(i for i, (_, line) in enumerate(lines) if line.strip().upper() == "CUSTOMER")
    except StopIteration:
        raise BenchmarkFormatError(f"{source}:1: missing the VEHICLE or CUSTOMER section header") from None
    if customer_at < vehicle_at + 3:
        raise BenchmarkFormatError(
            f"{source}:{lines[vehicle_at][0]}: VEHICLE section has no 'number capacity' line"
        )
    v_no, v_line = lines[vehicle_at + 2]
    k, q = (
        int(_number(t, source, v_no, f, integer=True))
        for t, f in zip(
            _fields(v_line, ("number", "capacity"), source, v_no), ("number", "capacity"), strict=True
        )
    )
    rows: list[list[float]] = []
    for line_no, line in lines[customer_at + 2 :]:
        tokens = _fields(line, _NODE_FIELDS, source, line_no)
        row = [
            _number(t, source, line_no, f, integer=f not in ("x", "y"))
            for t, f in zip(tokens, _NODE_FIELDS, strict=True)
        ]
        if int(row[0]) != len(rows):
            raise BenchmarkFormatError(
                f"{source}:{line_no}: field 'id': expected {len(rows)}, got {tokens[0]}"
            )
        if len(rows) > 0 and row[3] < 0:
            raise BenchmarkFormatError(f"{source}:{line_no}: field 'demand': negative ({tokens[3]})")
        _check_windows(source, line_no, row[4], row[5])
        rows.append(row)
    if len(rows) < 2:
        raise BenchmarkFormatError(f"{source}:{lines[customer_at][0]}: no customers in the CUSTOMER table")
    return _build(name or source, "vrptw", k, q, rows, ())


def _stem(source: str) -> str:
    return source.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _build(
    name: str, kind: Kind, k: int, q: int, rows: list[list[float]], pairs: tuple[tuple[int, int], ...]
) -> BenchmarkInstance:
    a = np.array([r[:7] for r in rows], dtype=float)
    return BenchmarkInstance(
        name=name,
        kind=kind,
        vehicles=k,
        capacity=q,
        x=a[:, 1].copy(),
        y=a[:, 2].copy(),
        demand=a[:, 3].astype(np.int64),
        earliest=a[:, 4].astype(np.int64),
        latest=a[:, 5].astype(np.int64),
        service=a[:, 6].astype(np.int64),
        pairs=pairs,
    )


def solomon_distance_tenths(bench: BenchmarkInstance) -> np.ndarray:
    """Distance-only convention: floor(10 * d) as int64 (tenths), exact."""
    # The epsilon protects integral distances (e.g. 5.0 computed as 4.9999999) from losing a tenth.
    return np.floor(bench.euclid() * 10 + 1e-9).astype(np.int64)


def to_instance(bench: BenchmarkInstance) -> Instance:
    """Map a benchmark onto the generic Instance (integers, node ids unchanged, depot 0).

    Solomon follows the distance-only convention (no vehicle cost). Li & Lim follows vehicles
    first: every vehicle carries a fixed cost larger than any possible total distance. Travel times
    are rounded up, so a schedule the engine finds is feasible in the original doubles too.
    """
    n = bench.n_nodes
    if bench.kind == "vrptw":
        scale = SOLOMON_SCALE
        distance = solomon_distance_tenths(bench)
        flight = distance
        fixed_cost = 0
    else:
        scale = LILIM_SCALE
        exact = bench.euclid() * scale
        distance = np.rint(exact).astype(np.int64)
        flight = np.ceil(exact - 1e-6).astype(np.int64)
        # Any route visits each node once, so the sum of the largest arc out of every node bounds it.
        fixed_cost = int(distance.max(axis=1).sum()) + 1
    travel = flight + (bench.service * scale)[:, None]
    np.fill_diagonal(travel, 0)
    windows = np.stack([bench.earliest * scale, bench.latest * scale], axis=1).astype(np.int64)
    vehicles = [
        VehicleSpec(start=0, end=0, capacity=bench.capacity, fixed_cost=fixed_cost)
        for _ in range(bench.vehicles)
    ]
    customers = range(1, n)
    return Instance(
        distance=[distance],
        travel_time=[travel],
        time_windows=windows,
        demand=bench.demand.astype(np.int64).copy(),
        vehicles=vehicles,
        horizon=int(windows[0, 1]),
        pairs=list(bench.pairs),
        pair_penalty=[None] * len(bench.pairs),
        pair_vehicles=[None] * len(bench.pairs),
        node_penalty={} if bench.pairs else dict.fromkeys(customers),
    )


def check_routes(bench: BenchmarkInstance, routes: list[list[int]]) -> CheckedSolution:
    """Verify a solution against the published data and return its vehicles and distance.

    ``routes`` list each used vehicle's customers without the depot. Li & Lim is checked and
    costed in double precision, Solomon in the truncated one-decimal convention (exact tenths).
    Raises :class:`SolutionCheckError` listing every violation.
    """
    problems: list[str] = []
    routes = [list(r) for r in routes if r]
    n = bench.n_nodes
    if bench.kind == "vrptw":
        dist = solomon_distance_tenths(bench).astype(float)
        unit = 10.0
    else:
        dist = bench.euclid()
        unit = 1.0
    seen: dict[int, int] = {}
    for r, route in enumerate(routes):
        for node in route:
            if not 0 < node < n:
                problems.append(f"route {r}: node {node} is not a customer")
            elif node in seen:
                problems.append(f"node {node} visited twice (routes {seen[node]} and {r})")
            else:
                seen[node] = r
    missing = sorted(set(range(1, n)) - set(seen))
    if missing:
        problems.append(f"customers never visited: {missing[:20]}{' ...' if len(missing) > 20 else ''}")
    if len(routes) > bench.vehicles:
        problems.append(f"{len(routes)} routes but only {bench.vehicles} vehicles")
    if problems:
        raise SolutionCheckError(bench.name, problems)

    total = 0.0
    for r, route in enumerate(routes):
        load = 0
        time = float(bench.earliest[0]) * unit
        prev = 0
        position: dict[int, int] = {}
        for pos, node in enumerate([*route, 0]):
            total += dist[prev, node]
            time = max(time + bench.service[prev] * unit + dist[prev, node], bench.earliest[node] * unit)
            if time > bench.latest[node] * unit + 1e-9:
                where = "the depot" if node == 0 else f"node {node}"
                problems.append(
                    f"route {r}: arrives at {where} at {time / unit:.4f}, after latest {bench.latest[node]}"
                )
            if node != 0:
                load += int(bench.demand[node])
                position[node] = pos
                if load > bench.capacity:
                    problems.append(f"route {r}: load {load} over capacity {bench.capacity} at node {node}")
                if load < 0:
                    problems.append(f"route {r}: negative load {load} at node {node}")
            prev = node
        for pickup, delivery in bench.pairs:
            if pickup in position or delivery in position:
                if pickup not in position or delivery not in position:
                    problems.append(f"route {r}: pair ({pickup}, {delivery}) split across routes")
                elif position[pickup] > position[delivery]:
                    problems.append(f"route {r}: delivery {delivery} before its pickup {pickup}")
    if problems:
        raise SolutionCheckError(bench.name, problems)
    return CheckedSolution(vehicles=len(routes), distance=float(total / unit))


def parse_solution_routes(text: str, source: str) -> list[list[int]]:
    """Read the routes of a ``.sol`` file (``Route #1: 5 3 7`` or ``Route 1 : 5 3 7`` lines)."""
    routes: list[list[int]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        head, sep, rest = line.partition(":")
        if not sep or not head.strip().lower().startswith("route"):
            continue
        try:
            routes.append([int(t) for t in rest.split()])
        except ValueError:
            raise BenchmarkFormatError(
                f"{source}:{line_no}: field 'route': not a list of node ids: {rest.strip()!r}"
            ) from None
    if not routes:
        raise BenchmarkFormatError(f"{source}:1: no 'Route' lines")
    return routes


def detect_kind(text: str) -> Kind:
    """ "vrptw" for Solomon text (it has a VEHICLE section), "pdptw" for Li & Lim."""
    return "vrptw" if any(line.strip().upper() == "VEHICLE" for line in text.splitlines()[:10]) else "pdptw"


def parse_benchmark(text: str, source: str, kind: Kind | None = None) -> BenchmarkInstance:
    """Parse ``text`` as ``kind`` (detected from the text when None)."""
    kind = kind or detect_kind(text)
    return parse_solomon(text, source) if kind == "vrptw" else parse_lilim(text, source)
