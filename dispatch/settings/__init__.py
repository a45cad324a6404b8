"""The service's settings: one frozen object (:class:`Settings`) that ``run`` and ``serve`` build
from the command line, the environment and an optional TOML file (:func:`load_settings`).

- ``model``: the settings object and its parts;
- ``specs``: every setting's key, option, environment variables, check and meaning;
- ``loader``: the shared argument group, the precedence and the checks;
- ``table``: the documentation's table, made from ``specs``.
"""

from dispatch.settings.loader import CONFIG_ENV, SettingsError, add_settings_arguments, load_settings
from dispatch.settings.model import (
    ApiSettings,
    ClockSettings,
    DispatcherSettings,
    LeadershipSettings,
    LinkSettings,
    LoggingSettings,
    Settings,
    StoreSettings,
)

__all__ = [
    "CONFIG_ENV",
    "ApiSettings",
    "ClockSettings",
    "DispatcherSettings",
    "LeadershipSettings",
    "LinkSettings",
    "LoggingSettings",
    "Settings",
    "SettingsError",
    "StoreSettings",
    "add_settings_arguments",
    "load_settings",
]
