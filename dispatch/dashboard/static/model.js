/* What the map and the tables show, worked out from the state: drone states, zones in force, the
 * part of a planned path still ahead. Pure functions of the state, no drawing. */
import { EARTH_R, S, STATE_CLASS, first, num, parseTime } from "./state.js";
import { hhmm, simNow } from "./time.js";

// what the operator should read: offline and unusable drones on the ground count as faulted
export function displayState(d) {
  if (d.online === false) return "offline";
  if (d.usable === false && !["en_route", "servicing", "holding", "returning", "landing", "emergency"].includes(d.state)) return "fault";
  return d.state || "idle";
}

export function stateClass(state) {
  if (!state) return "idle";
  return STATE_CLASS[String(state).toLowerCase()] || "flying";
}

export function zoneInfo(f) {
  const p = f.properties || {};
  const from = parseTime(p.valid_from);
  const to = parseTime(first(p.valid_to, p.valid_until));
  const now = simNow();
  const active = (from === null || now >= from) && (to === null || now < to);
  const temporary = Boolean(p.temporary) || from !== null || to !== null || S.localTemporary.has(p.id)
    || /^(operator|admin)\b/.test(String((f.meta && f.meta.created_by) || ""));
  const floor = num(p.floor_m) || 0;
  const ceiling = num(p.ceiling_m);
  const controlled = p.kind === "controlled"; // entered with the authority's approval
  return { id: String(p.id || "?"), from, to, active, temporary, controlled, floor, ceiling, reason: p.reason || "" };
}

export function zoneTitle(info) {
  const band = `${info.floor} m – ${info.ceiling === null ? "∞" : `${info.ceiling} m`}`;
  let validity = "always";
  if (info.from !== null || info.to !== null) validity = `${info.from === null ? "now" : `${hhmm(info.from)}`} → ${info.to === null ? "until removed" : hhmm(info.to)}`;
  const kind = info.controlled ? "\ncontrolled: flown through only with the authority's approval" : "";
  return `${info.id}${info.reason ? ` — ${info.reason}` : ""}${kind}\naltitude ${band}\nvalid ${validity}${info.active ? "" : " (not active now)"}`;
}

/** The text of a zone's label: its id and, for a temporary zone, its area time limits. */
export function zoneLabel(info) {
  let text = info.id;
  if (info.temporary && info.to !== null) text += ` · until ${hhmm(info.to)}`;
  if (info.temporary && info.from !== null && !info.active && info.from > simNow()) text += ` · from ${hhmm(info.from)}`;
  return text;
}

export function rings(g) {
  if (!g) return [];
  if (g.type === "Polygon") return g.coordinates || [];
  if (g.type === "MultiPolygon") return (g.coordinates || []).flat();
  return [];
}

// metres east and north of (lon0, lat0): good enough over a city for "which segment is nearest"
function local(lon0, lat0) {
  const ky = (Math.PI / 180) * EARTH_R, kx = ky * Math.cos((lat0 * Math.PI) / 180);
  return ([lon, lat]) => [(lon - lon0) * kx, (lat - lat0) * ky];
}

function segDist(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

// The part of the planned path still ahead: from the drone's position through the waypoints
// after the segment it is on (monotonic per mission, so an out-and-back path is not cut short).
export function remainingPath(d) {
  const wps = d.path;
  if (!wps || wps.length === 0 || d.lon === null) return [];
  if (d.pathIsRemaining) return [[d.lon, d.lat], ...wps];
  if (wps.length === 1) return [[d.lon, d.lat], wps[0]];
  const xy = local(d.lon, d.lat);
  const p = [0, 0];
  const pts = wps.map(xy);
  let best = Infinity;
  const dist = [];
  for (let i = Math.min(d.progress, pts.length - 2); i < pts.length - 1; i++) {
    const dd = segDist(p, pts[i], pts[i + 1]);
    dist.push([i, dd]);
    best = Math.min(best, dd);
  }
  const pick = dist.find(([, dd]) => dd <= best + 25);
  const k = pick ? pick[0] : 0;
  d.progress = k;
  return [[d.lon, d.lat], ...wps.slice(k + 1)];
}

/** Where a drone's map path is now: the remaining path of its mission (empty when there is none). */
export function pathAhead(d) {
  return d.mission || d.pathIsRemaining ? remainingPath(d) : [];
}
