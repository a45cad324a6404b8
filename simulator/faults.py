"""Scheduled fault injection: ``--motor-fault D01@300`` and friends, for the CLI and for scripts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from simulator.fleet_sim import SimulatedFleet

FaultKind = Literal["link_loss", "motor_fault", "battery_drain", "reject_next", "gps_noise"]
# kind -> (name of its value, whether the value is required)
FAULT_VALUES: dict[str, tuple[str | None, bool]] = {
    "link_loss": ("SECONDS", True),
    "motor_fault": (None, False),
    "battery_drain": ("FACTOR", True),
    "reject_next": (None, False),
    "gps_noise": ("METRES", True),
}


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Inject ``kind`` into ``drone_id`` ``at_s`` simulated seconds after the start."""

    kind: FaultKind
    drone_id: str
    value: float | None = None
    at_s: float = 0.0

    @classmethod
    def parse(cls, kind: FaultKind, text: str) -> FaultSpec:
        """Parse ``DRONE[:VALUE][@AT]`` (the CLI form), e.g. ``D01:30@120``."""
        value_name, needs_value = FAULT_VALUES[kind]
        body, _, at_text = text.partition("@")
        drone_id, sep, value_text = body.partition(":")
        if not drone_id:
            raise ValueError(f"{kind} {text!r}: missing drone id")
        value: float | None = None
        if needs_value and not sep:
            raise ValueError(f"{kind} {text!r}: expected DRONE:{value_name}[@AT]")
        if not needs_value and sep:
            raise ValueError(f"{kind} {text!r}: takes no value, expected DRONE[@AT]")
        if sep:
            value = _number(kind, text, value_text)
        at = _number(kind, text, at_text) if at_text else 0.0
        if at < 0:
            raise ValueError(f"{kind} {text!r}: time must be >= 0")
        return cls(kind, drone_id, value, at)

    def apply(self, fleet: SimulatedFleet) -> None:
        """Inject the fault now."""
        if self.kind == "link_loss":
            fleet.inject_link_loss(self.drone_id, float(self.value or 0.0))
        elif self.kind == "motor_fault":
            fleet.inject_motor_fault(self.drone_id)
        elif self.kind == "battery_drain":
            fleet.inject_battery_drain(self.drone_id, float(self.value or 1.0))
        elif self.kind == "reject_next":
            fleet.inject_reject_next(self.drone_id)
        elif self.kind == "gps_noise":
            fleet.inject_gps_noise(self.drone_id, float(self.value or 0.0))


def _number(kind: str, text: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{kind} {text!r}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{kind} {text!r}: {value!r} is not finite")
    return x


async def run_schedule(fleet: SimulatedFleet, faults: list[FaultSpec]) -> None:
    """Inject each fault at its time (simulated seconds from now, on the fleet's clock)."""
    unknown = sorted({f.drone_id for f in faults} - set(fleet.agents))
    if unknown:
        raise ValueError(f"fault for unknown drone(s): {unknown}")
    elapsed = 0.0
    for fault in sorted(faults, key=lambda f: f.at_s):
        if fault.at_s > elapsed:
            await fleet.clock.sleep(fault.at_s - elapsed)
            elapsed = fault.at_s
        fault.apply(fleet)


__all__ = ["FaultSpec", "run_schedule"]
