"""Helpers for fleet and simulator tests: building commands and waiting on conditions."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import timedelta

from fleet.clock import Clock
from fleet.messages import HandoverStop, PickupStop, Start, UploadMission

ALT = 120.0
PICKUP = (114.3968, 36.1043)  # service centre pad
DROPOFF = (114.416, 36.1115)  # Zhangde Road, behind the Huan river corridor
DETOUR = (114.4130, 36.1075)  # south-east of the facility: a path around it
SERVICE_CENTRE_PORT = (114.3955, 36.1052)
SAFE_PATH = [PICKUP, DETOUR, DROPOFF, DETOUR, SERVICE_CENTRE_PORT]

_ids = itertools.count(1)


def upload(
    clock: Clock,
    drone: str = "D01",
    path: list[tuple[float, float]] | None = None,
    *,
    mission_id: str = "M1",
    payload_kg: float = 0.3,
    lost_link: str = "hold",
    ttl_s: float = 3600.0,
    cmd_id: str | None = None,
) -> UploadMission:
    """A pickup at the first waypoint and a hand-over at the third."""
    return UploadMission(
        drone_id=drone,
        cmd_id=cmd_id or f"up-{next(_ids)}",
        expires_at=clock.now() + timedelta(seconds=ttl_s),
        mission_id=mission_id,
        waypoints=[(lon, lat, ALT) for lon, lat in (path or SAFE_PATH)],
        stops=[
            PickupStop(at=0, request_id="R001", pickup_code="1234", payload_kg=payload_kg),
            HandoverStop(at=2, request_id="R001", recipient_code="5678"),
        ],
        lost_link=lost_link,  # type: ignore[arg-type]
    )


def start(clock: Clock, drone: str = "D01", mission_id: str = "M1", cmd_id: str | None = None) -> Start:
    """Start ``mission_id``."""
    return Start(
        drone_id=drone,
        cmd_id=cmd_id or f"go-{next(_ids)}",
        expires_at=clock.now() + timedelta(hours=1),
        mission_id=mission_id,
    )


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Wait until ``condition()`` holds, checking every 10 ms (TimeoutError after ``timeout_s``)."""

    async def _poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(_poll(), timeout_s)
    except TimeoutError:
        raise TimeoutError(f"{what} did not hold within {timeout_s}s") from None
