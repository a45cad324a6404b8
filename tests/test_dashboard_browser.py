"""The operators' dashboard end to end in headless Chromium, over the real system.

A store (SQLite file), the real Mosquitto broker, the simulated fleet and the dispatcher on an
accelerated clock, and the HTTP API (``create_app``) served by uvicorn in the same event loop. The
page asks for the operator key (or takes it from the URL fragment); requests are filed through the
API with office keys; the test sees them in the table, drones move on the map inside their flights'
operational intents (drawn, and hidden on demand), adds a temporary zone with the page's form (by
clicking the map on the path ahead of a flight carrying a document), sees that flight re-routed by
the dispatcher, its old route dashed and its new one drawn around the zone, and lifts the zone
again. No mocks, no sleeps: every step waits for a condition.

The map is MapLibre GL JS (WebGL, rendered by Chromium's software GL here): what it draws is read
from the map itself, the features it renders in its named layers (``queryRenderedFeatures``) and the
GeoJSON its sources were given, not from pixels.
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
from playwright.async_api import Browser, Dialog, Page, expect

from dispatch.api import ApiContext, AppServer, create_app
from dispatch.dashboard import STATIC_DIR
from dispatch.harness import System, point_ahead, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store, open_store
from fleet.connection import BrokerAddress
from tests.api_fixtures import idle_api
from tests.browser_fixtures import ARTIFACTS
from tests.dispatcher_fixtures import parse_zone

SPEED = 40.0  # simulated seconds per wall second: a 15 m/s drone covers 600 m of map a wall second
AHEAD_M = 3000.0  # where the pop-up zone goes on the path ahead: 5 wall seconds away
RADIUS_M = 250.0
# Long flights (5 to 9 km), so a document is on board with kilometres still to fly.
ROUTES = [
    ("tiexi", "industrial-park"),
    ("yindu-district", "zhangde-road"),
    ("anyang-east", "longan-district"),
    ("anyang-station", "market-bureau"),
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


ZONE_LAYERS = ["zones-fill", "zones-temporary-fill"]


async def drawn(page: Page, layers: list[str], test: str, arg: object = None) -> None:
    """Wait until the features the map renders in ``layers`` (their properties, each with its
    ``layer``) pass ``test``, a JavaScript function ``(features, arg) => boolean``."""
    await page.wait_for_function(
        f"([layers, arg]) => ({test})(window.dashboard.rendered(layers), arg)",
        arg=[layers, arg],
        timeout=TIMEOUT_MS,
    )


COUNT_IDS = "(fs, n) => new Set(fs.map((f) => f.id)).size === n"

# True when the drone's planned route (the GeoJSON the map draws) keeps out of a circle
# (centre lon/lat, radius in metres): no segment comes nearer its centre than the radius.
ROUTE_CLEAR_OF_CIRCLE = """([droneId, lon0, lat0, r]) => {
    const route = window.dashboard.sourceData("routes").features.find(
        (f) => f.properties.kind === "planned" && f.properties.drone === droneId);
    if (!route) return false;
    const ky = Math.PI / 180 * 6371008.8, kx = ky * Math.cos(lat0 * Math.PI / 180);
    const pts = route.geometry.coordinates.map(([lon, lat]) => [(lon - lon0) * kx, (lat - lat0) * ky]);
    for (let i = 0; i + 1 < pts.length; i++) {
        const [ax, ay] = pts[i], [bx, by] = pts[i + 1];
        const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
        const t = len2 ? Math.max(0, Math.min(1, (-ax * dx - ay * dy) / len2)) : 0;
        if (Math.hypot(ax + t * dx, ay + t * dy) < r * 0.95) return false;
    }
    return pts.length >= 2;
}"""

DRONE_AT = """([id]) => {
    const f = window.dashboard.sourceData("drones").features.find((f) => f.properties.id === id);
    return f ? f.geometry.coordinates : null;
}"""


async def marker_moves(page: Page, drone_id: str) -> None:
    """Wait until the map draws the drone at a position other than the one it shows now."""
    before = await page.evaluate(DRONE_AT, [drone_id])
    assert before is not None
    await page.wait_for_function(
        f"([id, was]) => {{ const now = ({DRONE_AT})([id]);"
        " return now && (now[0] !== was[0] || now[1] !== was[1]); }",
        arg=[drone_id, before],
        timeout=TIMEOUT_MS,
    )


async def sees_the_service_area(page: Page, store: Store, system: System) -> None:
    """Connected live; the key left the address bar; the map renders every zone, pad, port and drone."""
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "live", timeout=TIMEOUT_MS
    )
    assert "key=" not in page.url
    await drawn(page, ZONE_LAYERS, COUNT_IDS, len(await store.zones.list()))
    # The event zone is in force 10:00 to 14:00; the simulation starts at 09:00: drawn faded.
    event = '(fs) => fs.some((f) => f.id === "sports-centre-event" && f.active === false)'
    await drawn(page, ZONE_LAYERS, event)
    await drawn(page, ["pads"], COUNT_IDS, len(await store.directory.pads()))
    await drawn(page, ["ports"], COUNT_IDS, len(system.fleet.ports))
    await drawn(page, ["drones"], COUNT_IDS, len(system.fleet.drones))


async def shows_area_time(page: Page, system: System) -> None:
    """The clock reads the area's time, labelled with its zone, not the browser's (another zone)."""
    zone = system.fleet.timezone
    assert zone == "Asia/Shanghai"  # the sample area's
    clock = page.get_by_test_id("sim-time")
    await expect(clock).to_have_attribute("data-timezone", zone, timeout=TIMEOUT_MS)
    await expect(clock).to_have_text(
        re.compile(r"^\d\d:\d\d:\d\d (CST|GMT\+8|Asia/Shanghai)$"), timeout=TIMEOUT_MS
    )
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


async def shows_the_flights_intents(page: Page, store: Store) -> None:
    """The intents layer draws the volumes the flights in progress reserved (GET /intents), those
    whose time window holds the simulated now emphasised; the legend's checkbox hides and shows it."""
    # A flight's volume in use now (a drone returning or holding without a mission has one too).
    flights_now = "(f) => f.now === true && f.mission !== ''"
    in_use = f"(fs) => fs.some({flights_now})"
    await drawn(page, ["intents-fill"], in_use)
    mission = await page.evaluate(
        f'() => window.dashboard.rendered(["intents-fill"]).find({flights_now}).mission'
    )
    assert (await store.flights.get(str(mission))).drone_id
    toggle = page.get_by_test_id("layer-intents")
    await toggle.uncheck()
    await drawn(page, ["intents-fill", "intents-line"], "(fs) => fs.length === 0")
    await toggle.check()
    await drawn(page, ["intents-fill"], in_use)


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
                fetched: list[str] = []
                page.on("request", lambda r: fetched.append(r.url))
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
                await drawn(page, ["selection-line"], "(fs, id) => fs.some((f) => f.request === id)", ids[0])
                await rows.and_(page.locator(f'[data-request-id="{ids[0]}"]')).click()
                await drawn(page, ["selection-line", "selection-ends"], "(fs) => fs.length === 0")

                # Drones move on the map.
                await drawn(page, ["drones"], '(fs) => fs.some((f) => f.state === "en_route")')
                flying = await page.evaluate(
                    '() => window.dashboard.rendered(["drones"]).find((f) => f.state === "en_route").id'
                )
                drone_id = str(flying)
                await marker_moves(page, drone_id)
                await shows_the_flights_intents(page, store)

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
                # ... and the page shows it: a log entry, the zone drawn as a temporary one, the
                # flight's new route (solid) and its route before the re-route (dashed).
                log_entries = page.locator('[data-testid="event-log-entry"][data-kind="rerouted"]')
                await expect(log_entries.filter(has_text=carrier).first).to_be_visible(timeout=TIMEOUT_MS)
                await drawn(
                    page,
                    ["zones-temporary-fill"],
                    '(fs) => fs.some((f) => f.id === "browser-pop-up" && f.temporary === true)',
                )
                await drawn(
                    page,
                    ["routes"],
                    "(fs, [id, m]) => fs.some((f) => f.drone === id && f.mission === m && f.reroutes >= 1)",
                    [carrier, mission_id],
                )
                await drawn(page, ["routes-previous"], "(fs, id) => fs.some((f) => f.drone === id)", carrier)
                # The route drawn for the carrier goes around the zone (no segment of its line
                # comes nearer the circle's centre than its radius).
                await page.wait_for_function(
                    ROUTE_CLEAR_OF_CIRCLE, arg=[carrier, *placed, RADIUS_M], timeout=TIMEOUT_MS
                )

                # Zoomed in on the new zone for the picture (wheel zoom around the cursor), once the
                # map has settled.
                zoom = await page.evaluate("window.dashboard.map.getZoom()")
                await page.mouse.move(spot["x"], spot["y"])
                await page.mouse.wheel(0, -300)
                await page.wait_for_function(
                    "(z) => window.dashboard.map.getZoom() > z + 0.4 && !window.dashboard.map.isMoving()",
                    arg=zoom,
                    timeout=TIMEOUT_MS,
                )
                await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), animations="disabled")

                # The flight goes on around the zone: its marker still moves, nothing breached.
                await marker_moves(page, carrier)
                assert not system.sim.breaches

                # The operator lifts the zone (two clicks: arm, confirm); it leaves the map and the store.
                lift = page.locator('[data-testid="zone-lift"][data-zone-id="browser-pop-up"]')
                await lift.click()
                await expect(lift).to_have_text("Lift?")
                await lift.click()
                await page.wait_for_function(
                    """() => !window.dashboard.sourceData("zones").features.some(
                        (f) => f.properties.id === "browser-pop-up")""",
                    timeout=TIMEOUT_MS,
                )
                assert "browser-pop-up" not in [z.id for z in await store.zones.list()]

                await takes_a_drone_out_of_service_and_back(page, store, system.fleet.drones[-1].id)
                assert not errors, errors
                # No map style configured: the page asked only its own server (no tile, style or font).
                elsewhere = [u for u in fetched if not u.startswith((server.url, "blob:", "data:"))]
                assert not elsewhere, elsewhere
            except Exception:
                await page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"))
                raise
            finally:
                await context.close()


@pytest.mark.parametrize(
    ("style", "fallback"),
    [
        ("http://127.0.0.1:9/style.json", True),  # a style nobody serves: the plain background
        ("http://127.0.0.1:9/tiles/{z}/{x}/{y}.png", False),  # raster tiles under the layers
    ],
)
async def test_the_map_style_setting_reaches_the_map_and_a_missing_style_falls_back(
    sqlite_store: Store,
    broker: BrokerAddress,
    prefix: str,
    solver_pool: SolverPool,
    browser: Browser,
    style: str,
    fallback: bool,
) -> None:
    async with idle_api(sqlite_store, broker, prefix, solver_pool, dashboard=STATIC_DIR) as api:
        api.ctx.map_style = style
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url))
        try:
            await page.goto(f"{api.url}/dashboard#key={api.keys['operator']}")
            await drawn(page, ZONE_LAYERS, COUNT_IDS, len(await sqlite_store.zones.list()))
            sources = await page.evaluate("Object.keys(window.dashboard.map.getStyle().sources)")
            assert ("tiles" in sources) is not fallback, sources
            notice = page.locator('[data-testid="event-log-entry"][data-kind="map"]')
            if fallback:
                await expect(notice).to_contain_text("plain background")
            else:
                await expect(notice).to_have_count(0)
            assert any(u.startswith("http://127.0.0.1:9/") for u in fetched), fetched
            assert not errors, errors
        finally:
            await context.close()


async def test_an_operator_grounds_the_area_from_the_dashboard_and_lifts_it(
    sqlite_store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, browser: Browser
) -> None:
    async with idle_api(sqlite_store, broker, prefix, solver_pool, dashboard=STATIC_DIR) as api:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await page.goto(f"{api.url}/dashboard#key={api.keys['operator']}")
            weather = page.get_by_test_id("weather-state")
            await expect(weather).to_have_attribute("data-state", "off", timeout=TIMEOUT_MS)
            await expect(weather).to_have_text("not checked")

            async def answer(dialog: Dialog) -> None:
                await dialog.accept("typhoon In-fa")

            page.once("dialog", answer)
            await page.get_by_test_id("ground-area").click()
            await expect(weather).to_have_attribute("data-state", "grounded", timeout=TIMEOUT_MS)
            assert api.dispatcher.weather.grounded == "typhoon In-fa"
            entries = await sqlite_store.history("area", "grounding")
            assert [e.action for e in entries] == ["grounded"] and entries[0].actor.startswith("operator")
            await expect(page.get_by_test_id("ground-area")).to_have_text("Lift grounding")
            await page.get_by_test_id("ground-area").click()
            await expect(weather).to_have_attribute("data-state", "off", timeout=TIMEOUT_MS)
            assert api.dispatcher.weather.grounded is None
            assert not errors, errors
        finally:
            await context.close()
