/* Drone dispatch operations dashboard: ES modules, no build step, no network beyond the API (and
 * the map style, when the service names one).
 *
 * Data: GET /api/v1/{area,zones,pads,ports,fleet,requests,intents,weather} (refreshed periodically) and the live
 * stream GET /api/v1/stream. The operator key comes from the URL fragment #key=... (then removed
 * from the address bar) or from a small form, and is kept in sessionStorage.
 *
 * Modules: state (shared state and helpers), time (area time, simulated clock), api, log, model
 * (what is shown, worked out from the state), map (MapLibre), fleet, zones, intents, requests, weather,
 * stream.
 */
import { api, onUnauthorizedCall } from "./api.js";
import { refreshFleet } from "./fleet.js";
import { bindIntentsToggle, refreshIntents } from "./intents.js";
import { logEvent } from "./log.js";
import { createMap, fitArea, lonLatAt, redraw, rendered, screenPoint, sourceData, theMap, zoomBy } from "./map.js";
import { refreshRequests, renderRequests } from "./requests.js";
import { $, KEY_STORAGE, REFRESH_MS, S, el, listOf, num, first } from "./state.js";
import { setConnection, startStream, stopStream } from "./stream.js";
import { AREA, hhmmss, setAreaTimeZone, simNow } from "./time.js";
import { bindGrounding, refreshWeather } from "./weather.js";
import { bindZoneForm, onMapClick, renderZones } from "./zones.js";

function normPlace(p, fallbackId) {
  if (!p) return null;
  const lon = num(first(p.lon, p.longitude, p.position && p.position.lon, Array.isArray(p.coordinates) ? p.coordinates[0] : undefined));
  const lat = num(first(p.lat, p.latitude, p.position && p.position.lat, Array.isArray(p.coordinates) ? p.coordinates[1] : undefined));
  if (lon === null || lat === null) return null;
  return { id: String(first(p.id, p.pad_id, p.port_id, fallbackId, "?")), lon, lat, label: first(p.name, p.label), drones: Array.isArray(p.drones) ? p.drones : [] };
}

function normPlaces(data, ...keys) {
  let items = listOf(data, ...keys);
  if (!items.length && data && typeof data === "object" && !Array.isArray(data)) {
    items = Object.entries(data).filter(([, v]) => v && typeof v === "object").map(([k, v]) => ({ id: k, ...v }));
  }
  return items.map((p) => (p && p.geometry ? normPlace({ ...p.properties, coordinates: p.geometry.coordinates }) : normPlace(p))).filter(Boolean);
}

async function loadStatic() {
  const [zones, pads, ports, area] = await Promise.all([api("/zones"), api("/pads"), api("/ports"), api("/area")]);
  if (area && area.timezone) setAreaTimeZone(area.timezone);
  S.zones = listOf(zones, "zones", "features");
  S.pads = normPlaces(pads, "pads", "items");
  S.ports = normPlaces(ports, "ports", "items");
  // the map is made once the service has said which style it wants (none: a plain background)
  await createMap(el.map, (area && area.map_style) || null, onMapClick, (text) => logEvent("warn", text, "map"));
  renderZones();
  redraw("places");
  el.map.setAttribute("data-loaded", "true");
}

// the first frame: once zones, pads and ports are drawn (the drones when there is nothing else)
function fitOnce() {
  if (S.fitted) return;
  requestAnimationFrame(() => requestAnimationFrame(() => { if (!S.fitted && fitArea()) S.fitted = true; }));
}

async function refreshAll() {
  const results = await Promise.allSettled([refreshFleet(), refreshRequests(), refreshIntents(), refreshWeather()]);
  return results.every((r) => r.status === "fulfilled");
}

function readKeyFromFragment() {
  const m = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
  if (!m) return null;
  const key = decodeURIComponent(m[1]);
  // keep the secret out of the address bar, history and screenshots
  history.replaceState(null, "", location.pathname + location.search);
  return key;
}

function askForKey(message) {
  el.keyModal.hidden = false;
  el.keyError.hidden = !message;
  el.keyError.textContent = message || "";
  el.keyInput.value = "";
  el.keyInput.focus();
}

function onUnauthorized() {
  if (!S.key) return;
  S.key = null;
  sessionStorage.removeItem(KEY_STORAGE);
  stopStream();
  clearInterval(S.refreshTimer);
  setConnection("unauthorized", "Key refused");
  askForKey("The API refused this key (unknown, revoked, or not an operator key).");
}

async function connect(key) {
  S.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  el.keyModal.hidden = true;
  setConnection("connecting", "Connecting…");
  try {
    await loadStatic();
    await refreshAll();
    fitOnce();
  } catch (exc) {
    if (exc.status === 401) return;
    if (exc.status === 403) { onUnauthorized(); return; }
    setConnection("offline", "API unreachable");
    logEvent("error", `loading failed: ${exc.message}; retrying`, "connection");
    setTimeout(() => { if (S.key === key) connect(key); }, 3000);
    return;
  }
  clearInterval(S.refreshTimer);
  S.refreshTimer = setInterval(() => {
    refreshAll().catch(() => {});
    renderZones(); // zones come in and out of force as time passes
  }, REFRESH_MS);
  startStream();
}

function tickClock() {
  el.simTime.textContent = S.clock.sim === null ? "—" : `${hhmmss(simNow())} ${AREA.label}`;
  el.simTime.dataset.timezone = AREA.tz;
  el.simTime.title = S.clock.sim === null ? "" : `${new Date(simNow()).toISOString()} (×${S.clock.rate.toFixed(S.clock.rate < 10 ? 1 : 0)}); times shown in ${AREA.tz}`;
}

function init() {
  Object.assign(el, {
    map: $("#map"), labels: $("#map-labels"), cursor: $("#map-cursor"),
    fleetBody: $("#fleet-body"), fleetCount: $("#fleet-count"), requestsBody: $("#requests-body"),
    requestsEmpty: $("#requests-empty"), requestsCount: $("#requests-count"), hideSettled: $("#hide-settled"),
    statAirborne: $("#stat-airborne"), statOpen: $("#stat-open"), statDelivered: $("#stat-delivered"),
    simTime: $("#sim-time"), connection: $("#connection"), log: $("#event-log"),
    zoneForm: $("#zone-form"), zoneId: $("#zone-id"), zoneReason: $("#zone-reason"), zoneLon: $("#zone-lon"),
    zoneLat: $("#zone-lat"), zoneRadius: $("#zone-radius"), zoneUntil: $("#zone-until"), zoneSubmit: $("#zone-submit"),
    zoneMessage: $("#zone-message"), zoneHelp: $("#zone-help"), circleFields: $("#circle-fields"),
    polygonFields: $("#polygon-fields"), polyCount: $("#poly-count"),
    tempZones: $("#temp-zones"), tempZoneList: $("#temp-zone-list"), showIntents: $("#show-intents"),
    keyModal: $("#key-modal"), keyInput: $("#key-input"), keyError: $("#key-error"),
    weatherState: $("#weather-state"), groundArea: $("#ground-area"),
  });
  onUnauthorizedCall(onUnauthorized);
  bindZoneForm();
  bindIntentsToggle();
  bindGrounding();
  $("#zoom-in").addEventListener("click", () => zoomBy(0.5));
  $("#zoom-out").addEventListener("click", () => zoomBy(-0.5));
  $("#zoom-fit").addEventListener("click", fitArea);
  el.hideSettled.addEventListener("change", renderRequests);
  $("#log-clear").addEventListener("click", () => el.log.replaceChildren());
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) {
        t.classList.toggle("active", t === tab);
        t.setAttribute("aria-selected", String(t === tab));
      }
      for (const panel of document.querySelectorAll(".tab-panel")) panel.hidden = panel.dataset.panel !== tab.dataset.tab;
      $("#log-clear").hidden = tab.dataset.tab !== "log";
    });
  }
  $("#sign-out").addEventListener("click", () => {
    S.key = null;
    sessionStorage.removeItem(KEY_STORAGE);
    stopStream();
    clearInterval(S.refreshTimer);
    setConnection("idle", "Signed out");
    askForKey("");
  });
  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = el.keyInput.value.trim();
    if (key) connect(key);
  });
  setInterval(tickClock, 500);

  // debugging and test hooks: the map (MapLibre), what it draws, and screen <-> lon/lat
  window.dashboard = { get map() { return theMap(); }, screenPoint, lonLatAt, rendered, sourceData, simNow };

  const key = readKeyFromFragment() || sessionStorage.getItem(KEY_STORAGE);
  if (key) connect(key);
  else { setConnection("idle", "No key"); askForKey(""); }
}

init(); // a module runs once the document is parsed
