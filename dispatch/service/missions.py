"""From a planned trip to what the store records and what the drone is told (pure, no I/O).

A trip (legs from a port through pickups and drop-offs to a port) becomes one mission: the legs'
waypoints joined into one list (a leg's first point repeats the previous leg's last one and is
dropped), a pickup stop at the last waypoint of every leg ending at a pickup and a hand-over stop
at the last waypoint of every leg ending at a drop-off. The drone lands at the last waypoint
(the port). The same mission is stored in the flight's ``plan`` (without the secret codes), so a
restarted dispatcher knows what every drone in the air is flying.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatch.store.views import NewFlight, NewLeg, RequestCodes
from fleet.messages import HandoverStop, PickupStop, Stop
from routing.intents import OperationalIntent, intent_from_json, intent_to_json
from routing.problem import DROPOFF, PICKUP, PORT, Trip

Waypoint = tuple[float, float, float]
LEG_ACTION = {PICKUP: "pickup", DROPOFF: "dropoff", PORT: "return"}


@dataclass(frozen=True, slots=True)
class StopSpec:
    """A stop of a mission without its code: ``action`` is ``pickup`` or ``handover``."""

    at: int
    action: str
    request_id: str
    payload_kg: float = 0.0


@dataclass(frozen=True, slots=True)
class MissionSpec:
    """One mission: waypoints ``[lon, lat, alt]``, stops in order, the port it ends at, planned
    times and its operational intent (None for missions planned before strategic deconfliction)."""

    mission_id: str
    drone_id: str
    waypoints: tuple[Waypoint, ...]
    stops: tuple[StopSpec, ...]
    end_port: str
    depart: datetime
    arrive: datetime
    intent: OperationalIntent | None = None
    # The planned arrival at each drop-off (request id, time): a later departure must keep every
    # deadline there, not at the port the mission ends at. Empty for missions stored before it.
    dropoff_at: tuple[tuple[str, datetime], ...] = ()

    @property
    def request_ids(self) -> tuple[str, ...]:
        """The requests the mission carries, in pickup order."""
        return tuple(s.request_id for s in self.stops if s.action == "pickup")

    def to_plan(self) -> dict[str, Any]:
        """The JSON form stored in the flight's ``plan`` (no codes)."""
        plan: dict[str, Any] = {
            "waypoints": [list(w) for w in self.waypoints],
            "stops": [
                {"at": s.at, "action": s.action, "request_id": s.request_id, "payload_kg": s.payload_kg}
                for s in self.stops
            ],
            "end_port": self.end_port,
            "depart": self.depart.isoformat(),
            "arrive": self.arrive.isoformat(),
        }
        if self.intent is not None:
            plan["intent"] = intent_to_json(self.intent)
        if self.dropoff_at:
            plan["dropoff_at"] = {rid: t.isoformat() for rid, t in self.dropoff_at}
        return plan

    def later(self, delay: timedelta, intent: OperationalIntent | None) -> MissionSpec:
        """The same mission departing ``delay`` later, flown inside ``intent``."""
        return dataclasses.replace(
            self,
            depart=self.depart + delay,
            arrive=self.arrive + delay,
            intent=intent,
            dropoff_at=tuple((rid, t + delay) for rid, t in self.dropoff_at),
        )

    def slack_s(self, deadlines: dict[str, datetime]) -> float | None:
        """The least time between a carried request's planned drop-off and its deadline (the
        mission's end stands for the drop-offs of a mission stored without them); None: no
        deadline among them."""
        at = dict(self.dropoff_at)
        gaps = [(d - at.get(rid, self.arrive)).total_seconds() for rid, d in deadlines.items()]
        return min(gaps) if gaps else None

    @classmethod
    def from_plan(cls, mission_id: str, drone_id: str, plan: dict[str, Any]) -> MissionSpec:
        """Rebuild a mission from a flight's stored ``plan``."""
        return cls(
            mission_id=mission_id,
            drone_id=drone_id,
            waypoints=tuple((float(w[0]), float(w[1]), float(w[2])) for w in plan["waypoints"]),
            stops=tuple(
                StopSpec(int(s["at"]), str(s["action"]), str(s["request_id"]), float(s["payload_kg"]))
                for s in plan["stops"]
            ),
            end_port=str(plan["end_port"]),
            depart=datetime.fromisoformat(plan["depart"]),
            arrive=datetime.fromisoformat(plan["arrive"]),
            intent=intent_from_json(plan["intent"]) if plan.get("intent") is not None else None,
            dropoff_at=tuple(
                (str(rid), datetime.fromisoformat(t)) for rid, t in (plan.get("dropoff_at") or {}).items()
            ),
        )


def new_mission_id(drone_id: str) -> str:
    """A fresh mission id naming its drone (a valid protocol id)."""
    return f"M-{drone_id}-{secrets.token_hex(5)}"[:64]


def mission_from_trip(
    mission_id: str,
    drone_id: str,
    trip: Trip,
    weights: dict[str, float],
    intent: OperationalIntent | None = None,
) -> MissionSpec:
    """The mission flying ``trip`` (``weights``: kg of each request it picks up) inside ``intent``."""
    waypoints: list[Waypoint] = []
    stops: list[StopSpec] = []
    for leg in trip.legs:
        points = [(float(p[0]), float(p[1]), float(p[2])) for p in leg.waypoints]
        if waypoints and points and points[0] == waypoints[-1]:
            points = points[1:]
        waypoints += points
        if not waypoints:
            continue
        if leg.to_kind == PICKUP:
            stops.append(StopSpec(len(waypoints) - 1, "pickup", leg.to_id, weights[leg.to_id]))
        elif leg.to_kind == DROPOFF:
            stops.append(StopSpec(len(waypoints) - 1, "handover", leg.to_id))
    last = trip.legs[-1]
    if last.to_kind != PORT:
        raise ValueError(f"trip of {drone_id} does not end at a port")
    return MissionSpec(
        mission_id,
        drone_id,
        tuple(waypoints),
        tuple(stops),
        last.to_id,
        trip.legs[0].depart,
        last.arrive,
        intent,
        tuple((leg.to_id, leg.arrive) for leg in trip.legs if leg.to_kind == DROPOFF),
    )


def new_flight(spec: MissionSpec, trip: Trip) -> NewFlight:
    """What the store records for a mission: its legs (with planned ETAs) and carried requests."""
    legs = tuple(
        NewLeg(
            action=LEG_ACTION.get(leg.to_kind, "transit"),
            waypoints=[list(p) for p in (leg.waypoints if len(leg.waypoints) >= 2 else leg.waypoints * 2)],
            request_id=leg.to_id if leg.to_kind in (PICKUP, DROPOFF) else None,
            stop_id=leg.to_id if leg.to_kind == PORT else None,
            distance_m=leg.distance_m,
            eta=leg.arrive,
        )
        for leg in trip.legs
    )
    return NewFlight(spec.mission_id, spec.drone_id, legs, spec.request_ids, plan=spec.to_plan())


def protocol_stops(
    stops: tuple[StopSpec, ...] | list[StopSpec], codes: dict[str, RequestCodes]
) -> list[Stop]:
    """The protocol stops of a mission, with the requests' secret codes."""
    out: list[Stop] = []
    for s in stops:
        c = codes[s.request_id]
        if s.action == "pickup":
            out.append(
                PickupStop(
                    at=s.at, request_id=s.request_id, pickup_code=c.pickup_code, payload_kg=s.payload_kg
                )
            )
        else:
            out.append(HandoverStop(at=s.at, request_id=s.request_id, recipient_code=c.recipient_code))
    return out
