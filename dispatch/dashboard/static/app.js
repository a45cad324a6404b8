/* Drone dispatch operations dashboard: plain JavaScript, no build step, no network beyond the API.
 *
 * Data: GET /api/v1/{zones,pads,ports,fleet,requests} (refreshed periodically) and the live
 * Server-Sent Events stream GET /api/v1/stream (read with fetch so the Authorization header can be
 * sent; EventSource cannot send headers). The operator key comes from the URL fragment #key=...
 * (then removed from the address bar) or from a small form, and is kept in sessionStorage.
 *
 * Map: lon/lat projected with a local equirectangular projection around the service area's
 * centre (metres east/north), drawn in SVG in screen coordinates; wheel zooms around the cursor,
 * drag pans, clicks place the temporary zone being drafted.
 */
(() => {
  "use strict";

  const API = "/api/v1";
  const KEY_STORAGE = "dronedispatch.operatorKey";
  const REFRESH_MS = 4000; // periodic refresh of fleet and requests (the stream carries the rest)
  const STREAM_IDLE_MS = 45000; // no byte for this long: reconnect
  const LOG_MAX = 300;
  const EARTH_R = 6371008.8;
  const SETTLED = new Set(["delivered", "rejected", "cancelled", "failed", "returned", "unserved"]);
  // states a request can still leave ("failed" documents may yet be brought back: "returned")
  const OPEN_STATES = ["submitted", "accepted", "planned", "dispatched", "picked_up", "failed"];
  const FULL_REQUESTS_MS = 30000; // every request re-read this often; in between, the open ones
  const STATE_CLASS = {
    idle: "idle", ready: "idle", charging: "idle", swapping: "idle", offline: "faulted",
    en_route: "flying", servicing: "flying", landing: "flying", flying: "flying", taking_off: "flying",
    holding: "holding", hold: "holding",
    returning: "returning",
    emergency: "faulted", fault: "faulted", faulted: "faulted", unusable: "faulted",
  };
  const STATE_COLOR = {
    idle: "#8a94a3", flying: "#2563eb", holding: "#e0a100", returning: "#8b3fd9", faulted: "#d92d20",
  };
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ---------------------------------------------------------------------------------------------
  // state

  const S = {
    key: null,
    zones: [], // GeoJSON features
    localTemporary: new Set(), // zone ids added from this page
    pads: [], // {id, lon, lat, label}
    ports: [], // {id, lon, lat}
    drones: new Map(), // id -> drone record
    requests: new Map(), // id -> request record
    view: null, // {cx, cy, scale} metres at the screen centre, px per metre
    origin: null, // {lon0, lat0, kx, ky}
    fitted: false,
    draft: { shape: "circle", center: null, vertices: [] },
    clock: { sim: null, wall: 0, rate: 1, samples: [] },
    stream: { controller: null, backoff: 1000, lastByte: 0, timer: null, generation: 0 },
    refreshTimer: null,
    fleetRefreshPending: null,
    dirtyDrones: new Set(),
    frameRequested: false,
    seenEvents: new Set(),
    armedLift: null, // {id, until}: the zone whose Lift button waits for its confirming click
    selected: null, // the request picked in the table, shown on the map
  };

  const $ = (sel) => document.querySelector(sel);
  const el = {};

  // ---------------------------------------------------------------------------------------------
  // small helpers

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, attrs, text) {
    const node = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : null);
  const first = (...vals) => vals.find((v) => v !== undefined && v !== null);
  const listOf = (data, ...keys) => {
    if (Array.isArray(data)) return data;
    if (data && typeof data === "object") {
      for (const k of keys) if (Array.isArray(data[k])) return data[k];
      if (data.features && Array.isArray(data.features)) return data.features;
    }
    return [];
  };

  function parseTime(v) {
    if (v === undefined || v === null || v === "") return null;
    const t = typeof v === "number" ? (v < 1e12 ? v * 1000 : v) : Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }

  function pad2(n) { return String(n).padStart(2, "0"); }
  // Times are shown in the service area's time zone (GET /area), not the browser's, and labelled.
  const AREA = { tz: "UTC", label: "UTC", parts: null };
  function setAreaTimeZone(tz) {
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
  function hhmm(ms) {
    if (ms === null || ms === undefined) return "—";
    const p = areaParts(ms);
    return `${pad2(p.hour)}:${pad2(p.minute)}`;
  }
  function hhmmss(ms) {
    if (ms === null || ms === undefined) return "—";
    const p = areaParts(ms);
    return `${pad2(p.hour)}:${pad2(p.minute)}:${pad2(p.second)}`;
  }
  function localInputValue(ms) { // a datetime-local value in area time
    const p = areaParts(ms);
    return `${p.year}-${pad2(p.month)}-${pad2(p.day)}T${pad2(p.hour)}:${pad2(p.minute)}`;
  }
  function fromAreaInput(value) { // the instant a datetime-local value in area time names (NaN if none)
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(value);
    if (!m) return NaN;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    const offset = (t) => { const p = areaParts(t); return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(t / 1000) * 1000; };
    return wall - offset(wall - offset(wall));
  }
  function stateClass(state) {
    if (!state) return "idle";
    return STATE_CLASS[String(state).toLowerCase()] || "flying";
  }
  function metres(m) {
    return m >= 1000 ? `${(m / 1000).toFixed(m >= 10000 ? 0 : 1)} km` : `${Math.round(m)} m`;
  }

  // ---------------------------------------------------------------------------------------------
  // simulated clock: the fleet may run on an accelerated clock; its time comes from telemetry

  // The latest simulated time seen (telemetry stamps) and the clock's rate against wall time, so
  // the clock in the header and the zones' validity move on between samples.
  function observeSimTime(ms) {
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

  function simNow() {
    const c = S.clock;
    if (c.sim === null) return Date.now();
    const ahead = Math.min(performance.now() - c.wall, 5000);
    return c.sim + ahead * c.rate;
  }

  // ---------------------------------------------------------------------------------------------
  // projection and view

  function setOrigin(points) {
    if (!points.length) return false;
    let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
    for (const [lon, lat] of points) {
      minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
      minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
    }
    const lon0 = (minLon + maxLon) / 2, lat0 = (minLat + maxLat) / 2;
    const ky = (Math.PI / 180) * EARTH_R;
    S.origin = { lon0, lat0, ky, kx: ky * Math.cos((lat0 * Math.PI) / 180), bbox: [minLon, minLat, maxLon, maxLat] };
    return true;
  }

  function project(lon, lat) {
    const o = S.origin;
    return [(lon - o.lon0) * o.kx, (lat - o.lat0) * o.ky];
  }
  function unproject(x, y) {
    const o = S.origin;
    return [o.lon0 + x / o.kx, o.lat0 + y / o.ky];
  }
  function mapSize() {
    const r = el.map.getBoundingClientRect();
    return [Math.max(1, r.width), Math.max(1, r.height)];
  }
  function toScreen(lon, lat) {
    const [x, y] = project(lon, lat);
    const [w, h] = mapSize();
    const v = S.view;
    return [w / 2 + (x - v.cx) * v.scale, h / 2 - (y - v.cy) * v.scale];
  }
  function fromScreen(px, py) {
    const [w, h] = mapSize();
    const v = S.view;
    return unproject(v.cx + (px - w / 2) / v.scale, v.cy - (py - h / 2) / v.scale);
  }

  function fitView() {
    if (!S.origin) return;
    const [minLon, minLat, maxLon, maxLat] = S.origin.bbox;
    const [x0, y0] = project(minLon, minLat);
    const [x1, y1] = project(maxLon, maxLat);
    const [w, h] = mapSize();
    const pad = 36;
    const scale = Math.min((w - 2 * pad) / Math.max(1000, x1 - x0), (h - 2 * pad) / Math.max(1000, y1 - y0));
    S.view = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale };
    renderAll();
  }

  function zoomAt(factor, px, py) {
    if (!S.view) return;
    const [w, h] = mapSize();
    const v = S.view;
    const mx = v.cx + (px - w / 2) / v.scale;
    const my = v.cy - (py - h / 2) / v.scale;
    const scale = Math.min(5, Math.max(0.002, v.scale * factor));
    S.view = { scale, cx: mx - (px - w / 2) / scale, cy: my + (py - h / 2) / scale };
    renderAll();
  }

  function collectBoundsPoints() {
    const pts = [];
    for (const f of S.zones) {
      const g = f.geometry || {};
      const props = f.properties || {};
      if (g.type === "Point" && Array.isArray(g.coordinates)) {
        const [lon, lat] = g.coordinates;
        const r = num(props.radius_m) || 0;
        const dLat = r / ((Math.PI / 180) * EARTH_R);
        const dLon = dLat / Math.cos((lat * Math.PI) / 180);
        pts.push([lon - dLon, lat - dLat], [lon + dLon, lat + dLat]);
      } else {
        for (const ring of rings(g)) for (const p of ring) pts.push(p);
      }
    }
    for (const p of S.pads) pts.push([p.lon, p.lat]);
    for (const p of S.ports) pts.push([p.lon, p.lat]);
    return pts;
  }

  function rings(g) {
    if (!g) return [];
    if (g.type === "Polygon") return g.coordinates || [];
    if (g.type === "MultiPolygon") return (g.coordinates || []).flat();
    return [];
  }

  // ---------------------------------------------------------------------------------------------
  // rendering

  function scheduleFrame() {
    if (S.frameRequested) return;
    S.frameRequested = true;
    requestAnimationFrame(() => {
      S.frameRequested = false;
      if (!S.view) return;
      const ids = [...S.dirtyDrones];
      S.dirtyDrones.clear();
      for (const id of ids) { renderDrone(id); renderPath(id); }
      if (ids.length) layoutGroundedDrones();
    });
  }

  function renderAll() {
    if (!S.view) return;
    renderGrid();
    renderZones();
    renderPlaces();
    renderPaths();
    renderDrones();
    renderSelection();
    renderDraft();
    renderScale();
  }

  // The request picked in the table: its pickup and drop-off joined on the map.
  function renderSelection() {
    const g = el.layerSelection;
    g.replaceChildren();
    const r = S.selected ? S.requests.get(S.selected) : null;
    if (!r || !S.view || !r.pickup || !r.dropoff) return;
    const a = toScreen(num(r.pickup.lon), num(r.pickup.lat));
    const b = toScreen(num(r.dropoff.lon), num(r.dropoff.lat));
    if (![...a, ...b].every(Number.isFinite)) return;
    svg("line", { class: "sel-line", x1: a[0], y1: a[1], x2: b[0], y2: b[1], "data-testid": "request-selection", "data-request-id": r.id }, g);
    for (const [[x, y], label] of [[a, "P"], [b, "D"]]) {
      svg("circle", { class: "sel-end", cx: x, cy: y, r: 8 }, g);
      svg("text", { class: "sel-label", x, y: y + 3.5, "text-anchor": "middle" }, g).textContent = label;
    }
  }

  function renderGrid() {
    const g = el.layerGrid;
    g.replaceChildren();
    const [w, h] = mapSize();
    const v = S.view;
    // about 6 grid lines across, at a round spacing in metres
    const target = w / v.scale / 6;
    const steps = [100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
    const step = steps.find((s) => s >= target) || 100000;
    const left = v.cx - w / 2 / v.scale, right = v.cx + w / 2 / v.scale;
    const bottom = v.cy - h / 2 / v.scale, top = v.cy + h / 2 / v.scale;
    for (let x = Math.ceil(left / step) * step; x <= right; x += step) {
      const px = w / 2 + (x - v.cx) * v.scale;
      svg("line", { class: "grid-line", x1: px, y1: 0, x2: px, y2: h }, g);
    }
    for (let y = Math.ceil(bottom / step) * step; y <= top; y += step) {
      const py = h / 2 - (y - v.cy) * v.scale;
      svg("line", { class: "grid-line", x1: 0, y1: py, x2: w, y2: py }, g);
    }
  }

  function renderScale() {
    const v = S.view;
    const want = 110 / v.scale; // metres in about 110 px
    const pow = 10 ** Math.floor(Math.log10(want));
    const nice = [1, 2, 5, 10].map((m) => m * pow).filter((m) => m <= want).pop() || pow;
    el.scalebar.querySelector(".scalebar-bar").style.width = `${nice * v.scale}px`;
    el.scalebar.querySelector(".scalebar-label").textContent = metres(nice);
  }

  function zoneInfo(f) {
    const p = f.properties || {};
    const from = parseTime(p.valid_from);
    const to = parseTime(first(p.valid_to, p.valid_until));
    const now = simNow();
    const active = (from === null || now >= from) && (to === null || now < to);
    const temporary = Boolean(p.temporary) || from !== null || to !== null || S.localTemporary.has(p.id)
      || /^(operator|admin)\b/.test(String((f.meta && f.meta.created_by) || ""));
    const floor = num(p.floor_m) || 0;
    const ceiling = num(p.ceiling_m);
    return { id: String(p.id || "?"), from, to, active, temporary, floor, ceiling, reason: p.reason || "" };
  }

  function zoneTitle(info) {
    const band = `${info.floor} m – ${info.ceiling === null ? "∞" : `${info.ceiling} m`}`;
    let validity = "always";
    if (info.from !== null || info.to !== null) validity = `${info.from === null ? "now" : `${hhmm(info.from)}`} → ${info.to === null ? "until removed" : hhmm(info.to)}`;
    return `${info.id}${info.reason ? ` — ${info.reason}` : ""}\naltitude ${band}\nvalid ${validity}${info.active ? "" : " (not active now)"}`;
  }

  function ringPath(ring) {
    return ring.map(([lon, lat], i) => {
      const [x, y] = toScreen(lon, lat);
      return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    }).join("") + "Z";
  }

  function renderZones() {
    const g = el.layerZones;
    g.replaceChildren();
    const labels = [];
    for (const f of S.zones) {
      const geom = f.geometry || {};
      const info = zoneInfo(f);
      const cls = ["zone", info.temporary ? "temporary" : "", info.active ? "" : "inactive", info.floor > 130 ? "high" : ""].filter(Boolean).join(" ");
      const common = {
        class: cls, "data-testid": "zone", "data-zone-id": info.id, "data-active": String(info.active),
        "data-temporary": String(info.temporary),
      };
      let node = null;
      let anchor = null;
      if (geom.type === "Point" && Array.isArray(geom.coordinates)) {
        const [lon, lat] = geom.coordinates;
        const r = num(f.properties && f.properties.radius_m) || 0;
        const [x, y] = toScreen(lon, lat);
        const margin = num(f.properties && f.properties.margin_m);
        if (margin && info.active) svg("circle", { class: "zone-margin", cx: x, cy: y, r: (r + margin) * S.view.scale }, g);
        node = svg("circle", { ...common, cx: x, cy: y, r: Math.max(2, r * S.view.scale) }, g);
        anchor = [x, y - r * S.view.scale - 4];
      } else {
        const rs = rings(geom);
        if (!rs.length) continue;
        node = svg("path", { ...common, d: rs.map(ringPath).join("") }, g);
        // label at the top of the first ring's bounding box
        const pts = rs[0].map(([lon, lat]) => toScreen(lon, lat));
        const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
        anchor = [(Math.min(...xs) + Math.max(...xs)) / 2, Math.min(...ys) - 4];
      }
      svg("title", null, node).textContent = zoneTitle(info);
      if (anchor) labels.push({ info, anchor });
    }
    S.zoneLabels = labels.map(({ info, anchor }) => {
      let text = info.id;
      if (info.temporary && info.to !== null) text += ` · until ${hhmm(info.to)}`;
      if (info.temporary && info.from !== null && !info.active && info.from > simNow()) text += ` · from ${hhmm(info.from)}`;
      const cls = ["zone-label", info.temporary ? "temporary" : "", info.active ? "" : "inactive"].filter(Boolean).join(" ");
      // temporary zones first: they are what the operator is watching
      return { text, cls, x: anchor[0], y: anchor[1], align: "middle", priority: info.temporary ? 0 : 2, charW: 6.4 };
    });
    renderLabels();
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

  // Labels of zones, ports and pads without overlaps: by priority, each takes the first free
  // spot around its anchor or is left out (its shape's tooltip still names it; zoom in to see it).
  function renderLabels() {
    const g = el.layerLabels;
    g.replaceChildren();
    const placed = [];
    const free = (r) => placed.every((q) => r.x1 < q.x0 || r.x0 > q.x1 || r.y1 < q.y0 || r.y0 > q.y1);
    const all = [...(S.zoneLabels || []), ...(S.placeLabels || [])].sort((a, b) => a.priority - b.priority);
    for (const lab of all) {
      const w = lab.text.length * lab.charW, h = 11;
      const spots = lab.align === "middle"
        ? [[lab.x - w / 2, lab.y], [lab.x - w / 2, lab.y - 12], [lab.x - w / 2, lab.y + 14]]
        : [[lab.x + lab.dx, lab.y + 3.5], [lab.x - lab.dx - w, lab.y + 3.5], [lab.x - w / 2, lab.y - lab.dx], [lab.x - w / 2, lab.y + lab.dx + 9]];
      for (const [x, y] of spots) {
        const r = { x0: x - 1, x1: x + w + 1, y0: y - h, y1: y + 2 };
        if (lab.priority > 0 && !free(r)) continue;
        placed.push(r);
        svg("text", { class: lab.cls, x: x.toFixed(1), y: y.toFixed(1) }, g).textContent = lab.text;
        break;
      }
    }
  }

  function renderPlaces() {
    const g = el.layerPlaces;
    g.replaceChildren();
    const labels = [];
    for (const p of S.pads) {
      const [x, y] = toScreen(p.lon, p.lat);
      const c = svg("circle", { class: "pad", cx: x, cy: y, r: 4.5, "data-testid": "pad", "data-pad-id": p.id }, g);
      svg("title", null, c).textContent = `pad ${p.id}${p.label && p.label !== p.id ? ` (${p.label})` : ""}`;
      labels.push({ text: p.id, cls: "place-label", x, y, dx: 7, priority: 3, charW: 5.6 });
    }
    for (const p of S.ports) {
      const [x, y] = toScreen(p.lon, p.lat);
      const r = svg("rect", { class: "port", x: x - 6, y: y - 6, width: 12, height: 12, rx: 2, "data-testid": "port", "data-port-id": p.id }, g);
      svg("title", null, r).textContent = `port ${p.id}${p.drones && p.drones.length ? ` — based: ${p.drones.join(", ")}` : ""}`;
      labels.push({ text: p.id, cls: "place-label port-label", x, y, dx: 9, priority: 1, charW: 6.2 });
    }
    S.placeLabels = labels;
    renderLabels();
  }

  // --- drones ---

  function droneRecord(id) {
    let d = S.drones.get(id);
    if (!d) {
      d = { id, lon: null, lat: null, heading: 0, battery: null, state: "idle", mission: null, path: [], pathIsRemaining: false, progress: 0, pathMission: null, usable: true, online: true, whyUnusable: "", onboard: [], pathVersion: 0, reroutes: 0, ts: 0 };
      S.drones.set(id, d);
    }
    return d;
  }

  // what the operator should read: offline and unusable drones on the ground count as faulted
  function displayState(d) {
    if (d.online === false) return "offline";
    if (d.usable === false && !["en_route", "servicing", "holding", "returning", "landing", "emergency"].includes(d.state)) return "fault";
    return d.state || "idle";
  }

  let glideTimer = null;
  function renderDrones() {
    // a new view: markers jump to their places (no glide) until the next telemetry
    el.layerDrones.classList.add("no-glide");
    el.layerDrones.replaceChildren();
    for (const id of [...S.drones.keys()].sort()) renderDrone(id);
    layoutGroundedDrones();
    clearTimeout(glideTimer);
    glideTimer = setTimeout(() => el.layerDrones.classList.remove("no-glide"), 100);
  }

  function renderDrone(id) {
    const d = S.drones.get(id);
    if (!d || d.lon === null || d.lat === null || !S.view) return;
    const [x, y] = toScreen(d.lon, d.lat); // before a new marker is in the document (see below)
    let g = el.layerDrones.querySelector(`g[data-drone-id="${CSS.escape(id)}"]`);
    if (!g) {
      // placed before it is added: a marker whose first style had no position would glide in
      // from the corner (markers glide from sample to sample, see style.css)
      g = svg("g", { "data-testid": "drone-marker", "data-drone-id": id });
      g.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      el.layerDrones.appendChild(g);
      svg("circle", { class: "halo", r: 13 }, g);
      svg("path", { class: "body", d: "M0,-10 L7.5,8 L0,4 L-7.5,8 Z" }, g);
      const t = svg("text", { class: "drone-label", x: 12, y: -3 }, g);
      svg("tspan", { class: "drone-name" }, t);
      svg("tspan", { class: "drone-batt", x: 12, dy: 12 }, t);
      svg("title", null, g);
    }
    const sc = stateClass(displayState(d));
    const color = STATE_COLOR[sc];
    g.setAttribute("class", `drone st-${sc}`);
    g.setAttribute("data-lon", d.lon.toFixed(6));
    g.setAttribute("data-lat", d.lat.toFixed(6));
    g.setAttribute("data-state", displayState(d));
    g.setAttribute("data-battery", d.battery === null ? "" : String(Math.round(d.battery)));
    g.setAttribute("data-heading", String(Math.round(d.heading || 0)));
    g.setAttribute("data-mission-id", d.mission || "");
    g.dataset.x = x; g.dataset.y = y;
    g.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
    const halo = g.querySelector(".halo");
    halo.setAttribute("fill", color);
    const body = g.querySelector(".body");
    body.setAttribute("fill", color);
    const grounded = sc === "idle" || (sc === "faulted" && d.state !== "emergency");
    body.setAttribute("d", grounded ? "M0,-6.5 L6.5,0 L0,6.5 L-6.5,0 Z" : "M0,-10 L7.5,8 L0,4 L-7.5,8 Z");
    body.setAttribute("transform", grounded ? "" : `rotate(${(d.heading || 0).toFixed(0)})`);
    g.querySelector(".drone-name").textContent = id;
    g.querySelector(".drone-batt").textContent = d.battery === null ? "" : `${Math.round(d.battery)}%`;
    g.querySelector("title").textContent = `${id} · ${displayState(d)}${d.whyUnusable ? ` (${d.whyUnusable})` : ""}${d.mission ? ` · mission ${d.mission}` : ""}${d.battery === null ? "" : ` · battery ${Math.round(d.battery)}%`}`;
  }

  // Drones standing at the same port would hide each other: fan them out a little on screen
  // (their data attributes keep the true position).
  function layoutGroundedDrones() {
    const groups = new Map();
    for (const g of el.layerDrones.querySelectorAll("g[data-drone-id]")) {
      const x = Number(g.dataset.x), y = Number(g.dataset.y);
      const key = `${Math.round(x / 14)}:${Math.round(y / 14)}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(g);
    }
    for (const members of groups.values()) {
      members.forEach((g, i) => {
        let x = Number(g.dataset.x), y = Number(g.dataset.y);
        if (members.length > 1) {
          const a = (i / members.length) * 2 * Math.PI - Math.PI / 2;
          const r = 9 + members.length * 2;
          x += r * Math.cos(a); y += r * Math.sin(a);
        }
        g.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      });
    }
  }

  // --- planned paths ---

  function segDist(p, a, b) {
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const len2 = dx * dx + dy * dy;
    const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
    return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
  }

  // The part of the planned path still ahead: from the drone's position through the waypoints
  // after the segment it is on (monotonic per mission, so an out-and-back path is not cut short).
  function remainingPath(d) {
    const wps = d.path;
    if (!wps || wps.length === 0 || d.lon === null) return [];
    if (d.pathIsRemaining) return [[d.lon, d.lat], ...wps];
    if (wps.length === 1) return [[d.lon, d.lat], wps[0]];
    const p = project(d.lon, d.lat);
    const xy = wps.map(([lon, lat]) => project(lon, lat));
    let best = Infinity;
    const dist = [];
    for (let i = Math.min(d.progress, xy.length - 2); i < xy.length - 1; i++) {
      const dd = segDist(p, xy[i], xy[i + 1]);
      dist.push([i, dd]);
      best = Math.min(best, dd);
    }
    const pick = dist.find(([, dd]) => dd <= best + 25);
    const k = pick ? pick[0] : 0;
    d.progress = k;
    return [[d.lon, d.lat], ...wps.slice(k + 1)];
  }

  function renderPaths() {
    el.layerPaths.replaceChildren();
    for (const id of S.drones.keys()) renderPath(id);
  }

  function renderPath(id) {
    const d = S.drones.get(id);
    const old = el.layerPaths.querySelector(`g[data-drone-id="${CSS.escape(id)}"]`);
    if (!d || !S.view) { if (old) old.remove(); return; }
    const pts = d.mission || d.pathIsRemaining ? remainingPath(d) : [];
    if (pts.length < 2) { if (old) old.remove(); return; }
    const g = old || svg("g", { "data-testid": "drone-path", "data-drone-id": id }, el.layerPaths);
    g.replaceChildren();
    const color = STATE_COLOR[stateClass(d.state)];
    const screen = pts.map(([lon, lat]) => toScreen(lon, lat));
    svg("polyline", { class: "path", stroke: color, points: screen.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(" ") }, g);
    const end = screen[screen.length - 1];
    svg("circle", { class: "path-end", cx: end[0], cy: end[1], r: 3, fill: color }, g);
    g.setAttribute("data-mission-id", d.mission || "");
    g.setAttribute("data-points", String(d.path.length));
    g.setAttribute("data-version", String(d.pathVersion));
    g.setAttribute("data-reroutes", String(d.reroutes));
    g.classList.toggle("rerouted", d.reroutes > 0);
  }

  // --- draft zone ---

  function renderDraft() {
    const g = el.layerDraft;
    g.replaceChildren();
    if (!S.view) return;
    const dr = S.draft;
    if (dr.shape === "circle" && dr.center) {
      const [x, y] = toScreen(dr.center[0], dr.center[1]);
      const r = num(el.zoneRadius.value) || 0;
      svg("circle", { class: "draft", cx: x, cy: y, r: Math.max(3, r * S.view.scale), "data-testid": "zone-draft" }, g);
      svg("circle", { class: "draft-vertex", cx: x, cy: y, r: 3 }, g);
    } else if (dr.shape === "polygon" && dr.vertices.length) {
      const pts = dr.vertices.map(([lon, lat]) => toScreen(lon, lat));
      if (pts.length >= 3) svg("path", { class: "draft", d: `${ringPath(dr.vertices)}`, "data-testid": "zone-draft" }, g);
      else svg("polyline", { class: "draft", fill: "none", points: pts.map((p) => p.join(",")).join(" ") }, g);
      for (const [x, y] of pts) svg("circle", { class: "draft-vertex", cx: x, cy: y, r: 3.5 }, g);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // tables

  function renderFleetTable() {
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

  function shortId(id) {
    const s = String(id);
    return s.length > 14 ? `${s.slice(0, 6)}…${s.slice(-6)}` : s;
  }

  function placeName(p) {
    if (!p) return "—";
    if (typeof p === "string") return p;
    if (p.pad_id) return p.pad_id;
    const lon = num(p.lon), lat = num(p.lat);
    return lon !== null && lat !== null ? `${lat.toFixed(4)}, ${lon.toFixed(4)}` : "—";
  }

  function renderRequests() {
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
    renderSelection();
  }

  function selectRequest(id) {
    S.selected = S.selected === id ? null : id;
    for (const tr of el.requestsBody.children) tr.classList.toggle("selected", tr.dataset.requestId === S.selected);
    renderSelection();
  }

  // ---------------------------------------------------------------------------------------------
  // data: normalising what the API returns

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

  function normPath(v) {
    if (!Array.isArray(v)) return [];
    return v.map((w) => Array.isArray(w) ? [num(w[0]), num(w[1])] : [num(w && first(w.lon, w.longitude)), num(w && first(w.lat, w.latitude))])
      .filter(([lon, lat]) => lon !== null && lat !== null);
  }

  function isTail(path, old) {
    if (!old || path.length > old.length) return false;
    const off = old.length - path.length;
    return path.every((p, i) => Math.abs(p[0] - old[off + i][0]) < 1e-9 && Math.abs(p[1] - old[off + i][1]) < 1e-9);
  }

  function applyDrone(raw) {
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
      if ((mission || null) !== d.mission) { d.mission = mission || null; d.progress = 0; }
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
        d.pathFromEvent = false;
        if (!samePlan) d.pathVersion++;
        if (!samePlan && d.pathMission === d.mission && d.mission && path.length && d.path.length) d.reroutes++;
        d.pathSig = sig; d.path = path; d.pathMission = d.mission;
        d.progress = 0;
      }
      d.pathIsRemaining = remaining !== undefined;
    }
    S.dirtyDrones.add(d.id);
    return d;
  }

  function applyRequest(raw, fromStream) {
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
      const bad = ["failed", "rejected", "cancelled", "returned", "unserved"].includes(state);
      if (bad) {
        logEvent(bad ? "error" : "info", `request ${shortId(r.id)} ${state}${r.reason ? ` — ${r.reason}` : ""}`, "request");
      }
    } else if (fromStream && !prev) {
      logEvent("info", `request ${shortId(r.id)} filed by ${r.office || "?"}${state ? ` (${state})` : ""}`, "request");
      refreshRequestsSoon(); // the stream names the request; the list has its places and times
    }
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // API

  class ApiError extends Error {
    constructor(status, message, body) { super(message); this.status = status; this.body = body; }
  }

  function errorMessage(status, body, text) {
    if (body && typeof body === "object" && body.error && typeof body.error === "object") {
      const e = body.error;
      let msg = e.message || e.code || `HTTP ${status}`;
      const d = e.details || {};
      if (d.problem && !String(msg).includes(d.problem)) msg += ` (${d.problem})`;
      return e.code && !String(msg).startsWith(e.code) ? `${msg} [${e.code}]` : msg;
    }
    if (body && typeof body === "object") {
      const parts = [];
      const detail = first(body.detail, body.message, body.error, body.title);
      if (detail) parts.push(typeof detail === "string" ? detail : JSON.stringify(detail));
      const extra = first(body.extra, body.errors, body.problems);
      if (extra !== undefined && extra !== null && !(typeof extra === "object" && Object.keys(extra).length === 0)) {
        if (Array.isArray(extra)) {
          for (const e of extra) parts.push(typeof e === "string" ? e : first(e && e.message, e && e.detail, JSON.stringify(e)));
        } else parts.push(typeof extra === "string" ? extra : JSON.stringify(extra));
      }
      if (parts.length) return parts.join("\n");
    }
    return text ? text.slice(0, 500) : `HTTP ${status}`;
  }

  async function api(path, opts = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${S.key}`, ...(opts.headers || {}) };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(`${API}${path}`, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), cache: "no-store" });
    } catch (exc) {
      throw new ApiError(0, `network error: ${exc.message}`, null);
    }
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    if (res.status === 401 || res.status === 403) {
      if (res.status === 401) onUnauthorized();
      throw new ApiError(res.status, errorMessage(res.status, body, text), body);
    }
    if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, body, text), body);
    return body;
  }

  async function loadStatic() {
    const [zones, pads, ports, area] = await Promise.all([api("/zones"), api("/pads"), api("/ports"), api("/area")]);
    if (area && area.timezone) setAreaTimeZone(area.timezone);
    S.zones = listOf(zones, "zones", "features");
    S.pads = normPlaces(pads, "pads", "items");
    S.ports = normPlaces(ports, "ports", "items");
    if (!S.fitted && setOrigin(collectBoundsPoints())) { S.fitted = true; fitView(); }
    else renderAll();
    el.map.setAttribute("data-loaded", "true");
  }

  async function reloadZones() {
    const zones = await api("/zones");
    S.zones = listOf(zones, "zones", "features");
    renderZones();
  }

  async function refreshFleet() {
    lastFleetFetch = performance.now();
    const data = await api("/fleet");
    const items = listOf(data, "drones", "fleet", "items");
    if (data && !Array.isArray(data)) observeSimTime(parseTime(first(data.now, data.sim_time, data.at, data.clock)));
    for (const raw of items) applyDrone(raw);
    if (!S.fitted) {
      // no zone, pad or port to frame: frame the drones
      const pts = [...S.drones.values()].filter((d) => d.lon !== null).map((d) => [d.lon, d.lat]);
      if (setOrigin(pts)) { S.fitted = true; fitView(); }
    }
    for (const d of S.drones.values()) {
      for (const rid of d.onboard || []) { const r = S.requests.get(rid); if (r) r.drone = d.id; }
    }
    renderFleetTable();
    scheduleFrame();
  }

  let lastFullRequests = -Infinity;
  async function refreshRequests(full = false) {
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

  // soon after fleet events, but at most once a second (the API limits each key's request rate)
  let lastFleetFetch = 0;
  function refreshFleetSoon() {
    if (S.fleetRefreshPending) return;
    const wait = Math.max(150, 1000 - (performance.now() - lastFleetFetch));
    S.fleetRefreshPending = setTimeout(() => {
      S.fleetRefreshPending = null;
      refreshFleet().catch(() => {});
    }, wait);
  }

  let requestsRefreshPending = null;
  let lastRequestsFetch = 0;
  function refreshRequestsSoon() {
    if (requestsRefreshPending) return;
    const wait = Math.max(200, 1000 - (performance.now() - lastRequestsFetch));
    requestsRefreshPending = setTimeout(() => {
      requestsRefreshPending = null;
      refreshRequests().catch(() => {});
    }, wait);
  }

  async function refreshAll() {
    const results = await Promise.allSettled([refreshFleet(), refreshRequests()]);
    return results.every((r) => r.status === "fulfilled");
  }

  // ---------------------------------------------------------------------------------------------
  // stream (Server-Sent Events over fetch)

  function setConnection(state, text) {
    el.connection.dataset.state = state;
    el.connection.querySelector(".conn-text").textContent = text;
  }

  function stopStream() {
    S.stream.generation++;
    if (S.stream.controller) S.stream.controller.abort();
    S.stream.controller = null;
    clearInterval(S.stream.timer);
  }

  async function startStream() {
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
      if (res.status === 401) { onUnauthorized(); return; }
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
      scheduleFrame();
      throttledFleetTable();
    } else if (event === "request") {
      const r = applyRequest(payload, true);
      if (r) throttledRequests();
    } else if (event === "event") {
      onFleetEvent(payload); // drone events, and flight / zone / drone entries of the audit chain
    }
  }

  let fleetTableTimer = null;
  function throttledFleetTable() {
    if (fleetTableTimer) return;
    fleetTableTimer = setTimeout(() => { fleetTableTimer = null; renderFleetTable(); }, 500);
  }
  let requestsTimer = null;
  function throttledRequests() {
    if (requestsTimer) return;
    requestsTimer = setTimeout(() => { requestsTimer = null; renderRequests(); }, 250);
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
        d.path = normPath(details.waypoints); d.pathSig = JSON.stringify(d.path); d.pathVersion++;
        d.pathMission = d.mission; d.reroutes++; d.pathFromEvent = true;
        d.pathIsRemaining = true; d.progress = 0;
        S.dirtyDrones.add(d.id); scheduleFrame();
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
    if (drone && (kind === "fault" || kind === "geofence_breach")) S.dirtyDrones.add(String(drone));
    if (/took_off|landed|picked|delivered|fault|return|hold/.test(kind)) refreshFleetSoon();
  }

  // ---------------------------------------------------------------------------------------------
  // event log

  // ``group``: entries of one group (the same thing happening again) are one line, counted
  function logEvent(level, text, kind, ts, group) {
    const t = ts !== undefined && ts !== null ? ts : simNow();
    let li = null;
    if (group) {
      let n = 0;
      for (let e = el.log.firstElementChild; e && n < 30; e = e.nextElementSibling, n++) {
        if (e.dataset.group === group) { li = e; break; }
      }
    }
    if (li) {
      li.dataset.count = String(Number(li.dataset.count || "1") + 1);
      li.remove();
      li.replaceChildren();
    } else {
      li = html("li", { "data-testid": "event-log-entry", "data-level": level, "data-kind": kind || "" });
      if (group) li.dataset.group = group;
    }
    const count = Number(li.dataset.count || "1");
    li.appendChild(html("time", { title: new Date(t).toISOString() }, hhmmss(t)));
    li.appendChild(html("span", { class: "ev-icon" }));
    li.appendChild(html("span", { class: "ev-text" }, count > 1 ? `${text} (×${count})` : text));
    li.dataset.t = String(t);
    // newest first, by the time things happened (drone events carry their own time and may
    // arrive after an entry stamped on arrival)
    let next = el.log.firstElementChild;
    for (let n = 0; next && n < 50 && Number(next.dataset.t) > t; n++) next = next.nextElementSibling;
    el.log.insertBefore(li, next);
    while (el.log.children.length > LOG_MAX) el.log.lastElementChild.remove();
  }

  // ---------------------------------------------------------------------------------------------
  // temporary zone form

  function setShape(shape) {
    S.draft.shape = shape;
    el.circleFields.hidden = shape !== "circle";
    el.polygonFields.hidden = shape !== "polygon";
    el.zoneHelp.textContent = shape === "circle"
      ? "Click the map to place the centre (or type lon/lat); Esc clears it."
      : "Click the map to add corners (three or more); Esc clears them.";
    renderDraft();
  }

  function updatePolygonCount() {
    const n = S.draft.vertices.length;
    el.polyCount.textContent = `${n} point${n === 1 ? "" : "s"}${n > 0 && n < 3 ? " — add at least 3" : ""}`;
  }

  function onMapClick(px, py) {
    if (!S.view) return;
    const [lon, lat] = fromScreen(px, py);
    if (S.draft.shape === "circle") {
      S.draft.center = [lon, lat];
      el.zoneLon.value = lon.toFixed(6);
      el.zoneLat.value = lat.toFixed(6);
    } else {
      S.draft.vertices.push([lon, lat]);
      updatePolygonCount();
    }
    renderDraft();
  }

  function syncCenterFromFields() {
    const lon = num(el.zoneLon.value), lat = num(el.zoneLat.value);
    S.draft.center = lon !== null && lat !== null ? [lon, lat] : null;
    renderDraft();
  }

  function showZoneMessage(text, isError) {
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
      el.zoneLon.value = "";
      el.zoneLat.value = "";
      el.zoneId.value = "";
      el.zoneReason.value = "";
      el.zoneUntil.value = "";
    }
    renderDraft();
  }

  // ---------------------------------------------------------------------------------------------
  // map interaction: wheel zoom, drag pan, click to place

  function bindMap() {
    const map = el.map;
    let drag = null;
    map.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = map.getBoundingClientRect();
      zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    map.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0 || !S.view) return;
      drag = { x: ev.clientX, y: ev.clientY, cx: S.view.cx, cy: S.view.cy, moved: false, id: ev.pointerId };
    });
    map.addEventListener("pointermove", (ev) => {
      const r = map.getBoundingClientRect();
      if (S.view) {
        const [lon, lat] = fromScreen(ev.clientX - r.left, ev.clientY - r.top);
        el.cursor.textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
      }
      if (!drag) return;
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      if (!drag.moved) { drag.moved = true; map.setPointerCapture(drag.id); map.classList.add("dragging"); }
      S.view = { ...S.view, cx: drag.cx - dx / S.view.scale, cy: drag.cy + dy / S.view.scale };
      renderAll();
    });
    const end = (ev) => {
      if (!drag) return;
      const wasClick = !drag.moved && ev.type === "pointerup";
      if (drag.moved && map.hasPointerCapture(drag.id)) map.releasePointerCapture(drag.id);
      drag = null;
      map.classList.remove("dragging");
      if (wasClick) {
        const r = map.getBoundingClientRect();
        onMapClick(ev.clientX - r.left, ev.clientY - r.top);
      }
    };
    map.addEventListener("pointerup", end);
    map.addEventListener("pointercancel", end);
    map.addEventListener("pointerleave", () => { el.cursor.textContent = ""; });
    $("#zoom-in").addEventListener("click", () => { const [w, h] = mapSize(); zoomAt(1.4, w / 2, h / 2); });
    $("#zoom-out").addEventListener("click", () => { const [w, h] = mapSize(); zoomAt(1 / 1.4, w / 2, h / 2); });
    $("#zoom-fit").addEventListener("click", fitView);
    new ResizeObserver(() => { if (S.view) renderAll(); }).observe(el.mapWrap);
  }

  // ---------------------------------------------------------------------------------------------
  // key handling and start-up

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
      map: $("#map"), mapWrap: $("#map-wrap"), layerGrid: $("#layer-grid"), layerZones: $("#layer-zones"),
      layerPaths: $("#layer-paths"), layerPlaces: $("#layer-places"), layerDraft: $("#layer-draft"), layerLabels: $("#layer-labels"), layerSelection: $("#layer-selection"),
      layerDrones: $("#layer-drones"), scalebar: $("#scalebar"), cursor: $("#map-cursor"),
      fleetBody: $("#fleet-body"), fleetCount: $("#fleet-count"), requestsBody: $("#requests-body"),
      requestsEmpty: $("#requests-empty"), requestsCount: $("#requests-count"), hideSettled: $("#hide-settled"),
      statAirborne: $("#stat-airborne"), statOpen: $("#stat-open"), statDelivered: $("#stat-delivered"),
      simTime: $("#sim-time"), connection: $("#connection"), log: $("#event-log"),
      zoneForm: $("#zone-form"), zoneId: $("#zone-id"), zoneReason: $("#zone-reason"), zoneLon: $("#zone-lon"),
      zoneLat: $("#zone-lat"), zoneRadius: $("#zone-radius"), zoneUntil: $("#zone-until"), zoneSubmit: $("#zone-submit"),
      zoneMessage: $("#zone-message"), zoneHelp: $("#zone-help"), circleFields: $("#circle-fields"),
      polygonFields: $("#polygon-fields"), polyCount: $("#poly-count"),
      tempZones: $("#temp-zones"), tempZoneList: $("#temp-zone-list"),
      keyModal: $("#key-modal"), keyInput: $("#key-input"), keyError: $("#key-error"),
    });
    el.map.classList.add("placing");
    bindMap();
    for (const r of document.querySelectorAll('input[name="shape"]')) r.addEventListener("change", () => setShape(r.value));
    el.zoneLon.addEventListener("input", syncCenterFromFields);
    el.zoneLat.addEventListener("input", syncCenterFromFields);
    el.zoneRadius.addEventListener("input", renderDraft);
    $("#poly-undo").addEventListener("click", () => { S.draft.vertices.pop(); updatePolygonCount(); renderDraft(); });
    $("#poly-clear").addEventListener("click", () => { S.draft.vertices = []; updatePolygonCount(); renderDraft(); });
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
      renderDraft();
    });
    $("#zone-reset").addEventListener("click", () => resetDraft(true));
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
    setShape("circle");
    updatePolygonCount();
    setInterval(tickClock, 500);

    // debugging and test hooks: screen position of a lon/lat, and the projection's inverse
    window.dashboard = {
      screenPoint(lon, lat) {
        if (!S.view) return null;
        const [x, y] = toScreen(lon, lat);
        const r = el.map.getBoundingClientRect();
        return { x: r.left + x, y: r.top + y };
      },
      lonLatAt(clientX, clientY) {
        const r = el.map.getBoundingClientRect();
        return fromScreen(clientX - r.left, clientY - r.top);
      },
      simNow,
    };

    const key = readKeyFromFragment() || sessionStorage.getItem(KEY_STORAGE);
    if (key) connect(key);
    else { setConnection("idle", "No key"); askForKey(""); }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
