"""The whole API under hostile input while the system flies (#14, "done when").

The API is served over the running system (store, real broker, simulated drones at 150x, the
dispatcher ticking), and a derandomized hypothesis run sends it, from a thread of its own, every
operation of its OpenAPI schema with data that follows the schema and data that breaks it
(schemathesis), mixed with bodies aimed at the edge: times from year 1 to 9999 at any offset,
places on the whole globe, strings up to 3,000 characters of any code point (control characters
included), JSON nested up to 100,000 deep (also inside a zone's properties), bodies that are not
JSON or not declared as JSON, ids that are paths or markup. Meanwhile a drone flying a request
goes silent. Every answer must be below 500, no request may be left ``submitted``, and the silent
drone must still be noticed and written off (its request flown again), so hostile filings did not
stall the dispatcher's loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import AuditEntry, Store
from fleet.connection import BrokerAddress
from tests.api_fixtures import OFFICE_A, Api, served
from tests.dispatcher_fixtures import states
from tests.test_dispatcher_silence_battery import FAR_PICKUPS, take_off_for

EXAMPLES = 80  # calls in one round, about 3 s on a 2-core machine
MAX_ROUNDS = 15
SILENCE_NOTICED_S = 60.0

# --- bodies aimed at the edge -------------------------------------------------------------------

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
any_time = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=offsets).map(datetime.isoformat)
AREA_NOW = [datetime.now(UTC)]  # the area's clock when the run starts (the test sets it)
near_time = st.integers(-5 * 24 * 60, 5 * 24 * 60).map(
    lambda m: (AREA_NOW[0] + timedelta(minutes=m)).isoformat()  # within days of the area's clock
)
times = st.one_of(
    any_time, near_time, st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
)
coordinate = st.one_of(
    st.tuples(st.floats(-180, 180), st.floats(-90, 90)),
    st.tuples(st.floats(126.0, 128.0), st.floats(36.5, 38.5)),  # around the area's edge
).map(list)
text = st.one_of(
    st.text(max_size=40),
    st.text(min_size=190, max_size=3000),
    st.sampled_from(["../../x", "</script>", "a\x00b", "a\r\nb", "x\n", "..", "%2e%2e", "D01"]),
)
place = st.one_of(
    coordinate, text, st.fixed_dictionaries({"lon": st.floats(-200, 200), "lat": st.floats(-100, 100)})
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text, times)


def nested(depth: int, inner: str = "1") -> str:
    """``depth`` arrays around ``inner``, as JSON text."""
    return "[" * depth + inner + "]" * depth


depths = st.sampled_from([1, 8, 33, 1000, 100_000])


@st.composite
def request_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3}
    for name, values in [
        ("pickup", place),
        ("dropoff", place),
        ("weight_kg", st.one_of(st.floats(allow_nan=False), st.integers(-10, 10))),
        ("ready_at", times),
        ("deadline", times),
        ("description", text),
        ("priority", st.sampled_from(["urgent", "normal", "asap"])),
        ("office_id", st.sampled_from([OFFICE_A, "yindu-district", "../x", ""])),
    ]:
        if draw(st.booleans()):
            body[name] = draw(values)
    return body


@st.composite
def zone_feature(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {"id": draw(st.one_of(st.from_regex(r"\A[a-z0-9][a-z0-9.-]{0,10}\Z"), text))}
    geometry = {"type": "Point", "coordinates": draw(coordinate)}
    props["radius_m"] = draw(st.one_of(st.floats(1, 80), st.floats(allow_nan=False)))
    for name, values in [
        ("reason", text),
        ("valid_from", times),
        ("valid_to", times),
        ("valid_until", times),
        ("floor_m", scalar),
        ("ceiling_m", scalar),
        ("margin_m", scalar),
    ]:
        if draw(st.booleans()):
            props[name] = draw(values)
    return {"type": "Feature", "geometry": geometry, "properties": props}


@st.composite
def hostile_call(draw: st.DrawFn) -> tuple[str, str, bytes, str]:
    """(method, path, body, content type)."""
    kind = draw(st.sampled_from(["request", "quote", "zone", "zone_put", "pad", "office", "key", "deep"]))
    media = draw(st.sampled_from(["application/json"] * 6 + ["text/plain", "application/xml", ""]))
    if kind in ("request", "quote"):
        path, body = ("/api/v1/requests" if kind == "request" else "/api/v1/quotes"), draw(request_body())
        return "POST", path, json.dumps(body).encode(), media
    if kind in ("zone", "zone_put"):
        feature = draw(zone_feature())
        if kind == "zone_put":
            path = "/api/v1/zones/" + quote(str(feature["properties"]["id"])[:80], safe="")
            return "PUT", path, json.dumps(feature).encode(), media
        return "POST", "/api/v1/zones", json.dumps(feature).encode(), media
    if kind == "pad":
        body = {
            "id": draw(text),
            "name": draw(text),
            "lon": draw(st.floats(-180, 180)),
            "lat": draw(st.floats(-90, 90)),
        }
        return "POST", "/api/v1/pads", json.dumps(body).encode(), media
    if kind == "office":
        body = {
            "id": draw(text),
            "name": draw(text),
            "pad_id": draw(st.sampled_from(["service-centre", "x\x00"])),
        }
        return "POST", "/api/v1/offices", json.dumps(body).encode(), media
    if kind == "key":
        body = {
            "role": draw(st.sampled_from(["office", "operator"])),
            "office_id": OFFICE_A,
            "label": draw(text),
        }
        return "POST", "/api/v1/keys", json.dumps(body).encode(), media
    # Deep nesting: the whole body, a field, or a zone's property.
    depth = draw(depths)
    where = draw(st.sampled_from(["/api/v1/requests", "/api/v1/zones", "properties", "description"]))
    if where == "properties":
        body = (
            '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.41, 36.13]},'
            f' "properties": {{"id": "deep", "radius_m": 50, "reason": {nested(depth)}}}}}'
        )
        return "POST", "/api/v1/zones", body.encode(), media
    if where == "description":
        body = f'{{"pickup": "service-centre", "dropoff": "zhangde-road", "description": {nested(depth)}}}'
        return "POST", "/api/v1/requests", body.encode(), media
    return "POST", where, nested(depth).encode(), media


# --- the run ---------------------------------------------------------------------------------


def fuzz(
    api: Api, failures: list[str], calls: list[int], noticed: threading.Event, stop: threading.Event
) -> None:
    """Rounds of :data:`EXAMPLES` calls (a hypothesis run each, seeded by its number: the same
    calls on every run of the test) until the silent drone is ``noticed``, then one more: the
    dispatcher notices it while hostile input is being filed. In a thread: the server and the
    dispatcher keep the event loop."""
    schema = schemathesis.openapi.from_url(f"{api.url}/schema/openapi.json").exclude(path_regex=r"/stream$")
    from_schema = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    keys = {who: {"Authorization": f"Bearer {api.keys[who]}"} for who in ("admin", "office")}

    def record(what: str, status: int, text: str) -> None:
        calls.append(status)
        if status >= 500:
            failures.append(f"{what} -> {status} {text[:300]}")

    with httpx.Client(base_url=api.url, timeout=30.0) as client:

        def one(data: st.DataObject, who: str) -> None:
            if stop.is_set():
                return
            # Two calls aimed at the edge for one from the schema (one_of would favour the schema's).
            call = data.draw(hostile_call() if data.draw(st.integers(0, 2)) else from_schema)
            if isinstance(call, tuple):
                method, path, body, media = call
                staff_only = not path.startswith(("/api/v1/requests", "/api/v1/quotes"))
                headers = dict(keys["admin" if staff_only else who])
                if media:
                    headers["Content-Type"] = media
                r = client.request(method, path, content=body, headers=headers)
                record(f"{method} {path} {media!r} {body[:200]!r}", r.status_code, r.text)
            else:
                r = call.call(base_url=api.url, headers=keys[who], timeout=30)
                record(f"{call.method} {call.formatted_path} {str(call.body)[:200]}", r.status_code, r.text)

        seen_noticed = False
        for n in range(MAX_ROUNDS):
            run = given(data=st.data(), who=st.sampled_from(["admin", "office"]))(one)
            run = settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )(seed(n)(run))
            run()
            if stop.is_set() or seen_noticed:
                return
            seen_noticed = noticed.is_set()


async def test_hostile_input_everywhere_while_a_silent_drone_is_written_off(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    # 60x as in the silence battery: silence is declared after 5 wall seconds (300 simulated), and a
    # link lost for 480 s leaves the hovering drone the battery to fly home when it comes back.
    async with (
        running_system(store, broker, prefix, speed=60.0, pool=solver_pool) as system,
        served(store, system.dispatcher, system=system) as api,
    ):
        assert api.system is not None
        d, sim = api.dispatcher, api.system.sim
        first = await d.submit(request(FAR_PICKUPS[0], "service-centre", now=api.system.clock.now()))
        assert first.state == "accepted", first
        quiet, _ = await take_off_for(api.system, first.id)
        AREA_NOW[0] = api.system.clock.now()

        failures: list[str] = []
        calls: list[int] = []
        noticed, stop = threading.Event(), threading.Event()
        fuzzing = asyncio.ensure_future(asyncio.to_thread(fuzz, api, failures, calls, noticed, stop))
        try:
            # Hostile input is being filed when the drone goes quiet: from its first answer on,
            # since on a busy machine each call takes a simulated minute or more and the drone
            # should go quiet before it reaches its (far) pickup.
            while not calls and not fuzzing.done():
                await asyncio.sleep(0.05)
            sim.inject_link_loss(quiet, 480.0)

            def silent(e: AuditEntry, to: str) -> bool:
                reason = str((e.payload.get("details") or {}).get("reason"))
                return e.payload.get("to") == to and "silent" in reason

            async def written_off() -> bool:
                # Its request flown again if the drone had not picked it up, else failed in custody
                # (a machine slow enough lets the drone reach its pickup before it goes quiet).
                entries = (await store.requests.timeline(first.id)).entries
                return any(silent(e, "accepted") or silent(e, "failed") for e in entries)

            quiet_at = len(calls)
            await d.wait_until(written_off, timeout_s=SILENCE_NOTICED_S)
            noticed.set()
            noticed_after = len(calls)
            assert not d.drones[quiet].usable
            await fuzzing
        finally:
            stop.set()
            await asyncio.gather(fuzzing, return_exceptions=True)

        assert not failures, f"{len(failures)} answers of 5xx, the first:\n" + "\n".join(failures[:20])
        assert quiet_at < noticed_after < len(calls), (quiet_at, noticed_after, len(calls))
        assert {c // 100 for c in calls} >= {2, 4}, sorted(set(calls))  # accepted and refused input
        assert not await store.requests.list(states=["submitted"])
        entries = (await store.requests.timeline(first.id)).entries
        if not any(e.payload.get("to") == "picked_up" for e in entries):
            # The request the silent drone had not picked up is planned again, for another drone.
            assert any(silent(e, "accepted") and e.payload.get("from") == "dispatched" for e in entries)
        assert (await states(store, [first.id]))[first.id] != "submitted"
