/* The fleet: drone records from the API and the stream, the fleet table with its Take out / Put
 * back buttons. */
import { api } from "./api.js";
import { logEvent } from "./log.js";
import { redraw } from "./map.js";
import { displayState, remainingPath, stateClass } from "./model.js";
import { S, el, first, html, listOf, num, parseTime, shortId } from "./state.js";
import { observeSimTime } from "./time.js";

export function droneRecord(id) {
  let d = S.drones.get(id);
  if (!d) {
    d = { id, lon: null, lat: null, heading: 0, battery: null, state: "idle", mission: null, path: [], pathIsRemaining: false, progress: 0, pathMission: null, previousPath: null, usable: true, online: true, whyUnusable: "", onboard: [], pathVersion: 0, reroutes: 0, ts: 0 };
    S.drones.set(id, d);
  }
  return d;
}

export function normPath(v) {
  if (!Array.isArray(v)) return [];
  return v.map((w) => Array.isArray(w) ? [num(w[0]), num(w[1])] : [num(w && first(w.lon, w.longitude)), num(w && first(w.lat, w.latitude))])
    .filter(([lon, lat]) => lon !== null && lat !== null);
}

function isTail(path, old) {
  if (!old || path.length > old.length) return false;
  const off = old.length - path.length;
  return path.every((p, i) => Math.abs(p[0] - old[off + i][0]) < 1e-9 && Math.abs(p[1] - old[off + i][1]) < 1e-9);
}

/** A re-route: the drone's new path replaces the old, which stays on the map (dashed) for this mission. */
export function reroute(d, path, fromEvent) {
  const before = remainingPath(d);
  if (before.length >= 2) d.previousPath = before;
  d.path = path; d.pathSig = JSON.stringify(path); d.pathVersion++;
  d.pathMission = d.mission; d.reroutes++; d.pathFromEvent = fromEvent;
  d.progress = 0;
}

export function applyDrone(raw) {
  if (!raw || typeof raw !== "object") return null;
  const id = first(raw.drone_id, raw.id);
  if (!id) return null;
  const d = droneRecord(String(id));
  const t = raw.telemetry && typeof raw.telemetry === "object" ? raw.telemetry : raw;
  // a fleet list read before the latest stream sample must not move the drone back
  const ts = parseTime(first(t.ts, raw.ts, raw.telemetry_at));
  if (ts === null || ts >= d.ts) {
    if (ts !== null) d.ts = ts;
    const pos = first(raw.position, t.position, raw.last_position) || t;
    const lon = num(first(pos.lon, pos.longitude, Array.isArray(pos) ? pos[0] : undefined));
    const lat = num(first(pos.lat, pos.latitude, Array.isArray(pos) ? pos[1] : undefined));
    if (lon !== null && lat !== null) { d.lon = lon; d.lat = lat; }
    const heading = num(first(t.heading_deg, t.heading, raw.heading_deg));
    if (heading !== null) d.heading = heading;
    const batt = num(first(t.battery_pct, t.battery, raw.battery_pct, raw.battery));
    if (batt !== null) d.battery = batt;
    const state = first(t.state, raw.state, raw.status);
    if (state) d.state = String(state);
  }
  if ("mission_id" in raw || "mission" in raw || "mission_id" in t) {
    const mission = first(raw.mission_id, raw.mission && typeof raw.mission === "object" ? first(raw.mission.id, raw.mission.mission_id) : raw.mission, t.mission_id);
    if ((mission || null) !== d.mission) { d.mission = mission || null; d.progress = 0; d.previousPath = null; }
  }
  if ("usable" in raw) d.usable = raw.usable !== false;
  if ("online" in raw) d.online = raw.online !== false;
  if ("why_unusable" in raw) d.whyUnusable = raw.why_unusable || "";
  if ("in_service" in raw) d.inService = raw.in_service !== false;
  if (Array.isArray(raw.onboard)) d.onboard = raw.onboard.map(String);
  if (raw.online !== false) observeSimTime(ts);
  const missionObj = raw.mission && typeof raw.mission === "object" ? raw.mission : null;
  const remaining = first(raw.remaining_path, raw.path_remaining, missionObj && missionObj.remaining_path);
  const full = first(raw.planned_path, raw.path, raw.waypoints, missionObj && first(missionObj.planned_path, missionObj.path, missionObj.waypoints));
  if (remaining !== undefined || full !== undefined) {
    const path = normPath(remaining !== undefined ? remaining : full);
    const sig = JSON.stringify(path);
    if (sig !== d.pathSig) {
      // the API sends the path from the last stop reached: a shorter tail of the same path is
      // progress, anything else on the same mission is a new plan (a re-route)
      // (after a re-route event, the list's path ends with the waypoints the event gave)
      const samePlan = d.pathMission === d.mission && (isTail(path, d.path) || (d.pathFromEvent && isTail(d.path, path)));
      if (!samePlan && d.pathMission === d.mission && d.mission && path.length && d.path.length) reroute(d, path, false);
      else if (!samePlan) d.pathVersion++;
      d.pathFromEvent = false;
      d.pathSig = sig; d.path = path; d.pathMission = d.mission;
      d.progress = 0;
    }
    d.pathIsRemaining = remaining !== undefined;
  }
  redraw("drones", "routes");
  return d;
}

export function renderFleetTable() {
  const body = el.fleetBody;
  body.replaceChildren();
  let airborne = 0;
  for (const id of [...S.drones.keys()].sort()) {
    const d = S.drones.get(id);
    const shown = displayState(d);
    const sc = stateClass(shown);
    if (["flying", "holding", "returning"].includes(sc)) airborne++;
    const tr = html("tr", { "data-testid": "fleet-row", "data-drone-id": id });
    tr.appendChild(html("td", { class: "mono" }, id));
    const st = html("td");
    st.appendChild(html("span", { class: `badge s-${sc}`, title: d.whyUnusable || "" }, shown.replace(/_/g, " ")));
    tr.appendChild(st);
    const bt = html("td");
    if (d.battery !== null) {
      const wrap = html("span", { class: "batt" });
      const bar = html("span", { class: "batt-bar" });
      const fill = html("span", { class: `batt-fill${d.battery < 20 ? " crit" : d.battery < 40 ? " low" : ""}` });
      fill.style.width = `${Math.max(0, Math.min(100, d.battery))}%`;
      fill.style.display = "block";
      bar.appendChild(fill);
      wrap.append(bar, document.createTextNode(`${Math.round(d.battery)}%`));
      bt.appendChild(wrap);
    } else bt.textContent = "—";
    tr.appendChild(bt);
    tr.appendChild(html("td", { class: "mono muted" }, d.mission ? shortId(d.mission) : "—"));
    tr.appendChild(serviceCell(id, d));
    body.appendChild(tr);
  }
  el.fleetCount.textContent = `${airborne}/${S.drones.size}`;
  el.statAirborne.textContent = String(airborne);
}

let fleetTableTimer = null;
export function throttledFleetTable() {
  if (fleetTableTimer) return;
  fleetTableTimer = setTimeout(() => { fleetTableTimer = null; renderFleetTable(); }, 500);
}

// Take a drone out of service (the API wants a reason) or put it back (POST /fleet/{id}/service).
function serviceCell(id, d) {
  const td = html("td");
  const out = d.inService === false;
  const b = html("button", { type: "button", class: `btn btn-small ${out ? "btn-ghost" : "btn-danger-ghost"}`, "data-testid": "drone-service", "data-drone-id": id, "data-in-service": String(!out) }, out ? "Put back" : "Take out");
  b.addEventListener("click", () => setInService(id, out));
  td.appendChild(b);
  return td;
}

async function setInService(id, inService) {
  let reason = "";
  if (!inService) {
    reason = (window.prompt(`Why take ${id} out of service?`) || "").trim();
    if (!reason) return;
  }
  try {
    applyDrone(await api(`/fleet/${encodeURIComponent(id)}/service`, { method: "POST", body: { in_service: inService, reason } }));
    logEvent("info", inService ? `${id} put back in service` : `${id} taken out of service: ${reason}`, "drone");
    renderFleetTable();
  } catch (exc) {
    logEvent("error", `Could not change the service of ${id}${exc.status ? ` (HTTP ${exc.status})` : ""}: ${exc.message}`, "drone");
  }
}

let lastFleetFetch = 0;
let fleetRefreshPending = null;

export async function refreshFleet() {
  lastFleetFetch = performance.now();
  const data = await api("/fleet");
  const items = listOf(data, "drones", "fleet", "items");
  if (data && !Array.isArray(data)) observeSimTime(parseTime(first(data.now, data.sim_time, data.at, data.clock)));
  for (const raw of items) applyDrone(raw);
  for (const d of S.drones.values()) {
    for (const rid of d.onboard || []) { const r = S.requests.get(rid); if (r) r.drone = d.id; }
  }
  renderFleetTable();
}

// soon after fleet events, but at most once a second (the API limits each key's request rate)
export function refreshFleetSoon() {
  if (fleetRefreshPending) return;
  const wait = Math.max(150, 1000 - (performance.now() - lastFleetFetch));
  fleetRefreshPending = setTimeout(() => {
    fleetRefreshPending = null;
    refreshFleet().catch(() => {});
  }, wait);
}
