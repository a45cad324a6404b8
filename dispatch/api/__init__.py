"""The HTTP API (issue 6): Litestar app over the store and a running dispatcher.

``create_app(ApiContext(store=..., dispatcher=...))`` builds it; :class:`AppServer` (or
:func:`serve_app`) serves it with uvicorn in the running event loop; ``dronedispatch serve``
runs the whole service.
"""

from dispatch.api.app import AppServer, create_app, serve_app
from dispatch.api.context import ApiContext, Principal
from dispatch.api.rate_limit import RateLimit

__all__ = ["ApiContext", "AppServer", "Principal", "RateLimit", "create_app", "serve_app"]
