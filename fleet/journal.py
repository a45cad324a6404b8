"""Acknowledge drone events to the broker only once they are written down (write-ahead inbox).

A QoS 1 event the link acknowledges (PUBACK) is the broker's to forget. Were the link to
acknowledge on receipt, as MQTT clients do by default, an event received by a dispatcher that is
killed before it handles it would be gone: the process that takes over the session never hears it.
With an :class:`EventJournal` the link instead hands every new event to :class:`JournalAcks`,
which writes them in batches (:meth:`EventJournal.record`) and acknowledges each to the broker
after its batch is written; the broker redelivers anything unacknowledged to whoever holds the
session next. Once the consumer has handled an event it calls :meth:`JournalAcks.settle`, and the
written event is forgotten (:meth:`EventJournal.forget`). A process that starts replays what the
journal still holds (the journal's owner does that, not this module).

Other QoS 1 messages (acks, states, dropped ones) are handled at once and written nowhere, but
their acknowledgements queue behind the events received before them: MQTT requires PUBACKs in the
order the messages came (rumqttd disconnects a client that breaks it). A slow write therefore holds
the broker's window of unacknowledged messages (Mosquitto: 20 per session) and with it the
delivery of command acks; a write takes milliseconds, and while the store is down nothing can be
recorded anyway.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import aiomqtt

from fleet.messages import Event

log = logging.getLogger(__name__)

RETRY_S = 1.0  # between attempts at a write that failed (the store is down): real seconds
_REMEMBERED = 100_000  # written events awaiting their consumer's settle


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One event as received: the decoded message, its body exactly as it came, and when."""

    event: Event
    body: bytes
    received_at: datetime

    @property
    def key(self) -> tuple[str, str]:
        """``(drone_id, msg_id)``: the event's identity."""
        return event_key(self.event)


def event_key(event: Event) -> tuple[str, str]:
    """``(drone_id, msg_id)``: an event's identity (a redelivery has the same)."""
    return (event.drone_id, event.msg_id)


class EventJournal(Protocol):
    """Where events are written before they are acknowledged (the dispatcher's store)."""

    async def record(self, events: Sequence[ReceivedEvent]) -> None:
        """Write the events durably (an event written already stays as it is)."""

    async def forget(self, keys: Sequence[tuple[str, str]]) -> None:
        """Drop the written events ``(drone_id, msg_id)``: their consumer has handled them."""


def manual_acks(client: aiomqtt.Client) -> None:
    """Make ``client`` leave QoS 1 acknowledgements to :func:`ack` (before it connects)."""
    client._client.manual_ack_set(True)  # aiomqtt exposes no option; paho's client does


def ack(client: aiomqtt.Client, mid: int) -> None:
    """Acknowledge the QoS 1 message ``mid`` received on ``client``'s connection."""
    client._client.ack(mid, 1)


class JournalAcks:
    """Batches events to the journal and acknowledges each once its batch is written."""

    def __init__(self, journal: EventJournal) -> None:
        self.journal = journal
        # (the new event to write, or None for any other message; the connection it came on; mid)
        self._pending: list[tuple[ReceivedEvent | None, aiomqtt.Client, int]] = []
        self._settled: list[tuple[str, str]] = []
        self._unsettled: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def defer(self, client: aiomqtt.Client, mid: int, received: ReceivedEvent | None) -> None:
        """Acknowledge ``mid`` on ``client`` once ``received`` (and everything queued before it) is
        written; ``received`` None: nothing to write (not a new event), acknowledged in its turn."""
        self._pending.append((received, client, mid))
        self._idle.clear()
        self._ready.set()

    def settle(self, key: tuple[str, str]) -> None:
        """The consumer has handled event ``key``: forget it once it is written."""
        self._settled.append(key)
        self._ready.set()

    async def idle(self) -> None:
        """Wait until everything received so far is written and acknowledged."""
        await self._idle.wait()

    async def run(self, current: Callable[[], aiomqtt.Client | None]) -> None:
        """Write, acknowledge and forget for ever (``current``: the link's connection now; an
        acknowledgement for a connection since lost is not sent: the broker redelivers)."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            events = [r for r, _, _ in batch if r is not None]
            if events:
                await self._until_done(functools.partial(self.journal.record, events), "record")
                for r in events:
                    self._unsettled[r.key] = None
                while len(self._unsettled) > _REMEMBERED:
                    self._unsettled.popitem(last=False)  # replayed at the next start: handled twice
            now = current()
            for _, client, mid in batch:
                if client is now:
                    ack(client, mid)
            if not self._pending:
                self._idle.set()
            done = [k for k in self._settled if k in self._unsettled]
            # What is settled before it is written waits for its write (bounded: a key never
            # written here, which no consumer should settle, must not pile up).
            self._settled = [k for k in self._settled if k not in self._unsettled][-_REMEMBERED:]
            if done:
                for k in done:
                    del self._unsettled[k]
                await self._until_done(functools.partial(self.journal.forget, done), "forget")

    async def _until_done(self, write: Callable[[], Awaitable[None]], what: str) -> None:
        while True:
            try:
                await write()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event journal: %s failed; retrying in %.0f s", what, RETRY_S)
                await asyncio.sleep(RETRY_S)
