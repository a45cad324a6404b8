"""One INFO line per request state change, on the logger ``dispatch.requests``, once committed::

    request req_0123abcd: accepted -> planned (by dispatcher)
    request req_0123abcd: planned -> cancelled (by office:service-centre/key:k_12ab; reason: not needed)

Every change of a request's state goes through :func:`dispatch.store.requests.apply_transition`
(and its filing through the repository's insert), which note it here inside their transaction;
the lines are written when that transaction commits, so a change that was rolled back is never
logged. Reasons are client input: the log formatter (:mod:`dispatch.logs`) escapes them.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger("dispatch.requests")

_PENDING = "dispatch.request_changes"  # key of Session.info: the lines waiting for the commit


def note_request_change(
    session: AsyncSession,
    request_id: str,
    before: str | None,
    after: str,
    *,
    actor: str,
    reason: object = None,
) -> None:
    """Log ``request_id`` going from ``before`` (None: just filed) to ``after`` when ``session`` commits."""
    change = f"{before} -> {after}" if before is not None else after
    why = f"; reason: {reason}" if reason is not None else ""
    session.info.setdefault(_PENDING, []).append(f"request {request_id}: {change} (by {actor}{why})")


@event.listens_for(Session, "after_commit")
def _write_committed(session: Session) -> None:
    for line in session.info.pop(_PENDING, ()):
        log.info("%s", line)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
