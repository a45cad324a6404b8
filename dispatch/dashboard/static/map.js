/* The map, drawn with MapLibre GL JS (vendored in vendor/maplibre-gl, no CDN).
 *
 * Background: a plain colour, nothing fetched, unless the service names a map style (GET /area
 * map_style: a MapLibre style URL, or a raster tile URL with {z}/{x}/{y}). Everything the
 * dashboard draws is a GeoJSON source and named layers on top of it: zones (circles as polygons,
 * temporary zones hatched, controlled zones indigo, zones not in force faded and dashed), the
 * flights' operational intents (faint; solid where in use now), pads and ports, planned routes
 * (a re-routed flight's old route dashed, its new one solid), the request picked in the table, the
 * zone being drafted and the drones (heading, state colour). Labels are HTML over the map (the
 * plain background has no fonts to fetch), placed without overlaps by priority.
 */
import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";
import { EARTH_R, S, STATE_COLOR, el, html, num, parseTime } from "./state.js";
import { AREA, hhmm, simNow } from "./time.js";
import { displayState, pathAhead, rings, stateClass, zoneInfo, zoneLabel, zoneTitle } from "./model.js";

const BACKGROUND = "#f7f8f5";
const ZONE_RED = "#d92d20", ZONE_TEMP = "#e07b00", ZONE_CONTROLLED = "#4f46e5", SELECTION = "#7c3aed", DRAFT = "#2563eb", INTENT = "#0e7490";
const EMPTY = { type: "FeatureCollection", features: [] };
const SOURCES = ["zones", "intents", "routes", "selection", "places", "draft", "drones"];
/** The layers the page draws, bottom to top (their ids are what a test queries). */
export const LAYERS = {
  zones: ["zones-fill", "zones-temporary-fill", "zones-line", "zones-line-inactive", "zones-margin"],
  intents: ["intents-fill", "intents-line"],
  routes: ["routes-previous", "routes", "routes-end"],
  selection: ["selection-line", "selection-ends"],
  places: ["pads", "ports"],
  draft: ["draft-fill", "draft-line", "draft-vertices"],
  drones: ["drones-halo", "drones"],
};

let map = null;
let ready = false;
const drawn = Object.fromEntries(SOURCES.map((s) => [s, EMPTY])); // what each source was last given
const dirty = new Set();
let frameRequested = false;
let labels = { zones: [], places: [], drones: [], selection: [] };

/** The style for a configured URL: none is a plain background (no request leaves the page). */
export function mapStyle(url) {
  const background = { id: "background", type: "background", paint: { "background-color": BACKGROUND } };
  if (!url) return { version: 8, sources: {}, layers: [background] };
  if (url.includes("{z}")) {
    return {
      version: 8,
      sources: { tiles: { type: "raster", tiles: [url], tileSize: 256, maxzoom: 19 } },
      layers: [background, { id: "tiles", type: "raster", source: "tiles" }],
    };
  }
  return url;
}

/** Create the map (once) in ``container``; resolves when it can draw. ``onClick(lon, lat)``. */
export function createMap(container, styleUrl, onClick, onProblem) {
  if (map) return Promise.resolve(map);
  map = new maplibregl.Map({
    container, style: mapStyle(styleUrl), center: [0, 0], zoom: 1, fadeDuration: 0,
    dragRotate: false, pitchWithRotate: false, touchPitch: false, doubleClickZoom: false,
    attributionControl: { compact: true },
  });
  map.touchZoomRotate.disableRotation();
  map.keyboard.disableRotation();
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  map.getCanvas().style.cursor = "crosshair";
  map.on("error", (ev) => {
    if (ready || !styleUrl || ev.sourceId || ev.tile) return; // a tile that failed is not the style
    // the configured style cannot be read (a closed network?): the plain background instead
    onProblem(`map style ${styleUrl} not loaded (${ev.error && ev.error.message}); plain background`);
    styleUrl = null;
    map.setStyle(mapStyle(null));
  });
  map.on("click", (ev) => onClick(ev.lngLat.lng, ev.lngLat.lat));
  map.on("mousemove", (ev) => {
    el.cursor.textContent = `${ev.lngLat.lat.toFixed(5)}, ${ev.lngLat.lng.toFixed(5)}`;
    const hit = ready ? map.queryRenderedFeatures(ev.point, { layers: ["drones", "ports", "pads", "zones-fill", "zones-temporary-fill", "intents-fill"] })[0] : null;
    map.getCanvas().title = hit ? hit.properties.title || "" : "";
  });
  map.on("mouseout", () => { el.cursor.textContent = ""; });
  map.on("move", layoutLabels);
  map.on("zoomend", () => redraw("drones")); // grounded drones fan out by screen distance
  return new Promise((resolve) => {
    map.on("load", () => {
      addImages();
      addLayers();
      ready = true;
      redraw(...SOURCES);
      resolve(map);
    });
  });
}

// --- icons (drawn on a canvas: nothing to fetch) ---

function image(size, draw) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const g = c.getContext("2d");
  draw(g);
  return g.getImageData(0, 0, size, size);
}

function addImages() {
  const shapes = {
    arrow: [[0, -10], [7.5, 8], [0, 4], [-7.5, 8]],
    diamond: [[0, -6.5], [6.5, 0], [0, 6.5], [-6.5, 0]],
  };
  for (const [cls, color] of Object.entries(STATE_COLOR)) {
    for (const [name, pts] of Object.entries(shapes)) {
      map.addImage(`${name}-${cls}`, image(56, (g) => {
        g.translate(28, 28); g.scale(2, 2);
        g.beginPath();
        pts.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
        g.closePath();
        g.fillStyle = color; g.fill();
        g.lineWidth = 1.5; g.strokeStyle = cls === "faulted" ? "#7f1d1d" : "#fff"; g.stroke();
      }), { pixelRatio: 2 });
    }
    map.addImage(`halo-${cls}`, image(56, (g) => {
      g.beginPath(); g.arc(28, 28, 26, 0, 2 * Math.PI); g.fillStyle = color; g.fill();
    }), { pixelRatio: 2 });
  }
  map.addImage("port", image(32, (g) => {
    g.fillStyle = "#1e3a8a"; g.strokeStyle = "#fff"; g.lineWidth = 3;
    g.beginPath(); g.roundRect(4, 4, 24, 24, 4); g.fill(); g.stroke();
  }), { pixelRatio: 2 });
  // diagonal stripes that tile seamlessly: the temporary zones' hatching
  map.addImage("hatch-temp", image(16, (g) => {
    g.fillStyle = "rgba(245,140,30,0.14)"; g.fillRect(0, 0, 16, 16);
    g.strokeStyle = "rgba(214,110,10,0.75)"; g.lineWidth = 4;
    for (const c of [0, 16, 32]) { g.beginPath(); g.moveTo(c + 4, -4); g.lineTo(-4, c + 4); g.stroke(); } // x + y = c
  }), { pixelRatio: 2 });
}

function addLayers() {
  for (const s of SOURCES) map.addSource(s, { type: "geojson", data: drawn[s] });
  const is = (k, v) => ["==", ["get", k], v];
  const zone = is("kind", "zone"), faded = ["case", ["get", "active"], 1, 0.38];
  const zoneColor = ["case", ["get", "controlled"], ZONE_CONTROLLED, ["get", "temporary"], ZONE_TEMP, ZONE_RED];
  const symbol = { "icon-allow-overlap": true, "icon-ignore-placement": true };
  const add = (id, type, source, filter, paint, layout) => map.addLayer({ id, type, source, ...(filter ? { filter } : {}), paint, layout: layout || {} });
  add("zones-fill", "fill", "zones", ["all", zone, ["!", ["get", "temporary"]]], {
    "fill-color": ["case", ["get", "controlled"], "rgba(79,70,229,0.10)", ["get", "high"], "rgba(217,45,32,0.06)", "rgba(217,45,32,0.16)"],
    "fill-opacity": faded,
  });
  add("zones-temporary-fill", "fill", "zones", ["all", zone, ["get", "temporary"]], { "fill-pattern": "hatch-temp", "fill-opacity": faded });
  add("zones-line", "line", "zones", ["all", zone, ["get", "active"]], {
    "line-color": zoneColor, "line-width": ["case", ["get", "temporary"], 2, 1.5],
  });
  add("zones-line-inactive", "line", "zones", ["all", zone, ["!", ["get", "active"]]], {
    "line-color": zoneColor, "line-width": 1.5, "line-opacity": 0.38, "line-dasharray": [3, 2.5],
  });
  add("zones-margin", "line", "zones", is("kind", "margin"), { "line-color": "rgba(217,45,32,0.35)", "line-width": 1, "line-dasharray": [3, 3] });
  // a flight's intent: faint, but solid where its time window holds the simulated now (or it is not
  // conforming: red)
  const intentColor = ["case", ["get", "alarm"], ZONE_RED, INTENT];
  add("intents-fill", "fill", "intents", null, { "fill-color": intentColor, "fill-opacity": ["case", ["get", "now"], 0.2, 0.05] });
  add("intents-line", "line", "intents", null, {
    "line-color": intentColor, "line-width": ["case", ["get", "now"], 1.5, 0.75], "line-opacity": ["case", ["get", "now"], 0.9, 0.35],
  });
  const round = { "line-cap": "round", "line-join": "round" };
  add("routes-previous", "line", "routes", is("kind", "previous"), {
    "line-color": ["get", "color"], "line-width": 2, "line-opacity": 0.55, "line-dasharray": [2, 2],
  });
  add("routes", "line", "routes", is("kind", "planned"), { "line-color": ["get", "color"], "line-width": 2.5, "line-opacity": 0.85 }, round);
  add("routes-end", "circle", "routes", is("kind", "end"), { "circle-radius": 3, "circle-color": ["get", "color"], "circle-opacity": 0.85 });
  add("selection-line", "line", "selection", ["==", ["geometry-type"], "LineString"], {
    "line-color": SELECTION, "line-width": 2.5, "line-dasharray": [0.5, 2],
  }, round);
  add("selection-ends", "circle", "selection", ["==", ["geometry-type"], "Point"], {
    "circle-radius": 8, "circle-color": SELECTION, "circle-stroke-color": "#fff", "circle-stroke-width": 2,
  });
  add("pads", "circle", "places", is("kind", "pad"), {
    "circle-radius": 4.5, "circle-color": "#fff", "circle-stroke-color": "#0f766e", "circle-stroke-width": 2,
  });
  add("ports", "symbol", "places", is("kind", "port"), {}, { ...symbol, "icon-image": "port" });
  add("draft-fill", "fill", "draft", ["==", ["geometry-type"], "Polygon"], { "fill-color": "rgba(37,99,235,0.12)" });
  add("draft-line", "line", "draft", ["!=", ["geometry-type"], "Point"], { "line-color": DRAFT, "line-width": 2, "line-dasharray": [3, 1.5] });
  add("draft-vertices", "circle", "draft", ["==", ["geometry-type"], "Point"], {
    "circle-radius": 3.5, "circle-color": "#fff", "circle-stroke-color": DRAFT, "circle-stroke-width": 2,
  });
  const onDrone = { ...symbol, "icon-offset": ["get", "offset"] };
  add("drones-halo", "symbol", "drones", null, { "icon-opacity": 0.18 }, { ...onDrone, "icon-image": ["concat", "halo-", ["get", "cls"]] });
  add("drones", "symbol", "drones", null, {}, {
    ...onDrone, "icon-image": ["concat", ["get", "shape"], "-", ["get", "cls"]],
    "icon-rotate": ["get", "rotate"], "icon-rotation-alignment": "map",
  });
}

// --- drawing: each part is one source's data, set at most once a frame ---

/** Draw these parts again at the next frame: "zones", "intents", "places", "drones", "routes", "selection", "draft". */
export function redraw(...parts) {
  for (const p of parts) dirty.add(p);
  if (frameRequested || !ready) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    const parts = [...dirty];
    dirty.clear();
    for (const p of parts) {
      drawn[p] = DRAW[p]();
      map.getSource(p).setData(drawn[p]);
    }
    layoutLabels();
  });
}

const feature = (geometry, properties) => ({ type: "Feature", geometry, properties });
const collection = (features) => ({ type: "FeatureCollection", features });

/** A circle of ``r`` metres around (lon, lat) as a 64-sided polygon ring. */
export function circleRing(lon, lat, r) {
  const dLat = r / ((Math.PI / 180) * EARTH_R), dLon = dLat / Math.cos((lat * Math.PI) / 180);
  const ring = [];
  for (let i = 0; i <= 64; i++) {
    const a = (i / 64) * 2 * Math.PI;
    ring.push([lon + dLon * Math.cos(a), lat + dLat * Math.sin(a)]);
  }
  return ring;
}

function drawZones() {
  const features = [];
  labels.zones = [];
  for (const f of S.zones) {
    const geom = f.geometry || {};
    const info = zoneInfo(f);
    const props = {
      kind: "zone", id: info.id, active: info.active, temporary: info.temporary, controlled: info.controlled,
      high: info.floor > 130, title: zoneTitle(info),
    };
    let ring0;
    if (geom.type === "Point" && Array.isArray(geom.coordinates)) {
      const [lon, lat] = geom.coordinates;
      const r = num(f.properties && f.properties.radius_m) || 0;
      const margin = num(f.properties && f.properties.margin_m);
      ring0 = circleRing(lon, lat, Math.max(r, 1));
      features.push(feature({ type: "Polygon", coordinates: [ring0] }, props));
      if (margin && info.active) features.push(feature({ type: "Polygon", coordinates: [circleRing(lon, lat, r + margin)] }, { kind: "margin", id: info.id }));
    } else {
      const rs = rings(geom);
      if (!rs.length) continue;
      features.push(feature(geom, props));
      ring0 = rs[0];
    }
    // the label above the top of the zone's first ring
    const top = ring0.reduce((a, b) => (b[1] > a[1] ? b : a));
    const lons = ring0.map((p) => p[0]);
    labels.zones.push({
      text: zoneLabel(info), cls: ["zone-label", info.temporary ? "temporary" : "", info.active ? "" : "inactive"].filter(Boolean).join(" "),
      lon: (Math.min(...lons) + Math.max(...lons)) / 2, lat: top[1], dy: -4, align: "middle",
      priority: info.temporary ? 0 : 2, // temporary zones first: they are what the operator is watching
    });
  }
  return collection(features);
}

function drawIntents() {
  if (!S.showIntents) return EMPTY;
  const now = simNow();
  return collection(S.intents.map((f) => {
    const p = f.properties || {}, t0 = parseTime(p.time_start), t1 = parseTime(p.time_end);
    return feature(f.geometry, {
      mission: p.mission_id || "", drone: p.drone_id, volume: p.volume, state: p.state,
      now: t0 !== null && t1 !== null && t0 <= now && now <= t1, alarm: p.state === "Nonconforming" || p.state === "Contingent",
      title: `intent of ${p.drone_id}${p.mission_id ? ` (${p.mission_id})` : ""} · ${p.state} · ${Math.round(p.altitude_lower_m)}–${Math.round(p.altitude_upper_m)} m · ${hhmm(t0)}–${hhmm(t1)} ${AREA.label}`,
    });
  }));
}

function drawPlaces() {
  const features = [];
  labels.places = [];
  for (const p of S.pads) {
    features.push(feature({ type: "Point", coordinates: [p.lon, p.lat] }, { kind: "pad", id: p.id, title: `pad ${p.id}${p.label && p.label !== p.id ? ` (${p.label})` : ""}` }));
    labels.places.push({ text: p.id, cls: "place-label", lon: p.lon, lat: p.lat, dx: 7, priority: 3, charW: 5.8 });
  }
  for (const p of S.ports) {
    features.push(feature({ type: "Point", coordinates: [p.lon, p.lat] }, { kind: "port", id: p.id, title: `port ${p.id}${p.drones && p.drones.length ? ` — based: ${p.drones.join(", ")}` : ""}` }));
    labels.places.push({ text: p.id, cls: "place-label port-label", lon: p.lon, lat: p.lat, dx: 9, priority: 1 });
  }
  return collection(features);
}

function drawDrones() {
  const shown = [...S.drones.values()].filter((d) => d.lon !== null && d.lat !== null).sort((a, b) => (a.id < b.id ? -1 : 1));
  // Drones standing at one port would hide each other: fan them out a little on screen (the
  // features keep the true position).
  const groups = new Map();
  for (const d of shown) {
    const p = map.project([d.lon, d.lat]);
    const key = `${Math.round(p.x / 14)}:${Math.round(p.y / 14)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(d);
  }
  const fan = new Map();
  for (const members of groups.values()) {
    members.forEach((d, i) => {
      if (members.length < 2) { fan.set(d.id, [0, 0]); return; }
      const a = (i / members.length) * 2 * Math.PI - Math.PI / 2, r = 9 + members.length * 2;
      fan.set(d.id, [r * Math.cos(a), r * Math.sin(a)]);
    });
  }
  labels.drones = [];
  const features = shown.map((d) => {
    const state = displayState(d), cls = stateClass(state);
    const grounded = cls === "idle" || (cls === "faulted" && d.state !== "emergency");
    const rotate = grounded ? 0 : Math.round(d.heading || 0);
    // icon-offset turns with the icon: give the screen offset in the icon's own frame
    const [fx, fy] = fan.get(d.id), t = (-rotate * Math.PI) / 180;
    const offset = [fx * Math.cos(t) - fy * Math.sin(t), fx * Math.sin(t) + fy * Math.cos(t)];
    const battery = d.battery === null ? null : Math.round(d.battery);
    labels.drones.push({ text: `${d.id}${battery === null ? "" : ` ${battery}%`}`, cls: "drone-label", lon: d.lon, lat: d.lat, dx: 12 + fx, dy: fy, priority: -1 });
    return feature({ type: "Point", coordinates: [d.lon, d.lat] }, {
      id: d.id, state, cls, shape: grounded ? "diamond" : "arrow", rotate, offset, lon: d.lon, lat: d.lat,
      heading: Math.round(d.heading || 0), battery, mission: d.mission || "", in_service: d.inService !== false,
      title: `${d.id} · ${state}${d.whyUnusable ? ` (${d.whyUnusable})` : ""}${d.mission ? ` · mission ${d.mission}` : ""}${battery === null ? "" : ` · battery ${battery}%`}`,
    });
  });
  return collection(features);
}

function drawRoutes() {
  const features = [];
  for (const d of S.drones.values()) {
    const color = STATE_COLOR[stateClass(d.state)];
    const props = { drone: d.id, mission: d.mission || "", reroutes: d.reroutes, version: d.pathVersion, points: d.path.length, color };
    if (d.previousPath && d.previousPath.length >= 2 && d.mission) {
      features.push(feature({ type: "LineString", coordinates: d.previousPath }, { ...props, kind: "previous" }));
    }
    const pts = pathAhead(d);
    if (pts.length < 2) continue;
    features.push(feature({ type: "LineString", coordinates: pts }, { ...props, kind: "planned" }));
    features.push(feature({ type: "Point", coordinates: pts[pts.length - 1] }, { ...props, kind: "end" }));
  }
  return collection(features);
}

function drawSelection() {
  labels.selection = [];
  const r = S.selected ? S.requests.get(S.selected) : null;
  if (!r || !r.pickup || !r.dropoff) return EMPTY;
  const a = [num(r.pickup.lon), num(r.pickup.lat)], b = [num(r.dropoff.lon), num(r.dropoff.lat)];
  if (![...a, ...b].every((v) => v !== null)) return EMPTY;
  labels.selection = [[a, "P"], [b, "D"]].map(([[lon, lat], text]) => ({ text, cls: "sel-label", lon, lat, dy: 4, align: "middle", priority: -2 }));
  return collection([
    feature({ type: "LineString", coordinates: [a, b] }, { request: r.id }),
    feature({ type: "Point", coordinates: a }, { request: r.id, end: "pickup" }),
    feature({ type: "Point", coordinates: b }, { request: r.id, end: "dropoff" }),
  ]);
}

function drawDraft() {
  const dr = S.draft;
  if (dr.shape === "circle" && dr.center) {
    const [lon, lat] = dr.center;
    const r = Math.max(1, num(el.zoneRadius.value) || 0);
    return collection([feature({ type: "Polygon", coordinates: [circleRing(lon, lat, r)] }, {}), feature({ type: "Point", coordinates: dr.center }, {})]);
  }
  if (dr.shape !== "polygon" || !dr.vertices.length) return EMPTY;
  const v = dr.vertices;
  const features = v.map((p) => feature({ type: "Point", coordinates: p }, {}));
  if (v.length >= 3) features.unshift(feature({ type: "Polygon", coordinates: [[...v, v[0]]] }, {}));
  else if (v.length === 2) features.unshift(feature({ type: "LineString", coordinates: v }, {}));
  return collection(features);
}

const DRAW = { zones: drawZones, intents: drawIntents, places: drawPlaces, drones: drawDrones, routes: drawRoutes, selection: drawSelection, draft: drawDraft };

// --- labels: by priority, each takes the first free spot around its anchor or is left out (its
// shape's tooltip still names it; zoom in to see it); priority < 0 always shows ---

function layoutLabels() {
  if (!map) return;
  const box = el.labels;
  const { width, height } = box.getBoundingClientRect();
  const placed = [];
  const free = (r) => placed.every((q) => r.x1 < q.x0 || r.x0 > q.x1 || r.y1 < q.y0 || r.y0 > q.y1);
  const all = [...labels.selection, ...labels.drones, ...labels.zones, ...labels.places].sort((a, b) => a.priority - b.priority);
  const nodes = [];
  for (const lab of all) {
    const p = map.project([lab.lon, lab.lat]);
    const x0 = p.x, y0 = p.y + (lab.dy || 0);
    if (x0 < -100 || y0 < -20 || x0 > width + 100 || y0 > height + 20) continue;
    const w = lab.text.length * (lab.charW || 6.6), h = 12, dx = lab.dx || 0;
    const spots = lab.align === "middle"
      ? [[x0 - w / 2, y0 - h], [x0 - w / 2, y0 - 2 * h], [x0 - w / 2, y0 + 4]]
      : [[x0 + dx, y0 - h / 2], [x0 - dx - w, y0 - h / 2], [x0 - w / 2, y0 - dx - h], [x0 - w / 2, y0 + dx]];
    for (const [x, y] of spots) {
      const r = { x0: x - 1, x1: x + w + 1, y0: y, y1: y + h };
      if (lab.priority > 0 && !free(r)) continue;
      placed.push(r);
      const node = html("span", { class: `map-label ${lab.cls}` }, lab.text);
      node.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      nodes.push(node);
      break;
    }
  }
  box.replaceChildren(...nodes);
}

// --- view ---

/** Frame the service area (zones, pads and ports; the drones when there is nothing else). */
export function fitArea() {
  if (!ready) return false;
  const pts = [];
  for (const f of drawn.zones.features) for (const ring of rings(f.geometry)) pts.push(...ring);
  for (const p of [...S.pads, ...S.ports]) pts.push([p.lon, p.lat]);
  if (!pts.length) for (const d of S.drones.values()) if (d.lon !== null) pts.push([d.lon, d.lat]);
  if (!pts.length) return false;
  const lons = pts.map((p) => p[0]), lats = pts.map((p) => p[1]);
  map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 36, duration: 0, maxZoom: 16 });
  return true;
}

export function zoomBy(delta) { if (map) map.zoomTo(map.getZoom() + delta, { duration: 200 }); }

/** Screen (client) coordinates of (lon, lat), or null before the map is drawn. */
export function screenPoint(lon, lat) {
  if (!ready) return null;
  const p = map.project([lon, lat]);
  const r = map.getContainer().getBoundingClientRect();
  return { x: r.left + p.x, y: r.top + p.y };
}

export function lonLatAt(clientX, clientY) {
  const r = map.getContainer().getBoundingClientRect();
  const ll = map.unproject([clientX - r.left, clientY - r.top]);
  return [ll.lng, ll.lat];
}

/** The properties of the features drawn on screen now in these layers (MapLibre's rendered features). */
export function rendered(layers) {
  if (!ready) return [];
  return map.queryRenderedFeatures({ layers }).map((f) => ({ layer: f.layer.id, ...f.properties }));
}

/** The GeoJSON a source was last given. */
export function sourceData(source) { return drawn[source]; }

export function isReady() { return ready; }
export function theMap() { return map; }
