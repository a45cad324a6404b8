/* Operational intents: the 4D volumes the flights in progress have reserved (GET /api/v1/intents,
 * one GeoJSON Polygon per volume), a map layer the legend's checkbox turns on and off. The map
 * (map.js, "intents" source) emphasises the volumes whose time window holds the simulated now. */
import { api } from "./api.js";
import { redraw } from "./map.js";
import { S, el } from "./state.js";

/** Read the intents in force again (with the periodic refresh; nothing while the layer is off). */
export async function refreshIntents() {
  if (!S.showIntents) return;
  const data = await api("/intents");
  S.intents = data && Array.isArray(data.features) ? data.features : [];
  redraw("intents");
}

/** Wire the legend's checkbox (once, at start-up). */
export function bindIntentsToggle() {
  el.showIntents.checked = S.showIntents;
  el.showIntents.addEventListener("change", () => {
    S.showIntents = el.showIntents.checked;
    if (!S.showIntents) S.intents = [];
    redraw("intents");
    refreshIntents().catch(() => {});
  });
}
