"""Approval mode: a flight that enters controlled airspace takes off only with the authority's approval.

A flight enters controlled airspace when its route enters a zone of kind ``controlled`` in force
during the flight, or is planned above the area's ceiling (``terrain.ceiling_m`` in ``run`` and
``serve``, else the fleet's ``ceiling_m``: a true height, compared with its mission's waypoints)
(:func:`routing.controlled.controlled_airspace`). With approval mode on (an :class:`Approver` is
configured: ``authority.approval = required``), planning routes through controlled zones, and a
committed flight that needs approval waits for the answer before anything is sent to its drone
(:meth:`Approvals.cleared`, called by the dispatch of the flight, a background task: the event
loop and the other drones go on meanwhile):

- ``approved``: audited (``authority_approved``) and dispatched as usual; a departure slot passed
  while waiting is moved later as for any late start;
- ``denied``: audited (``authority_denied``), the flight is given up before take-off with the
  reason ``authority_denied: <reason>`` (its requests go back to ``accepted`` saying so), and the
  controlled zones it entered become no-fly zones for those requests: the next rounds plan them
  around those zones, or give them up as ``unserved`` with that reason if nothing else serves
  them (a denied flight above the ceiling: at once, as no route keeps its drones lower);
- no answer in time (``timeout``): audited (``authority_timeout``), given up before take-off with
  ``authority_timeout: ...``; then as a denial (``authority.approval_on_timeout = deny``) or
  planned again as before, asking again (``retry``).

Denials are kept in memory: after a restart the requests are planned as if none had been made,
and any flight that enters controlled airspace asks again. Nothing takes off without an answer.
This module does no network I/O itself: the :class:`Approver` (``dispatch.authority.approval``)
does.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from airspace.zones import Zone
from dispatch.lifecycle import FlightState
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.service.missions import MissionSpec, Waypoint
from dispatch.service.reroute import route_clear
from dispatch.service.state import ActiveMission
from dispatch.store import Store
from fleet.description import DEFAULT_CEILING_M
from routing.controlled import ControlledAirspace, FlownLeg, as_no_fly, controlled_airspace
from routing.intents import OperationalIntent
from routing.requests import Request

log = logging.getLogger(__name__)

Decision = Literal["approved", "denied", "timeout"]
OnTimeout = Literal["deny", "retry"]
DENIED = "authority_denied"
TIMEOUT = "authority_timeout"
CEILING = "@ceiling"  # among a request's denied airspace: a denied flight above the ceiling


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What the authority is asked to approve: one flight and the controlled airspace it enters."""

    flight_id: str
    drone_id: str
    waypoints: tuple[Waypoint, ...]
    depart: datetime
    arrive: datetime
    end_port: str
    intent: OperationalIntent | None
    zones: tuple[Zone, ...]  # the controlled zones it enters
    above_ceiling_m: float | None  # its highest altitude, when above the ceiling
    ceiling_m: float
    attempt: int = 1  # asked again: the flight now enters controlled airspace it was not approved for


@dataclass(frozen=True, slots=True)
class Answer:
    """The authority's answer: ``approved``, ``denied`` (with its reason) or ``timeout`` (none came;
    a reason only when asking itself failed)."""

    decision: Decision
    reason: str | None = None


class Approver(Protocol):
    """Asks the authority; never raises for the authority's failures (no answer is ``timeout``)."""

    timeout_s: float

    async def ask(self, request: ApprovalRequest) -> Answer:
        """The authority's answer to ``request``."""

    async def aclose(self) -> None:
        """Release the approver's resources."""


@dataclass(slots=True)
class ApprovalStats:
    """Approval requests since the process started, by outcome."""

    asked: int = 0
    approved: int = 0
    denied: int = 0
    timeouts: int = 0


@dataclass(frozen=True, slots=True)
class DeniedGroup:
    """Requests planned together in a round of their own, around the airspace denied to them."""

    requests: tuple[Request, ...]
    no_fly: tuple[Zone, ...]  # the denied controlled zones, as no-fly zones
    reasons: dict[str, str]  # request id -> why (``authority_denied: ...``), if given up
    ceiling: bool  # a flight of theirs above the ceiling was denied: given up at once


def mission_legs(spec: MissionSpec) -> list[FlownLeg]:
    """The mission's legs (waypoints split at its stops), each over the mission's whole window (a
    zone in force at any time of the flight counts for every leg)."""
    cuts = sorted({0, *(s.at for s in spec.stops), len(spec.waypoints) - 1})
    legs = [spec.waypoints[a : b + 1] for a, b in itertools.pairwise(cuts) if b > a]
    return [FlownLeg(w, spec.depart, spec.arrive) for w in legs or [spec.waypoints]]


class Approvals:
    """The dispatcher's approval mode: off until :meth:`configure` gives it an approver."""

    def __init__(self, store: Store, picture: FleetPicture, flights: Flights, *, actor: str) -> None:
        self.store = store
        self.picture = picture
        self.flights = flights
        self.actor = actor
        self.approver: Approver | None = None
        self.on_timeout: OnTimeout = "deny"
        self.ceiling_m: float | None = None  # None: the fleet's ceiling_m
        self.stats = ApprovalStats()
        # request id -> {controlled zone id (or CEILING): why it was denied}
        self.denied: dict[str, dict[str, str]] = {}
        self.approved: set[str] = set()  # flights approved by this process (not asked twice)

    def configure(
        self, approver: Approver | None, on_timeout: OnTimeout = "deny", *, ceiling_m: float | None = None
    ) -> None:
        """Approval mode on with ``approver`` (None: off, controlled zones are avoided as no-fly);
        flights above ``ceiling_m`` (None: the fleet's ``ceiling_m``) need approval too."""
        self.approver, self.on_timeout, self.ceiling_m = approver, on_timeout, ceiling_m
        self.picture.route_controlled(approver is not None)
        self.flights.wake()

    def airspace(self, spec: MissionSpec) -> ControlledAirspace:
        """The controlled airspace the mission enters (nothing while approval mode is off)."""
        if self.approver is None:
            return ControlledAirspace()
        # Over terrain the waypoints carry the cruise layer, but the flown true height is capped
        # under the ceiling (routing.terrain_legs), which the simulator's monitor checks.
        ceiling = None if self.picture.terrain is not None else self.ceiling()
        return controlled_airspace(mission_legs(spec), self.picture.controlled, ceiling_m=ceiling)

    def ceiling(self) -> float:
        """The height over which a flight needs approval."""
        if self.ceiling_m is not None:
            return self.ceiling_m
        return self.picture.fleet.ceiling_m if self.picture.fleet is not None else DEFAULT_CEILING_M

    async def cleared(self, m: ActiveMission) -> bool:
        """Whether the planned mission may be dispatched: it needs no approval, or the authority
        approved it. Otherwise the mission is given up (audited, with the reason) and False.

        While it waits, zone scans leave it alone (``m.approving``); once approved, it is asked
        about again if it now enters controlled airspace it was not approved for, and given up if a
        no-fly zone came into force on its route meanwhile (its work is planned again)."""
        if self.approver is None or m.mission_id in self.approved:
            return True
        approved: ControlledAirspace | None = None
        attempt = 0
        m.approving = True
        try:
            while (entered := self.airspace(m.spec)).needs_approval and not _covers(approved, entered):
                attempt += 1
                answer = await self._ask(m, entered, attempt)
                if m.state != FlightState.PLANNED or m.aborting:
                    return False  # given up while it waited (a cancel): the answer changes nothing
                if answer.decision != "approved":
                    await self._refused(m, entered, answer)
                    return False
                approved = entered
        finally:
            m.approving = False
        if approved is None:
            return True  # no approval needed (any more)
        self.approved.add(m.mission_id)
        if not route_clear(self.picture.airspace, m.spec.waypoints, m.spec.depart, m.spec.arrive):
            await self.flights.abort(
                m, "a no-fly zone came into force on its route while it waited for approval"
            )
            return False
        return True

    async def _ask(self, m: ActiveMission, entered: ControlledAirspace, attempt: int) -> Answer:
        """Ask the authority about the mission (audited when approved)."""
        assert self.approver is not None
        spec = m.spec
        request = ApprovalRequest(
            flight_id=m.mission_id,
            drone_id=m.drone_id,
            waypoints=spec.waypoints,
            depart=spec.depart,
            arrive=spec.arrive,
            end_port=spec.end_port,
            intent=spec.intent,
            zones=tuple(z for z in self.picture.controlled if z.id in entered.zone_ids),
            above_ceiling_m=entered.above_ceiling_m,
            ceiling_m=self.ceiling(),
            attempt=attempt,
        )
        self.stats.asked += 1
        log.info("%s enters controlled airspace %s: asking for approval", m.mission_id, entered)
        try:
            answer = await self.approver.ask(request)
        except Exception as exc:  # a bug must not leave the flight waiting, its drone kept busy
            log.exception("asking for the approval of %s failed", m.mission_id)
            answer = Answer("timeout", f"asking failed: {type(exc).__name__}")
        if answer.decision == "approved":
            self.stats.approved += 1
            await self.store.note(
                "flight",
                m.mission_id,
                "authority_approved",
                actor=self.actor,
                payload=_payload(entered, answer),
            )
        return answer

    async def _refused(self, m: ActiveMission, entered: ControlledAirspace, answer: Answer) -> None:
        """Give the mission up after a denial or no answer (audited); a denial (and no answer, when
        ``on_timeout`` is ``deny``) makes its airspace denied to its requests."""
        assert self.approver is not None
        if answer.decision == "denied":
            self.stats.denied += 1
            action, why = DENIED, f"{DENIED}: {answer.reason or 'no reason given'}"
        else:
            self.stats.timeouts += 1
            action = TIMEOUT
            why = f"{TIMEOUT}: {answer.reason or f'no answer within {self.approver.timeout_s:g} s'}"
        await self.store.note(
            "flight", m.mission_id, action, actor=self.actor, payload=_payload(entered, answer)
        )
        log.warning("%s not flown: %s", m.mission_id, why)
        if answer.decision == "denied" or self.on_timeout == "deny":
            airspace = [*entered.zone_ids, *([CEILING] if entered.above_ceiling_m is not None else [])]
            for rid in m.spec.request_ids:
                self.denied.setdefault(rid, {}).update(dict.fromkeys(airspace, why))
        await self.flights.abort(m, why)

    def groups(self, requests: Sequence[Request]) -> tuple[list[DeniedGroup], tuple[Request, ...]]:
        """The requests with denied airspace, grouped (:func:`denied_groups`), and the others;
        denials whose zones are gone are forgotten."""
        groups, free, lifted = denied_groups(
            requests, self.denied, self.picture.all_zones, {z.id for z in self.picture.zones}
        )
        self.forget(lifted)
        return groups, free

    def forget(self, request_ids: Sequence[str]) -> None:
        """Forget the denials of requests no longer planned (final, or on a flight)."""
        for rid in request_ids:
            self.denied.pop(rid, None)


def _covers(approved: ControlledAirspace | None, entered: ControlledAirspace) -> bool:
    """Whether an approval for ``approved`` covers the controlled airspace ``entered``."""
    if approved is None:
        return False
    high = entered.above_ceiling_m is None or approved.above_ceiling_m is not None
    return high and set(entered.zone_ids) <= set(approved.zone_ids)


def _payload(entered: ControlledAirspace, answer: Answer) -> dict[str, object]:
    return {
        "zones": list(entered.zone_ids),
        "above_ceiling_m": entered.above_ceiling_m,
        "reason": answer.reason,
    }


def denied_groups(
    requests: Sequence[Request],
    denied: dict[str, dict[str, str]],
    zones: Sequence[Zone],
    avoided: set[str],
) -> tuple[list[DeniedGroup], tuple[Request, ...], list[str]]:
    """Split ``requests`` by the airspace ``denied`` to them (request id -> {zone id or
    :data:`CEILING`: why}): one group per set denied, with those of ``zones`` (the zones in force)
    as no-fly zones, except those already ``avoided`` (ids); the requests denied nothing; and the
    requests whose denied zones are all gone (planned as the others, their denials to forget)."""
    by_denied: dict[frozenset[str], list[Request]] = {}
    free: list[Request] = []
    for r in requests:
        if denied.get(r.id):
            by_denied.setdefault(frozenset(denied[r.id]), []).append(r)
        else:
            free.append(r)
    groups, lifted = [], []
    for ids, members in by_denied.items():
        no_fly = as_no_fly(z for z in zones if z.id in ids and z.id not in avoided)
        if not no_fly and CEILING not in ids:
            lifted += [r.id for r in members]
            free += members
            continue
        reasons = {r.id: list(denied[r.id].values())[-1] for r in members}
        groups.append(DeniedGroup(tuple(members), tuple(no_fly), reasons, CEILING in ids))
    return groups, tuple(free), lifted
