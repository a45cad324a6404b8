"""The live fleet registry: what the dispatcher knows about each drone right now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fleet.messages import AnyEvent, State, Telemetry


@dataclass(slots=True)
class DroneStatus:
    """Latest knowledge of one drone. ``received_at`` is the link clock's time of the last telemetry."""

    drone_id: str
    telemetry: Telemetry | None = None
    received_at: datetime | None = None
    state: State | None = None
    last_event: AnyEvent | None = None
    telemetry_count: int = 0

    @property
    def mission_id(self) -> str | None:
        """The mission the drone reports flying (telemetry first, then retained state)."""
        if self.telemetry is not None:
            return self.telemetry.mission_id
        return self.state.mission_id if self.state is not None else None

    def online(self, now: datetime, max_age_s: float) -> bool:
        """Online: the retained state says so (or was never seen) and telemetry is fresh."""
        if self.state is not None and not self.state.online:
            return False
        if self.received_at is None:
            return self.state is not None and self.state.online
        return (now - self.received_at).total_seconds() <= max_age_s


@dataclass(slots=True)
class FleetRegistry:
    """Every drone the link has heard of, by id. Updated only by the link's receive loop."""

    max_telemetry_age_s: float = 5.0
    drones: dict[str, DroneStatus] = field(default_factory=dict)

    def _status(self, drone_id: str) -> DroneStatus:
        status = self.drones.get(drone_id)
        if status is None:
            status = self.drones[drone_id] = DroneStatus(drone_id)
        return status

    def on_telemetry(self, msg: Telemetry, now: datetime) -> None:
        """Record a telemetry sample received at ``now``."""
        status = self._status(msg.drone_id)
        status.telemetry = msg
        status.received_at = now
        status.telemetry_count += 1

    def on_state(self, msg: State) -> bool:
        """Record a retained state message; True if the drone's online flag changed."""
        status = self._status(msg.drone_id)
        changed = status.state is None or status.state.online != msg.online
        status.state = msg
        return changed

    def clear_state(self, drone_id: str) -> None:
        """Forget a drone's retained state (its retained message was deleted): from now on its
        liveness is its telemetry's age. Ignored for a drone never heard of."""
        status = self.drones.get(drone_id)
        if status is not None:
            status.state = None

    def on_event(self, msg: AnyEvent) -> None:
        """Record the drone's latest event."""
        self._status(msg.drone_id).last_event = msg

    def get(self, drone_id: str) -> DroneStatus | None:
        """The status of a drone, or None if never heard of."""
        return self.drones.get(drone_id)

    def is_online(self, drone_id: str, now: datetime) -> bool:
        """Whether a drone is online at ``now`` (retained state + telemetry age)."""
        status = self.drones.get(drone_id)
        return status is not None and status.online(now, self.max_telemetry_age_s)

    def online_ids(self, now: datetime) -> list[str]:
        """Ids of the drones online at ``now``, sorted."""
        return sorted(d for d, s in self.drones.items() if s.online(now, self.max_telemetry_age_s))
