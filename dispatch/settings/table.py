"""The documentation's table of settings, made from :data:`~dispatch.settings.specs.SETTINGS`
(docs/configuration.md shows it; a test checks the page matches)."""

from __future__ import annotations

from pathlib import Path

from dispatch.settings.model import Settings
from dispatch.settings.specs import SETTINGS


def settings_table() -> str:
    """The Markdown table of every setting (what docs/configuration.md shows, and a test compares)."""
    defaults = Settings()
    rows = [
        "| TOML key | option | environment | default | `run` | `serve` | meaning |",
        "|---|---|---|---|:-:|:-:|---|",
    ]
    for s in SETTINGS:
        option = f"`{s.option}" + (f" {s.metavar}`" if s.metavar else "`") if s.option else "—"
        if s.alias:
            option = f"`{s.alias}`, {option}"
        env = ", ".join(f"`{name}`" for name in s.env_names)
        used = ["yes" if c in s.commands else "" for c in ("run", "serve")]
        rows.append(
            f"| `{s.key}` | {option} | {env} | {_shown(_default(defaults, s.key))} | {used[0]} | {used[1]} |"
            f" {s.meaning} |"
        )
    return "\n".join(rows) + "\n"


def _default(defaults: Settings, key: str) -> object:
    section, _, name = key.partition(".")
    return getattr(getattr(defaults, section), name)


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`{value.relative_to(Path(__file__).resolve().parents[2])}`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"
