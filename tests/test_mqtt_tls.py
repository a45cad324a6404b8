"""The fleet link and the simulated drones over TLS (mqtts://) to a real Mosquitto TLS listener.

A throw-away CA, broker certificate (for 127.0.0.1) and client certificate are made with the
``openssl`` command line in the test's tmp dir; the broker requires a client certificate.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress
from fleet.description import load_fleet
from fleet.link import FleetLink
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import upload, wait_until
from tests.mqtt_fixtures import Mosquitto


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """ca.crt/ca.key, server.crt/key (SAN IP 127.0.0.1), client.crt/key, all EC P-256, valid 1 day."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "1",
            *extra,
            cwd=d,
        )


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make test certificates")
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    settings = (
        f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
        "require_certificate true\nallow_anonymous true\n"
    )
    broker = Mosquitto(tmp_path, listener_settings=settings)
    broker.start()
    try:
        yield broker, pki
    finally:
        broker.stop()


def test_tls_options_need_mqtts() -> None:
    with pytest.raises(ValueError, match="mqtts"):
        BrokerAddress.parse("mqtt://h", ca_file="ca.crt")
    with pytest.raises(ValueError, match="certificate"):
        BrokerAddress.parse("mqtts://h", key_file="k.pem")
    a = BrokerAddress.parse("mqtts://h", ca_file="ca.crt", cert_file="c.pem", key_file="k.pem")
    assert (a.port, a.tls, a.ca_file, a.cert_file, a.key_file) == (8883, True, "ca.crt", "c.pem", "k.pem")


async def test_link_and_drone_over_tls(tls_broker: tuple[Mosquitto, Path]) -> None:
    broker, pki = tls_broker
    url = f"mqtts://127.0.0.1:{broker.address.port}"
    address = BrokerAddress.parse(
        url, ca_file=str(pki / "ca.crt"), cert_file=str(pki / "client.crt"), key_file=str(pki / "client.key")
    )
    clock = ScaledClock(100)
    fleet = load_fleet(EXAMPLES / "fleet.json")
    async with (
        FleetLink(address, clock=clock) as link,
        SimulatedFleet(fleet, address, clock=clock, drone_ids=["D01"]) as sim,
    ):
        await wait_until(lambda: link.registry.is_online("D01", clock.now()), what="D01 telemetry over TLS")
        assert (await link.send(upload(clock))).accepted
        assert sim.drone("D01").state == "ready"


async def test_tls_refuses_an_unknown_broker_and_a_missing_client_certificate(
    tls_broker: tuple[Mosquitto, Path],
) -> None:
    broker, pki = tls_broker
    url = f"mqtts://127.0.0.1:{broker.address.port}"
    clock = ScaledClock(100)
    for address in [
        # The system's CAs do not know the test CA: the broker's certificate is not trusted.
        BrokerAddress.parse(url, cert_file=str(pki / "client.crt"), key_file=str(pki / "client.key")),
        # Trusted broker, but no client certificate: the broker refuses the handshake.
        BrokerAddress.parse(url, ca_file=str(pki / "ca.crt")),
    ]:
        link = FleetLink(address, clock=clock)
        await link.start()
        try:
            with pytest.raises(TimeoutError):
                await link.wait_connected(timeout_s=1.5)
            assert link.stats.connects == 0
        finally:
            await link.stop()
