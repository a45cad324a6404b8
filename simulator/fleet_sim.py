"""The simulator's library API: run a whole simulated fleet in-process, inject faults, read results.

::

    sim = SimulatedFleet(load_fleet("fleet.json"), "mqtt://127.0.0.1:1883",
                         clock=ScaledClock(300), zones=load_zones("zones.geojson"))
    async with sim:                        # every drone connected
        sim.inject_link_loss("D01", 60)    # faults: see the inject_* methods
        event = await sim.wait_for(lambda e: isinstance(e, Delivered), timeout_s=10)
    assert not sim.breaches                # the airspace monitor's verdict
    assert not sim.separation_losses       # the separation monitor's verdict
    assert not sim.terrain_violations      # the terrain monitor's (with terrain=AreaTerrain(...))

Every drone is its own MQTT client (its own connection); they share one asyncio loop.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Literal, TypeVar

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, Terrain
from airspace.weather import Forecast
from airspace.zones import Zone
from fleet.clock import Clock, RealClock
from fleet.connection import DEFAULT_SESSION_EXPIRY_S, BrokerAddress
from fleet.description import Fleet
from fleet.hub import Hub, Subscription
from fleet.messages import AnyEvent, GeofenceBreach, LossOfSeparation, TerrainViolation
from fleet.signing import FleetSecret
from fleet.topics import DEFAULT_PREFIX, Topics
from routing.intents import SeparationMinima
from simulator.agent import DroneAgent
from simulator.drone import SimDrone
from simulator.monitor import AirspaceMonitor
from simulator.rain import RainExposure, RainMonitor
from simulator.separation import SeparationLoss, SeparationMonitor
from simulator.terrain_monitor import TerrainMonitor
from simulator.wind import WindField, wind_vector

E = TypeVar("E", bound=AnyEvent)


def fleet_frame(fleet: Fleet, zones: Iterable[Zone] = ()) -> LocalFrame:
    """The local metric frame of a fleet's area: centred on its ports and zones."""
    points = [(p.lon, p.lat) for p in fleet.ports]
    for z in zones:
        minx, miny, maxx, maxy = z.shape.bounds
        points += [(minx, miny), (maxx, maxy)]
    return LocalFrame.for_points(points)


class SimulatedFleet:
    """Every drone of a fleet description, each its own MQTT client, on one clock."""

    def __init__(
        self,
        fleet: Fleet,
        broker: str | BrokerAddress,
        *,
        clock: Clock | None = None,
        prefix: str = DEFAULT_PREFIX,
        zones: list[Zone] | None = None,
        frame: LocalFrame | None = None,
        drone_ids: Iterable[str] | None = None,
        wind_mps: float = 0.0,
        wind_from_deg: float = 0.0,
        weather: Forecast | None = None,
        telemetry_period_s: float = 1.0,
        lost_link_after_s: float = 30.0,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        seed: int = 0,
        passwords: Mapping[str, str] | None = None,
        fleet_secret: FleetSecret | None = None,
        separation: SeparationMinima | None = None,
        terrain: AreaTerrain | None = None,
    ) -> None:
        """``passwords`` (drone id -> password): each drone logs in as itself (user name = its id),
        as with the broker ACL of ``dronedispatch mqtt acl``; otherwise all use ``broker``'s login.
        ``fleet_secret``: each drone signs its states, acks and events with its own key derived
        from it (:mod:`fleet.signing`); None: they go unsigned. ``separation``: the minima of the
        separation monitor (default 50 m horizontally, 15 m vertically). ``weather``: the drones fly
        in this forecast's wind (where it gives one; else the constant ``wind_mps`` from
        ``wind_from_deg``), and its precipitation is watched (:attr:`rain_exposures`).
        ``terrain``: the area's terrain model with its band of true heights; the drones then stand
        on its ground and fly altitudes above mean sea level, the airspace monitor compares zones
        with their true heights and the terrain monitor checks their cruising against the band
        (None: flat ground at altitude 0, as without terrain)."""
        self.fleet = fleet
        self.address = broker if isinstance(broker, BrokerAddress) else BrokerAddress.parse(broker)
        self.clock: Clock = clock or RealClock()
        self.topics = Topics(prefix)
        self.zones = list(zones or [])
        self.frame = frame or fleet_frame(fleet, self.zones)
        self.terrain = terrain
        self.monitor = AirspaceMonitor(self.zones, self.frame, self._ground) if self.zones else None
        self.terrain_monitor = TerrainMonitor(terrain, self.frame) if terrain is not None else None
        self.separation = SeparationMonitor(separation, on_loss=self._report_loss)
        self.events: list[AnyEvent] = []
        self._hub: Hub[AnyEvent] = Hub()
        wanted = set(drone_ids) if drone_ids is not None else None
        known = {d.id for d in fleet.drones}
        if wanted is not None and not wanted <= known:
            raise ValueError(f"unknown drone id(s): {sorted(wanted - known)}")
        if passwords is not None:
            missing = sorted(
                d.id for d in fleet.drones if d.id not in passwords and (wanted is None or d.id in wanted)
            )
            if missing:
                raise ValueError(f"no password for drone(s) {missing}")
        wind = wind_vector(wind_mps, wind_from_deg)
        self.wind = WindField(constant=wind, forecast=weather)
        self.rain = RainMonitor(weather) if weather is not None else None
        self.agents: dict[str, DroneAgent] = {}
        for i, drone in enumerate(fleet.drones):
            if wanted is not None and drone.id not in wanted:
                continue
            sim = SimDrone.at_home(
                drone,
                fleet.model_of(drone),
                fleet.port(drone.port),
                self.frame,
                ports=fleet.ports,
                wind_xy=wind,
                rng=random.Random(seed * 100_003 + i),
                terrain=terrain,
            )
            self.agents[drone.id] = DroneAgent(
                sim,
                replace(self.address, username=drone.id, password=passwords[drone.id])
                if passwords is not None
                else self.address,
                self.topics,
                self.clock,
                monitor=self.monitor,
                separation=self.separation,
                terrain_monitor=self.terrain_monitor,
                telemetry_period_s=telemetry_period_s,
                lost_link_after_s=lost_link_after_s,
                session_expiry_s=session_expiry_s,
                on_event=self._record,
                wind=self.wind.at,
                rain=self.rain,
                key=fleet_secret.drone_key(drone.id) if fleet_secret is not None else None,
            )

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, timeout_s: float = 30.0) -> None:
        """Start every drone and wait until all are connected (TimeoutError otherwise)."""
        for agent in self.agents.values():
            agent.start()
        try:
            await self.wait_connected(timeout_s)
        except BaseException:
            await self.stop()  # no drone may outlive a failed start
            raise

    async def wait_connected(self, timeout_s: float = 30.0) -> None:
        """Wait until every drone is connected to the broker."""
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(a.connected.wait() for a in self.agents.values()))

    async def stop(self) -> None:
        """Stop every drone (each says ``online: false`` and disconnects); losses of separation
        still going on end here."""
        await asyncio.gather(*(a.stop() for a in self.agents.values()))
        self.separation.finish()

    async def __aenter__(self) -> SimulatedFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def watch_zone(self, zone: Zone) -> None:
        """Make the airspace monitor watch one more zone from now on (replacing one with its id)."""
        if self.monitor is None:
            self.monitor = AirspaceMonitor([zone], self.frame, self._ground)
            for agent in self.agents.values():
                agent.monitor = self.monitor
        else:
            self.monitor.add_zone(zone)
        self.zones = [z for z in self.zones if z.id != zone.id] + [zone]

    # --- observation ---------------------------------------------------------------------------

    def drone(self, drone_id: str) -> SimDrone:
        """The simulated state of one drone (KeyError if not simulated)."""
        return self.agents[drone_id].sim

    @property
    def breaches(self) -> list[GeofenceBreach]:
        """Every geofence breach the airspace monitor has seen, in order."""
        return [e for e in self.events if isinstance(e, GeofenceBreach)]

    @property
    def terrain_violations(self) -> list[TerrainViolation]:
        """Every terrain violation the terrain monitor has seen (a cruising drone below the
        clearance or above the true-height ceiling), in order; none without terrain."""
        return [e for e in self.events if isinstance(e, TerrainViolation)]

    @property
    def _ground(self) -> Terrain | None:
        return self.terrain.terrain if self.terrain is not None else None

    @property
    def rain_exposures(self) -> list[RainExposure]:
        """Every flight in precipitation beyond its model's rating the rain monitor has seen."""
        return list(self.rain.exposures) if self.rain is not None else []

    @property
    def separation_losses(self) -> list[SeparationLoss]:
        """Every loss of separation the separation monitor has seen, in the order they began
        (one still going on has ``ended`` False)."""
        return list(self.separation.losses)

    def _report_loss(self, loss: SeparationLoss) -> None:
        """The first drone of the pair reports a loss that ended as a ``separation_loss`` event
        (sent on its next tick; a loss still going on when the fleet stops is only listed)."""
        agent = self.agents[loss.pair[0]]
        lon, lat = self.frame.to_lonlat(loss.xyz[0], loss.xyz[1])
        mission = agent.sim.mission
        agent.sim.outbox.append(
            LossOfSeparation(
                drone_id=loss.pair[0],
                ts=loss.end,
                lon=float(lon),
                lat=float(lat),
                alt_m=round(max(loss.xyz[2], 0.0), 2),
                mission_id=mission.mission_id if mission is not None else None,
                altitude_frame=agent.sim.altitude_frame,
                other_drone_id=loss.pair[1],
                started_at=loss.start,
                closest_m=round(loss.closest_m, 2),
                horizontal_m=round(loss.horizontal_m, 2),
                vertical_m=round(loss.vertical_m, 2),
            )
        )

    def subscribe(self, maxsize: int = 10_000) -> Subscription[AnyEvent]:
        """A bounded stream of every event the drones emit (oldest dropped and counted on overflow)."""
        return self._hub.subscribe(maxsize)

    def _record(self, event: AnyEvent) -> None:
        self.events.append(event)
        self._hub.publish(event)

    async def wait_for(self, predicate: Callable[[AnyEvent], bool], timeout_s: float = 30.0) -> AnyEvent:
        """The first event (already seen or future) matching ``predicate``; TimeoutError after
        ``timeout_s`` real seconds."""
        with self.subscribe() as sub:
            for e in self.events:
                if predicate(e):
                    return e

            async def _next() -> AnyEvent:
                async for e in sub:
                    if predicate(e):
                        return e
                raise AssertionError("unreachable")

            async with asyncio.timeout(timeout_s):
                return await _next()

    async def wait_event(
        self, drone_id: str, event_type: type[E], /, timeout_s: float = 30.0, **fields: object
    ) -> E:
        """The first event of class ``event_type`` from ``drone_id`` whose attributes equal ``fields``."""

        def match(e: AnyEvent) -> bool:
            return (
                isinstance(e, event_type)
                and e.drone_id == drone_id
                and all(getattr(e, k) == v for k, v in fields.items())
            )

        return await self.wait_for(match, timeout_s)  # type: ignore[return-value]

    # --- faults --------------------------------------------------------------------------------

    def inject_link_loss(self, drone_id: str, seconds: float) -> None:
        """Cut the drone's radio link for ``seconds`` of simulated time (the broker's last will
        marks it offline; after ``lost_link_after_s`` the mission's lost-link policy applies)."""
        self.agents[drone_id].lose_link(seconds)

    def inject_start_delay(self, drone_id: str, seconds: float) -> None:
        """The drone's next start command reaches it ``seconds`` of simulated time late."""
        if not seconds > 0:
            raise ValueError(f"a start delay must be > 0 seconds, got {seconds}")
        self.agents[drone_id].delay_next_start(seconds)

    def inject_gust(self, drone_id: str, speed_mps: float, from_deg: float, seconds: float) -> None:
        """A gust of ``speed_mps`` from ``from_deg`` meets the drone for ``seconds`` of simulated time,
        on top of the wind (the battery pays for it)."""
        self.wind.gust(self.agents[drone_id].sim.id, speed_mps, from_deg, self.clock.now(), seconds)

    def inject_motor_fault(self, drone_id: str) -> None:
        """A motor fails: a ``fault`` event, an emergency landing where the drone is, and every
        later command rejected."""
        self.drone(drone_id).motor_fault(self.clock.now())

    def inject_battery_drain(self, drone_id: str, factor: float) -> None:
        """The battery drains ``factor`` times faster than the energy model (factor >= 1)."""
        if not factor >= 1.0:
            raise ValueError(f"battery drain factor must be >= 1, got {factor}")
        self.drone(drone_id).faults.drain_factor = factor

    def inject_reject_next(self, drone_id: str, reason: str = "injected fault: command rejected") -> None:
        """The drone rejects the next new command it receives with ``reason``."""
        self.drone(drone_id).faults.reject_next = reason

    def inject_gps_noise(self, drone_id: str, sigma_m: float) -> None:
        """Reported positions get Gaussian noise of ``sigma_m`` metres (the true track does not)."""
        if not sigma_m >= 0:
            raise ValueError(f"GPS noise must be >= 0 metres, got {sigma_m}")
        self.drone(drone_id).faults.gps_noise_m = sigma_m

    def inject_clock_skew(self, drone_id: str, seconds: float) -> None:
        """The drone's clock runs ``seconds`` ahead (negative: behind): every timestamp it sends
        is off by that much. Its flight is unaffected."""
        if not math.isfinite(seconds):
            raise ValueError(f"clock skew must be finite, got {seconds}")
        self.agents[drone_id].clock_skew = timedelta(seconds=seconds)

    def present_code(
        self, drone_id: str, request_id: str, code: str, *, at: Literal["pickup", "handover"] = "handover"
    ) -> None:
        """The code the person at the pickup or hand-over pad will enter for ``request_id``
        (default: the right one)."""
        self.drone(drone_id).presented_codes[(at, request_id)] = code
