"""Zones as GeoJSON through the API: add, replace, deactivate, temporary zones, bad GeoJSON (422)."""

from __future__ import annotations

from typing import Any

from tests.api_fixtures import Api, error_code


def square(
    zone_id: str, lon: float = 114.43, lat: float = 36.14, size: float = 0.002, **props: Any
) -> dict[str, Any]:
    """A square zone as a GeoJSON Feature."""
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"id": zone_id, **props},
    }


async def test_zones_are_added_replaced_and_deactivated_and_the_dispatcher_follows(api: Api) -> None:
    async with api.client("operator") as c:
        listed = (await c.get("/api/v1/zones")).json()
        assert listed["type"] == "FeatureCollection"
        sample = {f["properties"]["id"] for f in listed["features"]}
        assert "tower-crane" in sample and all(f["meta"]["active"] for f in listed["features"])

        r = await c.post("/api/v1/zones", json=square("pop-up", reason="accident"))
        assert r.status_code == 201, r.text
        assert r.json()["rerouted"] == []
        [stored] = r.json()["features"]
        assert stored["properties"] == {"id": "pop-up", "reason": "accident"}
        assert stored["meta"]["created_by"].startswith("operator/key:")
        assert "pop-up" in {z.id for z in api.dispatcher.zones}

        collection = {
            "type": "FeatureCollection",
            "features": [
                square(
                    "festival-2",
                    lon=114.42,
                    valid_from="2026-12-01T10:00:00+08:00",
                    valid_until="2026-12-01T14:00:00+08:00",
                ),
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [114.41, 36.13]},
                    "properties": {"id": "crane-2", "radius_m": 60, "ceiling_m": 90},
                },
            ],
        }
        r = await c.post("/api/v1/zones", json=collection)
        assert r.status_code == 201, r.text
        festival = r.json()["features"][0]
        # valid_until is read as the airspace format's valid_to; stored and returned as valid_to.
        assert festival["properties"]["valid_to"].startswith("2026-12-01T06:00:00")
        assert "valid_until" not in festival["properties"]
        view = await api.store.zones.get("festival-2")
        assert view.valid_until is not None and view.valid_until.isoformat().startswith("2026-12-01T06:00:00")
        only_then = (await c.get("/api/v1/zones", params={"at": "2026-12-01T11:00:00+08:00"})).json()
        assert "festival-2" in {f["properties"]["id"] for f in only_then["features"]}
        before = (await c.get("/api/v1/zones", params={"at": "2026-12-01T09:00:00+08:00"})).json()
        assert "festival-2" not in {f["properties"]["id"] for f in before["features"]}

        bigger = square("pop-up", size=0.004, reason="accident, widened")
        r = await c.put("/api/v1/zones/pop-up", json=bigger)
        assert r.status_code == 200, r.text
        assert r.json()["features"][0]["geometry"] == bigger["geometry"]
        zone = next(z for z in api.dispatcher.zones if z.id == "pop-up")
        assert zone.reason == "accident, widened"

        r = await c.delete("/api/v1/zones/pop-up")
        assert r.status_code == 200 and r.json()["features"][0]["meta"]["active"] is False
        assert "pop-up" not in {z.id for z in api.dispatcher.zones}
        active = {f["properties"]["id"] for f in (await c.get("/api/v1/zones")).json()["features"]}
        assert "pop-up" not in active
        everything = (await c.get("/api/v1/zones", params={"include_inactive": "true"})).json()["features"]
        assert {f["properties"]["id"]: f["meta"]["active"] for f in everything}["pop-up"] is False
        # A deactivated zone is put back with PUT (or POST).
        r = await c.put("/api/v1/zones/pop-up", json=bigger)
        assert r.status_code == 200 and r.json()["features"][0]["meta"]["active"] is True
        # Sending back what was read (with its meta member) works.
        r = await c.put("/api/v1/zones/pop-up", json=r.json()["features"][0])
        assert r.status_code == 200, r.text
    history = [e.action for e in await api.store.history("zone", "pop-up")]
    assert history == ["upserted", "upserted", "deactivated", "upserted", "upserted"]


async def test_bad_geojson_is_422_with_the_parser_message(api: Api) -> None:
    open_ring = square("broken")
    open_ring["geometry"]["coordinates"][0].pop()
    cases = [
        (open_ring, "is not closed"),
        ({**square("x"), "properties": {"id": "x", "colour": "red"}}, "unknown property 'colour'"),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [114.34, 36.11]},
                "properties": {"id": "c"},
            },
            "needs a positive finite 'radius_m'",
        ),
        (
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                "properties": {"id": "l"},
            },
            "unsupported geometry type 'LineString'",
        ),
        (square("t", valid_from="tomorrow"), "not an ISO 8601 date-time"),
        (square("t", valid_from="2026-12-01T10:00:00"), "has no zone offset"),
        ({"type": "FeatureCollection", "features": [square("d"), square("d")]}, "duplicate zone id 'd'"),
        ({"type": "Polygon", "coordinates": []}, "GeoJSON Feature or FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, "no features"),
    ]
    async with api.client("operator") as c:
        for body, message in cases:
            r = await c.post("/api/v1/zones", json=body)
            assert r.status_code == 422, (body, r.text)
            assert error_code(r) == "invalid_geojson"
            assert message in r.json()["error"]["message"], r.text
        far = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-170.0, -80.0]},
            "properties": {"id": "far", "radius_m": 100},
        }
        r = await c.post("/api/v1/zones", json=far)
        assert r.status_code == 422 and error_code(r) == "zone_out_of_area", r.text
        r = await c.post("/api/v1/zones", json=[1, 2])
        assert r.status_code == 400 and error_code(r) == "invalid_request"
        r = await c.put("/api/v1/zones/other", json=square("pop-up"))
        assert r.status_code == 422 and error_code(r) == "zone_id_mismatch"
        r = await c.put("/api/v1/zones/never-added", json=square("never-added"))
        assert r.status_code == 404 and error_code(r) == "not_found"
        r = await c.get("/api/v1/zones", params={"at": "2026-12-01T11:00:00"})
        assert r.status_code == 422 and error_code(r) == "invalid_time"
    assert await api.store.zones.list(active_only=False) == await api.store.zones.list()
    assert {"broken", "x", "d", "never-added", "far"}.isdisjoint({z.id for z in await api.store.zones.list()})
