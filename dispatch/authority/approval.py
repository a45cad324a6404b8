"""Asking the authority to approve a flight that enters controlled airspace, over HTTP.

The approval request (``type: approval_request``, :func:`~dispatch.authority.reports.approval_request`)
is POSTed to the reports' URL with the header ``Idempotency-Key: <flight>:approval``; the answer
is the response's JSON body: ``{"flight_id": ..., "decision": "approved" | "denied" | "pending",
"reason": ...}``. ``pending`` means not decided yet: the same request (same key) is POSTed again
every ``poll_s`` wall seconds until a decision comes. So the authority may answer at once, or
later without calling the dispatcher back. A network error, a 5xx, 408, 425 or 429, or a body
that is not such an answer is asked again the same way; any other 4xx is a denial (the authority
refused the request). No decision within ``timeout_s`` wall seconds is a ``timeout``: the flight
does not take off (``dispatch.service.approvals`` says what follows). Field by field:
docs/authority.md.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import httpx

from airspace.zones import Zone
from dispatch.authority.reports import approval_request, dm
from dispatch.authority.sender import RETRY_STATUSES
from dispatch.service.approvals import Answer, ApprovalRequest
from fleet.clock import Clock

log = logging.getLogger(__name__)

DECISIONS = ("approved", "denied", "pending")


def zone_item(zone: Zone) -> dict[str, Any]:
    """A controlled zone as the approval request names it."""
    return {
        "id": zone.id,
        "reason": zone.reason,
        "floor_dm": dm(zone.floor_m),
        "ceiling_dm": None if zone.ceiling_m is None else dm(zone.ceiling_m),
    }


def read_answer(flight_id: str, status: int, body: Any) -> Answer | None:
    """The decision in a response (None: none yet, ask again). A 4xx other than 408, 425, 429 is a
    denial; a 2xx body must name the flight (when it names one) and a known decision."""
    if 400 <= status < 500 and status not in RETRY_STATUSES:
        return Answer("denied", f"the authority refused the request (HTTP {status})")
    if not 200 <= status < 300 or not isinstance(body, dict):
        return None
    decision = body.get("decision")
    if decision not in DECISIONS or body.get("flight_id", flight_id) != flight_id:
        log.warning("approval of %s: not an answer: %.200r", flight_id, body)
        return None
    if decision == "pending":
        return None
    reason = body.get("reason")
    return Answer(decision, str(reason) if reason is not None else None)


class HttpApprover:
    """Asks the authority at ``url`` (the reports' URL) and polls until it decides or time is up."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        operator: str,
        takeoff_altitude_m: float = 0.0,
        timeout_s: float = 60.0,
        poll_s: float = 1.0,
    ) -> None:
        self.url = url
        self.clock = clock
        self.operator = operator
        self.takeoff_altitude_m = takeoff_altitude_m
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._client = httpx.AsyncClient(timeout=min(10.0, timeout_s))

    def body(self, r: ApprovalRequest, filed_at: datetime) -> dict[str, Any]:
        """The approval request's JSON body."""
        return approval_request(
            flight_id=r.flight_id,
            operator=self.operator,
            drone_id=r.drone_id,
            waypoints=[(w[0], w[1], w[2]) for w in r.waypoints],
            depart=r.depart,
            arrive=r.arrive,
            end_port=r.end_port,
            intent=r.intent,
            takeoff_altitude_m=self.takeoff_altitude_m,
            filed_at=filed_at,
            zones=[zone_item(z) for z in r.zones],
            above_ceiling_m=r.above_ceiling_m,
            ceiling_m=r.ceiling_m,
            attempt=r.attempt,
        )

    async def ask(self, request: ApprovalRequest) -> Answer:
        """The authority's decision, or ``timeout`` after ``timeout_s`` wall seconds without one."""
        body = self.body(request, self.clock.now())
        headers = {"Idempotency-Key": body["report_id"]}
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    answer = await self._once(request.flight_id, body, headers)
                    if answer is not None:
                        return answer
                    await asyncio.sleep(self.poll_s)  # the polling period, not synchronisation
        except TimeoutError:
            return Answer("timeout", None)

    async def _once(self, flight_id: str, body: dict[str, Any], headers: dict[str, str]) -> Answer | None:
        try:
            r = await self._client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("approval of %s: %s: %s; asking again", flight_id, type(exc).__name__, exc)
            return None
        try:
            answer = r.json() if r.content else None
        except ValueError:
            answer = None
        return read_answer(flight_id, r.status_code, answer)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
