"""The operators' live dashboard: a static page (HTML, CSS, JavaScript ES modules, no build step).

The API serves :data:`STATIC_DIR` at ``/dashboard``. The page reads the operator key from the URL
fragment ``#key=...`` (or asks for it), loads the area (time zone, map style), zones, pads, ports,
fleet and requests from ``/api/v1`` and follows the live stream ``/api/v1/stream``. The map is
drawn with MapLibre GL JS, vendored in ``static/vendor`` (no CDN).
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
"""The directory holding ``index.html``, the ES modules (``main.js`` and those it imports),
``style.css`` and ``vendor/`` (MapLibre GL JS)."""

INDEX_HTML: Path = STATIC_DIR / "index.html"
"""The page itself."""

__all__ = ["INDEX_HTML", "STATIC_DIR"]
