/* Time: the service area's time zone (times are shown in it and labelled) and the simulated clock
 * (the fleet may run on an accelerated clock; its time comes from telemetry). */
import { S, pad2 } from "./state.js";

export const AREA = { tz: "UTC", label: "UTC", parts: null };

export function setAreaTimeZone(tz) {
  try {
    AREA.parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  } catch (e) { return; } // a zone this browser does not know: keep UTC
  AREA.tz = tz;
  // A short name where one exists ("KST", "CET"), else the IANA name (never a bare "GMT+9").
  const short = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "short" })
    .formatToParts(Date.now()).find((p) => p.type === "timeZoneName");
  AREA.label = short && !/^(GMT|UTC)[+-]/.test(short.value) ? short.value : tz;
  for (const node of document.querySelectorAll("[data-area-tz]")) node.textContent = AREA.label;
}
setAreaTimeZone("UTC");

function areaParts(ms) { // wall-clock fields of the instant ms in the area's zone
  const out = {};
  for (const p of AREA.parts.formatToParts(new Date(ms))) if (p.type !== "literal") out[p.type] = Number(p.value);
  return out;
}

export function hhmm(ms) {
  if (ms === null || ms === undefined) return "—";
  const p = areaParts(ms);
  return `${pad2(p.hour)}:${pad2(p.minute)}`;
}

export function hhmmss(ms) {
  if (ms === null || ms === undefined) return "—";
  const p = areaParts(ms);
  return `${pad2(p.hour)}:${pad2(p.minute)}:${pad2(p.second)}`;
}

export function localInputValue(ms) { // a datetime-local value in area time
  const p = areaParts(ms);
  return `${p.year}-${pad2(p.month)}-${pad2(p.day)}T${pad2(p.hour)}:${pad2(p.minute)}`;
}

export function fromAreaInput(value) { // the instant a datetime-local value in area time names (NaN if none)
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(value);
  if (!m) return NaN;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  const offset = (t) => { const p = areaParts(t); return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(t / 1000) * 1000; };
  return wall - offset(wall - offset(wall));
}

// The latest simulated time seen (telemetry stamps) and the clock's rate against wall time, so
// the clock in the header and the zones' validity move on between samples.
export function observeSimTime(ms) {
  if (ms === null) return;
  const c = S.clock;
  if (c.sim !== null && ms <= c.sim) return; // an older sample (a drone that went quiet)
  const wall = performance.now();
  c.sim = ms; c.wall = wall;
  c.samples.push([wall, ms]);
  while (c.samples.length > 2 && wall - c.samples[0][0] > 20000) c.samples.shift();
  const [w0, s0] = c.samples[0];
  if (wall - w0 > 1500) c.rate = Math.min(2000, Math.max(0.2, (ms - s0) / (wall - w0)));
}

export function simNow() {
  const c = S.clock;
  if (c.sim === null) return Date.now();
  const ahead = Math.min(performance.now() - c.wall, 5000);
  return c.sim + ahead * c.rate;
}
