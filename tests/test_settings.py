"""The service's settings: precedence (command line > environment > file > default), unknown and
bad values named, the same variables for ``run`` and ``serve``, the documentation's table."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatch.commands.run import main as run_main
from dispatch.service.dispatcher import Dispatcher
from dispatch.settings import Settings, SettingsError, add_settings_arguments, load_settings
from dispatch.settings.specs import BY_KEY
from dispatch.settings.table import settings_table
from fleet.clock import RealClock, SharedClock
from tests.conftest import REPO

SECRET = ["--insecure-unsigned-fleet"]


def _load(command: str, argv: list[str], env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, command)
    return load_settings(parser.parse_args([*SECRET, *argv]), command, environ=env or {})


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dronedispatch.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_are_todays_behaviour() -> None:
    settings = _load("run", [])
    assert settings.dispatcher.tick_s == 30.0 and settings.dispatcher.plan_seconds == 0.5
    assert settings.link.broker == "mqtt://127.0.0.1:1883" and settings.link.prefix == "dd/v1"
    assert settings.leadership.area == "default" and settings.store.url is None
    assert isinstance(settings.clock.clock(), RealClock)
    assert settings.link.fleet_secret is None  # the explicit opt-out


def test_command_line_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    config = _config(tmp_path, "[dispatcher]\ntick_s = 10\n[link]\nprefix = 'file/v1'\n")
    env = {"DRONEDISPATCH_TICK_S": "20"}
    assert _load("run", ["--config", config, "--tick-s", "40"], env).dispatcher.tick_s == 40.0
    assert _load("run", ["--config", config], env).dispatcher.tick_s == 20.0
    assert _load("run", ["--config", config]).dispatcher.tick_s == 10.0
    assert _load("run", []).dispatcher.tick_s == 30.0
    # The file also comes from $DRONEDISPATCH_CONFIG.
    assert _load("run", [], {"DRONEDISPATCH_CONFIG": config}).link.prefix == "file/v1"


@pytest.mark.parametrize("command", ["run", "serve"])
def test_run_and_serve_read_the_same_variables(command: str) -> None:
    env = {
        "MQTT_URL": "mqtt://broker.example:1884",
        "MQTT_PREFIX": "city/v1",
        "DATABASE_URL": "postgresql://db.example/dd",
        "DRONEDISPATCH_DB": "sqlite+aiosqlite:///ignored.db",  # DATABASE_URL wins
        "DRONEDISPATCH_AREA": "north",
        "DRONEDISPATCH_PLAN_SECONDS": "2",
    }
    settings = _load(command, [], env)
    assert settings.link.broker == "mqtt://broker.example:1884" and settings.link.prefix == "city/v1"
    assert settings.store.url == "postgresql://db.example/dd" and settings.leadership.area == "north"
    assert settings.dispatcher.plan_seconds == 2.0


def test_a_file_value_of_the_other_command_is_checked_not_used(tmp_path: Path) -> None:
    config = _config(tmp_path, "[api]\nport = 9000\n")
    assert _load("run", ["--config", config]).api.port == 8000
    assert _load("serve", ["--config", config]).api.port == 9000
    bad = _config(tmp_path, "[api]\nport = 70000\n")
    with pytest.raises(SettingsError, match=r"api\.port: must be a port number"):
        _load("run", ["--config", bad])


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[dispatcher]\ntick = 5\n", "unknown key 'dispatcher.tick'"),
        ("[dispatch]\ntick_s = 5\n", "unknown key 'dispatch'"),
        ("tick_s = 5\n", "unknown key 'tick_s'"),
        ("[dispatcher]\ntick_s = '5'\n", None),  # text is accepted where a number is expected
        ("[dispatcher]\ntick_s = -1\n", r"dispatcher\.tick_s: must be > 0"),
        ("[dispatcher]\nround_requests = 2.5\n", r"dispatcher\.round_requests: must be a whole number"),
        ("[link]\nbroker = 'http://x'\n", r"link\.broker: broker URL .* scheme"),
        ("[link]\nclient_id = 'a/b'\n", r"link\.client_id"),
        ("[logging]\nverbose = 'maybe'\n", r"logging\.verbose: expected true or false"),
        ("[clock]\nspeed = 0\n", r"clock\.speed: clock speed must be"),
        ("[dispatcher\n", "not a TOML file"),
    ],
)
def test_a_bad_or_unknown_file_key_is_named(tmp_path: Path, text: str, named: str | None) -> None:
    config = _config(tmp_path, text)
    if named is None:
        assert _load("run", ["--config", config]).dispatcher.tick_s == 5.0
        return
    with pytest.raises(SettingsError, match=named):
        _load("run", ["--config", config])


def test_a_bad_value_names_its_option_or_variable() -> None:
    with pytest.raises(SettingsError, match=r"^--plan-seconds: must be > 0"):
        _load("serve", ["--plan-seconds", "0"])
    with pytest.raises(SettingsError, match=r"^\$DRONEDISPATCH_PORT: expected a number"):
        _load("serve", [], {"DRONEDISPATCH_PORT": "eighty"})
    with pytest.raises(SettingsError, match=r"^\$API_RATE_LIMIT: rate limit must look like"):
        _load("serve", [], {"API_RATE_LIMIT": "lots"})
    with pytest.raises(SettingsError, match="--timezone: unknown time zone"):
        _load("serve", ["--timezone", "Mars/Olympus"])
    with pytest.raises(SettingsError, match="--seed-dir: no such directory"):
        _load("serve", ["--seed-dir", "no/such/dir"])
    # The old spelling of the seed directory is refused, not taken for an area name.
    with pytest.raises(SettingsError, match="--seed-dir"):
        _load("serve", ["--area", "examples/anyang"])


def test_settings_that_only_hold_together() -> None:
    with pytest.raises(SettingsError, match="--clock-speed, --clock-start and --clock-anchor together"):
        _load("run", ["--clock-speed", "60"])
    with pytest.raises(SettingsError, match="need an mqtts:// URL"):
        _load("run", ["--tls-ca", "ca.pem"])
    with pytest.raises(SettingsError, match="--share-telemetry needs PostgreSQL"):
        _load("run", ["--share-telemetry", "--db", "sqlite+aiosqlite:///x.db"])
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, "run")
    with pytest.raises(SettingsError, match="no fleet secret"):
        load_settings(parser.parse_args([]), "run", environ={})


def test_the_clock_and_the_fleet_secret_are_loaded(fleet_secret_env: Path, tmp_path: Path) -> None:
    start = "2026-12-01T09:00:00+08:00"
    config = _config(tmp_path, f"[clock]\nspeed = 60\nstart = {start}\nanchor = 1000.5\n")  # a TOML time
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, "serve")
    args = parser.parse_args(["--config", config])
    settings = load_settings(
        args, "serve", environ={"DRONEDISPATCH_FLEET_SECRET_FILE": str(fleet_secret_env)}
    )
    clock = settings.clock.clock()
    assert isinstance(clock, SharedClock) and clock.speed == 60.0 and clock.anchor == 1000.5
    assert clock.start == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert settings.link.fleet_secret is not None


def test_run_exits_2_naming_the_bad_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main([*SECRET, "--tick-s", "soon"]) == 2
    assert "dronedispatch run: --tick-s: expected a number, got 'soon'" in capsys.readouterr().err


def test_the_dispatcher_takes_the_settings_object_and_every_field_is_settable() -> None:
    params = inspect.signature(Dispatcher.__init__).parameters
    # The solver processes and the terrain model read from ``terrain.dem`` are the only keywords:
    # they are not settings.
    assert [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY] == ["pool", "terrain"]
    assert "settings" in params
    fields = {f"dispatcher.{f.name}" for f in dataclasses.fields(Settings().dispatcher)}
    assert fields <= set(BY_KEY), sorted(fields - set(BY_KEY))


def test_the_configuration_page_shows_the_settings_table() -> None:
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert settings_table() in page, "docs/configuration.md: paste dispatch.settings.table.settings_table()"
