"""Load the :class:`~dispatch.settings.model.Settings` of ``run`` or ``serve``.

Each setting is taken from the first place that has it: the command line, else the environment,
else the TOML file of ``--config FILE`` (or ``$DRONEDISPATCH_CONFIG``), else its default. Every
value is checked here, whatever its source; a bad or unknown one raises :class:`SettingsError`
naming the option, the variable or the file's key.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from dispatch.settings.model import Settings
from dispatch.settings.specs import BY_KEY, SETTINGS, Setting, Value
from fleet.clock import add_clock_arguments, shared_clock
from fleet.connection import add_tls_arguments
from fleet.signing import add_fleet_secret_arguments, fleet_secret_from_args

CONFIG_ENV: Final = "DRONEDISPATCH_CONFIG"
"""Environment variable naming the settings file when ``--config`` is not given."""
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


class SettingsError(ValueError):
    """A setting that is invalid, unknown or inconsistent with another; the message names it."""


def add_settings_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the options of the settings ``command`` (``run`` or ``serve``) reads, and ``--config``.

    The options default to None (not given), so that the environment and the file can fill in."""
    group = parser.add_argument_group(
        "settings (also from the environment and a TOML file; see the configuration page of the docs)"
    )
    group.add_argument("--config", metavar="FILE", help=f"TOML settings file (default ${CONFIG_ENV})")
    for s in _options(command):
        if s.external:
            continue
        assert s.option is not None
        names = [s.option, *([s.alias] if s.alias else [])]
        if s.metavar is None:
            group.add_argument(*names, action="store_true", help=_help(s))
        else:
            group.add_argument(*names, metavar=s.metavar, help=_help(s))
    add_tls_arguments(parser)
    add_fleet_secret_arguments(parser)
    add_clock_arguments(parser)
    # The helpers' own defaults (such as the fleet secret's variable) would hide where a value came
    # from: here "not given" is None and the loader reads the environment itself.
    parser.set_defaults(config=None, **{s.dest: None for s in _options(command)})


def load_settings(
    args: argparse.Namespace, command: str, environ: Mapping[str, str] | None = None
) -> Settings:
    """The settings of ``command`` from its parsed ``args`` (see :func:`add_settings_arguments`),
    the environment (default ``os.environ``) and the settings file. Raises :class:`SettingsError`."""
    env = os.environ if environ is None else environ
    config = args.config or env.get(CONFIG_ENV) or None
    in_file = read_config(Path(config)) if config else {}
    values: dict[str, object] = {}
    for s in SETTINGS:
        found = _raw(s, args, env, in_file, config, command)
        if found is not None:
            raw, source = found
            try:
                value = s.convert(raw)
            except ValueError as exc:
                raise SettingsError(f"{source}: {exc}") from None
            if command in s.commands:
                values[s.key] = value
    return _checked(_build(values), command)


def read_config(path: Path) -> dict[str, Value]:
    """The settings in TOML file ``path``, by ``section.key``; an unknown key is an error."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"--config {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"--config {path}: not a TOML file: {exc}") from None
    sections = sorted({key.partition(".")[0] for key in BY_KEY})
    flat: dict[str, Value] = {}
    for section, table in data.items():
        if not isinstance(table, dict) or section not in sections:
            raise SettingsError(f"{path}: unknown key {section!r} (the sections are {', '.join(sections)})")
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in BY_KEY:
                known = ", ".join(k.partition(".")[2] for k in BY_KEY if k.startswith(section + "."))
                raise SettingsError(f"{path}: unknown key {key!r} (section {section} has {known})")
            flat[key] = value
    return flat


def _options(command: str) -> list[Setting]:
    return [s for s in SETTINGS if s.option is not None and command in s.commands]


def _help(s: Setting) -> str:
    plain = _LINK.sub(r"\1", s.meaning).replace("`", "")
    return f"{plain} (${' or $'.join(s.env_names)}; file: {s.key})"


def _raw(
    s: Setting,
    args: argparse.Namespace,
    env: Mapping[str, str],
    in_file: Mapping[str, Value],
    config: str | None,
    command: str,
) -> tuple[Value, str] | None:
    """The raw value of ``s`` and where it came from, by precedence; None: the default.

    A setting ``command`` does not read is still checked when the file has it (one file serves
    both commands), but neither its option nor its variable is read."""
    if command in s.commands:
        if s.option is not None and (given := getattr(args, s.dest, None)) is not None:
            return given, s.option
        for name in s.env_names:
            if env.get(name):
                return env[name], f"${name}"
    if s.key in in_file:
        return in_file[s.key], f"{config}: {s.key}"
    return None


def _build(values: Mapping[str, object]) -> Settings:
    parts: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        parts.setdefault(section, {})[name] = value
    defaults = Settings()
    return Settings(
        **{
            section: dataclasses.replace(getattr(defaults, section), **fields)
            for section, fields in parts.items()
        }
    )


def _checked(settings: Settings, command: str) -> Settings:
    """Check what no one setting can check alone; load the fleet secret."""
    link = settings.link
    try:
        link.address()
    except ValueError as exc:
        raise SettingsError(f"--broker and --tls-*: {exc}") from None
    clock = settings.clock
    try:
        shared_clock(clock.speed, clock.start, clock.anchor)
    except ValueError as exc:
        raise SettingsError(f"clock: {exc} (file: clock.speed, clock.start, clock.anchor)") from None
    secret_args = argparse.Namespace(
        fleet_secret=link.fleet_secret_file, insecure_unsigned_fleet=link.insecure_unsigned_fleet
    )
    try:
        secret = fleet_secret_from_args(secret_args)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if settings.leadership.share_telemetry and _backend(settings.store.url) != "postgresql":
        raise SettingsError(
            "--share-telemetry needs PostgreSQL (the processes share the telemetry through it);"
            " on SQLite one dispatcher runs and hears all the telemetry itself"
        )
    authority = settings.authority
    if authority.approval == "required" and not (authority.report or "").startswith(("http://", "https://")):
        raise SettingsError(
            "--authority-approval required needs an http(s) --authority-report: the authority answers"
            " approval requests over HTTP (a file:PATH sink cannot approve anything)"
        )
    return dataclasses.replace(settings, link=dataclasses.replace(link, fleet_secret=secret))


def _backend(url: str | None) -> str:
    from dispatch.store.engine import resolve_url

    return resolve_url(url)[0].get_backend_name()
