"""The private Mosquitto of the tests: it survives a port taken between choosing and binding it."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.mqtt_fixtures import Mosquitto


def test_a_private_broker_whose_port_was_taken_before_its_bind_starts_on_another(tmp_path: Path) -> None:
    # The race the fixture guards against: free_port() said free, then another socket (a client's
    # ephemeral port, bound, not listening) took it before the broker's bind.
    m = Mosquitto(tmp_path)
    taken = m.address.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        m.start()
        try:
            assert m.address.port != taken
            with socket.create_connection(("127.0.0.1", m.address.port), timeout=5):
                pass
            port = m.address.port
            m.restart()  # a restart keeps the port it got
            assert m.address.port == port
        finally:
            m.stop()
