"""Exact shortest paths among polygonal obstacles: a vectorised bitangent visibility graph.

Everything here is pure geometry in metres (a :class:`~airspace.frame.LocalFrame`); no I/O.

Obstacles are the margin-buffered, outside-approximated zone shapes ``B_z``
(:mod:`airspace.obstacles`). A path is *clear* when it never enters the interior of any ``B_z``;
touching a boundary (running along an edge, grazing a vertex) is allowed. Epsilon policy: each
``B_z`` is tested through its erosion by :data:`EPSILON_M` (1 micrometre), so a touching segment is
robustly accepted and a clear path may dip at most 1 micrometre into ``B_z`` -- which itself lies
outside the true margin region, so the clearance to the true footprint is at least
``margin_m - 1e-6`` m.

Graph nodes are the convex vertices of the union of all ``B_z`` (a vertex inside another obstacle
is therefore never a node). A shortest path bends only at such vertices, and only where it is
tangent: at a vertex ``v`` both ring neighbours of ``v`` lie on the same side of the segment's
line. That test is done on whole arrays of vertex pairs with numpy before any shapely call, which
leaves about four candidate segments per pair of obstacles instead of all vertex pairs.

Pads (the endpoints) inside a margin band. A pad outside every footprint but inside ``B_z`` of a
zone ``z`` may still take off and land: the leg leaving it (and the leg arriving at it) is checked
against ``z`` differently -- the part from the pad to where the leg first leaves ``B_z`` must never
come closer to the footprint of ``z`` (as written) than ``c``, and the rest of the leg must not
re-enter ``B_z``. ``c`` is the pad's own clearance, capped at ``margin_m`` (a pad in the
approximation slack only keeps the margin) but at least :data:`MIN_CLEARANCE_M` for a zone without
margin; the tolerance on it never lets the leg touch the footprint. Such a pad also reaches the
nodes on ``B_z`` from inside, where tangency does not apply. Every other zone, and every other
leg, keeps the full margin. Pads are never intermediate nodes, so this relaxation applies to their
own first and last legs only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from airspace.obstacles import Footprint

EPSILON_M: float = 1e-6
MIN_CLEARANCE_M: float = 0.01  # what a leg leaving a pad near a zero-margin zone keeps from it
_TANGENT_RTOL = 1e-6
# A vertex turning by less than this (radians) is straight: bending there gains under 1e-6 m.
_CONVEX_RTOL = 1e-9
_DUPLICATE_M = 1e-7
_CHUNK = 512
_SEGMENT_CHUNK = 100_000


@dataclass
class ObstacleField:
    """The obstacles of one active zone set, with their node set and node-to-node visibility edges."""

    zone_ids: list[str]
    footprints: list[Footprint]
    margins: np.ndarray  # (Z,)
    buffered: np.ndarray  # (Z,) object: B_z
    eroded: np.ndarray  # (Z,) object: B_z eroded by EPSILON_M
    tree: shapely.STRtree  # over ``eroded``
    union_parts: list[Polygon]
    nodes: np.ndarray  # (V, 2) convex vertices of the union
    node_prev: np.ndarray  # (V, 2) ring neighbours of each node
    node_next: np.ndarray  # (V, 2)
    tangency: _Tangency
    centres: np.ndarray  # (Z, 2) bounding-circle centres of the eroded shapes
    outer_r: np.ndarray  # (Z,) radius of a circle containing each eroded shape
    inner_centres: np.ndarray  # (Z, 2) centres of discs inside the eroded shapes
    inner_r: np.ndarray  # (Z,) their radii (0: unknown)
    edge_i: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    edge_j: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    edge_w: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    cache: dict[tuple[str, int], np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of graph nodes (obstacle vertices)."""
        return len(self.nodes)


def _cross(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    return ax * by - ay * bx


def _convex_vertices(parts: list[Polygon]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convex vertices of polygon parts (interior on the left of every ring), with ring neighbours."""
    pts, prv, nxt = [], [], []
    for part in parts:
        part = orient(part, sign=1.0)  # exterior CCW, holes CW: the obstacle is on the left
        for ring in (part.exterior, *part.interiors):
            c = np.asarray(ring.coords)[:-1, :2]
            # near-duplicate vertices (noise of the unions) would give neighbour directions at random
            step = c - np.roll(c, 1, axis=0)
            c = c[np.hypot(step[:, 0], step[:, 1]) > _DUPLICATE_M]
            if len(c) < 3:
                continue
            p, n = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
            e1, e2 = c - p, n - c
            turn = _cross(e1[:, 0], e1[:, 1], e2[:, 0], e2[:, 1])
            scale = np.hypot(e1[:, 0], e1[:, 1]) * np.hypot(e2[:, 0], e2[:, 1])
            convex = turn > _CONVEX_RTOL * scale
            pts.append(c[convex])
            prv.append(p[convex])
            nxt.append(n[convex])
    if not pts:
        empty = np.zeros((0, 2))
        return empty, empty, empty
    return np.concatenate(pts), np.concatenate(prv), np.concatenate(nxt)


class _Tangency:
    """Tangency at graph nodes as linear forms, so whole blocks of pairs cost two matrix products.

    For a node ``w`` with unit neighbour directions ``n1``, ``n2``, the side of the neighbours
    relative to the line through ``w`` and a point ``o`` is the sign of ``cross(o - w, n)``, an
    affine function of ``o``. A segment is tangent at ``w`` unless the two neighbours are strictly
    on opposite sides (beyond a tolerance ``tol``, which is permissive: it only prunes candidates,
    the clearance test decides).

    The forms are evaluated in float32 (this is the O(V^2) step): rounding is a few times 6e-8 of
    the area's extent, and the tolerance (1e-6 of the extent, 4 cm across 40 km) covers it, so a
    truly tangent segment is never pruned; the extra candidates cost only clearance tests.
    """

    def __init__(self, nodes: np.ndarray, prev: np.ndarray, nxt: np.ndarray, extent: float) -> None:
        n1 = _unit(prev - nodes)
        n2 = _unit(nxt - nodes)
        m1 = np.vstack([n1[:, 1], -n1[:, 0]])  # (2, V): o @ m1 = cross(o, n1)
        m2 = np.vstack([n2[:, 1], -n2[:, 0]])
        self.m1, self.m2 = m1.astype(np.float32), m2.astype(np.float32)
        self.c1 = np.einsum("ij,ji->i", nodes, m1).astype(np.float32)
        self.c2 = np.einsum("ij,ji->i", nodes, m2).astype(np.float32)
        self.tol = np.float32(_TANGENT_RTOL * max(extent, 1.0))

    def _ok(self, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
        low = np.minimum(a1, a2)
        np.maximum(a1, a2, out=a1)
        return (low >= -self.tol) | (a1 <= self.tol)

    def at_nodes(self, others: np.ndarray, cols: slice = slice(None)) -> np.ndarray:
        """(k, V') bool: the segment from ``others[r]`` to node ``c`` is tangent at the node."""
        others = others.astype(np.float32)
        ox, oy = others[:, 0:1], others[:, 1:2]
        a1 = ox * self.m1[0, cols]
        a1 += oy * self.m1[1, cols]
        a1 -= self.c1[cols]
        a2 = ox * self.m2[0, cols]
        a2 += oy * self.m2[1, cols]
        a2 -= self.c2[cols]
        return self._ok(a1, a2)

    def from_nodes(self, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
        """(k, M) bool: the segment from node ``rows[r]`` to ``others[c]`` is tangent at the node."""
        others = others.astype(np.float32)
        ox, oy = others[:, 0], others[:, 1]
        a1 = self.m1[0, rows, None] * ox
        a1 += self.m1[1, rows, None] * oy
        a1 -= self.c1[rows, None]
        a2 = self.m2[0, rows, None] * ox
        a2 += self.m2[1, rows, None] * oy
        a2 -= self.c2[rows, None]
        return self._ok(a1, a2)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.hypot(v[:, 0], v[:, 1])
    return v / np.where(norm > 0, norm, 1.0)[:, None]


@dataclass
class PadBands:
    """For each pad: the zones whose margin band holds it, with the clearance its legs must keep.

    That clearance is the pad's distance to the footprint, capped at the zone's margin (or at
    :data:`MIN_CLEARANCE_M` for a zone without margin).
    """

    bands: list[dict[int, float]]

    def keys(self, n_zones: int) -> np.ndarray:
        """Integer keys ``pad * n_zones + zone`` of every (pad, band zone) pair."""
        return np.array([p * n_zones + z for p, b in enumerate(self.bands) for z in b], dtype=np.int64)


def build_field(
    zone_ids: list[str], footprints: list[Footprint], margins: list[float], buffered: list[BaseGeometry]
) -> ObstacleField:
    """Build the obstacle field of a zone set and its node-to-node visibility edges."""
    buf = np.array(buffered, dtype=object) if buffered else np.zeros(0, dtype=object)
    eroded = shapely.buffer(buf, -EPSILON_M) if len(buf) else buf
    shapely.prepare(eroded)
    union = shapely.union_all(buf) if len(buf) else Polygon()
    parts = [g for g in shapely.get_parts(union) if isinstance(g, Polygon) and not g.is_empty]
    nodes, prv, nxt = _convex_vertices(parts)
    centres, outer_r, inner_centres, inner_r = _bounding_discs(eroded, footprints, margins)
    extent = float(np.abs(nodes).max()) * 2 if len(nodes) else 1.0
    obstacle = ObstacleField(
        zone_ids=zone_ids,
        footprints=footprints,
        margins=np.asarray(margins, dtype=float),
        buffered=buf,
        eroded=eroded,
        tree=shapely.STRtree(eroded),
        union_parts=parts,
        nodes=nodes,
        node_prev=prv,
        node_next=nxt,
        tangency=_Tangency(nodes, prv, nxt, extent),
        centres=centres,
        outer_r=outer_r,
        inner_centres=inner_centres,
        inner_r=inner_r,
    )
    _add_node_edges(obstacle)
    return obstacle


def _bounding_discs(
    eroded: np.ndarray, footprints: list[Footprint], margins: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per shape, for fast culling: an enclosing disc (centre, radius) and a disc inside it
    (centre, radius; radius 0 when unknown)."""
    z = len(eroded)
    centres = np.zeros((z, 2))
    outer = np.zeros(z)
    inner_centres = np.zeros((z, 2))
    inner = np.zeros(z)
    for k in range(z):
        coords = shapely.get_coordinates(eroded[k])
        fp = footprints[k]
        if fp.radius_m > 0:
            centres[k] = inner_centres[k] = (fp.geometry.x, fp.geometry.y)
            # the eroded circumscribed n-gon contains the disc of radius R + margin - epsilon
            inner[k] = max(fp.radius_m + margins[k] - 2 * EPSILON_M, 0.0)
        elif len(coords):
            centres[k] = (coords.min(axis=0) + coords.max(axis=0)) / 2
            if isinstance(eroded[k], Polygon):
                radius_line = shapely.maximum_inscribed_circle(eroded[k])
                ends = shapely.get_coordinates(radius_line)
                inner_centres[k] = ends[0]
                # the segment from the centre to the nearest boundary point: that disc is inside
                inner[k] = max(float(np.hypot(*(ends[1] - ends[0]))) * (1 - 1e-9) - 1e-9, 0.0)
        if len(coords):
            outer[k] = np.hypot(*(coords - centres[k]).T).max() * (1 + 1e-9) + 1e-9
    return centres, outer, inner_centres, inner


def _segment_point_distance(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distance from points c[k] to segments a[k]-b[k] (arrays (M, 2))."""
    ax, ay = a[:, 0], a[:, 1]
    dx, dy = b[:, 0] - ax, b[:, 1] - ay
    wx, wy = c[:, 0] - ax, c[:, 1] - ay
    dd = dx * dx + dy * dy
    t = (wx * dx + wy * dy) / np.where(dd > 0, dd, 1.0)
    np.clip(t, 0.0, 1.0, out=t)
    return np.hypot(wx - t * dx, wy - t * dy)


def _add_node_edges(f: ObstacleField) -> None:
    v = f.size
    if v < 2:
        return
    tangency = f.tangency
    cand_i, cand_j = [], []
    for s in range(0, v, _CHUNK):
        rows = np.arange(s, min(s + _CHUNK, v))
        cols = slice(s, v)  # upper triangle only: j > i is masked below
        ok = tangency.at_nodes(f.nodes[rows], cols) & tangency.from_nodes(rows, f.nodes[cols])
        ok &= np.arange(s, v)[None, :] > rows[:, None]
        i, j = np.nonzero(ok)
        cand_i.append(rows[i])
        cand_j.append(j + s)
    ci, cj = np.concatenate(cand_i), np.concatenate(cand_j)
    length = np.hypot(*(f.nodes[cj] - f.nodes[ci]).T)
    keep = length > 0
    ci, cj, length = ci[keep], cj[keep], length[keep]
    blocked = segments_blocked(f, f.nodes[ci], f.nodes[cj])
    f.edge_i, f.edge_j, f.edge_w = ci[~blocked], cj[~blocked], length[~blocked]


def pad_bands(f: ObstacleField, pads: np.ndarray) -> PadBands:
    """Find, for each pad, the zones whose (eroded) buffered shape holds it and its clearance to them."""
    bands: list[dict[int, float]] = [{} for _ in range(len(pads))]
    if len(pads) == 0 or len(f.eroded) == 0:
        return PadBands(bands)
    pts = shapely.points(pads)
    p_idx, z_idx = f.tree.query(pts, predicate="intersects")
    for p, z in zip(p_idx.tolist(), z_idx.tolist(), strict=True):
        # A pad in the approximation slack (clearance >= margin) only needs to keep the margin;
        # with a zero margin it must still keep off the footprint (MIN_CLEARANCE_M).
        own = float(f.footprints[z].distance(pts[p]))
        bands[p][z] = min(own, max(float(f.margins[z]), MIN_CLEARANCE_M))
    return PadBands(bands)


def _ring_edges(f: ObstacleField, z: int) -> np.ndarray:
    """(k, 2, 2) boundary edges of ``B_z`` (cached on the field)."""
    cached = f.cache.get(("edges", z))
    if cached is None:
        rings = []
        for part in shapely.get_parts(f.buffered[z]):
            for ring in (part.exterior, *part.interiors):
                c = np.asarray(ring.coords)[:, :2]
                rings.append(np.stack([c[:-1], c[1:]], axis=1))
        cached = f.cache[("edges", z)] = np.concatenate(rings)
    return cached


def _nodes_on(f: ObstacleField, z: int) -> np.ndarray:
    """Indices of the graph nodes on the boundary of ``B_z`` (cached on the field)."""
    cached = f.cache.get(("nodes", z))
    if cached is None:
        near = shapely.dwithin(f.buffered[z].boundary, shapely.points(f.nodes), 1e-7)
        cached = f.cache[("nodes", z)] = np.flatnonzero(near)
    return cached


def _exit_params(starts: np.ndarray, d: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per ray ``starts[k] + t * d[k]``: the smallest t > 0 where it meets one of the edges (inf: never)."""
    e0, fvec = edges[None, :, 0], edges[None, :, 1] - edges[None, :, 0]  # (1, E, 2)
    dx, dy = d[:, 0:1], d[:, 1:2]
    denom = dx * fvec[..., 1] - dy * fvec[..., 0]
    wx, wy = e0[..., 0] - starts[:, 0:1], e0[..., 1] - starts[:, 1:2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (wx * fvec[..., 1] - wy * fvec[..., 0]) / denom
        u = (wx * dy - wy * dx) / denom
    ok = (denom != 0) & (u >= 0) & (u <= 1) & (t > 0)
    return np.where(ok, t, np.inf).min(axis=1) if edges.size else np.full(len(starts), np.inf)


def _keeps(fp: Footprint, p: np.ndarray, q: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Whether each segment p[k]-q[k] stays at least ``need[k]`` (> 0) from the footprint, up to a
    tolerance that never lets it touch the footprint (at most EPSILON_M, at most half of ``need``)."""
    if len(p) == 0:
        return np.ones(0, dtype=bool)
    gap = fp.distance(shapely.linestrings(np.stack([p, q], axis=1)))
    return gap >= need - np.minimum(EPSILON_M, need / 2)


def _band_legs_clear(
    f: ObstacleField, z: int, a: np.ndarray, b: np.ndarray, c_start: np.ndarray, c_end: np.ndarray
) -> np.ndarray:
    """The pad-in-band rule for segments a[k]-b[k] and one zone ``z`` whose band holds one or both
    ends; ``c_start`` / ``c_end`` are the clearances those ends must keep (NaN: that end is not in
    the band)."""
    d = b - a
    edges = _ring_edges(f, z)
    fp = f.footprints[z]
    has_s, has_e = ~np.isnan(c_start), ~np.isnan(c_end)
    head = np.where(has_s, _exit_params(a, d, edges), 0.0)
    tail = np.where(has_e, 1.0 - _exit_params(b, -d, edges), 1.0)
    ok = np.ones(len(a), dtype=bool)
    inside = head >= tail  # the leg never leaves the band
    need = np.fmin(c_start, c_end)
    ok[inside] = _keeps(fp, a[inside], b[inside], need[inside])
    out = ~inside
    hs = out & has_s
    ok[hs] &= _keeps(fp, a[hs], a[hs] + head[hs, None] * d[hs], c_start[hs])
    te = out & has_e
    ok[te] &= _keeps(fp, a[te] + tail[te, None] * d[te], b[te], c_end[te])
    mid = ok & out & (tail - head > 1e-12)
    if mid.any():
        p = a[mid] + head[mid, None] * d[mid]
        q = a[mid] + tail[mid, None] * d[mid]
        ok[mid] = ~shapely.intersects(f.eroded[z], shapely.linestrings(np.stack([p, q], axis=1)))
    return ok


def segments_blocked(
    f: ObstacleField,
    a: np.ndarray,
    b: np.ndarray,
    *,
    start_pad: np.ndarray | None = None,
    end_pad: np.ndarray | None = None,
    bands: PadBands | None = None,
) -> np.ndarray:
    """For segments a[k] -> b[k] (arrays (M, 2)): whether each enters some obstacle's interior.

    ``start_pad`` / ``end_pad`` give, per segment, the pad index of an end (-1: not a pad); with
    ``bands`` they switch on the pad-in-band rule (module docstring) for those ends.
    """
    m = len(a)
    blocked = np.zeros(m, dtype=bool)
    if m == 0 or len(f.eroded) == 0:
        return blocked
    if m > _SEGMENT_CHUNK:  # bound the memory of the (segment, zone) candidate arrays
        for s in range(0, m, _SEGMENT_CHUNK):
            part = slice(s, s + _SEGMENT_CHUNK)
            sp = start_pad[part] if start_pad is not None else None
            ep = end_pad[part] if end_pad is not None else None
            blocked[part] = segments_blocked(f, a[part], b[part], start_pad=sp, end_pad=ep, bands=bands)
        return blocked
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    s_idx, z_idx = f.tree.query(lines)  # bounding boxes only
    # Cull with discs: certainly clear beyond the enclosing disc, certainly blocked through the
    # inner disc; only the rest goes to the exact (prepared) shapely test, and only for segments
    # not already known to be blocked.
    near = _segment_point_distance(a[s_idx], b[s_idx], f.centres[z_idx]) <= f.outer_r[z_idx]
    s_idx, z_idx = s_idx[near], z_idx[near]
    if bands is None or start_pad is None or end_pad is None:
        bands, start_pad, end_pad = PadBands([]), np.full(m, -1), np.full(m, -1)
    nz = len(f.eroded)
    keys = bands.keys(nz)
    sp, ep = start_pad[s_idx], end_pad[s_idx]
    special = ((sp >= 0) & np.isin(sp * nz + z_idx, keys)) | ((ep >= 0) & np.isin(ep * nz + z_idx, keys))
    sure = ~special & (_segment_point_distance(a[s_idx], b[s_idx], f.inner_centres[z_idx]) < f.inner_r[z_idx])
    blocked[s_idx[sure]] = True
    todo = ~special & ~sure & ~blocked[s_idx]
    hit = shapely.intersects(f.eroded[z_idx[todo]], lines[s_idx[todo]])
    blocked[s_idx[todo][hit]] = True
    ss, zs = s_idx[special], z_idx[special]
    for z in np.unique(zs).tolist():
        sel = ss[(zs == z) & ~blocked[ss]]
        if len(sel) == 0:
            continue
        c_start = np.array(
            [bands.bands[p].get(z, np.nan) if p >= 0 else np.nan for p in start_pad[sel].tolist()]
        )
        c_end = np.array([bands.bands[p].get(z, np.nan) if p >= 0 else np.nan for p in end_pad[sel].tolist()])
        clear = _band_legs_clear(f, z, a[sel], b[sel], c_start, c_end)
        blocked[sel[~clear]] = True
    return blocked


def enclosing_zones(f: ObstacleField, pads: np.ndarray) -> dict[int, list[str]]:
    """Pads lying in a hole of the obstacles (a courtyard) -> the ids of the zones around that hole."""
    holes, owner = [], []
    for k, part in enumerate(f.union_parts):
        for ring in part.interiors:
            holes.append(Polygon(ring))
            owner.append(k)
    if not holes or len(pads) == 0:
        return {}
    pts = shapely.points(pads)
    p_idx, h_idx = shapely.STRtree(holes).query(pts, predicate="within")
    out: dict[int, list[str]] = {}
    for p, h in zip(p_idx.tolist(), h_idx.tolist(), strict=True):
        part = f.union_parts[owner[h]]
        if p in out or part.intersects(pts[p]):
            continue
        ring = holes[h].exterior
        out[p] = sorted(f.zone_ids[z] for z in range(len(f.buffered)) if f.buffered[z].intersects(ring))
    return out


@dataclass
class Solution:
    """All-pairs shortest path lengths among pads, and what is needed to rebuild any leg."""

    field: ObstacleField
    pads: np.ndarray  # (N, 2)
    lengths: np.ndarray  # (N, N)
    direct: np.ndarray  # (N, N) bool: the straight segment is clear
    graph_pairs: int
    pad_edges: dict[int, tuple[np.ndarray, np.ndarray]]  # pad -> (node ids, lengths)
    bands: PadBands | None = None
    # source pad -> (distances, predecessors)
    _trees: dict[int, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)

    def boxed_in(self, pad: int) -> list[str] | None:
        """If no leg at all can leave this pad, the ids of the zones whose bands hold it (maybe [])."""
        others = np.delete(self.direct[pad], pad)
        if others.any() or pad not in self.pad_edges or len(self.pad_edges[pad][0]):
            return None
        held = self.bands.bands[pad] if self.bands is not None else {}
        return sorted(self.field.zone_ids[z] for z in held)

    def _graph(self, source: int) -> csr_matrix:
        f = self.field
        v = f.size
        nodes_w, lens = self.pad_edges[source]
        rows = np.concatenate([f.edge_i, f.edge_j, np.full(len(nodes_w), v)])
        cols = np.concatenate([f.edge_j, f.edge_i, nodes_w])
        w = np.maximum(np.concatenate([f.edge_w, f.edge_w, lens]), 1e-12)  # csgraph drops zeros
        return csr_matrix((w, (rows, cols)), shape=(v + 1, v + 1))

    def path_xy(self, i: int, j: int) -> list[np.ndarray]:
        """The waypoints (metres) of a shortest leg i -> j; the caller checks the length is finite."""
        if i == j or self.direct[i, j]:
            return [self.pads[i], self.pads[j]]
        f = self.field
        v = f.size
        if i not in self._trees:  # a plan asks for many legs from the same pad
            self._trees[i] = dijkstra(self._graph(i), directed=True, indices=v, return_predecessors=True)
        dist, pred = self._trees[i]
        nodes_w, lens = self.pad_edges[j]
        k = int(np.argmin(dist[nodes_w] + lens))
        chain = [int(nodes_w[k])]
        while pred[chain[-1]] != v:
            chain.append(int(pred[chain[-1]]))
        return [self.pads[i], *[f.nodes[n] for n in reversed(chain)], self.pads[j]]


def solve(f: ObstacleField, pads: np.ndarray, usable: np.ndarray) -> Solution:
    """Shortest clear lengths between all usable pads (np.inf where no clear path exists)."""
    n = len(pads)
    lengths = np.full((n, n), np.inf)
    direct = np.zeros((n, n), dtype=bool)
    idx = np.flatnonzero(usable)
    lengths[idx, idx] = 0.0
    bands = pad_bands(f, pads)
    iu, ju = np.triu_indices(len(idx), k=1)
    pi, pj = idx[iu], idx[ju]
    blocked = segments_blocked(f, pads[pi], pads[pj], start_pad=pi, end_pad=pj, bands=bands)
    straight = np.hypot(*(pads[pj] - pads[pi]).T)
    ci, cj = pi[~blocked], pj[~blocked]
    lengths[ci, cj] = lengths[cj, ci] = straight[~blocked]
    direct[ci, cj] = direct[cj, ci] = True
    gi, gj = pi[blocked], pj[blocked]
    solution = Solution(f, pads, lengths, direct, len(gi), {}, bands)
    if len(gi) == 0 or f.size == 0:
        return solution
    involved = np.unique(np.concatenate([gi, gj]))
    solution.pad_edges = _pad_edges(f, pads, involved, bands)
    _graph_lengths(solution, gi, gj)
    return solution


def _pad_edges(
    f: ObstacleField, pads: np.ndarray, which: np.ndarray, bands: PadBands
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Clear segments from each pad in ``which`` to the nodes tangent to it.

    A pad inside the band of ``z`` reaches the nodes on ``B_z`` from inside, where the tangency
    test does not apply: those nodes are candidates too (the band rule then decides).
    """
    found_p, found_w = [], []
    for s in range(0, len(which), _CHUNK):
        rows = which[s : s + _CHUNK]
        candidates = f.tangency.at_nodes(pads[rows])
        for row, pad in enumerate(rows.tolist()):
            for z in bands.bands[pad]:
                candidates[row, _nodes_on(f, z)] = True
        r, w = np.nonzero(candidates)
        found_p.append(rows[r])
        found_w.append(w)
    p, w = np.concatenate(found_p), np.concatenate(found_w)
    dist = np.hypot(*(pads[p] - f.nodes[w]).T)
    keep = dist > 0
    p, w, dist = p[keep], w[keep], dist[keep]
    blocked = segments_blocked(f, pads[p], f.nodes[w], start_pad=p, end_pad=np.full(len(p), -1), bands=bands)
    p, w, dist = p[~blocked], w[~blocked], dist[~blocked]
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    order = np.argsort(p, kind="stable")
    p, w, dist = p[order], w[order], dist[order]
    starts = np.searchsorted(p, which)
    ends = np.searchsorted(p, which, side="right")
    for k, pad in enumerate(which.tolist()):
        out[pad] = (w[starts[k] : ends[k]], dist[starts[k] : ends[k]])
    return out


def _graph_lengths(sol: Solution, gi: np.ndarray, gj: np.ndarray) -> None:
    """Fill the blocked pairs (gi[k], gj[k]) with graph distances (multi-source Dijkstra)."""
    f = sol.field
    v = f.size
    sources = np.unique(gi)
    rows = [f.edge_i, f.edge_j]
    cols = [f.edge_j, f.edge_i]
    weights = [f.edge_w, f.edge_w]
    for k, s in enumerate(sources.tolist()):
        nodes_w, lens = sol.pad_edges[s]
        rows.append(np.full(len(nodes_w), v + k))
        cols.append(nodes_w)
        weights.append(lens)
    size = v + len(sources)
    graph = csr_matrix(
        (np.maximum(np.concatenate(weights), 1e-12), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size, size),
    )
    dist = dijkstra(graph, directed=True, indices=v + np.arange(len(sources)))
    order = np.argsort(gj, kind="stable")
    gi, gj = gi[order], gj[order]
    row_of = np.searchsorted(sources, gi)  # the Dijkstra row of each pair's source
    targets, firsts = np.unique(gj, return_index=True)
    lasts = np.append(firsts[1:], len(gj))
    for target, lo, hi in zip(targets.tolist(), firsts.tolist(), lasts.tolist(), strict=True):
        nodes_w, lens = sol.pad_edges[target]
        if len(nodes_w) == 0:
            continue
        best = (dist[np.ix_(row_of[lo:hi], nodes_w)] + lens[None, :]).min(axis=1)
        sol.lengths[gi[lo:hi], target] = best
        sol.lengths[target, gi[lo:hi]] = best
