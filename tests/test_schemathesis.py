"""Property-based tests of the HTTP API from its own OpenAPI schema (schemathesis 4).

``dronedispatch serve`` runs as a real process (an SQLite file, the real broker with a prefix of
its own, no drones); schemathesis generates requests for every operation from
``/schema/openapi.json`` and sends them with an admin key, an operator key, an office key and no key. Every
response must be no 5xx, have a status code, content type and body the schema documents.
The server-sent event streams are left out (a stream never ends, so it has no response to check).
Bounded and deterministic: a few examples per operation, derandomized.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import REPO
from tests.mqtt_fixtures import SHARED_BROKER, _listening

EXAMPLES_PER_OPERATION = 6
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _cli(args: list[str], db: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args, "--db", db],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no line starting {prefix!r} from serve within {timeout_s}s")
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"serve exited with {proc.wait()}")
            if line.startswith(prefix):
                return line.strip()


@pytest.fixture(name="server", scope="module")
def server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``dronedispatch serve`` on a free port with keys of each role."""
    if not _listening(SHARED_BROKER):
        pytest.fail(f"no MQTT broker on {SHARED_BROKER.url}: start mosquitto (see .ci/run)")
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    db = f"sqlite+aiosqlite:///{tmp / 'api.db'}"
    prefix = f"test-{uuid.uuid4().hex[:12]}/dd/v1"
    err = (tmp / "serve.err").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dispatch.cli",
            "serve",
            "--port",
            "0",  # serve binds a free port itself and names it on its "serving on" line
            "--db",
            db,
            "--prefix",
            prefix,
            "--client-id",
            f"fuzz-{prefix.split('/')[0]}",
            "--rate-limit",
            "1000/s burst 1000",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env=os.environ.copy(),
    )
    try:
        url = _wait_for_line(proc, "serving on ", 90).split()[2]
        keys = {
            "operator": _cli(["keys", "create", "--operator"], db),
            "office": _cli(["keys", "create", "--office", "service-centre"], db),
            "admin": _cli(["keys", "create", "--admin"], db),
        }
        yield {"url": url, "keys": keys, "log": tmp / "serve.err"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()


@pytest.mark.parametrize(
    ("who", "mode"),
    [
        ("admin", "positive"),
        ("operator", "positive"),
        ("office", "positive"),
        (None, "positive"),
        ("admin", "negative"),
        ("office", "negative"),
    ],
)
def test_every_operation_answers_as_its_schema_says(
    server: dict[str, Any], who: str | None, mode: str
) -> None:
    """Valid data (positive) and data breaking the schema (negative): never a 5xx, always as documented."""
    base = server["url"]
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json").exclude(path_regex=r"/stream$")
    headers = {"Authorization": f"Bearer {server['keys'][who]}"} if who else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=headers)
            if who is None and case.path.startswith("/api/"):
                assert response.status_code == 401, (case.method, case.path, response.text)

        try:
            check()
        except Unsatisfiable:
            assert mode == "negative", operation.label  # nothing to break: no parameters, no body
        except Exception as exc:
            log = Path(server["log"]).read_text()[-3000:]
            raise AssertionError(
                f"{operation.label} as {who or 'anonymous'}: {exc}\nserver log:\n{log}"
            ) from exc


VALID_BODIES = {
    ("POST", "/api/v1/requests"): [
        {"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3},
        {
            "pickup": [114.3968, 36.1043],
            "dropoff": {"lon": 114.416, "lat": 36.1115},
            "weight_kg": 1.5,
            "priority": "urgent",
            "description": "permit",
        },
        {"pickup": "service-centre", "dropoff": "crane-site", "weight_kg": 0.3},
    ],
    ("POST", "/api/v1/quotes"): [
        {"pickup": "service-centre", "dropoff": "jiefang-road", "weight_kg": 0.3},
        {"pickup": "service-centre", "dropoff": "jiefang-road", "weight_kg": 6.5},
    ],
}


def test_valid_bodies_get_documented_answers(server: dict[str, Any]) -> None:
    """Accepted and refused requests and quotes (random data rarely names a real pad) conform too."""
    base = server["url"]
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    headers = {"Authorization": f"Bearer {server['keys']['office']}"}
    statuses = []
    for (method, path), bodies in VALID_BODIES.items():
        operation = schema[path][method]
        for body in bodies:
            case = operation.Case(body=body, media_type="application/json")
            response = case.call(base_url=base, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=headers)
            statuses.append(response.status_code)
    assert statuses == [201, 201, 422, 200, 200]
