/* The weather the dispatcher flies by (GET /api/v1/weather), and grounding the area (a typhoon):
 * POST /api/v1/weather/grounding, with the operator's reason. */
import { api } from "./api.js";
import { logEvent } from "./log.js";
import { el } from "./state.js";
import { hhmmss } from "./time.js";

let last = null;

function show(w) {
  last = w;
  let state = "off", text = "not checked", title = "No weather source: the weather is not part of any decision.";
  if (w.grounded) {
    state = "grounded"; text = "GROUNDED"; title = `Grounded by an operator: ${w.grounded}. No drone takes off.`;
  } else if (w.source && w.problem) {
    state = "unknown"; text = w.unknown_policy === "hold" ? "unknown: holding" : "unknown: flying";
    title = w.problem;
  } else if (w.source) {
    state = w.warning ? "warning" : "ok";
    text = w.covers_until ? `forecast to ${hhmmss(Date.parse(w.covers_until))}` : "forecast";
    title = `${w.source}${w.warning ? ` (last read failed: ${w.warning})` : ""}`;
  }
  el.weatherState.textContent = text;
  el.weatherState.dataset.state = state;
  el.weatherState.title = title;
  el.groundArea.textContent = w.grounded ? "Lift grounding" : "Ground area";
  el.groundArea.dataset.grounded = String(Boolean(w.grounded));
}

export async function refreshWeather() {
  show(await api("/weather"));
}

async function toggleGrounding() {
  const grounded = Boolean(last && last.grounded);
  let body = { grounded: false };
  if (!grounded) {
    const reason = window.prompt("Ground the whole area: no drone takes off until it is lifted. Why?", "");
    if (!reason || !reason.trim()) return;
    body = { grounded: true, reason: reason.trim() };
  }
  try {
    show(await api("/weather/grounding", { method: "POST", body }));
    logEvent(grounded ? "info" : "warn", grounded ? "area grounding lifted" : `area grounded: ${body.reason}`, "weather");
  } catch (exc) {
    logEvent("error", `grounding: ${exc.message}`, "weather");
  }
}

export function bindGrounding() {
  el.groundArea.addEventListener("click", () => { toggleGrounding(); });
}
