/* The live stream (Server-Sent Events read with fetch, so the Authorization header can be sent;
 * EventSource cannot send headers) and what its messages change on the page. */
import { keyRefused } from "./api.js";
import { applyDrone, normPath, refreshFleet, refreshFleetSoon, reroute, throttledFleetTable } from "./fleet.js";
import { logEvent } from "./log.js";
import { redraw } from "./map.js";
import { applyRequest, refreshRequests, throttledRequests } from "./requests.js";
import { API, S, STREAM_IDLE_MS, el, first, parseTime, shortId } from "./state.js";
import { reloadZones } from "./zones.js";

export function setConnection(state, text) {
  el.connection.dataset.state = state;
  el.connection.querySelector(".conn-text").textContent = text;
}

export function stopStream() {
  S.stream.generation++;
  if (S.stream.controller) S.stream.controller.abort();
  S.stream.controller = null;
  clearInterval(S.stream.timer);
}

export async function startStream() {
  stopStream();
  const gen = S.stream.generation;
  const controller = new AbortController();
  S.stream.controller = controller;
  setConnection(S.stream.backoff > 1000 ? "reconnecting" : "connecting", S.stream.backoff > 1000 ? "Reconnecting…" : "Connecting…");
  S.stream.lastByte = performance.now();
  S.stream.timer = setInterval(() => {
    if (performance.now() - S.stream.lastByte > STREAM_IDLE_MS) controller.abort();
  }, 5000);
  let failure = "";
  try {
    const res = await fetch(`${API}/stream`, {
      headers: { Authorization: `Bearer ${S.key}`, Accept: "text/event-stream" },
      signal: controller.signal, cache: "no-store",
    });
    if (res.status === 401) { keyRefused(); return; }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    setConnection("live", "Live");
    logEvent("ok", "live stream connected", "connection");
    S.stream.backoff = 1000;
    // whatever changed while the stream was down
    Promise.allSettled([refreshFleet(), refreshRequests(true), reloadZones()]);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      S.stream.lastByte = performance.now();
      buf += decoder.decode(value, { stream: true });
      // lines end in \r\n, \n or \r; a chunk may end between the \r and the \n of one
      const carry = buf.endsWith("\r") ? "\r" : "";
      buf = buf.slice(0, buf.length - carry.length).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        dispatchSse(block);
      }
      buf += carry;
    }
    failure = "stream closed by the server";
  } catch (exc) {
    failure = exc.name === "AbortError" ? "no data from the stream" : exc.message;
  } finally {
    clearInterval(S.stream.timer);
  }
  if (gen !== S.stream.generation || !S.key) return;
  setConnection("reconnecting", "Reconnecting…");
  logEvent("warn", `live stream lost (${failure}); reconnecting`, "connection");
  const wait = S.stream.backoff;
  S.stream.backoff = Math.min(15000, S.stream.backoff * 2);
  setTimeout(() => { if (gen === S.stream.generation && S.key) startStream(); }, wait);
}

function dispatchSse(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  let payload;
  try { payload = JSON.parse(data.join("\n")); } catch { return; }
  try { onStreamMessage(event, payload); } catch (exc) { console.error("stream message", event, exc); }
}

function onStreamMessage(event, payload) {
  if (event === "telemetry") {
    const items = Array.isArray(payload) ? payload : [payload];
    for (const t of items) applyDrone(t);
    throttledFleetTable();
  } else if (event === "request") {
    const r = applyRequest(payload, true);
    if (r) throttledRequests();
  } else if (event === "event") {
    onFleetEvent(payload); // drone events, and flight / zone / drone entries of the audit chain
  }
}

// drone events (fleet/messages.py) in words
const EVENT_TEXT = {
  took_off: "took off", landed: "landed", picked_up: "picked up", delivered: "delivered",
  reached_stop: "reached a stop", fault: "FAULT", low_battery: "low battery", geofence_breach: "GEOFENCE BREACH",
  separation_loss: "LOSS OF SEPARATION",
};

function droneOfMission(missionId) {
  if (!missionId) return null;
  for (const d of S.drones.values()) if (d.mission === missionId) return d;
  return null;
}

function onFleetEvent(p) {
  if (!p || typeof p !== "object") return;
  const kindRaw = String(first(p.event, p.action, p.type, "event"));
  const kind = kindRaw.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  const sig = first(p.msg_id, p.seq !== undefined ? `seq:${p.seq}` : undefined) || JSON.stringify(p);
  if (S.seenEvents.has(sig)) return;
  S.seenEvents.add(sig);
  if (S.seenEvents.size > 4000) S.seenEvents = new Set([...S.seenEvents].slice(-2000));
  // drone events carry the simulated time in ts; audit entries (at) are stamped by the store
  const ts = parseTime(p.ts);
  const details = p.details && typeof p.details === "object" ? p.details : {};

  if (kind === "link") {
    if (p.status === "down") logEvent("error", `dispatcher lost the broker${p.detail ? `: ${p.detail}` : ""}`, "link");
    else logEvent("ok", "dispatcher connected to the broker", "link");
    return;
  }
  if (kind === "state") {
    if (p.online === false) logEvent("warn", `${p.drone_id || "?"} went offline`, "offline", ts);
    return; // online: liveness noise
  }
  if (kind === "flight_rerouted" || kind === "rerouted" || kind === "reroute") {
    const missionId = first(p.mission_id, p.id);
    const d = droneOfMission(missionId) || (p.drone_id ? S.drones.get(String(p.drone_id)) : null);
    const zones = first(details.zones, p.zones, []);
    if (d && Array.isArray(details.waypoints) && details.waypoints.length) {
      // the waypoints the drone now flies, from where it is (the mission's from from_index on)
      reroute(d, normPath(details.waypoints), true);
      d.pathIsRemaining = true;
      redraw("routes");
    }
    logEvent("warn", `${d ? `${d.id} ` : ""}re-routed around ${Array.isArray(zones) && zones.length ? `zone ${zones.join(", ")}` : "a new zone"} (mission ${shortId(missionId || "?")})`, "rerouted");
    refreshFleetSoon();
    return;
  }
  if (kind.startsWith("zone_")) {
    reloadZones().catch(() => {});
    const what = kind.slice(5);
    const text = { upserted: "in force (added or changed)", created: "in force", deactivated: "lifted" }[what] || what.replace(/_/g, " ");
    logEvent(what === "deactivated" ? "info" : "warn", `zone ${p.id || "?"} ${text}`, kind);
    return;
  }
  if (kind.startsWith("flight_")) {
    const missionId = first(p.mission_id, p.id);
    const d = droneOfMission(missionId);
    const who = d ? `${d.id} ` : "";
    const what = kind.slice(7);
    const zones = Array.isArray(details.zones) && details.zones.length ? ` around zone ${details.zones.join(", ")}` : "";
    if (what === "transition") {
      // take-offs and landings come from the drones themselves; a mission ending early is news
      if (details.to === "aborted") {
        const why = first((details.details || {}).reason, details.reason);
        logEvent("warn", `${who}mission ${shortId(missionId)} aborted${why ? ` — ${why}` : ""}`, "flight_aborted",
          undefined, `aborted:${d ? d.id : ""}:${why || ""}`);
      }
    } else if (what === "no_safe_path" || what === "reroute_refused" || what === "reroute_failed") {
      const why = { no_safe_path: "no safe path", reroute_refused: "the drone refused the detour", reroute_failed: "re-route failed" }[what];
      logEvent("warn", `${who}sent home: ${why}${zones} (mission ${shortId(missionId)})`, "sent_home");
    } else if (what !== "planned") {
      logEvent("info", `${who}mission ${shortId(missionId)}: ${what.replace(/_/g, " ")}${details.detail ? ` — ${details.detail}` : ""}`, kind);
    }
    refreshFleetSoon();
    return;
  }
  if (kind.startsWith("drone_")) {
    const what = kind.slice(6);
    const level = /breach|fault|unusable|silent/.test(what) ? "error" : "warn";
    logEvent(level, `${p.id || p.drone_id || "?"}: ${what.replace(/_/g, " ")}${details.zone_id ? ` (zone ${details.zone_id})` : ""}${details.detail || details.reason ? ` — ${details.detail || details.reason}` : ""}`, kind);
    refreshFleetSoon();
    return;
  }

  const drone = first(p.drone_id, p.drone);
  const req = first(p.request_id, p.request);
  const bits = [];
  if (drone) bits.push(String(drone));
  bits.push(EVENT_TEXT[kind] || kindRaw.replace(/_/g, " "));
  if (req) bits.push(`request ${shortId(req)}`);
  if (p.zone_id) bits.push(`zone ${p.zone_id}`);
  if (p.other_drone_id) bits.push(`with ${p.other_drone_id}, closest ${Number(p.closest_m).toFixed(1)} m`);
  if (p.stop_index !== undefined && !req) bits.push(`stop ${p.stop_index}`);
  if (p.kind) bits.push(`(${p.kind})`);
  if (typeof p.detail === "string" && p.detail) bits.push(`— ${p.detail}`);
  if (kind === "delivered" && p.code_ok === false) bits.push("— recipient code refused");
  const level = /fault|breach|emergency|separation/.test(kind) ? "error"
    : /hold|low_battery|return/.test(kind) ? "warn"
      : /delivered|landed|picked/.test(kind) ? "ok" : "info";
  logEvent(level, bits.join(" "), kind, ts);
  if (drone && (kind === "fault" || kind === "geofence_breach")) redraw("drones");
  if (/took_off|landed|picked|delivered|fault|return|hold/.test(kind)) refreshFleetSoon();
}
