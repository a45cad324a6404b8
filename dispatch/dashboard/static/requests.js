/* Requests: the table (a row clicked shows its pickup and drop-off on the map) and the records
 * behind it, from the API's list and the stream. */
import { api } from "./api.js";
import { logEvent } from "./log.js";
import { redraw } from "./map.js";
import { OPEN_STATES, FULL_REQUESTS_MS, S, SETTLED, el, first, html, listOf, num, parseTime, shortId } from "./state.js";
import { hhmm, simNow } from "./time.js";

function placeName(p) {
  if (!p) return "—";
  if (typeof p === "string") return p;
  if (p.pad_id) return p.pad_id;
  const lon = num(p.lon), lat = num(p.lat);
  return lon !== null && lat !== null ? `${lat.toFixed(4)}, ${lon.toFixed(4)}` : "—";
}

export function applyRequest(raw, fromStream) {
  if (!raw || typeof raw !== "object") return null;
  const r0 = raw.request && typeof raw.request === "object" ? raw.request : raw;
  const id = first(r0.id, r0.request_id);
  if (!id) return null;
  const prev = S.requests.get(String(id));
  if (fromStream && r0.note && !first(r0.state, r0.to)) {
    const note = String(r0.note).replace(/_/g, " ");
    const level = /refused|unknown|away/.test(r0.note) ? "warn" : "info";
    logEvent(level, `request ${shortId(id)}: ${note}`, `request_${r0.note}`);
    return prev || null;
  }
  const prevState = prev ? prev.state : "";
  const r = prev || { id: String(id), state: "", created: 0, eta: null, deadline: null, stamp: 0 };
  // a list fetched before a stream message arrived must not turn the state back: keep the
  // newest by the store's time (a list's updated_at, a stream message's at)
  const stamp = parseTime(first(r0.updated_at, r0.at)) || 0;
  const state = stamp >= r.stamp ? first(r0.state, r0.to, r0.status) : undefined;
  if (state) { r.state = String(state); r.stamp = stamp; }
  r.office = first(r0.office_id, r0.office, r.office);
  r.pickup = first(r0.pickup, r.pickup);
  r.dropoff = first(r0.dropoff, r.dropoff);
  if (state) r.reason = first(r0.state_reason, r0.reason);
  r.description = first(r0.description, r.description);
  const det = r0.details && typeof r0.details === "object" ? r0.details : {};
  r.drone = first(r0.drone_id, r0.drone, det.drone_id, r.drone);
  if ("eta" in r0) { r.eta = parseTime(r0.eta); r.etaKind = r0.eta_kind || null; }
  if ("deadline" in r0) r.deadline = parseTime(r0.deadline);
  r.created = parseTime(r0.created_at) || r.created || parseTime(r0.at) || Date.now();
  S.requests.set(r.id, r);
  if (fromStream && prevState && state && prevState !== state) {
    // pickups and deliveries are logged from the drones' events; the table shows every state
    if (["failed", "rejected", "cancelled", "returned", "unserved"].includes(state)) {
      logEvent("error", `request ${shortId(r.id)} ${state}${r.reason ? ` — ${r.reason}` : ""}`, "request");
    }
  } else if (fromStream && !prev) {
    logEvent("info", `request ${shortId(r.id)} filed by ${r.office || "?"}${state ? ` (${state})` : ""}`, "request");
    refreshRequestsSoon(); // the stream names the request; the list has its places and times
  }
  return r;
}

export function renderRequests() {
  const rows = [...S.requests.values()];
  const hide = el.hideSettled.checked;
  rows.sort((a, b) => (SETTLED.has(a.state) - SETTLED.has(b.state)) || (b.created - a.created) || String(b.id).localeCompare(String(a.id)));
  const body = el.requestsBody;
  const existing = new Map([...body.children].map((tr) => [tr.dataset.requestId, tr]));
  const ordered = [];
  let open = 0, delivered = 0, shown = 0;
  for (const r of rows) {
    if (!SETTLED.has(r.state)) open++;
    if (r.state === "delivered") delivered++;
    if (hide && SETTLED.has(r.state)) continue;
    shown++;
    let tr = existing.get(r.id);
    const changed = tr && tr.dataset.state !== r.state;
    if (!tr) {
      tr = html("tr", { "data-testid": "request-row", "data-request-id": r.id, title: "show on the map" });
      tr.addEventListener("animationend", (ev) => ev.currentTarget.classList.remove("flash"));
      tr.addEventListener("click", () => selectRequest(r.id));
    }
    tr.classList.toggle("selected", S.selected === r.id);
    tr.replaceChildren();
    tr.dataset.state = r.state || "";
    const late = r.deadline !== null && r.eta !== null && r.eta > r.deadline && !SETTLED.has(r.state);
    const idCell = html("td", { class: "mono", title: r.id }, shortId(r.id));
    const route = html("td", { title: r.description || "" }, `${placeName(r.pickup)} → ${placeName(r.dropoff)}`);
    const st = html("td");
    st.appendChild(html("span", { class: `badge b-${r.state}`, "data-testid": "request-state", title: r.reason || "" }, (r.state || "?").replace(/_/g, " ")));
    // "~": intake's estimate (best single drone), not yet a planned flight's arrival
    const estimate = r.etaKind && r.etaKind !== "planned";
    const overdue = r.eta !== null && r.eta < simNow();
    const etaText = r.eta === null || SETTLED.has(r.state) ? "—" : `${estimate ? "~" : ""}${hhmm(r.eta)}`;
    const eta = html("td", {
      class: [late ? "late" : "", overdue && !SETTLED.has(r.state) ? "overdue" : ""].filter(Boolean).join(" "),
      "data-testid": "request-eta",
      title: r.eta === null ? "" : `${estimate ? "estimate at intake" : "planned arrival"}${overdue ? " (passed)" : ""}`,
    }, etaText);
    const deadline = html("td", {}, hhmm(r.deadline));
    tr.append(idCell, html("td", {}, r.office || "—"), route, st, html("td", { class: "mono" }, r.drone || "—"), eta, deadline);
    if (changed) { tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash"); }
    ordered.push(tr);
  }
  // move only the rows whose place changed (a moved row would replay its highlight)
  const keep = new Set(ordered);
  for (const tr of [...body.children]) if (!keep.has(tr)) tr.remove();
  ordered.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
  el.requestsEmpty.hidden = shown > 0;
  el.requestsCount.textContent = `${rows.length} total · ${open} open`;
  el.statOpen.textContent = String(open);
  el.statDelivered.textContent = String(delivered);
  redraw("selection");
}

function selectRequest(id) {
  S.selected = S.selected === id ? null : id;
  for (const tr of el.requestsBody.children) tr.classList.toggle("selected", tr.dataset.requestId === S.selected);
  redraw("selection");
}

let requestsTimer = null;
export function throttledRequests() {
  if (requestsTimer) return;
  requestsTimer = setTimeout(() => { requestsTimer = null; renderRequests(); }, 250);
}

let lastFullRequests = -Infinity;
let lastRequestsFetch = 0;
export async function refreshRequests(full = false) {
  lastRequestsFetch = performance.now();
  const wantFull = full || performance.now() - lastFullRequests > FULL_REQUESTS_MS;
  const filter = wantFull ? "" : OPEN_STATES.map((st) => `&state=${st}`).join("");
  const seen = new Set();
  let offset = 0;
  for (let page = 0; page < 20; page++) { // oldest first, a page at a time
    const data = await api(`/requests?limit=500&offset=${offset}${filter}`);
    for (const raw of listOf(data, "items", "requests")) {
      const r = applyRequest(raw, false);
      if (r) seen.add(r.id);
    }
    const next = data && !Array.isArray(data) ? num(data.next_offset) : null;
    if (next === null || next <= offset) break;
    offset = next;
  }
  if (wantFull) lastFullRequests = performance.now();
  // one we show as open is no longer among the open ones: it settled unseen, read them all next
  else if ([...S.requests.values()].some((r) => OPEN_STATES.includes(r.state) && !seen.has(r.id))) lastFullRequests = -Infinity;
  renderRequests();
}

let requestsRefreshPending = null;
function refreshRequestsSoon() {
  if (requestsRefreshPending) return;
  const wait = Math.max(200, 1000 - (performance.now() - lastRequestsFetch));
  requestsRefreshPending = setTimeout(() => {
    requestsRefreshPending = null;
    refreshRequests().catch(() => {});
  }, wait);
}
