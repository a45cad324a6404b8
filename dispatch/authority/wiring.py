"""The reporter and the approval mode a ``run`` or ``serve`` process runs with, from its settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from dispatch.authority.approval import HttpApprover
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


@contextlib.asynccontextmanager
async def authority_approvals(
    dispatcher: Dispatcher, settings: AuthoritySettings, *, ceiling_m: float | None = None
) -> AsyncIterator[None]:
    """Approval mode on the dispatcher while the block runs, as ``settings`` say; flights above
    ``ceiling_m`` (``terrain.ceiling_m``; None: the fleet's) need approval too. Entered before the
    dispatcher starts, so that no flight recovered at its start is dispatched unapproved."""
    if settings.approval != "required":
        yield
        return
    assert settings.report is not None  # the settings' check
    approver = HttpApprover(
        settings.report,
        dispatcher.clock,
        operator=settings.operator,
        takeoff_altitude_m=settings.takeoff_altitude_m,
        timeout_s=settings.approval_timeout_s,
        poll_s=settings.approval_poll_s,
    )
    dispatcher.approvals.configure(
        approver,
        "retry" if settings.approval_on_timeout == "retry" else "deny",
        ceiling_m=ceiling_m,
    )
    try:
        yield
    finally:
        dispatcher.approvals.configure(None)
        await approver.aclose()
