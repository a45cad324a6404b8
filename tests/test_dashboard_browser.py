"""The operators' dashboard end to end in headless Chromium, over the real system.

A store (SQLite file), the real Mosquitto broker, the simulated fleet and the dispatcher on an
accelerated clock, and the HTTP API (``create_app``) served by uvicorn in the same event loop. The
page asks for the operator key (or takes it from the URL fragment); requests are filed through the
API with office keys; the test sees them in the table and drones move on the map, adds a temporary
zone with the page's form (by clicking the map on the path ahead of a flight carrying a document),
sees that flight re-routed by the dispatcher and its new path drawn around the zone, and lifts the
zone again. No mocks, no sleeps: every step waits for a condition.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from dispatch.api import ApiContext, AppServer, create_app
from dispatch.dashboard import STATIC_DIR
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store, open_store
from fleet.connection import BrokerAddress
from tests.browser_fixtures import ARTIFACTS, browser_fixture  # noqa: F401
from tests.dispatcher_fixtures import System, parse_zone, running_system, solver_pool_fixture  # noqa: F401
from tests.mqtt_fixtures import broker_fixture, prefix_fixture  # noqa: F401
from tests.test_e2e_dispatch import point_ahead

SPEED = 40.0  # simulated seconds per wall second: a 15 m/s drone covers 600 m of map a wall second
AHEAD_M = 3000.0  # where the pop-up zone goes on the path ahead: 5 wall seconds away
RADIUS_M = 250.0
# Long flights (5 to 9 km), so a document is on board with kilometres still to fly.
ROUTES = [
    ("seoksu", "uiwang"),
    ("manan-gu-office", "indeokwon"),
    ("gwacheon", "gunpo"),
    ("anyang-station", "pyeongchon"),
]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000


@pytest.fixture(name="sqlite_store")
async def sqlite_store_fixture(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store in an SQLite file (the browser test runs on one database only)."""
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        yield store
    finally:
        await store.close()


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two nearby (lon, lat) points (equirectangular approximation)."""
    k = math.pi / 180 * 6_371_008.8
    return math.hypot((a[0] - b[0]) * k * math.cos(math.radians((a[1] + b[1]) / 2)), (a[1] - b[1]) * k)


async def file_requests(base: str, store: Store, system: System) -> list[str]:
    """File :data:`ROUTES` through the API, each with its own office's key; return the request ids."""
    ids = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for src, dst in ROUTES:
            key = await store.api_keys.create("office", actor="test", office_id=src, label="browser test")
            deadline = system.clock.now() + timedelta(hours=2)
            resp = await client.post(
                "/api/v1/requests",
                json={"pickup": src, "dropoff": dst, "weight_kg": 0.4, "deadline": deadline.isoformat()},
                headers={"Authorization": f"Bearer {key.token}"},
            )
            assert resp.status_code == 201, resp.text
            ids.append(resp.json()["id"])
    return ids


# True when the drone's drawn path keeps out of the (circular) zone drawn on the map.
PATH_CLEAR_OF_ZONE = """([droneId, zoneId]) => {
    const line = document.querySelector(`[data-testid="drone-path"][data-drone-id="${droneId}"] polyline`);
    const zone = document.querySelector(`[data-testid="zone"][data-zone-id="${zoneId}"]`);
    if (!line || !zone) return false;
    const [cx, cy, r] = ["cx", "cy", "r"].map((a) => Number(zone.getAttribute(a)));
    const pts = line.getAttribute("points").trim().split(/\\s+/).map((p) => p.split(",").map(Number));
    for (let i = 0; i + 1 < pts.length; i++) {
        const [ax, ay] = pts[i], [bx, by] = pts[i + 1];
        const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
        const t = len2 ? Math.max(0, Math.min(1, ((cx - ax) * dx + (cy - ay) * dy) / len2)) : 0;
        if (Math.hypot(cx - (ax + t * dx), cy - (ay + t * dy)) < r * 0.95) return false;
    }
    return pts.length >= 2;
}"""


async def marker_moves(page: Page, drone_id: str) -> None:
    """Wait until the drone's marker reports a position other than the one it shows now."""
    marker = page.locator(f'[data-testid="drone-marker"][data-drone-id="{drone_id}"]')
    before = (await marker.get_attribute("data-lon"), await marker.get_attribute("data-lat"))
    await page.wait_for_function(
        """([id, lon, lat]) => {
            const m = document.querySelector(`[data-testid="drone-marker"][data-drone-id="${id}"]`);
            return m && (m.dataset.lon !== lon || m.dataset.lat !== lat);
        }""",
        arg=[drone_id, before[0], before[1]],
        timeout=TIMEOUT_MS,
    )


async def sees_the_service_area(page: Page, store: Store, system: System) -> None:
    """Connected live; the key left the address bar; zones, pads, ports and drones are drawn."""
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "live", timeout=TIMEOUT_MS
    )
    assert "key=" not in page.url
    zones = page.get_by_test_id("zone")
    await expect(zones).to_have_count(len(await store.zones.list()), timeout=TIMEOUT_MS)
    # The festival zone is in force 10:00 to 14:00; the simulation starts at 09:00.
    await expect(zones.and_(page.locator('[data-zone-id="art-park-festival"]'))).to_have_attribute(
        "data-active", "false"
    )
    await expect(page.get_by_test_id("pad")).to_have_count(len(await store.directory.pads()))
    await expect(page.get_by_test_id("port")).to_have_count(len(system.fleet.ports))
    await expect(page.get_by_test_id("drone-marker")).to_have_count(
        len(system.fleet.drones), timeout=TIMEOUT_MS
    )


async def shows_area_time(page: Page, system: System) -> None:
    """The clock reads the area's time, labelled with its zone, not the browser's (another zone)."""
    zone = system.fleet.timezone
    assert zone == "Asia/Seoul"  # the sample area's
    clock = page.get_by_test_id("sim-time")
    await expect(clock).to_have_attribute("data-timezone", zone, timeout=TIMEOUT_MS)
    await expect(clock).to_have_text(re.compile(r"^\d\d:\d\d:\d\d (KST|Asia/Seoul)$"), timeout=TIMEOUT_MS)
    shown = re.match(r"(\d\d):(\d\d):(\d\d)", await clock.inner_text())
    assert shown is not None
    there = system.clock.now().astimezone(ZoneInfo(zone))
    seconds = lambda h, m, s: int(h) * 3600 + int(m) * 60 + int(s)  # noqa: E731
    apart = abs(seconds(*shown.groups()) - seconds(there.hour, there.minute, there.second)) % 86400
    assert min(apart, 86400 - apart) < 15 * 60, (shown.group(0), there)  # shown a moment ago, at 40x


async def asks_for_the_key(page: Page, base: str, token: str) -> None:
    """Without a key the page asks for one; a wrong key is refused; the right one connects and is
    kept for the tab (a reload stays connected)."""
    await page.goto(f"{base}/dashboard/")
    modal = page.get_by_test_id("key-modal")
    await expect(modal).to_be_visible(timeout=TIMEOUT_MS)
    await page.get_by_test_id("key-input").fill("dd_000000000000_not-a-key")
    await page.get_by_test_id("key-submit").click()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "unauthorized")
    await expect(modal).to_contain_text("refused")
    await page.get_by_test_id("key-input").fill(token)
    await page.get_by_test_id("key-submit").click()
    await expect(modal).to_be_hidden()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "live", timeout=TIMEOUT_MS
    )
    await page.reload()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "live", timeout=TIMEOUT_MS
    )


async def refused_zone_shows_the_api_message(page: Page) -> None:
    """A self-crossing polygon (a bow tie, four clicks on the map) is refused with the parser's words."""
    await page.get_by_test_id("zone-shape-polygon").check()
    await page.get_by_test_id("zone-id").fill("bow-tie")
    box = await page.get_by_test_id("map").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2
    for dx, dy in ((-20, -20), (20, 20), (20, -20), (-20, 20)):
        await page.mouse.click(cx + dx, cy + dy)
    await expect(page.get_by_test_id("zone-polygon-count")).to_contain_text("4 points")
    await page.get_by_test_id("zone-submit").click()
    message = page.get_by_test_id("zone-message")
    await expect(message).to_have_attribute("data-kind", "error", timeout=TIMEOUT_MS)
    await expect(message).to_contain_text("invalid Polygon")
    await page.locator("#zone-reset").click()
    await expect(message).to_be_hidden()


async def takes_a_drone_out_of_service_and_back(page: Page, store: Store, drone_id: str) -> None:
    """In the fleet table, the operator takes a drone out of service (the page asks why) and puts
    it back; the store keeps the reason meanwhile."""
    await page.get_by_test_id("tab-fleet").click()
    button = page.locator(f'[data-testid="drone-service"][data-drone-id="{drone_id}"]')
    await expect(button).to_have_attribute("data-in-service", "true", timeout=TIMEOUT_MS)
    page.once("dialog", lambda dialog: dialog.accept("test: rotor inspection"))
    await button.click()
    await expect(button).to_have_attribute("data-in-service", "false", timeout=TIMEOUT_MS)
    assert (await store.directory.out_of_service()).get(drone_id) == "test: rotor inspection"
    await button.click()
    await expect(button).to_have_attribute("data-in-service", "true", timeout=TIMEOUT_MS)
    assert drone_id not in await store.directory.out_of_service()
    actions = [e.action for e in await store.history("drone", drone_id)]
    assert actions[-2:] == ["out_of_service", "in_service"], actions


async def flight_with_room_ahead(system: System) -> tuple[str, tuple[float, float]]:
    """A flight with a document on board and :data:`AHEAD_M` of path ahead: (mission, point there)."""
    d = system.dispatcher
    found: list[tuple[str, tuple[float, float]]] = []

    async def room_ahead() -> bool:
        for m in d.missions.values():
            if m.state != "flying" or not m.picked or m.rerouting:
                continue
            point = point_ahead(system, m.mission_id, AHEAD_M, keep_clear_m=500.0)
            if point is not None:
                found.append((m.mission_id, point))
                return True
        return False

    await d.wait_until(room_ahead, timeout_s=60)
    return found[0]


async def test_dashboard_shows_the_live_system_and_adds_a_zone_that_reroutes_a_flight(
    sqlite_store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, browser: Browser
) -> None:
    store = sqlite_store
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with running_system(store, broker, prefix, drones=6, speed=SPEED, pool=solver_pool) as system:
        d = system.dispatcher
        operator = await store.api_keys.create("operator", actor="test", label="dashboard")
        ctx = ApiContext(store=store, dispatcher=d, dashboard_dir=STATIC_DIR, timezone=system.fleet.timezone)
        async with AppServer(create_app(ctx), "127.0.0.1", 0) as server:
            # The browser in another zone than the area's: the page must show area time.
            context = await browser.new_context(viewport=VIEWPORT, timezone_id="America/New_York")
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                await asks_for_the_key(page, server.url, operator.token)
                # A fresh tab with the key in the fragment, as the demo prints the address.
                await page.close()
                page = await context.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(f"{server.url}/dashboard#key={operator.token}")
                await sees_the_service_area(page, store, system)
                await shows_area_time(page, system)
                await refused_zone_shows_the_api_message(page)

                # Requests filed by offices through the API appear in the table.
                ids = await file_requests(server.url, store, system)
                rows = page.get_by_test_id("request-row")
                await expect(rows).to_have_count(len(ids), timeout=TIMEOUT_MS)
                for rid in ids:
                    await expect(rows.and_(page.locator(f'[data-request-id="{rid}"]'))).to_be_visible()
                # A row clicked shows its pickup and drop-off on the map; clicked again, hides them.
                await rows.and_(page.locator(f'[data-request-id="{ids[0]}"]')).click()
                selection = page.get_by_test_id("request-selection")
                await expect(selection).to_have_attribute("data-request-id", ids[0])
                await rows.and_(page.locator(f'[data-request-id="{ids[0]}"]')).click()
                await expect(selection).to_have_count(0)

                # Drones move on the map.
                flying = page.locator('[data-testid="drone-marker"][data-state="en_route"]').first
                await expect(flying).to_be_visible(timeout=TIMEOUT_MS)
                drone_id = await flying.get_attribute("data-drone-id")
                assert drone_id is not None
                await marker_moves(page, drone_id)

                # The zone form filled in first; then, for a flight carrying a document, a click on
                # the map on its path ahead places the centre, and the form is submitted.
                await page.get_by_test_id("zone-shape-circle").check()
                await page.get_by_test_id("zone-id").fill("browser-pop-up")
                await page.get_by_test_id("zone-reason").fill("test: fire brigade operation")
                await page.get_by_test_id("zone-radius").fill(str(RADIUS_M))
                mission_id, (lon, lat) = await flight_with_room_ahead(system)
                carrier = d.missions[mission_id].drone_id
                spot = await page.evaluate("([x, y]) => window.dashboard.screenPoint(x, y)", [lon, lat])
                await page.mouse.click(spot["x"], spot["y"])
                placed = (
                    float(await page.get_by_test_id("zone-lon").input_value()),
                    float(await page.get_by_test_id("zone-lat").input_value()),
                )
                assert distance_m(placed, (lon, lat)) < 60, placed
                feature = {
                    "type": "Feature",
                    "properties": {"id": "browser-pop-up", "kind": "no_fly", "radius_m": RADIUS_M},
                    "geometry": {"type": "Point", "coordinates": list(placed)},
                }
                system.watch_zone(parse_zone(feature))  # the simulator's breach monitor watches it too
                await page.get_by_test_id("zone-submit").click()
                message = page.get_by_test_id("zone-message")
                await expect(message).to_have_attribute("data-kind", "ok", timeout=TIMEOUT_MS)
                await expect(message).to_contain_text("re-routed")
                rerouted_ids = (await message.get_attribute("data-rerouted") or "").split()
                assert mission_id in rerouted_ids, rerouted_ids

                # The dispatcher re-routed that flight...
                async def rerouted() -> bool:
                    return "rerouted" in [e.action for e in await store.history("flight", mission_id)]

                await d.wait_until(rerouted, timeout_s=60)
                assert d.stats.reroutes >= 1
                # ... and the page shows it: a log entry, the new planned path, the zone drawn.
                log_entries = page.locator('[data-testid="event-log-entry"][data-kind="rerouted"]')
                await expect(log_entries.filter(has_text=carrier).first).to_be_visible(timeout=TIMEOUT_MS)
                await page.wait_for_function(
                    """([id, mission]) => {
                        const p = document.querySelector(`[data-testid="drone-path"][data-drone-id="${id}"]`);
                        return p && p.dataset.missionId === mission && Number(p.dataset.reroutes) >= 1;
                    }""",
                    arg=[carrier, mission_id],
                    timeout=TIMEOUT_MS,
                )
                zone = page.locator('[data-testid="zone"][data-zone-id="browser-pop-up"]')
                await expect(zone).to_have_attribute("data-temporary", "true")
                # The path drawn for the carrier goes around the zone (on screen: no segment of
                # its line comes nearer the circle's centre than its radius).
                await page.wait_for_function(PATH_CLEAR_OF_ZONE, arg=[carrier, "browser-pop-up"])

                # Zoomed in on the new zone for the picture (wheel zoom around the cursor).
                await page.mouse.move(spot["x"], spot["y"])
                await page.mouse.wheel(0, -500)
                await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), animations="disabled")

                # The flight goes on around the zone: its marker still moves, nothing breached.
                await marker_moves(page, carrier)
                assert not system.sim.breaches

                # The operator lifts the zone (two clicks: arm, confirm); it leaves the map and the store.
                lift = page.locator('[data-testid="zone-lift"][data-zone-id="browser-pop-up"]')
                await lift.click()
                await expect(lift).to_have_text("Lift?")
                await lift.click()
                await expect(zone).to_have_count(0)
                assert "browser-pop-up" not in [z.id for z in await store.zones.list()]

                await takes_a_drone_out_of_service_and_back(page, store, system.fleet.drones[-1].id)
                assert not errors, errors
            except Exception:
                await page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"))
                raise
            finally:
                await context.close()
