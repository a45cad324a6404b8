"""Request and flight life cycles: the states and the only transitions allowed between them.

Pure data and checks, no I/O: the store calls :func:`check_request_transition` inside the
transaction that changes a request's state, so an invalid transition raises before anything,
not even the audit entry, is written.

Request life cycle (``from -> to``, and what the transition means)::

    submitted  -> accepted     intake checks passed
    submitted  -> rejected     intake refused it (details: reason)              terminal
    submitted  -> cancelled    withdrawn before intake (details: reason)         terminal
    accepted   -> planned      put on a flight by the planner
    accepted   -> cancelled    withdrawn (details: reason)                       terminal
    accepted   -> unserved     no longer servable, e.g. its deadline slipped out of reach
                               (details: reason, a planner reason code)          terminal
    planned    -> dispatched   the drone acknowledged the mission
    planned    -> accepted     re-plan: the plan was dropped before the drone flew (details: reason)
    planned    -> cancelled    withdrawn (details: reason)                       terminal
    planned    -> unserved     no longer servable (details: reason code)         terminal
    dispatched -> picked_up    the drone holds the documents
    dispatched -> accepted     re-plan: the drone failed before pickup (details: reason)
    dispatched -> cancelled    withdrawn before pickup (details: reason)         terminal
    picked_up  -> delivered    handed over with proof (details: drone_id, lon, lat)  terminal
    picked_up  -> failed       the flight could not finish (details: reason)
    failed     -> returned     documents brought back to a pad or a port
                               (details: location)                              terminal

After pickup a request can no longer be cancelled or re-planned: the documents are aboard, and
the only ways out are ``delivered`` or ``failed -> returned``. ``cancelled`` is an office's (or an
operator's) decision; ``unserved`` is the dispatcher's finding that the system cannot fly it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar


class RequestState(StrEnum):
    """Where a delivery request is in its life cycle."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PLANNED = "planned"
    DISPATCHED = "dispatched"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    UNSERVED = "unserved"
    FAILED = "failed"
    RETURNED = "returned"


class FlightState(StrEnum):
    """Where a flight (one drone trip) is in its life cycle."""

    PLANNED = "planned"
    COMMANDED = "commanded"
    ACKED = "acked"
    FLYING = "flying"
    COMPLETED = "completed"
    ABORTED = "aborted"


# A flight whose drone has not taken off with it yet.
GROUND_STATES = frozenset({FlightState.PLANNED, FlightState.COMMANDED, FlightState.ACKED})


class InvalidTransition(ValueError):
    """A state change that the life cycle does not allow, or that lacks its required details."""


_R = RequestState

REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    _R.SUBMITTED: frozenset({_R.ACCEPTED, _R.REJECTED, _R.CANCELLED}),
    _R.ACCEPTED: frozenset({_R.PLANNED, _R.CANCELLED, _R.UNSERVED}),
    _R.PLANNED: frozenset({_R.DISPATCHED, _R.ACCEPTED, _R.CANCELLED, _R.UNSERVED}),
    _R.DISPATCHED: frozenset({_R.PICKED_UP, _R.ACCEPTED, _R.CANCELLED}),
    _R.PICKED_UP: frozenset({_R.DELIVERED, _R.FAILED}),
    _R.FAILED: frozenset({_R.RETURNED}),
    _R.DELIVERED: frozenset(),
    _R.REJECTED: frozenset(),
    _R.CANCELLED: frozenset(),
    _R.UNSERVED: frozenset(),
    _R.RETURNED: frozenset(),
}
"""Every allowed request transition; anything not listed raises :class:`InvalidTransition`."""

REQUEST_TERMINAL: frozenset[RequestState] = frozenset(s for s, nxt in REQUEST_TRANSITIONS.items() if not nxt)
"""States a request never leaves."""

# Keys that must be present (and non-empty) in a transition's details, so the audit log always
# says why a request was refused, where it was handed over, or where the documents ended up.
_REQUIRED_DETAILS: dict[tuple[RequestState, RequestState], tuple[str, ...]] = {
    (_R.SUBMITTED, _R.REJECTED): ("reason",),
    (_R.PLANNED, _R.ACCEPTED): ("reason",),
    (_R.DISPATCHED, _R.ACCEPTED): ("reason",),
    (_R.PICKED_UP, _R.DELIVERED): ("drone_id", "lon", "lat"),
    (_R.PICKED_UP, _R.FAILED): ("reason",),
    (_R.FAILED, _R.RETURNED): ("location",),
    (_R.ACCEPTED, _R.UNSERVED): ("reason",),
    (_R.PLANNED, _R.UNSERVED): ("reason",),
}
_REQUIRED_DETAILS.update(
    {(s, _R.CANCELLED): ("reason",) for s, nxt in REQUEST_TRANSITIONS.items() if _R.CANCELLED in nxt}
)

_F = FlightState

FLIGHT_TRANSITIONS: dict[FlightState, frozenset[FlightState]] = {
    _F.PLANNED: frozenset({_F.COMMANDED, _F.ABORTED}),
    _F.COMMANDED: frozenset({_F.ACKED, _F.ABORTED}),
    _F.ACKED: frozenset({_F.FLYING, _F.ABORTED}),
    _F.FLYING: frozenset({_F.COMPLETED, _F.ABORTED}),
    _F.COMPLETED: frozenset(),
    _F.ABORTED: frozenset(),
}
"""Every allowed flight transition: forward one step at a time, or abort from any live state."""

FLIGHT_TERMINAL: frozenset[FlightState] = frozenset(s for s, nxt in FLIGHT_TRANSITIONS.items() if not nxt)
"""States a flight never leaves."""


def required_details(current: RequestState, target: RequestState) -> tuple[str, ...]:
    """The detail keys a request transition must carry (empty for most transitions)."""
    return _REQUIRED_DETAILS.get((current, target), ())


def check_request_transition(current: str, target: str, details: dict[str, Any] | None = None) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is allowed with these details."""
    src, dst = _parse(RequestState, current), _parse(RequestState, target)
    if dst not in REQUEST_TRANSITIONS[src]:
        allowed = ", ".join(sorted(REQUEST_TRANSITIONS[src])) or "none, it is terminal"
        raise InvalidTransition(f"request cannot go from {src} to {dst} (allowed from {src}: {allowed})")
    missing = [k for k in required_details(src, dst) if (details or {}).get(k) in (None, "")]
    if missing:
        raise InvalidTransition(f"request transition {src} -> {dst} requires detail(s) {', '.join(missing)}")


def check_flight_transition(current: str, target: str) -> None:
    """Raise :class:`InvalidTransition` unless the flight may go from ``current`` to ``target``."""
    src, dst = _parse(FlightState, current), _parse(FlightState, target)
    if dst not in FLIGHT_TRANSITIONS[src]:
        allowed = ", ".join(sorted(FLIGHT_TRANSITIONS[src])) or "none, it is terminal"
        raise InvalidTransition(f"flight cannot go from {src} to {dst} (allowed from {src}: {allowed})")


_E = TypeVar("_E", RequestState, FlightState)


def _parse(enum: type[_E], value: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(e.value for e in enum)
        raise InvalidTransition(f"unknown {enum.__name__} {value!r} (known: {known})") from None
