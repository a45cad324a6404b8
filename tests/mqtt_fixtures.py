"""Broker fixtures for tests that talk MQTT (fleet, simulator, and later the dispatcher).

Every test module has these fixtures (``pytest_plugins`` in ``tests/conftest.py``):

- ``broker``: the shared Mosquitto on 127.0.0.1:1883 (fails, never skips, if it is down).
- ``prefix``: a unique topic prefix per test, so tests on the shared broker never see each other.
- ``mosquitto``: a private Mosquitto on a free port with persistence in a tmp dir, which the test
  may stop, start and restart (queued QoS 1 messages survive a restart).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.connection import BrokerAddress
from fleet.embedded_broker import free_port
from fleet.signing import SECRET_ENV, FleetSecret

SHARED_BROKER = BrokerAddress("127.0.0.1", 1883)


def _listening(address: BrokerAddress) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_listening(
    address: BrokerAddress, timeout_s: float = 10.0, until_exit: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until something accepts TCP connections at ``address`` (TimeoutError otherwise, also
    at once when the process ``until_exit`` that should listen there has exited)."""
    deadline = time.monotonic() + timeout_s
    while not _listening(address):
        if time.monotonic() > deadline or (until_exit is not None and until_exit.poll() is not None):
            raise TimeoutError(f"nothing listens on {address.url} after {timeout_s}s")
        time.sleep(0.02)


def fleet_secret() -> FleetSecret:
    """The session's fleet secret (``conftest.fleet_secret_env``), which the dispatcher and simulator
    processes a test starts use: give it to an in-process simulator or link that talks to them."""
    return FleetSecret.load(os.environ[SECRET_ENV])


@pytest.fixture(name="broker")
def broker_fixture() -> BrokerAddress:
    """The shared Mosquitto broker of this machine."""
    if not _listening(SHARED_BROKER):
        pytest.fail(f"no MQTT broker on {SHARED_BROKER.url}: start mosquitto (see .ci/run)")
    return SHARED_BROKER


@pytest.fixture(name="prefix")
def prefix_fixture() -> str:
    """A topic prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}/dd/v1"


class Mosquitto:
    """A private Mosquitto process with on-disk persistence, restartable on the same port."""

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        *,
        listener_settings: str | None = None,
        head: str = "",
    ) -> None:
        """``users`` (name -> password): only they may connect; default: anyone.
        ``listener_settings`` (config lines) replace the access lines after the ``listener`` line
        (TLS files, ``password_file``, ``acl_file``...); ``head`` goes first (``per_listener_settings``)."""
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            pytest.fail("mosquitto is not installed (apt-get install mosquitto)")
        self.exe = exe
        self.address = BrokerAddress("127.0.0.1", free_port())
        self.config = workdir / "mosquitto.conf"
        data = workdir / "data"
        data.mkdir()
        access = "allow_anonymous true\n"
        if users is not None:
            passwords = workdir / "passwords"
            passwords.write_text("".join(f"{u}:{pw}\n" for u, pw in users.items()), encoding="utf-8")
            subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True, capture_output=True)
            access = f"allow_anonymous false\npassword_file {passwords}\n"
        if listener_settings is not None:
            access = listener_settings.rstrip("\n") + "\n"
        self.config.write_text(
            head + f"listener {self.address.port} 127.0.0.1\n" + access + "persistence true\n"
            f"persistence_location {data}/\n"
            "log_dest stderr\n"
            # Run as whoever runs the tests: started as root, mosquitto would switch to its own
            # user, which cannot write the persistence file into pytest's private tmp dir.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n",
            encoding="utf-8",
        )
        self.log = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = False

    def start(self) -> None:
        """Start the broker and wait until it listens. On its first start, a port taken between
        ``free_port`` and the broker's bind (it exits at once) is replaced by another free one;
        a restart keeps its port."""
        if self._proc is not None:
            raise RuntimeError("mosquitto already running")
        for attempt in range(3):
            with self.log.open("ab") as log:
                self._proc = subprocess.Popen([self.exe, "-c", str(self.config)], stdout=log, stderr=log)
            try:
                wait_listening(self.address, until_exit=self._proc)
                self._started = True
                return
            except TimeoutError:
                exited = self._proc.poll() is not None
                self.stop()
                if self._started or not exited or attempt == 2:
                    raise
            old = self.address.port
            self.address = BrokerAddress("127.0.0.1", free_port())
            text = self.config.read_text(encoding="utf-8")
            self.config.write_text(text.replace(f"listener {old} ", f"listener {self.address.port} "))

    def stop(self) -> None:
        """Stop the broker gracefully (it saves its persistence file)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private, restartable Mosquitto (stopped at the end of the test)."""
    m = Mosquitto(tmp_path)
    m.start()
    try:
        yield m
    finally:
        m.stop()
