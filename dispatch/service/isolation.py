"""Fault isolation for the dispatcher's loops: no single request, zone or step stops them.

An unexpected error while deciding one request (a bug, or data no front end should have let in:
a ``ready_at`` in year 9999, a drop-off hundreds of kilometres away) must not fail the decisions
of the others, nor every later tick. The rules:

* **Intake** (:func:`assess_isolated`): a batch whose decision raises is decided again one
  request at a time; a request whose own decision raises is rejected with the reason code
  ``internal_error`` (details: the exception class and message), so it never stays ``submitted``.
* **Planning** (:func:`routable`, :func:`find_unplannable`): an ``accepted`` request the planner
  cannot even read, or whose intake check now raises after a planning round failed, becomes
  ``unserved`` with ``internal_error``; the round goes on (or runs again) with the others.
* **Zones** (:func:`parse_stored_zones`): a stored zone the airspace cannot read is skipped with
  its reason (logged, and audited once per version of the zone), not the whole zone set.
* **Tick steps** (:func:`run_steps`, :func:`for_each`): each step (intake of pending requests,
  zone reloads, silence detection, return to service, ETA updates) and each drone or mission
  within a step runs on its own; a failure is counted in the dispatcher's error counters and
  logged, and the next one runs.

Infrastructure failures (a dead worker process, a lost database) are not a request's fault:
they propagate, and the loop that called retries at its next round.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import BrokenExecutor
from datetime import datetime
from typing import Any, TypeVar

from airspace.zones import Zone, parse_zones
from dispatch.lifecycle import InvalidTransition, RequestState
from dispatch.service.intake import Assessment, ServiceArea, to_routing_request
from dispatch.store import Conflict, Intake, NotFound, RequestView, Store, ZoneView
from routing.requests import Request

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"
"""The reason code of a request the dispatcher failed to decide (intake) or to plan."""

_NOT_THE_REQUESTS_FAULT: tuple[type[BaseException], ...] = (BrokenExecutor, MemoryError)

T = TypeVar("T")
Assess = Callable[[list[Request]], Awaitable[list[Assessment]]]
Transition = Callable[..., Awaitable[Any]]  # (request id, target, *, details, expected_state)


def error_details(exc: BaseException, doing: str = "decide") -> dict[str, Any]:
    """The audit details of an ``internal_error``: the exception's class and message (bounded)."""
    return {
        "detail": f"the dispatcher could not {doing} this request: {type(exc).__name__}: {exc}"[:500],
        "exception": type(exc).__name__,
    }


def intake_of(verdict: Assessment) -> Intake:
    """An intake verdict as the store records it."""
    if not verdict.accepted:
        return Intake(False, verdict.reason, {"detail": verdict.detail})
    assert verdict.eta is not None
    return Intake(
        True,
        details={
            "eta": verdict.eta.isoformat(),
            "eta_kind": "best_single_drone",
            "eta_drone": verdict.drone_id,
        },
    )


def _rejected(request_id: str, exc: Exception) -> Intake:
    if isinstance(exc, _NOT_THE_REQUESTS_FAULT):
        raise exc
    log.error("intake of %s failed (%s: %r); rejecting it", request_id, type(exc).__name__, str(exc))
    return Intake(False, INTERNAL_ERROR, error_details(exc))


async def assess_isolated(assess: Assess, views: Sequence[RequestView], now: datetime) -> list[Intake]:
    """Intake decisions for ``views`` (same order) with ``assess``; one request whose decision
    raises is rejected (``internal_error``) and the others are decided as usual."""
    out: list[Intake | None] = [None] * len(views)
    todo: list[tuple[int, Request]] = []
    for i, view in enumerate(views):
        try:
            todo.append((i, to_routing_request(view, now)))
        except Exception as exc:
            out[i] = _rejected(view.id, exc)
    if todo:
        try:
            verdicts = await assess([r for _, r in todo])
            if len(verdicts) != len(todo):
                raise RuntimeError(f"{len(verdicts)} intake verdicts for {len(todo)} requests")
            for (i, _), verdict in zip(todo, verdicts, strict=True):
                out[i] = intake_of(verdict)
        except _NOT_THE_REQUESTS_FAULT:
            raise
        except Exception as exc:
            if len(todo) > 1:
                log.warning("intake of %d requests failed (%r); deciding each alone", len(todo), str(exc))
            for i, r in todo:
                out[i] = await _assess_one(assess, r) if len(todo) > 1 else _rejected(r.id, exc)
    return [x for x in out if x is not None]


async def _assess_one(assess: Assess, request: Request) -> Intake:
    try:
        (verdict,) = await assess([request])
        return intake_of(verdict)
    except Exception as exc:
        return _rejected(request.id, exc)


def routable(views: Iterable[RequestView], now: datetime) -> tuple[list[Request], dict[str, Exception]]:
    """The planner's requests of ``views``, and by id the error of each one it cannot read."""
    requests, broken = [], {}
    for view in views:
        try:
            requests.append(to_routing_request(view, now))
        except Exception as exc:
            broken[view.id] = exc
    return requests, broken


async def find_unplannable(assess: Assess, requests: Sequence[Request]) -> dict[str, Exception]:
    """After a planning round raised: by id, the requests whose intake check raises on its own
    (the planner runs the same preparation first), each checked alone."""
    broken: dict[str, Exception] = {}
    for r in requests:
        try:
            await assess([r])
        except _NOT_THE_REQUESTS_FAULT:
            raise
        except Exception as exc:
            broken[r.id] = exc
    return broken


async def unserve(transition: Transition, broken: dict[str, Exception]) -> None:
    """Give up each ``accepted`` request of ``broken`` (``unserved``, ``internal_error``): the
    planner cannot handle it, and it must not fail every round for the others."""
    for request_id, exc in sorted(broken.items()):
        log.error("planning %s failed (%s: %r); giving it up", request_id, type(exc).__name__, str(exc))
        with contextlib.suppress(InvalidTransition, Conflict, NotFound):
            await transition(
                request_id,
                RequestState.UNSERVED,
                details={"reason": INTERNAL_ERROR, **error_details(exc, "plan")},
                expected_state=RequestState.ACCEPTED,
            )


def airspace_feature(view: ZoneView) -> dict[str, Any]:
    """A stored zone as the airspace format reads it (its validity window in its properties)."""
    feature = dict(view.feature)
    props = dict(feature.get("properties") or {})
    if view.valid_from is not None:
        props["valid_from"] = view.valid_from.isoformat()
    if view.valid_until is not None:
        props["valid_to"] = view.valid_until.isoformat()
    feature["properties"] = props
    return feature


def parse_stored_zones(
    views: Sequence[ZoneView], area: ServiceArea | None = None
) -> tuple[list[Zone], dict[str, str]]:
    """The zones of ``views``, each parsed on its own, and by id the reason of each one skipped
    because the airspace cannot read it (stored by an older version, or edited in the database),
    or because it lies outside ``area`` (the airspace's frame, centred on the zones, would then
    leave the whole service area out of reach)."""
    zones: list[Zone] = []
    skipped: dict[str, str] = {}
    for view in views:
        try:
            doc = {"type": "FeatureCollection", "features": [airspace_feature(view)]}
            (zone,) = parse_zones(doc, source="store")
        except Exception as exc:
            skipped[view.id] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        # Only a zone wholly away from the area is skipped: one that reaches into it is enforced
        # however far it extends beyond.
        reach_m = (zone.radius_m or 0.0) + zone.margin_m  # a circle is its centre point and a radius
        if area is not None and not area.reaches(zone.shape.bounds, reach_m=reach_m):
            skipped[view.id] = (
                f"outside the service area (more than {area.radius_m / 1000:g} km from its centre)"
            )
            continue
        zones.append(zone)
    return zones, skipped


async def note_skipped_zones(
    store: Store, skipped: dict[str, str], changed: Iterable[str], actor: str
) -> None:
    """Log and audit (``zone_skipped``) each skipped zone that is new or changed since the last load,
    so a zone skipped at every tick is audited once per version."""
    for zone_id in sorted(set(changed) & set(skipped)):
        log.error("zone %r skipped: %r", zone_id, skipped[zone_id])
        await store.note("zone", zone_id, "zone_skipped", actor=actor, payload={"reason": skipped[zone_id]})


async def run_steps(
    loop: str, steps: Sequence[tuple[str, Callable[[], Awaitable[Any]]]], errors: Counter[str]
) -> list[str]:
    """Run each step in turn; one that raises is counted (``errors["<loop>.<step>"]``) and logged,
    and the next one runs. Returns the names of the steps that failed."""
    failed = []
    for name, step in steps:
        try:
            await step()
        except Exception:
            errors[f"{loop}.{name}"] += 1
            failed.append(name)
            log.exception("%s step %s failed; going on with the next", loop, name)
    return failed


async def for_each(
    what: str, items: Iterable[T], action: Callable[[T], Awaitable[Any]], errors: Counter[str]
) -> None:
    """``await action(item)`` for every item; one that raises is counted (``errors[what]``) and
    logged, and the next item is handled."""
    for item in list(items):
        try:
            await action(item)
        except Exception:
            errors[what] += 1
            log.exception("%s failed for %r; going on with the next", what, item)
