"""An operator grounds the whole area (a typhoon) and lifts it: no take-off while grounded.

Kept in the audit log (entity ``area``, id ``grounding``, actions ``grounded`` / ``lifted``), so a
dispatcher that starts again, or another one that takes over, finds the area as it was left.
"""

from __future__ import annotations

from dispatch.service.weather_gate import WeatherGate
from dispatch.store import Store

ENTITY, ENTITY_ID = "area", "grounding"


async def set_grounding(store: Store, gate: WeatherGate, reason: str | None, *, actor: str) -> None:
    """Ground the area for ``reason`` (None: lift the grounding); audited only when it changes."""
    if reason == gate.grounded:
        return
    action = "grounded" if reason is not None else "lifted"
    await store.note(ENTITY, ENTITY_ID, action, actor=actor, payload={"reason": reason})
    gate.grounded = reason


async def restore_grounding(store: Store, gate: WeatherGate) -> None:
    """Take the area's grounding from the audit log (the last entry about it wins)."""
    history = await store.history(ENTITY, ENTITY_ID)
    last = history[-1] if history else None
    if last is not None and last.action == "grounded":
        reason = last.payload.get("reason")
        gate.grounded = str(reason) if reason is not None else "grounded"
    else:
        gate.grounded = None
