"""The README's demo command runs on the embedded sample area: paths, an offline plan that validates,
and the live system (embedded broker, SQLite, simulated fleet, dispatcher) flying the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch import cli


def test_demo_plans_then_flies_the_sample_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.geojson"
    status = cli.main(["demo", "--seconds", "2", "--out", str(out), "--speed", "120", "--json"])
    text = capsys.readouterr().out
    assert status == 0, text
    assert "Exact safe paths" in text
    assert "validated independently" in text

    plan = json.loads(out.read_text())
    served = set(plan["plan"]["served"])
    unserved = {u["id"]: u["reason"] for u in plan["plan"]["unserved"]}
    # Every sample request is accounted for, and the two that cannot fly get their reason.
    assert len(served) + len(unserved) == 14
    assert unserved.get("R011") == "overweight"
    assert unserved.get("R012") == "dropoff_in_zone"
    assert all(f["geometry"]["type"] == "LineString" for f in plan["features"])

    live = json.loads(text.strip().splitlines()[-1])
    assert live["requests"] == 14
    assert live["unfinished"] == {}, "every request must end delivered or rejected"
    assert live["rejected"]["R011"] == "overweight"
    assert live["rejected"]["R012"] == "dropoff_in_zone"
    # Accelerated time magnifies the dispatcher's own latency, so a tight deadline may slip out of
    # reach; such a request must still end in a final state that says why.
    assert live["delivered"] + len(live["rejected"]) + len(live["other_final"]) == 14
    assert all(not why.endswith(": -") for why in live["other_final"].values()), text
    assert live["delivered"] >= 10, text
    assert live["geofence_breaches"] == 0
    assert live["audit_chain_ok"] is True
    assert live["km_flown"] > 0
