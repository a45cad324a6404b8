"""``GET /api/v1/area``: the service area's time zone (UTC unless the fleet description names one),
which the dashboard shows times in; an unknown zone is refused where it is given."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dispatch.api import ApiContext
from dispatch.commands import serve
from tests.api_fixtures import Api, api_fixture, served  # noqa: F401
from tests.db_fixtures import db_url_fixture, store_fixture  # noqa: F401
from tests.dispatcher_fixtures import solver_pool_fixture  # noqa: F401
from tests.mqtt_fixtures import broker_fixture, prefix_fixture  # noqa: F401


async def test_the_area_time_zone_defaults_to_utc_and_is_read_by_every_role(api: Api) -> None:
    for who in ("office", "operator"):
        async with api.client(who) as c:
            r = await c.get("/api/v1/area")
            assert r.status_code == 200, r.text
            assert r.json()["timezone"] == "UTC"
            assert datetime.fromisoformat(r.json()["now"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    async with api.client() as c:
        assert (await c.get("/api/v1/area")).status_code == 401


async def test_the_area_time_zone_is_served_with_the_time_there(api: Api) -> None:
    async with served(api.store, api.dispatcher) as seoul:
        seoul.ctx.timezone = "Asia/Seoul"
        async with seoul.client("office") as c:
            body = (await c.get("/api/v1/area")).json()
    assert body["timezone"] == "Asia/Seoul"
    now = datetime.fromisoformat(body["now"])
    assert now.utcoffset() == datetime.now(ZoneInfo("Asia/Seoul")).utcoffset()


def test_an_unknown_time_zone_is_refused(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        ApiContext(store=api.store, dispatcher=api.dispatcher, timezone="Mars/Olympus")
    assert serve.main(["--timezone", "Mars/Olympus"]) == 2
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
