/* The event log: newest first, by the time things happened. */
import { LOG_MAX, el, html } from "./state.js";
import { hhmmss, simNow } from "./time.js";

// ``group``: entries of one group (the same thing happening again) are one line, counted
export function logEvent(level, text, kind, ts, group) {
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
