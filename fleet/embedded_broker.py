"""An embedded MQTT 5 broker for the zero-set-up demo and tests: rumqttd, bundled by ``iotcore``.

It runs in a child process (rumqttd has no shutdown call; stopping the process releases the
port) on a free local port. It keeps sessions in memory only: use a real broker (Mosquitto,
EMQX) in production.

Given ``users`` (name -> password), only they may connect (rumqttd's static ``auth`` table; a
client with no or a wrong login gets no CONNACK). rumqttd has no topic ACL: a logged-in client
may publish on any topic, which is why drones sign what they report (:mod:`fleet.signing`).
"""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path

from iotcore import Broker

from fleet.connection import BrokerAddress

# iotcore's keyword listener speaks MQTT 3.1.1 only; MQTT 5 needs a full rumqttd config.
_CONFIG = """\
id = 0

[router]
id = 0
max_connections = {max_connections}
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[v5.1]
name = "v5-1"
listen = "{host}:{port}"
next_connection_delay_ms = 1
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = {max_payload}
    max_inflight_count = 200
    dynamic_filters = true
"""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """``with EmbeddedBroker() as address: ...`` runs an MQTT 5 broker on a free local port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_connections: int = 10_000,
        users: Mapping[str, str] | None = None,
    ) -> None:
        """``users`` (name -> password): only they may connect; None: anyone may."""
        self.users = dict(users) if users is not None else None
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self._broker: Broker | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout_s: float = 10.0) -> BrokerAddress:
        """Start the broker and wait until it accepts connections; returns its address."""
        if self._broker is not None:
            raise RuntimeError("embedded broker already started")
        port = self.port or free_port(self.host)
        self._tmp = tempfile.TemporaryDirectory(prefix="dd-broker-")
        config = Path(self._tmp.name) / "rumqttd.toml"
        text = _CONFIG.format(
            host=self.host, port=port, max_connections=self.max_connections, max_payload=256 * 1024 + 4096
        )
        if self.users is not None:
            # Quoted keys and values (JSON strings are TOML basic strings): an id may hold a '.'.
            text += "    [v5.1.connections.auth]\n" + "".join(
                f"    {json.dumps(user)} = {json.dumps(password)}\n" for user, password in self.users.items()
            )
        config.write_text(text, encoding="utf-8")
        broker = Broker(config_path=str(config))
        broker.start(timeout=timeout_s)
        self._broker = broker
        self.port = port
        return BrokerAddress(self.host, port)

    @property
    def address(self) -> BrokerAddress:
        """The address of the running broker."""
        if self._broker is None or self.port is None:
            raise RuntimeError("embedded broker not started")
        return BrokerAddress(self.host, self.port)

    def stop(self) -> None:
        """Stop the broker and release its port (safe to call twice)."""
        if self._broker is not None:
            self._broker.stop()
            self._broker = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BrokerAddress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
