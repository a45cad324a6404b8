"""The operators' live dashboard: a static page (HTML, CSS, plain JavaScript, no build step).

The API serves :data:`STATIC_DIR` at ``/dashboard``. The page reads the operator key from the URL
fragment ``#key=...`` (or asks for it), loads zones, pads, ports, fleet and requests from
``/api/v1`` and follows the live stream ``/api/v1/stream``.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
"""The directory holding ``index.html``, ``app.js`` and ``style.css``."""

INDEX_HTML: Path = STATIC_DIR / "index.html"
"""The page itself."""

__all__ = ["INDEX_HTML", "STATIC_DIR"]
