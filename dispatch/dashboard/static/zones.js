/* Zones: the temporary zones' list with its Lift buttons, and the form (with the map as its
 * drawing tool: clicks place a circle's centre or a polygon's corners) that adds one. */
import { api } from "./api.js";
import { refreshFleetSoon } from "./fleet.js";
import { redraw } from "./map.js";
import { zoneInfo } from "./model.js";
import { $, S, el, first, html, listOf, num, shortId } from "./state.js";
import { fromAreaInput, hhmm, localInputValue, simNow } from "./time.js";

export async function reloadZones() {
  S.zones = listOf(await api("/zones"), "zones", "features");
  renderZones();
}

/** Zones on the map and in the list (they come in and out of force as time passes). */
export function renderZones() {
  redraw("zones");
  renderTemporaryZones();
}

// The temporary zones, each with a Lift button (click twice: the first click arms it).
function renderTemporaryZones() {
  const temps = S.zones.map(zoneInfo).filter((z) => z.temporary);
  el.tempZones.hidden = temps.length === 0;
  const list = el.tempZoneList;
  list.replaceChildren();
  for (const z of temps) {
    const li = html("li", { "data-testid": "temp-zone", "data-zone-id": z.id, class: z.active ? "" : "inactive" });
    let when = z.to === null ? "until lifted" : `until ${hhmm(z.to)}`;
    if (z.from !== null && z.from > simNow()) when = `${hhmm(z.from)}–${z.to === null ? "" : hhmm(z.to)}`;
    li.append(html("span", { class: "tz-name" }, z.id), html("span", { class: "tz-when", title: z.reason }, `${when}${z.reason ? ` · ${z.reason}` : ""}`));
    const armed = S.armedLift && S.armedLift.id === z.id && S.armedLift.until > performance.now();
    const b = html("button", { type: "button", class: `btn btn-small btn-danger-ghost${armed ? " armed" : ""}`, "data-testid": "zone-lift", "data-zone-id": z.id }, armed ? "Lift?" : "Lift");
    b.addEventListener("click", () => liftZone(z.id));
    li.appendChild(b);
    list.appendChild(li);
  }
}

async function liftZone(zoneId) {
  const armed = S.armedLift && S.armedLift.id === zoneId && S.armedLift.until > performance.now();
  if (!armed) {
    S.armedLift = { id: zoneId, until: performance.now() + 6000 };
    renderTemporaryZones();
    setTimeout(renderTemporaryZones, 6100);
    return;
  }
  S.armedLift = null;
  try {
    await api(`/zones/${encodeURIComponent(zoneId)}`, { method: "DELETE" });
    showZoneMessage(`Zone ${zoneId} lifted: flights may use that airspace again.`, false);
    await reloadZones();
  } catch (exc) {
    showZoneMessage(`Could not lift ${zoneId}${exc.status ? ` (HTTP ${exc.status})` : ""}: ${exc.message}`, true);
    renderTemporaryZones();
  }
}

// --- the form ---

function setShape(shape) {
  S.draft.shape = shape;
  el.circleFields.hidden = shape !== "circle";
  el.polygonFields.hidden = shape !== "polygon";
  el.zoneHelp.textContent = shape === "circle"
    ? "Click the map to place the centre (or type lon/lat); Esc clears it."
    : "Click the map to add corners (three or more); Esc clears them.";
  redraw("draft");
}

function updatePolygonCount() {
  const n = S.draft.vertices.length;
  el.polyCount.textContent = `${n} point${n === 1 ? "" : "s"}${n > 0 && n < 3 ? " — add at least 3" : ""}`;
}

/** A click on the map: the circle's centre, or the polygon's next corner. */
export function onMapClick(lon, lat) {
  if (S.draft.shape === "circle") {
    S.draft.center = [lon, lat];
    el.zoneLon.value = lon.toFixed(6);
    el.zoneLat.value = lat.toFixed(6);
  } else {
    S.draft.vertices.push([lon, lat]);
    updatePolygonCount();
  }
  redraw("draft");
}

function syncCenterFromFields() {
  const lon = num(el.zoneLon.value), lat = num(el.zoneLat.value);
  S.draft.center = lon !== null && lat !== null ? [lon, lat] : null;
  redraw("draft");
}

export function showZoneMessage(text, isError) {
  el.zoneMessage.hidden = false;
  el.zoneMessage.textContent = text;
  el.zoneMessage.classList.toggle("error", Boolean(isError));
  el.zoneMessage.dataset.kind = isError ? "error" : "ok";
  el.zoneMessage.dataset.rerouted = "";
}

function buildFeature() {
  const id = el.zoneId.value.trim();
  if (!id) throw new Error("Give the zone an id.");
  const props = { id, kind: "no_fly" };
  const reason = el.zoneReason.value.trim();
  if (reason) props.reason = reason;
  if (el.zoneUntil.value) {
    const until = new Date(fromAreaInput(el.zoneUntil.value));
    if (Number.isNaN(until.getTime())) throw new Error("'Valid until' is not a date and time.");
    props.valid_to = until.toISOString();
  }
  let geometry;
  if (S.draft.shape === "circle") {
    const lon = num(el.zoneLon.value), lat = num(el.zoneLat.value), r = num(el.zoneRadius.value);
    if (lon === null || lat === null) throw new Error("Place the centre: click the map or type lon/lat.");
    if (r === null || r <= 0) throw new Error("The radius must be a positive number of metres.");
    props.radius_m = r;
    geometry = { type: "Point", coordinates: [lon, lat] };
  } else {
    const v = S.draft.vertices;
    if (v.length < 3) throw new Error("A polygon needs at least three corners: click the map.");
    geometry = { type: "Polygon", coordinates: [[...v, v[0]].map(([lon, lat]) => [Number(lon.toFixed(7)), Number(lat.toFixed(7))])] };
  }
  return { type: "Feature", properties: props, geometry };
}

async function submitZone(ev) {
  ev.preventDefault();
  let feature;
  try { feature = buildFeature(); } catch (exc) { showZoneMessage(exc.message, true); return; }
  el.zoneSubmit.disabled = true;
  el.zoneMessage.hidden = true;
  try {
    const res = await api("/zones", { method: "POST", body: feature });
    S.localTemporary.add(feature.properties.id);
    const hit = res && typeof res === "object" ? first(res.rerouted, res.affected_missions, res.missions, res.hit, res.affected) : null;
    const n = Array.isArray(hit) ? hit.length : num(hit);
    let text = `Zone ${feature.properties.id} is in force.`;
    if (n !== null) {
      text += n
        ? ` ${n} flight${n === 1 ? "" : "s"} re-routed (or sent home where no safe path exists): ${Array.isArray(hit) ? hit.map(shortId).join(", ") : ""}`
        : " No flight in the air crosses it.";
    }
    showZoneMessage(text, false);
    el.zoneMessage.dataset.rerouted = Array.isArray(hit) ? hit.join(" ") : "";
    resetDraft(false);
    await reloadZones();
    refreshFleetSoon();
  } catch (exc) {
    showZoneMessage(`Refused${exc.status ? ` (HTTP ${exc.status})` : ""}: ${exc.message}`, true);
  } finally {
    el.zoneSubmit.disabled = false;
  }
}

function resetDraft(clearFields) {
  S.draft.center = null;
  S.draft.vertices = [];
  updatePolygonCount();
  if (clearFields) {
    el.zoneForm.reset();
    setShape("circle");
    el.zoneMessage.hidden = true;
  } else {
    for (const f of [el.zoneLon, el.zoneLat, el.zoneId, el.zoneReason, el.zoneUntil]) f.value = "";
  }
  redraw("draft");
}

/** Wire the form's controls (once, at start-up). */
export function bindZoneForm() {
  for (const r of document.querySelectorAll('input[name="shape"]')) r.addEventListener("change", () => setShape(r.value));
  el.zoneLon.addEventListener("input", syncCenterFromFields);
  el.zoneLat.addEventListener("input", syncCenterFromFields);
  el.zoneRadius.addEventListener("input", () => redraw("draft"));
  $("#poly-undo").addEventListener("click", () => { S.draft.vertices.pop(); updatePolygonCount(); redraw("draft"); });
  $("#poly-clear").addEventListener("click", () => { S.draft.vertices = []; updatePolygonCount(); redraw("draft"); });
  for (const b of document.querySelectorAll(".quick button")) {
    b.addEventListener("click", () => { el.zoneUntil.value = localInputValue(simNow() + Number(b.dataset.minutes) * 60000); });
  }
  el.zoneForm.addEventListener("submit", submitZone);
  // Escape drops the shape being drawn (the other fields stay)
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape" || !el.keyModal.hidden) return;
    S.draft.center = null;
    S.draft.vertices = [];
    el.zoneLon.value = "";
    el.zoneLat.value = "";
    updatePolygonCount();
    redraw("draft");
  });
  $("#zone-reset").addEventListener("click", () => resetDraft(true));
  setShape("circle");
  updatePolygonCount();
}
