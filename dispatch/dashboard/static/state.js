/* The dashboard's shared state, constants and small helpers (no drawing, no network). */

export const API = "/api/v1";
export const KEY_STORAGE = "dronedispatch.operatorKey";
export const REFRESH_MS = 4000; // periodic refresh of fleet and requests (the stream carries the rest)
export const STREAM_IDLE_MS = 45000; // no byte for this long: reconnect
export const LOG_MAX = 300;
export const EARTH_R = 6371008.8;
export const SETTLED = new Set(["delivered", "rejected", "cancelled", "failed", "returned", "unserved"]);
// states a request can still leave ("failed" documents may yet be brought back: "returned")
export const OPEN_STATES = ["submitted", "accepted", "planned", "dispatched", "picked_up", "failed"];
export const FULL_REQUESTS_MS = 30000; // every request re-read this often; in between, the open ones
// The states a drone reports (fleet/messages.py DroneState), and "offline" (the dashboard's word
// for a drone the dispatcher no longer hears), grouped into the map's five colours.
export const STATE_CLASS = {
  idle: "idle", ready: "idle",
  en_route: "flying", servicing: "flying", landing: "flying",
  holding: "holding",
  returning: "returning",
  emergency: "faulted", fault: "faulted", offline: "faulted",
};
export const STATE_COLOR = {
  idle: "#8a94a3", flying: "#2563eb", holding: "#e0a100", returning: "#8b3fd9", faulted: "#d92d20",
};

export const S = {
  key: null,
  zones: [], // GeoJSON features
  intents: [], // GeoJSON features: one per volume of the operational intents in force
  showIntents: true, // the intents layer (the legend's checkbox)
  localTemporary: new Set(), // zone ids added from this page
  pads: [], // {id, lon, lat, label}
  ports: [], // {id, lon, lat, drones}
  drones: new Map(), // id -> drone record
  requests: new Map(), // id -> request record
  fitted: false,
  draft: { shape: "circle", center: null, vertices: [] },
  clock: { sim: null, wall: 0, rate: 1, samples: [] },
  stream: { controller: null, backoff: 1000, lastByte: 0, timer: null, generation: 0 },
  refreshTimer: null,
  seenEvents: new Set(),
  armedLift: null, // {id, until}: the zone whose Lift button waits for its confirming click
  selected: null, // the request picked in the table, shown on the map
};

export const $ = (sel) => document.querySelector(sel);
export const el = {}; // the page's elements, filled in by main.js

export function html(tag, attrs, text) {
  const node = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : null);
export const first = (...vals) => vals.find((v) => v !== undefined && v !== null);
export const listOf = (data, ...keys) => {
  if (Array.isArray(data)) return data;
  if (data && typeof data === "object") {
    for (const k of keys) if (Array.isArray(data[k])) return data[k];
    if (data.features && Array.isArray(data.features)) return data.features;
  }
  return [];
};

export function parseTime(v) {
  if (v === undefined || v === null || v === "") return null;
  const t = typeof v === "number" ? (v < 1e12 ? v * 1000 : v) : Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

export function shortId(id) {
  const s = String(id);
  return s.length > 14 ? `${s.slice(0, 6)}…${s.slice(-6)}` : s;
}

export function pad2(n) { return String(n).padStart(2, "0"); }
