"""Rounds, chunks and passes over one airspace share its frame and its zones' obstacle fields:
a leg's length does not depend on which other requests the round holds, and the shared
airspace gives what a fresh one gives."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np

from airspace.frame import LocalFrame
from airspace.paths import Airspace
from airspace.zones import load_zones
from fleet.description import load_fleet
from routing.intents import Volume
from routing.matrices import Network, SiteIndex, build_networks
from tests.conftest import EXAMPLES

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _pads() -> dict[str, tuple[float, float]]:
    raw = json.loads((EXAMPLES / "pads.json").read_text())
    return {name: (p["lon"], p["lat"]) for name, p in raw.items()}


def _networks(names: list[str]) -> tuple[SiteIndex, dict[str, Network]]:
    fleet = load_fleet(EXAMPLES / "fleet.json")
    zones = load_zones(EXAMPLES / "zones.geojson")
    pads = _pads()
    sites = SiteIndex()
    ports = {sites.add((p.lon, p.lat)) for p in fleet.ports}
    for name in names:
        sites.add(pads[name])
    every = set(range(len(sites)))
    return sites, build_networks(
        zones, fleet.models.values(), sites, every, ports, T0, T0 + timedelta(hours=3)
    )


def test_a_legs_length_does_not_depend_on_the_other_requests_of_the_round() -> None:
    names = sorted(_pads())
    a, b = names[0], names[-1]
    few_sites, few = _networks([a, b])
    many_sites, many = _networks(names)
    pads = _pads()
    for model in few:
        i, j = few_sites.add(pads[a]), few_sites.add(pads[b])
        k, m = many_sites.add(pads[a]), many_sites.add(pads[b])
        assert few[model].length_m[i, j] == many[model].length_m[k, m]
        assert few[model].length_m[i, j] > 0


def test_an_airspace_that_keeps_no_matrices_measures_as_one_that_does() -> None:
    zones = load_zones(EXAMPLES / "zones.geojson")
    points = list(_pads().values())
    frame = LocalFrame.for_points(points)
    kept = Airspace(zones, frame).distance_matrix(points, altitude_m=60.0, at=T0)
    fresh = Airspace(zones, frame, keep_matrices=False)
    first = fresh.distance_matrix(points, altitude_m=60.0, at=T0)
    again = fresh.distance_matrix(points, altitude_m=60.0, at=T0)
    assert np.array_equal(kept.lengths_m, first.lengths_m)
    assert np.array_equal(first.lengths_m, again.lengths_m)
    assert first is not again  # computed each time: nothing held between rounds


def test_a_volume_pickles_to_an_equal_volume() -> None:
    for v in (
        Volume(1.0, 2.0, 3.0, 4.0, 30.0, 0.0, 67.5, 100.0, 160.0, "port:north"),
        Volume(-5.5, 0.0, -5.5, 0.0, 30.0, 52.5, 67.5, 1e9, 1e9 + 15, None),
    ):
        assert pickle.loads(pickle.dumps(v, pickle.HIGHEST_PROTOCOL)) == v
