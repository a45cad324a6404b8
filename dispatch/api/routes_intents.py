"""Operational intents over the API (staff): a flight's, and those in force in the area.

* ``GET /api/v1/flights/{mission_id}/intent``: the 4D volumes the flight may occupy, in the
  ASTM F3548-21 shape (``Volume4D``, from :func:`routing.intents.to_f3548`). While the flight is
  in progress this is the intent the dispatcher holds for it (a re-route replaces it there),
  otherwise the one stored with the flight's plan when it was committed.
* ``GET /api/v1/intents``: every intent in force (the dispatcher's fleet picture: the missions in
  progress, the drones returning or holding without one, the contingent intents around
  nonconforming drones) as a GeoJSON FeatureCollection, one Polygon per volume, drawn as
  ``PLAN.geojson`` draws intents (:func:`routing.plan_geojson.intent_features`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from dispatch.api.auth import STAFF_ONLY
from dispatch.api.errors import ApiError, error_responses
from dispatch.api.routes_requests import ctx_of
from dispatch.api.routes_zones import check_time
from dispatch.api.schemas import F3548Volume4D, FlightIntentOut, IntentCollection, IntentFeature
from dispatch.lifecycle import FLIGHT_TERMINAL, FlightState
from dispatch.store import NotFound
from routing.intents import OperationalIntent, intent_from_json, to_f3548
from routing.plan_geojson import intent_features

ENDED = "Ended"  # F3548 has no value for it: an ended intent is removed from the DSS


@get(
    "/flights/{mission_id:str}/intent",
    guards=[STAFF_ONLY],
    summary="A flight's operational intent (ASTM F3548-21 volumes)",
    responses=error_responses(
        e404="no such flight (not_found), or the flight has no operational intent (no_intent: it was"
        " planned before strategic deconfliction)"
    ),
)
async def flight_intent(state: State, mission_id: FromPath[str]) -> FlightIntentOut:
    """The flight's operational intent: its ``Volume4D`` s, its F3548 state (``Ended`` once the
    flight is completed or aborted) and its span."""
    ctx = ctx_of(state)
    try:
        flight = await ctx.store.flights.get(mission_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no flight {mission_id!r}", {"mission_id": mission_id}) from None
    live = ctx.dispatcher.picture.missions.get(mission_id)
    intent: OperationalIntent | None = live.spec.intent if live is not None else None
    if intent is None and flight.plan.get("intent") is not None:
        intent = intent_from_json(flight.plan["intent"])
    if intent is None:
        raise ApiError(
            404,
            "no_intent",
            f"flight {mission_id!r} has no operational intent (planned before strategic deconfliction)",
            {"mission_id": mission_id},
        )
    ended = FlightState(flight.state) in FLIGHT_TERMINAL
    volumes = msgspec.convert(to_f3548(intent), list[F3548Volume4D])
    return FlightIntentOut(
        mission_id=flight.mission_id,
        drone_id=flight.drone_id,
        state=ENDED if ended else intent.state,
        flight_state=flight.state,
        time_start=min(v.time_start.value for v in volumes),  # as the volumes say it (to the ms)
        time_end=max(v.time_end.value for v in volumes),
        volumes=volumes,
    )


@get(
    "/intents",
    guards=[STAFF_ONLY],
    summary="The operational intents in force, as GeoJSON",
    responses=error_responses(
        e422="at without a zone offset (invalid_time) or too far from now (time_out_of_range)"
    ),
)
async def intents(
    state: State,
    at: Annotated[
        datetime | None,
        QueryParameter(
            name="at",
            required=False,
            description="only the volumes whose time window holds this instant (ISO 8601 with offset)",
        ),
    ] = None,
) -> IntentCollection:
    """One Polygon feature per volume of every intent in force (``at``: only the volumes whose
    ``time_start`` <= at <= ``time_end``)."""
    ctx = ctx_of(state)
    if at is not None and at.utcoffset() is None:
        raise ApiError(422, "invalid_time", "at needs a zone offset (e.g. Z or +08:00)", {"field": "at"})
    if at is not None:
        check_time("at", at, ctx.now_clock.now())
    t = at.timestamp() if at is not None else None
    features: list[IntentFeature] = []
    for mission_id, intent in ctx.dispatcher.picture.intents_in_force():
        for volume, feature in zip(intent.volumes, intent_features([intent]), strict=True):
            if t is not None and not volume.t0 <= t <= volume.t1:
                continue
            feature["properties"]["mission_id"] = mission_id
            features.append(msgspec.convert(feature, IntentFeature))
    return IntentCollection("FeatureCollection", features)


ROUTES = [flight_intent, intents]
