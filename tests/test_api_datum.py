"""The ``datum`` member of API bodies (SQLite and PostgreSQL): zones, requests, quotes and pads sent
in GCJ-02 or BD-09 are stored, planned on and answered in WGS-84; an unknown datum is 422
``unknown_datum`` naming the allowed ones, and nothing is stored."""

from __future__ import annotations

from typing import Any

from pyproj import Geod

from airspace.datum import DATUMS, from_wgs84
from dispatch.store.requests import PAD_TOLERANCE_DEG
from tests.api_fixtures import Api, error_code

GEOD = Geod(ellps="WGS84")
THERE = (114.425, 36.12)  # open ground in the sample area, in WGS-84: where the zone really is


def metres(a: Any, b: Any) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def in_datum(datum: str, lon: float, lat: float) -> list[float]:
    """What a Chinese web map shows for a WGS-84 point."""
    x, y = from_wgs84(datum, lon, lat)
    return [float(x[0]), float(y[0])]


async def test_a_zone_drawn_in_gcj02_is_stored_and_enforced_where_it_was_drawn(api: Api) -> None:
    drawn = in_datum("GCJ-02", *THERE)
    assert metres(drawn, THERE) > 500  # the naive reading would be this far off
    body = {
        "type": "FeatureCollection",
        "datum": "GCJ-02",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": drawn},
                "properties": {"id": "gcj-crane", "radius_m": 120},
            }
        ],
    }
    async with api.client("operator") as c:
        r = await c.post("/api/v1/zones", json=body)
        assert r.status_code == 201, r.text
        [stored] = r.json()["features"]
        assert metres(stored["geometry"]["coordinates"], THERE) < 0.01
        assert 120 < stored["properties"]["radius_m"] < 120.5  # covers the circle drawn
        listed = {f["properties"]["id"]: f for f in (await c.get("/api/v1/zones")).json()["features"]}
        assert listed["gcj-crane"]["geometry"] == stored["geometry"]
        view = await api.store.zones.get("gcj-crane")
        assert metres(view.feature["geometry"]["coordinates"], THERE) < 0.01
        zone = next(z for z in api.dispatcher.zones if z.id == "gcj-crane")
        assert metres((zone.shape.x, zone.shape.y), THERE) < 0.01

    async with api.client("office") as c:
        where_it_is = {"pickup": list(THERE), "dropoff": "zhangde-road", "weight_kg": 0.3}
        r = await c.post("/api/v1/quotes", json=where_it_is)
        assert r.status_code == 200, r.text
        assert r.json()["feasible"] is False and r.json()["reason"] == "pickup_in_zone"
        # The same numbers read as WGS-84 are 460 m away, outside the zone.
        r = await c.post("/api/v1/quotes", json={**where_it_is, "pickup": drawn})
        assert r.status_code == 200 and r.json()["feasible"] is True, r.text
        # ... and read as GCJ-02 they are the zone again.
        r = await c.post("/api/v1/quotes", json={**where_it_is, "pickup": drawn, "datum": "GCJ-02"})
        assert r.status_code == 200 and r.json()["reason"] == "pickup_in_zone", r.text


async def test_a_polygon_feature_body_declares_its_datum_too(api: Api) -> None:
    lon, lat = THERE
    wgs = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.008], [lon, lat + 0.008], [lon, lat]]
    ring = [in_datum("BD-09", x, y) for x, y in wgs]
    feature = {
        "type": "Feature",
        "datum": "BD-09",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"id": "bd-square"},
    }
    async with api.client("operator") as c:
        r = await c.post("/api/v1/zones", json=feature)
        assert r.status_code == 201, r.text
        outline = r.json()["features"][0]["geometry"]["coordinates"][0]
        assert "datum" not in r.json()["features"][0]
        for corner in wgs:
            assert min(metres(corner, p) for p in outline) < 0.01
        assert max(metres(ring[0], p) for p in outline) > 1000  # nothing of the BD-09 numbers is kept


async def test_requests_and_pads_in_another_datum_are_stored_in_wgs84(api: Api) -> None:
    pad = (await api.store.directory.pads())["service-centre"]
    async with api.client("office") as c:
        r = await c.post(
            "/api/v1/requests",
            json={
                "pickup": in_datum("GCJ-02", pad.lon, pad.lat),
                "dropoff": {"lon": THERE[0], "lat": THERE[1] - 0.01},
                "weight_kg": 0.3,
                "datum": "GCJ-02",
            },
        )
        assert r.status_code == 201, r.text
        # Converted within a centimetre, the GCJ-02 point is the pad (matched within 1e-7 degrees).
        assert r.json()["pickup"] == {"lon": pad.lon, "lat": pad.lat, "pad_id": "service-centre"}
        dropoff = r.json()["dropoff"]
        assert (
            500 < metres((dropoff["lon"], dropoff["lat"]), (THERE[0], THERE[1] - 0.01)) < 600
        )  # ~546 m here
        view = await api.store.requests.get(r.json()["id"])
        assert view.pickup.pad_id == "service-centre"
    new_pad = (114.402, 36.111)
    async with api.client("admin") as c:
        body = {"id": "bd-pad", "name": "Drawn on Baidu", "datum": "BD-09"}
        r = await c.post(
            "/api/v1/pads",
            json={**body, **dict(zip(("lon", "lat"), in_datum("BD-09", *new_pad), strict=True))},
        )
        assert r.status_code == 201, r.text
        stored = (await api.store.directory.pads())["bd-pad"]
        assert (
            abs(stored.lon - new_pad[0]) < PAD_TOLERANCE_DEG
            and abs(stored.lat - new_pad[1]) < PAD_TOLERANCE_DEG
        )
        assert r.json()["lon"] == stored.lon and r.json()["lat"] == stored.lat
        r = await c.post(
            "/api/v1/pads",
            json={"id": "cgcs-pad", "name": "C", "lon": 114.39, "lat": 36.11, "datum": "CGCS2000"},
        )
        assert r.status_code == 201 and (r.json()["lon"], r.json()["lat"]) == (114.39, 36.11), r.text


async def test_an_unknown_datum_is_422_naming_the_allowed_ones_and_nothing_is_stored(api: Api) -> None:
    zone = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(THERE)},
        "properties": {"id": "never", "radius_m": 50},
    }
    request = {"pickup": "service-centre", "dropoff": list(THERE), "weight_kg": 0.3}
    before = len(await api.store.requests.list(limit=10_000))
    for who, path, body in [
        ("office", "/api/v1/requests", {**request, "datum": "WGS84"}),
        ("office", "/api/v1/quotes", {**request, "datum": "gcj02"}),
        ("admin", "/api/v1/pads", {"id": "never", "name": "N", "lon": 114.34, "lat": 36.11, "datum": "4326"}),
        ("operator", "/api/v1/zones", {**zone, "datum": "Baidu"}),
        ("operator", "/api/v1/zones", {"type": "FeatureCollection", "datum": 4326, "features": [zone]}),
    ]:
        async with api.client(who) as c:
            r = await c.post(path, json=body)
        assert r.status_code == 422 and error_code(r) == "unknown_datum", (path, r.text)
        assert r.json()["error"]["details"] == {"field": "datum", "allowed": list(DATUMS)}
        for name in DATUMS:
            assert name in r.json()["error"]["message"]
    async with api.client("operator") as c:
        inner = {**zone, "datum": "GCJ-02"}
        r = await c.post("/api/v1/zones", json={"type": "FeatureCollection", "features": [inner]})
        assert r.status_code == 422 and error_code(r) == "invalid_geojson", r.text
        assert "member of the FeatureCollection" in r.json()["error"]["message"]
    assert len(await api.store.requests.list(limit=10_000)) == before
    assert "never" not in await api.store.directory.pads()
    assert "never" not in {z.id for z in api.dispatcher.zones}
