"""The dispatcher's side of the fleet protocol: one MQTT client for the whole fleet.

:class:`FleetLink` keeps one MQTT 5 connection with a stable client id and a persistent session,
reconnects with jittered exponential back-off and re-subscribes after every connect. It validates
every incoming message (malformed or spoofed ones are dropped, counted in ``stats.dropped`` and
logged; with a fleet secret, so is every state, ack and event not signed with its drone's key,
before anything sees it: see :mod:`fleet.signing`), keeps the
:class:`~fleet.registry.FleetRegistry` up to date and fans events, acks, state changes and link
status out to subscribers (see :mod:`fleet.hub`).

``send(command)`` is the only way to command a drone: it publishes at QoS 1 and waits for the
drone's application-level ack (MQTT's PUBACK says only that the broker has it), re-publishing the
*same* ``cmd_id`` a bounded number of times; drones apply a repeated ``cmd_id`` once and re-ack it.
Ack timeouts and back-off are real time (network), never the simulation clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import aiomqtt

from fleet.clock import Clock, RealClock
from fleet.connection import (
    DEFAULT_SESSION_EXPIRY_S,
    BrokerAddress,
    Protocol,
    check_client_id,
    persistent_client,
    unless_lost,
)
from fleet.hub import Hub, Subscription
from fleet.journal import EventJournal, JournalAcks, ReceivedEvent, event_key, manual_acks
from fleet.messages import (
    Ack,
    AnyCommand,
    AnyEvent,
    Event,
    Message,
    ProtocolError,
    State,
    Telemetry,
    decode,
    encode,
)
from fleet.registry import FleetRegistry
from fleet.signing import FleetSecret, signature_problem
from fleet.topics import DEFAULT_PREFIX, Topics

SHARE_GROUP = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A valid MQTT 5 shared-subscription group name (no level separator, no wildcard)."""

log = logging.getLogger(__name__)

# QoS 1 is at least once: an event redelivered after a reconnect keeps its msg_id.
_REMEMBERED_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """The link connected to (``up``) or lost (``down``) the broker."""

    status: Literal["up", "down"]
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RefusedEvent:
    """An event on ``drone_id``'s topic refused because it is not signed with that drone's key
    (forged, or from a drone without its key). The link passes on the 1st, 2nd, 4th, 8th...
    refusal per drone (``count`` so far), so a flood cannot flood whoever records them."""

    drone_id: str
    event: str  # the event's tag: delivered, fault...
    mission_id: str | None
    request_id: str | None
    detail: str
    count: int


FleetUpdate = AnyEvent | Ack | State | LinkStatus | Telemetry | RefusedEvent

TelemetryListener = Callable[[Telemetry, datetime, bool], None]
"""Called with every telemetry sample the link takes: (sample, received at, heard by another
process through :meth:`FleetLink.accept_shared`)."""


class CommandTimeout(TimeoutError):
    """No ack arrived for a command after every attempt."""

    def __init__(self, cmd_id: str, drone_id: str, attempts: int) -> None:
        self.cmd_id = cmd_id
        self.drone_id = drone_id
        self.attempts = attempts
        super().__init__(f"no ack from drone {drone_id!r} for command {cmd_id!r} after {attempts} attempt(s)")


@dataclass(slots=True)
class LinkStats:
    """Counters of one link (monotonic; read them, never reset them)."""

    received: int = 0
    telemetry: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> count
    connects: int = 0
    sent: int = 0
    retries: int = 0
    timeouts: int = 0
    unmatched_acks: int = 0  # acks of commands no send() is waiting for (re-acks of duplicates)
    shared: int = 0  # telemetry samples heard by another process, taken through accept_shared
    shared_stale: int = 0  # offered through accept_shared but not newer than the sample held
    duplicate_events: int = 0  # events received again (QoS 1 redelivery), not passed on
    cleared_states: int = 0  # retained states deleted (an empty retained body): liveness from telemetry

    @property
    def dropped_total(self) -> int:
        """All dropped messages."""
        return sum(self.dropped.values())


class FleetLink:
    """One dispatcher's MQTT link to the fleet. Use ``async with FleetLink(...) as link:``."""

    def __init__(
        self,
        broker: str | BrokerAddress,
        *,
        client_id: str = "dispatcher",
        prefix: str = DEFAULT_PREFIX,
        clock: Clock | None = None,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        protocol: Protocol = "5",
        ack_timeout_s: float = 3.0,
        attempts: int = 3,
        max_telemetry_age_s: float = 5.0,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 10.0,
        drone_ids: Iterable[str] | None = None,
        max_clock_ahead_s: float = 3600.0,
        max_message_age_s: float = 86400.0,
        telemetry_group: str | None = None,
        telemetry_only: bool = False,
        forget_filters: Iterable[str] = (),
        fleet_secret: FleetSecret | None = None,
        event_journal: EventJournal | None = None,
    ) -> None:
        """``fleet_secret``: states, acks and events must be signed with their drone's key (dropped
        as ``bad_signature`` otherwise); None accepts them unsigned, and says so loudly at start.
        ``event_journal``: every event is written there before the broker hears it was received
        (see :mod:`fleet.journal`; the consumer calls :meth:`settle` once it handled one); None
        acknowledges events on receipt."""
        if telemetry_group is not None and not SHARE_GROUP.fullmatch(telemetry_group):
            raise ValueError(f"telemetry_group must match {SHARE_GROUP.pattern}, got {telemetry_group!r}")
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if ack_timeout_s <= 0:
            raise ValueError(f"ack_timeout_s must be > 0, got {ack_timeout_s}")
        self.address = broker if isinstance(broker, BrokerAddress) else BrokerAddress.parse(broker)
        self.client_id = check_client_id(client_id)
        self.topics = Topics(prefix)
        self.clock: Clock = clock or RealClock()
        self.session_expiry_s = session_expiry_s
        self.protocol: Protocol = protocol
        self.ack_timeout_s = ack_timeout_s
        self.attempts = attempts
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.registry = FleetRegistry(max_telemetry_age_s=max_telemetry_age_s)
        self.known_drones: frozenset[str] | None = None
        if drone_ids is not None:
            self.expect_drones(drone_ids)
        # Drone clocks may be minutes off; hours off is a broken clock or a forged/replayed body.
        self.max_clock_ahead = timedelta(seconds=max_clock_ahead_s)
        self.max_message_age = timedelta(seconds=max_message_age_s)
        # Several links in one group share the telemetry through an MQTT 5 shared subscription:
        # the broker hands each message to one of them (scale-out of the ingest).
        self.telemetry_group = telemetry_group
        # A link that only listens to telemetry (a standby's share of the group) and sends nothing.
        self.telemetry_only = telemetry_only
        # Filters an earlier run of this persistent session may have subscribed that this one must
        # not keep (the broker keeps a session's subscriptions across reconnects): e.g. the plain
        # telemetry filter of a dispatcher now sharing its telemetry, which would bring it all.
        self.forget_filters = [f for f in forget_filters if f != self._telemetry_filter()]
        self.fleet_secret = fleet_secret
        self.stats = LinkStats()
        self._refused_by_drone: Counter[str] = Counter()
        self._listeners: list[TelemetryListener] = []
        self._waiters: dict[str, list[tuple[datetime, asyncio.Future[Telemetry]]]] = {}
        self._updates: Hub[FleetUpdate] = Hub()
        self._telemetry: Hub[FleetUpdate] = Hub()
        self._pending: dict[str, tuple[str, asyncio.Future[Ack]]] = {}
        self._seen_events: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._client: aiomqtt.Client | None = None
        self._connection: aiomqtt.Client | None = None  # from before it connects (acks need it)
        self._acks = JournalAcks(event_journal) if event_journal is not None else None
        self._acks_task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()  # set when the current connection drops
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connect/receive loop (returns at once; see :meth:`wait_connected`)."""
        if self._task is None:
            if self.fleet_secret is None and not self.telemetry_only:
                log.warning(
                    "fleet link %s: NO FLEET SECRET: drone states, acks and events are not verified;"
                    " any client on the broker can forge deliveries, faults and acks",
                    self.client_id,
                )
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"fleet-link-{self.client_id}")
            if self._acks is not None:
                self._acks_task = asyncio.create_task(
                    self._acks.run(lambda: self._connection), name=f"fleet-journal-{self.client_id}"
                )

    async def stop(self) -> None:
        """Disconnect and stop the loop; pending ``send`` calls fail with :class:`CommandTimeout`."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            # A disconnect waits for the broker to close the socket; never let that hang a stop.
            done, _ = await asyncio.wait({self._task}, timeout=5.0)
            if not done:
                log.warning("fleet link %s: receive loop did not stop within 5 s", self.client_id)
            self._task = None
        if self._acks_task is not None:
            self._acks_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acks_task
            self._acks_task = None
        self._connected.clear()

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Wait until the link is connected and subscribed (TimeoutError after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    @property
    def connected(self) -> bool:
        """Whether the link is connected and subscribed right now."""
        return self._connected.is_set()

    async def __aenter__(self) -> FleetLink:
        await self.start()
        try:
            await self.wait_connected()
        except BaseException:
            await self.stop()  # no reconnect loop may outlive a failed enter
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def expect_drones(self, drone_ids: Iterable[str]) -> None:
        """Accept messages from these drones only; any other id is dropped as ``unknown_drone``
        (so a flood of invented ids cannot grow the registry)."""
        self.known_drones = frozenset(drone_ids)

    # --- subscribers -------------------------------------------------------------------------

    def subscribe(self, maxsize: int = 1000, *, telemetry: bool = False) -> Subscription[FleetUpdate]:
        """A bounded stream of events, acks, state changes and link status (and every telemetry
        sample if ``telemetry``). A consumer that falls behind loses its oldest updates, counted
        in ``Subscription.overflow``; it never slows the link."""
        return (self._telemetry if telemetry else self._updates).subscribe(maxsize)

    def add_telemetry_listener(self, listener: TelemetryListener) -> None:
        """Call ``listener`` synchronously with every telemetry sample the link takes (received,
        or accepted from another process); it must be quick and must not raise."""
        self._listeners.append(listener)

    def remove_telemetry_listener(self, listener: TelemetryListener) -> None:
        """Stop calling ``listener``."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def telemetry_after(self, drone_id: str, after: datetime, timeout_s: float = 10.0) -> Telemetry:
        """The first telemetry sample of ``drone_id`` stamped at or after ``after``: the one held if
        it is, else the next one taken (TimeoutError after ``timeout_s`` real seconds).

        Waiters are kept per drone, so a thousand waiting callers cost nothing per sample of
        other drones (a subscription each would see every sample of the fleet).
        """
        status = self.registry.get(drone_id)
        if status is not None and status.telemetry is not None and status.telemetry.ts >= after:
            return status.telemetry
        future: asyncio.Future[Telemetry] = asyncio.get_running_loop().create_future()
        entry = (after, future)
        self._waiters.setdefault(drone_id, []).append(entry)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            waiting = self._waiters.get(drone_id)
            if waiting is not None:
                with contextlib.suppress(ValueError):
                    waiting.remove(entry)
                if not waiting:
                    del self._waiters[drone_id]

    def accept_shared(self, samples: Iterable[tuple[Telemetry, datetime]]) -> int:
        """Take telemetry another process heard (sample, when it heard it on its clock) as if this
        link had received it: the registry, telemetry subscribers, waiters and listeners see it.

        Only samples newer than the one held for their drone are taken (the others are counted in
        ``stats.shared_stale``), and only from drones of the fleet. ``received_at`` is kept as
        given (never later than now), so a drone nobody hears still goes quiet. Returns how many
        were taken.
        """
        now = self.clock.now()
        taken = 0
        for msg, heard_at in samples:
            if self.known_drones is not None and msg.drone_id not in self.known_drones:
                continue
            status = self.registry.get(msg.drone_id)
            if status is not None and status.telemetry is not None and status.telemetry.ts >= msg.ts:
                self.stats.shared_stale += 1
                continue
            self.stats.shared += 1
            self._take_telemetry(msg, min(heard_at, now), shared=True)
            taken += 1
        return taken

    def _take_telemetry(self, msg: Telemetry, received_at: datetime, *, shared: bool) -> None:
        self.registry.on_telemetry(msg, received_at)
        if self._telemetry.subscribers:
            self._telemetry.publish(msg)
        waiting = self._waiters.get(msg.drone_id)
        if waiting:
            for after, future in waiting:
                if not future.done() and msg.ts >= after:
                    future.set_result(msg)
        for listener in self._listeners:
            listener(msg, received_at, shared)

    def _emit(self, update: FleetUpdate) -> None:
        self._updates.publish(update)
        self._telemetry.publish(update)

    # --- commands ----------------------------------------------------------------------------

    async def send(
        self, command: AnyCommand, *, ack_timeout_s: float | None = None, attempts: int | None = None
    ) -> Ack:
        """Publish ``command`` (QoS 1) and return the drone's ack (accepted or rejected).

        Waits ``ack_timeout_s`` (real seconds) per attempt and re-publishes the same ``cmd_id``
        up to ``attempts`` times in all, waiting for the connection when the link is down.
        Raises :class:`CommandTimeout` if no ack came.
        """
        if self.telemetry_only:
            raise RuntimeError("a telemetry-only link hears no acks and sends no commands")
        timeout = self.ack_timeout_s if ack_timeout_s is None else ack_timeout_s
        tries = self.attempts if attempts is None else attempts
        if command.cmd_id in self._pending:
            raise ValueError(f"command {command.cmd_id!r} is already being sent")
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[command.cmd_id] = (command.drone_id, future)
        topic = self.topics.topic(command.drone_id, "cmd")
        body = encode(command)
        try:
            for attempt in range(tries):
                if attempt:
                    self.stats.retries += 1
                    log.info("retrying %s to %s (attempt %d)", command.cmd_id, command.drone_id, attempt + 1)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
                    await self._publish(topic, body, qos=1, timeout_s=timeout)
                    self.stats.sent += 1
                remaining = max(0.0, deadline - loop.time())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):  # wait_for can swallow a cancel (3.11)
                        return await asyncio.shield(future)
            self.stats.timeouts += 1
            raise CommandTimeout(command.cmd_id, command.drone_id, tries)
        finally:
            self._pending.pop(command.cmd_id, None)

    async def _publish(self, topic: str, body: bytes, *, qos: int, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("not connected")
        await unless_lost(client.publish(topic, body, qos=qos, timeout=timeout_s), self._lost)

    # --- receive loop ------------------------------------------------------------------------

    def _telemetry_filter(self) -> str:
        every = self.topics.all_of("telemetry")
        return every if self.telemetry_group is None else f"$share/{self.telemetry_group}/{every}"

    async def _run(self) -> None:
        backoff = self.backoff_min_s
        while not self._stopping:
            holder: list[aiomqtt.Client] = []
            client = persistent_client(
                self.address,
                self.client_id,
                protocol=self.protocol,
                session_expiry_s=self.session_expiry_s,
                queue_type=self._inline_queue(holder),
            )
            holder.append(client)
            if self._acks is not None:
                manual_acks(client)
            self._connection = client
            try:
                async with client:
                    filters = [(self._telemetry_filter(), 0)]
                    if not self.telemetry_only:
                        filters += [(self.topics.all_of(k), 1) for k in ("state", "ack", "event")]
                    await client.subscribe(filters)
                    if self.forget_filters:
                        await client.unsubscribe(self.forget_filters)
                    self._lost = asyncio.Event()
                    self._client = client
                    self.stats.connects += 1
                    self._connected.set()
                    backoff = self.backoff_min_s
                    log.info("fleet link %s connected to %s", self.client_id, self.address.url)
                    self._emit(LinkStatus("up"))
                    # Messages are handled as they arrive (see _inline_queue); the iterator only
                    # returns when the connection drops (as an MqttError).
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                log.warning("fleet link %s: %s; reconnecting", self.client_id, exc)
                detail = str(exc)
            else:
                detail = "closed"
            finally:
                was_up = self._connected.is_set()
                self._connected.clear()
                self._client = None
                self._lost.set()
            if was_up:
                self._emit(LinkStatus("down", detail))
            delay = backoff * random.uniform(0.5, 1.5)
            backoff = min(backoff * 2, self.backoff_max_s)
            await asyncio.sleep(delay)

    def _inline_queue(self, holder: list[aiomqtt.Client]) -> type[asyncio.Queue[aiomqtt.Message]]:
        """A queue class for aiomqtt that hands every message to the link the moment paho
        decodes it, instead of queueing it for an iterator.

        aiomqtt's message iterator creates a task and an ``asyncio.wait`` per message, which
        capped ingest far below what paho decodes; handling inline also means no unbounded
        backlog can build up in the client. ``_handle`` never raises. ``holder``: the client the
        queue is for (set once it is made), whose connection an acknowledgement goes out on.
        """
        handle = self._handle_safely

        class InlineQueue(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                handle(item.topic.value, item.payload, item, holder[0])

        return InlineQueue

    def _handle_safely(
        self,
        topic: str,
        payload: object,
        message: aiomqtt.Message | None = None,
        client: aiomqtt.Client | None = None,
    ) -> None:
        outcome: ReceivedEvent | bool | None = None
        try:
            outcome = self._handle(topic, payload)
        except Exception:  # a bug here must never break the connection (we run inside paho)
            self.stats.dropped["internal_error"] += 1
            log.exception("fleet link: error handling a message on %s", topic)
        if self._acks is None or message is None or client is None or message.qos == 0:
            return
        # Every QoS 1 message's acknowledgement goes through the journal's queue, new events and
        # all: MQTT wants them in the order the messages came (rumqttd drops a client that
        # acknowledges out of order), and a new event's waits for its write.
        self._acks.defer(client, message.mid, outcome if isinstance(outcome, ReceivedEvent) else None)

    def settle(self, event: Event) -> None:
        """The consumer has handled ``event``: its journal entry may go (no-op without a journal)."""
        if self._acks is not None:
            self._acks.settle(event_key(event))

    @property
    def journaling(self) -> bool:
        """Whether events are written to an event journal before they are acknowledged."""
        return self._acks is not None

    async def journal_idle(self) -> None:
        """Wait until every event received so far is written to the journal (at once without one)."""
        if self._acks is not None:
            await self._acks.idle()

    def _drop(self, reason: str, topic: str, detail: str) -> None:
        count = self.stats.dropped[reason] + 1
        self.stats.dropped[reason] = count
        # Log the 1st, 2nd, 4th, 8th... drop per reason: visible, but a flood cannot flood the log.
        if count & (count - 1) == 0:
            log.warning("dropped message on %s (%s, %d so far): %s", topic, reason, count, detail[:200])

    def _refuse(self, msg: State | Ack | Event, topic: str, problem: str) -> None:
        self._drop("bad_signature", topic, f"{problem} ({type(msg).__name__} of {msg.drone_id})")
        if not isinstance(msg, Event):
            return
        if msg.drone_id not in self._refused_by_drone and len(self._refused_by_drone) >= _REMEMBERED_EVENTS:
            return  # invented drone ids by the thousand: counted in stats.dropped only
        count = self._refused_by_drone[msg.drone_id] + 1
        self._refused_by_drone[msg.drone_id] = count
        if count & (count - 1) == 0:
            tag = type(msg).__struct_config__.tag
            request_id: str | None = getattr(msg, "request_id", None)
            self._emit(RefusedEvent(msg.drone_id, str(tag), msg.mission_id, request_id, problem, count))

    def _time_problem(self, msg: Message) -> str | None:
        """Why a body's ``ts`` cannot be right, judged on the link's clock (None if plausible).

        A retained ``state`` may be as old as the drone's last connect, so only its future is bounded.
        """
        ts: datetime | None = getattr(msg, "ts", None)
        if ts is None:
            return None
        now = self.clock.now()
        if ts - now > self.max_clock_ahead:
            return f"ts {ts.isoformat()} is more than {self.max_clock_ahead} ahead of {now.isoformat()}"
        if not isinstance(msg, State) and now - ts > self.max_message_age:
            return f"ts {ts.isoformat()} is more than {self.max_message_age} before {now.isoformat()}"
        return None

    def _handle(self, topic: str, payload: object) -> ReceivedEvent | bool | None:
        """Take one message in. Returns what its acknowledgement waits for: a new event (its
        journal write), True for a repeated event (the writes queued before it), else nothing."""
        self.stats.received += 1
        parsed = self.topics.parse(topic)
        if parsed is None:
            self._drop("bad_topic", topic, "not a fleet topic")
            return None
        drone_id, kind = parsed
        if self.known_drones is not None and drone_id not in self.known_drones:
            self._drop("unknown_drone", topic, f"drone {drone_id!r} is not in the fleet")
            return None
        if not isinstance(payload, bytes | bytearray):
            self._drop("malformed", topic, "payload is not bytes")
            return None
        if kind == "state" and not payload:
            # A retained state deleted (a zero-length retained publish): the drone no longer says
            # anything about itself, so its liveness is judged on telemetry alone. Forging this
            # needs no key but proves nothing: a drone without fresh telemetry stays offline.
            self.stats.cleared_states += 1
            self.registry.clear_state(drone_id)
            return None
        try:
            msg: Message = decode(kind, bytes(payload), drone_id)
        except ProtocolError as exc:
            self._drop(exc.reason, topic, exc.detail)
            return None
        problem = self._time_problem(msg)
        if problem is not None:
            self._drop("bad_time", topic, problem)
            return None
        if self.fleet_secret is not None and isinstance(msg, State | Ack | Event):
            # Before anything (the registry, a waiting send, the event de-duplication) sees it.
            problem = signature_problem(msg, self.fleet_secret)
            if problem is not None:
                self._refuse(msg, topic, problem)
                return None
        if isinstance(msg, Telemetry):
            self.stats.telemetry += 1
            self._take_telemetry(msg, self.clock.now(), shared=False)
        elif isinstance(msg, Ack):
            pending = self._pending.get(msg.cmd_id)
            if pending is not None and pending[0] == msg.drone_id and not pending[1].done():
                pending[1].set_result(msg)
            else:
                self.stats.unmatched_acks += 1
            self._emit(msg)
        elif isinstance(msg, State):
            self.registry.on_state(msg)
            self._emit(msg)
        elif kind == "event":
            key = (msg.drone_id, msg.msg_id)
            if key in self._seen_events:
                self.stats.duplicate_events += 1
                return True
            self._seen_events[key] = None
            if len(self._seen_events) > _REMEMBERED_EVENTS:
                self._seen_events.popitem(last=False)
            # The topic kind "event" decodes to an event type only; the union is not narrowed by it.
            self.registry.on_event(msg)  # type: ignore[arg-type]  # see above
            self._emit(msg)  # type: ignore[arg-type]  # see above
            return ReceivedEvent(msg, bytes(payload), self.clock.now())  # type: ignore[arg-type]  # see above
        else:
            # A command on a drone's cmd topic is not for us; our subscriptions never match it.
            self._drop("unexpected_kind", topic, kind)
        return None
