"""The dispatcher's event inbox: the store as the link's event journal, and its replay at start.

The link writes every drone event to the store before it acknowledges it to the broker
(:mod:`fleet.journal`); the dispatcher settles each once handled, and the written row goes. A
dispatcher that starts (after a crash, or a standby taking over the area's session) first handles
what the inbox still holds: events a killed process had acknowledged but not handled, which the
broker will not deliver again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from dispatch.store import Store
from dispatch.store.inbox import InboxEvent
from fleet.journal import ReceivedEvent
from fleet.link import FleetLink
from fleet.messages import Event, ProtocolError, decode

log = logging.getLogger(__name__)


class StoreJournal:
    """:class:`fleet.journal.EventJournal` over the store's ``event_inbox`` for one MQTT session
    (the area's client id, which a standby taking over shares)."""

    def __init__(self, store: Store, session: str) -> None:
        self.store = store
        self.session = session

    async def record(self, events: Sequence[ReceivedEvent]) -> None:
        """Write the events as received."""
        rows = [
            InboxEvent(e.event.drone_id, e.event.msg_id, e.body.decode("utf-8", "replace"), e.received_at)
            for e in events
        ]
        await self.store.inbox.record(self.session, rows)

    async def forget(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete the handled events."""
        await self.store.inbox.handled(self.session, keys)


async def replay_inbox(
    store: Store, link: FleetLink, handle: Callable[[Event], Awaitable[None]]
) -> set[tuple[str, str]]:
    """Handle, oldest first, the events the inbox holds for ``link``'s session, delete them, and
    return their keys (``(drone_id, msg_id)``: the broker may still hand some of them over, to
    be settled without handling them twice). A row that no longer decodes is logged and dropped;
    a failure handling one event does not stop the others."""
    if not link.journaling:
        return set()
    await link.journal_idle()  # what reached this process before its dispatcher subscribed
    rows = await store.inbox.pending(link.client_id)
    done: list[tuple[str, str]] = []
    events: list[Event] = []
    for row in rows:
        done.append((row.drone_id, row.msg_id))
        try:
            event = decode("event", row.body.encode("utf-8"), row.drone_id)
        except ProtocolError as exc:
            log.error("event inbox: %s/%s no longer decodes (%s); dropped", row.drone_id, row.msg_id, exc)
            continue
        assert isinstance(event, Event)  # the kind "event" decodes to events only
        events.append(event)
    # In the order the drones made them: rows written by two processes (one killed mid-batch, its
    # unacknowledged events redelivered to the next) are not in that order by time of receipt,
    # and a landing handled before its mission's pickup would leave the pickup refused as stale.
    events.sort(key=lambda e: e.ts)  # stable: ties keep the order received
    for event in events:
        try:
            await handle(event)
        except Exception:
            log.exception("event inbox: replaying %s of %s failed", type(event).__name__, event.drone_id)
    await store.inbox.handled(link.client_id, done)
    if done:
        log.warning("event inbox: replayed %d event(s) received before this process led", len(done))
    return set(done)
