"""What the app writes to its log, as the programs configure it (:func:`dispatch.logs.configure_logging`):
client input with control characters is escaped (no forged lines), one access line per HTTP call
(never the key), one line per request state change, and a failure repeated by every tick logs its
traceback once; plus hostile dashboard paths answered 404, never 500."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dispatch.api.context import API_PREFIX
from dispatch.dashboard import STATIC_DIR
from dispatch.logs import configure_logging
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from tests.api_fixtures import Api, idle_api

REQUEST = {"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3}
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
FORGED = "2026-01-01 00:00:00,000 WARNING dispatch: forged"


@pytest.fixture(name="app_log")
def app_log_fixture() -> Iterator[io.StringIO]:
    """The programs' logging set-up (verbose) writing into a buffer; the root logger restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(verbose=True, stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def assert_no_control_characters(text: str) -> None:
    """Each physical line is a record (timestamp first) or an indented traceback line, and holds
    no control character."""
    for line in text.split("\n"):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", line), repr(line)
        assert line == "" or RECORD_START.match(line) or line.startswith("    "), repr(line)


async def test_a_nul_byte_or_an_overlong_name_in_a_dashboard_path_is_a_404(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, app_log: io.StringIO
) -> None:
    async with idle_api(store, broker, prefix, solver_pool, dashboard=STATIC_DIR) as api, api.client() as c:
        assert (await c.get("/dashboard/main.js")).status_code == 200
        for path in (
            "/dashboard/main.js%00.png",
            "/dashboard/%00",
            "/dashboard/" + "a" * 5000,
            "/schema/assets/%00",
        ):
            r = await c.get(path)
            assert r.status_code == 404, (path, r.status_code, r.text)
    assert "ERROR" not in app_log.getvalue(), app_log.getvalue()


async def test_client_input_in_the_log_is_escaped_and_cannot_forge_a_line(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, app_log: io.StringIO
) -> None:
    async with idle_api(store, broker, prefix, solver_pool, dashboard=STATIC_DIR) as api:
        async with httpx.AsyncClient(base_url=api.url) as c:  # raw paths, as curl --path-as-is sends them
            r = await c.get(f"/dashboard/a%00%0a{FORGED.replace(' ', '%20')}%0d%1b[31m")
            assert r.status_code == 404
            r = await c.get(f"{API_PREFIX}/requests/x%0a{FORGED.replace(' ', '%20')}")
            assert r.status_code == 401
        async with api.client("office") as c:
            r = await c.get(f"{API_PREFIX}/requests/req_%00%0a{FORGED.replace(' ', '%20')}%e2%80%a8")
            assert r.status_code == 404, r.text
    text = app_log.getvalue()
    assert_no_control_characters(text)
    assert not any(line.startswith(FORGED) for line in text.split("\n")), text
    assert f"GET /dashboard/a\\x00\\n{FORGED}\\r\\x1b[31m 404" in text, text
    assert f"GET {API_PREFIX}/requests/x\\n{FORGED} 401" in text, text
    assert f"GET {API_PREFIX}/requests/req_\\x00\\n{FORGED}\\u2028 404" in text, text


async def test_one_access_line_per_call_with_the_key_id_and_never_the_key(
    api: Api, app_log: io.StringIO
) -> None:
    async with api.client("office") as c:
        filed = await c.post(f"{API_PREFIX}/requests", json=REQUEST)
        assert filed.status_code == 201, filed.text
        assert (await c.get(f"{API_PREFIX}/requests/req_nosuchrequest")).status_code == 404
    async with api.client() as c:
        assert (await c.get("/health")).status_code == 200
        assert (await c.get(f"{API_PREFIX}/fleet")).status_code == 401
    text = app_log.getvalue()
    access = [line.split(": ", 1)[1] for line in text.split("\n") if " dispatch.api.access: " in line]
    assert len(access) == 4, access
    key_id = (await api.store.api_keys.verify(api.keys["office"])).id  # type: ignore[union-attr]
    assert re.fullmatch(rf"POST {API_PREFIX}/requests 201 \d+\.\d ms key:{key_id}", access[0]), access
    assert re.fullmatch(
        rf"GET {API_PREFIX}/requests/req_nosuchrequest 404 \d+\.\d ms key:{key_id}", access[1]
    )
    assert re.fullmatch(r"GET /health 200 \d+\.\d ms anonymous", access[2]), access
    assert re.fullmatch(rf"GET {API_PREFIX}/fleet 401 \d+\.\d ms anonymous", access[3]), access
    assert all(token not in text for token in api.keys.values())


async def test_each_request_state_change_is_one_info_line(api: Api, app_log: io.StringIO) -> None:
    async with api.client("office") as c:
        filed = await c.post(f"{API_PREFIX}/requests", json=REQUEST)
        assert filed.status_code == 201, filed.text
        rid = filed.json()["id"]
        r = await c.post(f"{API_PREFIX}/requests/{rid}/cancel")
        assert r.status_code in (200, 202), r.text
    changes = [line for line in app_log.getvalue().split("\n") if f"dispatch.requests: request {rid}" in line]
    assert [line.split(f"request {rid}: ", 1)[1].split(" (by")[0] for line in changes][:2] == [
        "submitted",
        "submitted -> accepted",
    ], changes
    assert any(
        "-> cancelled" in line and "reason: cancelled by office:service-centre" in line for line in changes
    ), changes
    assert all(" INFO " in line for line in changes), changes


def test_a_repeated_failure_logs_its_traceback_once_then_a_count(app_log: io.StringIO) -> None:
    log = logging.getLogger("dispatch.service.dispatcher")
    for _ in range(5):
        try:
            raise OverflowError("date value out of range")
        except OverflowError:
            log.exception("tick failed")
    try:
        raise ValueError("another failure")
    except ValueError:
        log.exception("tick failed")
    text = app_log.getvalue()
    assert text.count("Traceback (most recent call last)") == 2, text
    assert text.count("tick failed [OverflowError: date value out of range; the same failure") == 4, text
    assert "tick failed [OverflowError: date value out of range; the same failure 5 times" in text, text
    assert_no_control_characters(text)


def test_the_log_format_escapes_what_it_did_not_write(tmp_path: Path, app_log: io.StringIO) -> None:
    logging.getLogger("dispatch.api.errors").error("unhandled error on %s %s", "GET", "/a\u2028b\x85c\u202e")
    try:
        raise ValueError(f"bad\n{FORGED}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("x\ny")
    text = app_log.getvalue()
    assert "/a\\u2028b\\x85c\\u202e" in text and "x\\ny" in text, text
    assert f"\n    {FORGED}" in text, text  # the exception's own line break stays, indented
    assert_no_control_characters(text)
