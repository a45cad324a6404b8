"""One simulated drone on the network: its own MQTT connection, command handling and telemetry.

Each :class:`DroneAgent` is an independent MQTT 5 client, as a real drone is: stable client id,
persistent session for its ``cmd`` topic (commands sent while it is offline wait in the broker),
``state`` retained with a last will that says ``online: false``. Commands are validated like
every incoming message (a malformed or spoofed one is dropped, counted and logged) and applied
once per ``cmd_id``; every command gets an ack, a repeated one the same ack again.
Acks and events are QoS 1 and wait in a bounded local outbox while the link is down; telemetry is
QoS 0 and simply not sent then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta

import aiomqtt
import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from fleet.clock import Clock
from fleet.connection import (
    DEFAULT_SESSION_EXPIRY_S,
    BrokerAddress,
    client_id_from,
    persistent_client,
    unless_lost,
)
from fleet.messages import (
    Ack,
    AnyEvent,
    GeofenceBreach,
    Message,
    ProtocolError,
    Start,
    State,
    TerrainViolation,
    decode,
    encode,
)
from fleet.signing import sign
from fleet.topics import Topics
from simulator.drone import FLYING, XYZ, SimDrone
from simulator.monitor import AirspaceMonitor
from simulator.rain import RainMonitor
from simulator.separation import SeparationMonitor
from simulator.terrain_monitor import BandViolation, TerrainMonitor

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000
_PUBLISH_TIMEOUT_S = 5.0
# Real seconds. A drone back within seconds of its broker matters more than sparing the broker: the
# dispatcher writes a drone off after its silence timeout (jitter spreads a fleet's reconnects).
_RECONNECT_MAX_S = 2.0


class DroneAgent:
    """Runs one :class:`SimDrone` against a broker until cancelled (see :meth:`run`)."""

    def __init__(
        self,
        sim: SimDrone,
        address: BrokerAddress,
        topics: Topics,
        clock: Clock,
        *,
        monitor: AirspaceMonitor | None = None,
        separation: SeparationMonitor | None = None,
        terrain_monitor: TerrainMonitor | None = None,
        telemetry_period_s: float = 1.0,
        lost_link_after_s: float = 30.0,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        on_event: Callable[[AnyEvent], None] | None = None,
        key: bytes | None = None,
        wind: Callable[[str, float, float, float, datetime], tuple[float, float]] | None = None,
        rain: RainMonitor | None = None,
    ) -> None:
        """``key``: the drone's own signing key (see :mod:`fleet.signing`); None sends unsigned.
        ``wind``: the wind at (drone id, lon, lat, height above the ground, time), set before every
        step (None: the drone's own constant wind). ``terrain_monitor``: checks the cruising pieces
        of the drone's path against the ground (with a terrain model; None without). ``rain``: the
        monitor of flights in precipitation beyond the model's rating (None: not watched)."""
        self.sim = sim
        self.key = key
        self.address = address
        self.topics = topics
        self.clock = clock
        self.monitor = monitor
        self.separation = separation
        self.terrain_monitor = terrain_monitor
        self.telemetry_period_s = telemetry_period_s
        self.lost_link_after_s = lost_link_after_s
        self.session_expiry_s = session_expiry_s
        self.on_event = on_event
        self.wind = wind
        self.rain = rain
        self.client_id = client_id_from("sim", topics.prefix, sim.id)
        self.connected = asyncio.Event()
        self.dropped: Counter[str] = Counter()
        self.commands = 0
        self.telemetry_sent = 0
        self.ticks_skipped = 0  # telemetry ticks skipped because the loop fell behind
        self.errors = 0  # simulation steps that raised (a bug; logged with its traceback)
        self.outbox_overflow = 0
        self.clock_skew = timedelta(0)  # fault: the drone's clock is off; only its timestamps show it
        self.start_delay_s = 0.0  # fault: the next start reaches the drone this late (clock seconds)
        self._delayed_starts: set[str] = set()  # cmd_ids of starts held back by that fault
        self._client: aiomqtt.Client | None = None
        self._lost = asyncio.Event()  # set when the current connection drops
        self._outbox: deque[tuple[str, bytes, bool]] = deque()
        self._outbox_ready = asyncio.Event()
        self._link_down_until: datetime | None = None
        self._down_since: datetime | None = None
        self._lost_link_applied = False
        self._published_state: tuple[bool, str, str | None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the connection, sender and simulation tasks."""
        name = self.sim.id
        self._stopping = False
        self._down_since = self.clock.now()
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name=f"sim-{name}-link"),
            asyncio.create_task(self._sender_loop(), name=f"sim-{name}-send"),
            asyncio.create_task(self._tick_loop(), name=f"sim-{name}-tick"),
        ]

    async def stop(self) -> None:
        """Say ``online: false`` (retained), disconnect cleanly and stop every task."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(
                    self.topics.topic(self.sim.id, "state"),
                    self._encode(self._state_message(online=False)),
                    qos=1,
                    retain=True,
                    timeout=2.0,
                )
        # Python 3.11's asyncio.wait_for (inside aiomqtt's publish) can swallow a cancellation;
        # the loops also check this flag so that they end anyway.
        self._stopping = True
        self._outbox_ready.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A disconnect waits for the broker to close the socket; never let that hang a stop.
            _, pending = await asyncio.wait(self._tasks, timeout=5.0)
            if pending:
                log.warning("drone %s: %d task(s) did not stop within 5 s", self.sim.id, len(pending))
        self._tasks = []

    # --- faults --------------------------------------------------------------------------------

    def delay_next_start(self, seconds: float) -> None:
        """The next start command reaches the drone ``seconds`` of simulated time late (a congested
        uplink); copies of it re-sent meanwhile are lost with it."""
        self.start_delay_s = seconds

    def lose_link(self, seconds: float) -> None:
        """Drop the connection now, as a radio loss would (the broker publishes the last will),
        and stay away for ``seconds`` of simulated time."""
        self._link_down_until = self.clock.now() + timedelta(seconds=seconds)
        client = self._client
        if client is not None:
            # MQTT 5 reason 0x04 "disconnect with will message": the broker treats it as a loss.
            # aiomqtt has no public call for it, so ask its paho client directly.
            paho = client._client
            paho.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))

    # --- MQTT ----------------------------------------------------------------------------------

    def _state_message(self, online: bool) -> State:
        m = self.sim.mission
        return State(
            drone_id=self.sim.id,
            ts=self.clock.now(),
            online=online,
            state=self.sim.state if online else None,
            mission_id=m.mission_id if m else None,
        )

    async def _connection_loop(self) -> None:
        backoff = 0.1
        state_topic = self.topics.topic(self.sim.id, "state")
        while not self._stopping:
            if self._link_down_until is not None:
                wait = (self._link_down_until - self.clock.now()).total_seconds()
                if wait > 0:
                    await self.clock.sleep(wait)
                self._link_down_until = None
            will = aiomqtt.Will(
                state_topic, self._encode(self._state_message(online=False)), qos=1, retain=True
            )
            client = persistent_client(
                self.address, self.client_id, session_expiry_s=self.session_expiry_s, will=will
            )
            try:
                async with client:
                    await client.subscribe(self.topics.topic(self.sim.id, "cmd"), qos=1)
                    self._lost = asyncio.Event()
                    self._client = client
                    self._published_state = None
                    self._publish_state_if_changed()
                    self.connected.set()
                    self._down_since = None
                    self._lost_link_applied = False
                    self._outbox_ready.set()
                    backoff = 0.1
                    async for message in client.messages:
                        self._on_command_safely(message.topic.value, message.payload)
            except aiomqtt.MqttError as exc:
                if self._link_down_until is None:
                    log.info("drone %s: link lost (%s); reconnecting", self.sim.id, exc)
            finally:
                self._client = None
                self._lost.set()
                self.connected.clear()
                if self._down_since is None:
                    self._down_since = self.clock.now()
            if self._link_down_until is None:
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, _RECONNECT_MAX_S)

    def _on_command_safely(self, topic: str, payload: object) -> None:
        try:
            self._on_command(topic, payload)
        except Exception:  # a simulator bug must not take the drone's link down
            self.dropped["internal_error"] += 1
            log.exception("drone %s: error handling a command on %s", self.sim.id, topic)

    def _on_command(self, topic: str, payload: object) -> None:
        parsed = self.topics.parse(topic)
        if parsed is None or parsed != (self.sim.id, "cmd") or not isinstance(payload, bytes | bytearray):
            self._drop("bad_topic", topic, "not this drone's command topic")
            return
        try:
            cmd = decode("cmd", bytes(payload), self.sim.id)
        except ProtocolError as exc:
            self._drop(exc.reason, topic, exc.detail)
            return
        self.commands += 1
        if isinstance(cmd, Start) and (self.start_delay_s > 0 or cmd.cmd_id in self._delayed_starts):
            if cmd.cmd_id not in self._delayed_starts:
                self._delayed_starts.add(cmd.cmd_id)
                delay, self.start_delay_s = self.start_delay_s, 0.0
                self._tasks.append(asyncio.create_task(self._apply_later(cmd, delay)))
            return
        self._apply(cmd)

    async def _apply_later(self, cmd: Start, delay_s: float) -> None:
        await self.clock.sleep(delay_s)
        self._delayed_starts.discard(cmd.cmd_id)
        try:
            self._apply(cmd)
        except Exception:  # as for a command on time: loud, and the drone flies on
            self.dropped["internal_error"] += 1
            log.exception("drone %s: error applying the delayed %s", self.sim.id, cmd.cmd_id)

    def _apply(self, cmd: object) -> None:
        now = self.clock.now()
        self.sim.advance_to(now)  # the command takes effect now, not at the last tick
        # What happened before the command goes out before its ack: the dispatcher applies an
        # acknowledged abort_mission in the order it hears things, after a pickup made just before.
        self._flush_events()
        accepted, reason = self.sim.apply(cmd, now)  # type: ignore[arg-type]
        cmd_id: str = cmd.cmd_id  # type: ignore[attr-defined]
        ack = Ack(drone_id=self.sim.id, cmd_id=cmd_id, ts=now, accepted=accepted, reason=reason)
        self._queue(self.topics.topic(self.sim.id, "ack"), ack)
        self._flush_events()
        self._publish_state_if_changed()

    def _drop(self, reason: str, topic: str, detail: str) -> None:
        count = self.dropped[reason] + 1
        self.dropped[reason] = count
        if count & (count - 1) == 0:  # 1st, 2nd, 4th... per reason: visible without flooding
            log.warning("%s dropped %s (%s, %d so far): %s", self.sim.id, topic, reason, count, detail[:200])

    def _encode(self, message: Message) -> bytes:
        """The body as this drone sends it: every timestamp read off its (possibly skewed) clock,
        signed with its key."""
        if self.clock_skew and isinstance(getattr(message, "ts", None), datetime):
            message = msgspec.structs.replace(message, ts=message.ts + self.clock_skew)  # type: ignore[attr-defined]
        return encode(message if self.key is None else sign(message, self.key))

    def _queue(self, topic: str, message: Message, retain: bool = False) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            self.outbox_overflow += 1
        self._outbox.append((topic, self._encode(message), retain))
        self._outbox_ready.set()

    async def _sender_loop(self) -> None:
        while not self._stopping:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox and not self._stopping:
                client = self._client
                if client is None:
                    break
                topic, body, retain = self._outbox[0]
                publish = client.publish(topic, body, qos=1, retain=retain, timeout=_PUBLISH_TIMEOUT_S)
                try:
                    await unless_lost(publish, self._lost)
                except (aiomqtt.MqttError, TimeoutError):
                    break  # retried after the next connect
                if self._outbox and self._outbox[0][1] is body:
                    self._outbox.popleft()

    def _publish_state_if_changed(self) -> None:
        if self._client is None:
            return
        m = self.sim.mission
        key = (True, self.sim.state, m.mission_id if m else None)
        if key != self._published_state:
            self._published_state = key
            topic = self.topics.topic(self.sim.id, "state")
            self._queue(topic, self._state_message(online=True), retain=True)

    def _flush_events(self) -> None:
        topic = self.topics.topic(self.sim.id, "event")
        for event in self.sim.drain_events():
            self._queue(topic, event)
            if self.on_event is not None:
                self.on_event(event)

    # --- simulation ----------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        self.sim.advance_to(self.clock.now())
        previous = self.sim.position
        telemetry_topic = self.topics.topic(self.sim.id, "telemetry")
        period = timedelta(seconds=self.telemetry_period_s)
        due = self.clock.now()
        while not self._stopping:
            # Ticks are due on a fixed grid, so processing time does not stretch the period;
            # a drone more than a period behind skips the missed ticks (and counts them).
            due += period
            delay = (due - self.clock.now()).total_seconds()
            if delay > 0:
                await self.clock.sleep(delay)
            elif -delay > self.telemetry_period_s:
                self.ticks_skipped += int(-delay / self.telemetry_period_s)
                due = self.clock.now()
            now = self.clock.now()
            try:
                if self.wind is not None:
                    height = self.sim.alt - self.sim.ground_at(self.sim.x, self.sim.y)  # true height
                    self.sim.wind_xy = self.wind(self.sim.id, *self.sim.lonlat(), height, now)
                previous = self._simulate(now, previous)
            except Exception:  # a simulator bug must be loud, but must not silence the drone
                self.errors += 1
                log.exception("drone %s: simulation step failed", self.sim.id)
            self._flush_events()
            self._publish_state_if_changed()
            client, lost = self._client, self._lost
            if client is not None:
                # A publish on a connection that just died would wait out its whole timeout, and
                # this loop is what flies the drone: give up the moment that connection is lost.
                body = self._encode(self.sim.telemetry(now))
                publish = client.publish(telemetry_topic, body, qos=0, timeout=2.0)
                with contextlib.suppress(aiomqtt.MqttError):
                    await unless_lost(publish, lost)
                    self.telemetry_sent += 1

    def _advance_observed(self, now: datetime) -> None:
        """Advance the drone to ``now``, giving the separation monitor its true position at least
        once per telemetry period even over skipped ticks: between two samples the monitor takes
        the drone to fly straight, which would cut the corners of a long late step."""
        monitor = self.separation
        if monitor is None:
            self.sim.advance_to(now)
            return
        period = timedelta(seconds=self.telemetry_period_s)
        t = self.sim.sim_time
        while t is not None and now - t > period:
            t += period
            self.sim.advance_to(t)
            monitor.observe(self.sim.id, t, self.sim.position, self.sim.state in FLYING)
        self.sim.advance_to(now)
        monitor.observe(self.sim.id, now, self.sim.position, self.sim.state in FLYING)

    def _simulate(self, now: datetime, previous: XYZ) -> XYZ:
        """Advance the drone to ``now``, run the airspace, separation and terrain monitors over the
        path flown and the lost-link policy; return the current position."""
        self._advance_observed(now)
        points, cruising = self.sim.drain_trace()
        path = [previous, *points]
        previous = path[-1]
        if self.terrain_monitor is not None:
            for v in self._terrain_check(path, cruising):
                self.sim.outbox.append(
                    TerrainViolation(
                        drone_id=self.sim.id,
                        ts=now,
                        lon=v.lon,
                        lat=v.lat,
                        alt_m=round(v.alt_m, 2),
                        mission_id=m.mission_id if (m := self.sim.mission) else None,
                        altitude_frame=self.sim.altitude_frame,
                        kind=v.kind,  # type: ignore[arg-type]
                        true_height_m=round(v.true_height_m, 2),
                        limit_m=v.limit_m,
                    )
                )
                log.error(
                    "drone %s out of the terrain band (%s): true height %.1f m, limit %.1f m, at %s",
                    self.sim.id,
                    v.kind,
                    v.true_height_m,
                    v.limit_m,
                    now.isoformat(),
                )
        if self.monitor is not None:
            for zone_id in self.monitor.check_path(self.sim.id, path, now):
                lon, lat = self.sim.lonlat()
                m = self.sim.mission
                self.sim.outbox.append(
                    GeofenceBreach(
                        drone_id=self.sim.id,
                        ts=now,
                        lon=lon,
                        lat=lat,
                        alt_m=round(self.sim.alt, 2),
                        mission_id=m.mission_id if m else None,
                        altitude_frame=self.sim.altitude_frame,
                        zone_id=zone_id,
                    )
                )
                log.error("drone %s breached zone %s at %s", self.sim.id, zone_id, now.isoformat())
        if self.rain is not None:
            m = self.sim.mission
            self.rain.check(
                self.sim.id,
                *self.sim.lonlat(),
                self.sim.alt,
                now,
                flying=self.sim.state in FLYING,
                limit_mm_h=self.sim.model.weather.max_precip_mm_h,
                mission_id=m.mission_id if m else None,
            )
        m = self.sim.mission
        after = self.lost_link_after_s
        if m is not None and m.lost_link_after_s is not None:
            after = m.lost_link_after_s  # the mission's own timeout wins over the drone's default
        if (
            self._down_since is not None
            and not self._lost_link_applied
            and (now - self._down_since).total_seconds() >= after
        ):
            # Not applied while servicing a pad: tried again on every tick until it is.
            self._lost_link_applied = self.sim.link_lost(now)
        return previous

    def _terrain_check(self, path: list[XYZ], cruising: list[bool]) -> list[BandViolation]:
        """Run the terrain monitor over the cruising runs of ``path`` (``cruising[i]``: the piece
        ending at ``path[i + 1]``); a take-off, landing or pad stop between them ends an excursion."""
        monitor = self.terrain_monitor
        assert monitor is not None
        found: list[BandViolation] = []
        run = [path[0]]
        for point, flag in zip(path[1:], cruising, strict=True):
            if flag:
                run.append(point)
                continue
            if len(run) > 1:
                found += monitor.check_path(self.sim.id, run)
            monitor.check_path(self.sim.id, [run[-1], point], cruising=False)
            run = [point]
        if len(run) > 1:
            found += monitor.check_path(self.sim.id, run)
        return found
