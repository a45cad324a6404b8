/* The HTTP API: GET/POST/DELETE on /api/v1 with the operator key, errors in the API's own words. */
import { API, S, first } from "./state.js";

export class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

let unauthorized = () => {};
/** What to do when the API answers 401 (main.js asks for another key). */
export function onUnauthorizedCall(handler) { unauthorized = handler; }
/** The key was refused (by the API or the stream). */
export function keyRefused() { unauthorized(); }

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

export async function api(path, opts = {}) {
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
    if (res.status === 401) keyRefused();
    throw new ApiError(res.status, errorMessage(res.status, body, text), body);
  }
  if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, body, text), body);
  return body;
}
