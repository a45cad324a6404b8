"""The reporter a ``run`` or ``serve`` process runs with, from its settings (None when off)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from dispatch.authority.backlog import Backlog
from dispatch.authority.reporter import AuthorityReporter
from dispatch.authority.sender import sink_for
from dispatch.service.dispatcher import Dispatcher
from dispatch.settings.model import AuthoritySettings


@contextlib.asynccontextmanager
async def authority_reporting(
    dispatcher: Dispatcher, settings: AuthoritySettings
) -> AsyncIterator[AuthorityReporter | None]:
    """Report the dispatcher's flights while the block runs, as ``settings`` say (None: off)."""
    if settings.report is None:
        yield None
        return
    backlog = Backlog(settings.backlog, settings.backlog_max)
    try:
        reporter = AuthorityReporter(
            dispatcher,
            backlog,
            sink_for(settings.report),
            operator=settings.operator,
            takeoff_altitude_m=settings.takeoff_altitude_m,
        )
        async with reporter:
            yield reporter
    finally:
        backlog.close()
