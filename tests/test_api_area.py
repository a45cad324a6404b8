"""``GET /api/v1/area``: the service area's time zone (UTC unless the fleet description names one),
which the dashboard shows times in; an unknown zone is refused where it is given. And the dashboard
map's style (``serve --map-style``): none unless set, an http(s) URL when it is."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dispatch.api import ApiContext
from dispatch.commands import serve
from dispatch.settings import SettingsError
from tests.api_fixtures import Api, served
from tests.test_settings import _load


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
    async with served(api.store, api.dispatcher) as anyang:
        anyang.ctx.timezone = "Asia/Shanghai"
        async with anyang.client("office") as c:
            body = (await c.get("/api/v1/area")).json()
    assert body["timezone"] == "Asia/Shanghai"
    now = datetime.fromisoformat(body["now"])
    assert now.utcoffset() == datetime.now(ZoneInfo("Asia/Shanghai")).utcoffset()


def test_an_unknown_time_zone_is_refused(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        ApiContext(store=api.store, dispatcher=api.dispatcher, timezone="Mars/Olympus")
    assert serve.main(["--timezone", "Mars/Olympus"]) == 2
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err


async def test_the_map_style_is_none_unless_set_and_then_served(api: Api) -> None:
    async with api.client("operator") as c:
        assert (await c.get("/api/v1/area")).json()["map_style"] is None  # a plain map, nothing fetched
    style = "https://tiles.example.org/styles/streets/style.json"
    async with served(api.store, api.dispatcher) as styled:
        styled.ctx.map_style = style
        async with styled.client("operator") as c:
            assert (await c.get("/api/v1/area")).json()["map_style"] == style


def test_the_map_style_is_an_option_or_a_variable_and_a_url() -> None:
    assert _load("serve", []).api.map_style is None
    tiles = "https://tile.example.org/{z}/{x}/{y}.png"
    assert _load("serve", ["--map-style", tiles]).api.map_style == tiles
    assert _load("serve", [], {"DRONEDISPATCH_MAP_STYLE": tiles}).api.map_style == tiles
    with pytest.raises(SettingsError, match=r"^--map-style: expected an http:// or https:// URL"):
        _load("serve", ["--map-style", "file:///etc/passwd"])
