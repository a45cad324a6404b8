"""Request and response bodies (msgspec Structs; Litestar validates them and documents them in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from fleet.topics import ID_PATTERN

# Every string a body stores is bounded here (docs/hardening.md's table of input limits lists them all):
# over its length 422 ``too_long``, not of its form 422 ``invalid_format`` (see errors._validation).
MAX_ID = 64
MAX_NAME = 200  # names of offices and pads, labels of keys
MAX_REASON = 500  # why a zone is closed, why a drone is out of service
MAX_DESCRIPTION = 2000  # what a request carries
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*(?!\n)$"
"""One line of text: no control character (a name, a label)."""
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Free text: no control character but tab, line feed and carriage return (PostgreSQL cannot
store a NUL)."""

RecordId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_ID,
        pattern=ID_PATTERN,
        description="1-64 letters, digits, '_', '.', '-', starting with a letter or digit",
    ),
]
"""The id of an office, a pad or a zone: what a drone id is too (``fleet.topics.ID_PATTERN``), so
it is one URL path segment and one MQTT topic level (a breach event names its zone by it)."""
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME, pattern=LINE_PATTERN)]
Label = Annotated[str, Meta(max_length=MAX_NAME, pattern=LINE_PATTERN)]
Reason = Annotated[str, Meta(max_length=MAX_REASON, pattern=TEXT_PATTERN)]
Description = Annotated[str, Meta(max_length=MAX_DESCRIPTION, pattern=TEXT_PATTERN)]

# A place in a request body: [lon, lat], {"lon": .., "lat": ..}, or the id of a pad (a string).
Coordinates = Annotated[
    list[float], Meta(min_length=2, max_length=2, description="[lon, lat] in the body's datum (WGS-84)")
]
DatumName = Annotated[
    str,
    Meta(
        description="the datum of the body's coordinates: WGS-84 (the default), CGCS2000 (taken as"
        " WGS-84), GCJ-02 (AMap, Tencent) or BD-09 (Baidu); converted to WGS-84 on the way in,"
        " everything stored and answered is WGS-84 (another value: 422 unknown_datum)",
        examples=["GCJ-02"],
    ),
]
PadId = RecordId
AwareTime = Annotated[datetime, Meta(tz=True, description="ISO 8601 with a zone offset")]
Priority = Literal["urgent", "normal"]


class LonLat(Struct, forbid_unknown_fields=True):
    """A point as an object (the REQUESTS.json form)."""

    lon: float
    lat: float


PlaceIn = Coordinates | PadId | LonLat


class RequestIn(Struct, forbid_unknown_fields=True):
    """A request as an office files it (the fields of REQUESTS.json; the server assigns the id)."""

    pickup: PlaceIn
    dropoff: PlaceIn
    weight_kg: float
    priority: Priority = "normal"
    ready_at: AwareTime | None = None
    deadline: AwareTime | None = None
    description: Description = ""
    office_id: RecordId | None = None  # staff only
    datum: DatumName | None = None  # of pickup and dropoff given as coordinates; None: WGS-84


class QuoteIn(Struct, forbid_unknown_fields=True):
    """A what-if: the same fields as a request, nothing is filed."""

    pickup: PlaceIn
    dropoff: PlaceIn
    weight_kg: float
    priority: Priority = "normal"
    ready_at: AwareTime | None = None
    deadline: AwareTime | None = None
    datum: DatumName | None = None


class PlaceOut(Struct):
    """A point, and the pad it is (if any)."""

    lon: float
    lat: float
    pad_id: str | None


class RequestOut(Struct):
    """A request: its state, the reason of a refusal or end, and its ETA.

    ``eta`` is the intake's best-single-drone estimate until the request is on a flight, then the
    planned arrival at the drop-off (``eta_kind`` says which). ``recipient_code`` and
    ``pickup_code`` are shown only to the office that filed the request.
    """

    id: str
    office_id: str
    state: str
    reason: str | None
    pickup: PlaceOut
    dropoff: PlaceOut
    weight_kg: float
    priority: str
    ready_at: datetime | None
    deadline: datetime | None
    description: str
    eta: datetime | None
    eta_kind: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    pickup_code: str | None = None
    recipient_code: str | None = None


class RequestPage(Struct):
    """One page of requests, oldest first."""

    items: list[RequestOut]
    limit: int
    offset: int
    next_offset: int | None


class TimelineEntry(Struct):
    """One audit entry about the request."""

    seq: int
    at: datetime
    action: str
    actor: str
    state: str | None
    details: dict[str, Any]


class TrackPoint(Struct):
    """A position the drone reported while it carried the document."""

    at: datetime
    lon: float
    lat: float
    alt_m: float


class ProofOfDelivery(Struct):
    """The hand-over: when, where, by which drone, and the recipient code check."""

    at: datetime | None
    lon: float | None
    lat: float | None
    drone_id: str | None
    mission_id: str | None
    recipient_code_ok: bool
    refused_attempts: int


class RequestDetail(Struct):
    """A request with its timeline, flown track and proof of delivery."""

    request: RequestOut
    timeline: list[TimelineEntry]
    missions: list[str]
    track: list[TrackPoint]
    track_source: str
    proof_of_delivery: ProofOfDelivery | None


class QuoteOut(Struct):
    """Intake's verdict on a what-if request."""

    feasible: bool
    reason: str | None
    detail: str
    eta: datetime | None
    eta_kind: str | None
    drone_id: str | None
    hold: str | None = None  # feasible, but it could not take off now: ``weather_hold: ...``


class Position(Struct):
    """Where a drone is."""

    lon: float
    lat: float
    alt_m: float


class DroneOut(Struct):
    """A drone's live state: the dispatcher's view and the latest telemetry."""

    id: str
    model: str
    home_port: str
    port: str | None
    online: bool
    usable: bool
    why_unusable: str
    in_service: bool
    returning: bool
    state: str | None
    mission_id: str | None
    onboard: list[str]
    position: Position | None
    battery_pct: float | None
    ground_speed_mps: float | None
    heading_deg: float | None
    telemetry_at: datetime | None
    planned_path: list[list[float]]


class ServiceIn(Struct, forbid_unknown_fields=True):
    """An operator takes a drone out of service (a reason is required) or puts it back."""

    in_service: bool
    reason: Reason = ""


class LegOut(Struct):
    """One leg of a flight."""

    seq: int
    action: str
    request_id: str | None
    stop_id: str | None
    waypoints: list[list[float]]
    distance_m: float | None
    eta: datetime | None


class FlightOut(Struct):
    """A flight (one mission of one drone) with its legs."""

    mission_id: str
    drone_id: str
    state: str
    request_ids: list[str]
    legs: list[LegOut]
    created_at: datetime
    updated_at: datetime


class OfficeOut(Struct):
    """An office and the pad it sends from."""

    id: str
    name: str
    pad_id: str | None
    active: bool


class OfficeIn(Struct, forbid_unknown_fields=True):
    """A new office (or a change of name or pad)."""

    id: RecordId
    name: Name
    pad_id: RecordId


class PadOut(Struct):
    """A pad where documents are picked up and delivered."""

    id: str
    name: str
    lon: float
    lat: float


class PadIn(Struct, forbid_unknown_fields=True):
    """A new pad (or a pad moved or renamed)."""

    id: RecordId
    name: Name
    lon: Annotated[float, Meta(ge=-180, le=180)]
    lat: Annotated[float, Meta(ge=-90, le=90)]
    datum: DatumName | None = None  # of lon and lat; None: WGS-84


class PortOut(Struct):
    """A drone port and the drones based there."""

    id: str
    lon: float
    lat: float
    drones: list[str]


class AreaOut(Struct):
    """The service area: its IANA time zone (``UTC`` unless the fleet description names one) and the
    current time of the service's clock, in that zone, and the dashboard map's style or tile URL
    (``None``: a plain background)."""

    timezone: str
    now: datetime
    map_style: str | None = None


class KeyIn(Struct, forbid_unknown_fields=True):
    """A new API key: ``office`` keys need ``office_id``."""

    role: Literal["office", "operator", "admin"]
    office_id: RecordId | None = None
    label: Label = ""


class KeyOut(Struct):
    """A stored API key (never its token)."""

    id: str
    role: str
    office_id: str | None
    label: str
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKeyOut(Struct):
    """A key just created: ``token`` is shown this once."""

    id: str
    role: str
    office_id: str | None
    token: str


class AuditReport(Struct):
    """The audit chain check."""

    ok: bool
    entries: int
    head: str
    broken_at: int | None
    problem: str | None


class ZoneChange(Struct):
    """Zones stored by a POST or PUT, and the flights being re-routed around them."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
    rerouted: list[str]


class ZoneCollection(Struct):
    """Zones as a GeoJSON FeatureCollection (the airspace format, plus a ``meta`` member per feature)."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class WeatherOut(Struct):
    """The weather as the dispatcher knows it (``docs/weather.md``)."""

    source: str | None  # None: the weather is not checked
    unknown_policy: Literal["hold", "fly"]
    read_at: datetime | None
    covers_until: datetime | None
    problem: str | None  # why the weather is unknown now
    warning: str | None  # the last read failed; the forecast before it is still used
    grounded: str | None  # the operator's reason while the area is grounded


class GroundingIn(Struct, forbid_unknown_fields=True):
    """An operator grounds the area (a reason is required) or lifts the grounding."""

    grounded: bool
    reason: Reason = ""


class HealthOut(Struct):
    """``ok`` when the database answers, the broker link is up and the dispatcher runs."""

    status: Literal["ok", "unavailable"]
    database: bool
    broker: bool
    dispatcher: bool
    detail: dict[str, str] = msgspec.field(default_factory=dict)


# --- operational intents: ASTM F3548-21 shapes (routing.intents.to_f3548) and a GeoJSON listing ---


class F3548LatLngPoint(Struct):
    """A point of an outline (WGS84 degrees)."""

    lat: float
    lng: float


class F3548Radius(Struct):
    """A circle's radius."""

    value: float
    units: Literal["M"]


class F3548Circle(Struct):
    """A circular outline: over a pad or a port."""

    center: F3548LatLngPoint
    radius: F3548Radius


class F3548Polygon(Struct):
    """A polygonal outline (implicitly closed: the last vertex is not the first again)."""

    vertices: list[F3548LatLngPoint]


class F3548Altitude(Struct):
    """An altitude bound: metres above the take-off ground, under F3548's only reference (W84)."""

    value: float
    reference: Literal["W84"]
    units: Literal["M"]


class F3548Volume3D(Struct, omit_defaults=True):
    """An outline (a circle or a polygon, exactly one) and an altitude band."""

    altitude_lower: F3548Altitude
    altitude_upper: F3548Altitude
    outline_circle: F3548Circle | None = None
    outline_polygon: F3548Polygon | None = None


class F3548Time(Struct):
    """An instant (RFC 3339, UTC)."""

    value: datetime
    format: Literal["RFC3339"]


class F3548Volume4D(Struct):
    """A volume and the time window the drone may occupy it."""

    volume: F3548Volume3D
    time_start: F3548Time
    time_end: F3548Time


class FlightIntentOut(Struct):
    """A flight's operational intent: its F3548 ``Volume4D`` s, its F3548 state (``Accepted``,
    ``Activated``, ``Nonconforming``, ``Contingent``; ``Ended`` once the flight is over) and its span."""

    mission_id: str
    drone_id: str
    state: str
    flight_state: str
    time_start: datetime
    time_end: datetime
    volumes: list[F3548Volume4D]


class PolygonGeometry(Struct):
    """A GeoJSON Polygon: rings of ``[lon, lat]``, each closed."""

    type: Literal["Polygon"]
    coordinates: list[list[list[float]]]


class IntentVolumeProperties(Struct):
    """One volume of an intent in force (the properties of ``PLAN.geojson``'s intent features, with
    the mission instead of the plan's trip number)."""

    mission_id: str | None
    drone_id: str
    volume: int
    state: str
    altitude_lower_m: float
    altitude_upper_m: float
    time_start: datetime
    time_end: datetime
    radius_m: float
    segment: list[list[float]]
    resource: str | None


class IntentFeature(Struct):
    """One volume as a GeoJSON Feature."""

    type: Literal["Feature"]
    geometry: PolygonGeometry
    properties: IntentVolumeProperties


class IntentCollection(Struct):
    """The volumes of the intents in force, as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    features: list[IntentFeature]


BODY_STRUCTS = (RequestIn, QuoteIn, LonLat, OfficeIn, PadIn, KeyIn)
"""The request bodies (documented with msgspec's exact JSON Schema, see ``app.exact_body_schemas``)."""
